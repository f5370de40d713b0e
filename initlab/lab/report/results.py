"""``initlab.lab.compare(...)``: the Python twin of ``initlab compare``, returning Results.

Example::

    res = initlab.lab.compare(["xavier_normal", "kaiming_normal"], model="mlp",
                              dataset="synthetic", seeds=3, sweep={"lr": [0.01, 0.1]})
    print(res.table())          # one row per experiment and init: mean, std, n, 95% CI
    res.verdicts()              # ["lr=0.01: best: kaiming_normal, ahead of ... (p = ...)"]
    res.comparisons             # paired t-tests over seeds, Holm-corrected
    res.to_json(); res.write_reports()
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.errors import ConfigError

__all__ = ["Results", "compare", "load_results"]


@dataclass
class Results:
    """What a sweep measured (the fields of ``report.json``) and where it is stored.

    :func:`compare` and :func:`load_results` return one; the fields are plain JSON-safe
    lists of dicts, so a Results can also be built from a ``report.json`` of elsewhere.

    Attributes:
        out: the sweep folder (its store ``initlab.db`` and the report files).
        summary: one row per experiment (``group``) and init: ``seeds``, ``n``,
            ``test_acc_mean`` / ``_std`` / ``_ci95`` (fractions), ``train_loss_mean``, ...
        comparisons: paired t-tests over seeds of each init against the best (or the
            baseline), Holm-corrected.
        groups: one per experiment: its swept ``config`` and its ``verdict`` line.
        runs: every run (init, seed, status, per-epoch metrics).

    Examples:
        >>> from pathlib import Path
        >>> res = Results(Path("sweep"), summary=[
        ...     {"group": "", "init": "zeros", "seeds": 3, "test_acc_mean": 0.1},
        ...     {"group": "", "init": "kaiming_normal", "seeds": 3, "test_acc_mean": 0.87}],
        ...     groups=[{"group": "", "config": {}, "verdict": "best: kaiming_normal"}])
        >>> res.row("kaiming_normal")["test_acc_mean"]
        0.87
        >>> res.verdicts()
        ['best: kaiming_normal']
        >>> sorted(res.to_dict())
        ['comparisons', 'groups', 'runs', 'summary']
    """

    out: Path
    summary: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def table(self, width: int | None = None) -> str:
        """The summary table and the verdict lines, as plain text ``width`` columns wide
        (None: the terminal's width, 200 into a pipe or file); numbers are never cut."""
        from initlab.lab.report.tables import table_text

        return table_text(self.summary, title=f"sweep {self.out}", width=width,
                          groups=self.groups)

    def verdicts(self) -> list[str]:
        """One line per experiment: the best init and its margin, or no difference."""
        return [(f"{g['group']}: " if g["group"] else "") + g["verdict"] for g in self.groups]

    def row(self, init: str, group: str = "") -> dict[str, Any]:
        """The summary row of ``init`` in ``group`` ("" when there is one experiment)."""
        for s in self.summary:
            if s["init"] == init and s["group"] == group:
                return s
        raise ConfigError(f"No summary row for init {init!r} in group {group!r}; expected one "
                          f"of {[(s['group'], s['init']) for s in self.summary]}")

    def to_dict(self) -> dict[str, Any]:
        """The four lists, as ``report.json`` holds them."""
        return {"summary": self.summary, "comparisons": self.comparisons,
                "groups": self.groups, "runs": self.runs}

    def to_json(self, **kw: Any) -> str:
        """:meth:`to_dict` as JSON (``kw``: :func:`json.dumps` options, e.g. ``indent=2``)."""
        return json.dumps(self.to_dict(), default=str, **kw)

    def plots(self) -> dict[str, str]:
        """The report's figures as base64 SVG strings (loss, test accuracy, gradients)."""
        from initlab.lab.report.figures import figures
        from initlab.lab.report.summary import collect
        from initlab.lab.sweep.store import open_store

        with open_store(self.out, create=False) as store:
            return figures(collect(store))

    def write_reports(self) -> dict[str, Path]:
        """Write report.html / .csv / .json and runs.csv into :attr:`out`."""
        from initlab.lab.report.write import write_reports

        return write_reports(self.out)


def load_results(out: str | Path, baseline: str | None = None) -> Results:
    """The Results of the sweep stored in ``out`` (no training: read from its store).

    Args:
        out: a sweep folder (``initlab compare --out``, or :func:`compare`'s ``out``).
        baseline: compare every init with this one instead of each group's best.

    Returns:
        :class:`Results` with the summary, comparisons, verdicts and runs recomputed from
        the stored runs (finished ones; a sweep still running gives what is done).

    Raises:
        ConfigError: ``out`` holds no sweep.

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> _ = compare(["zeros", "xavier_normal"], model="mlp", dataset="synthetic",
        ...             seeds=1, n_train=128, n_test=64, out=out)
        >>> res = load_results(out)
        >>> [(s["init"], s["seeds"]) for s in res.summary]
        [('zeros', 1), ('xavier_normal', 1)]
    """
    from initlab.lab.report.summary import report_dict

    d = report_dict(out, baseline=baseline)
    return Results(Path(out), d["summary"], d["comparisons"], d["groups"], d["runs"])


def compare(inits: list[str] | dict[str, str] | str, *, model: str = "seed-cnn",
            dataset: str = "fashion-mnist", seeds: int | str | list[int] = 3,
            sweep: dict[str, list[Any]] | None = None, model_kwargs: dict[str, Any] | None = None, target: str | None = None,
            data_dir: str | None = None, n_train: int | None = None,
            n_test: int | None = None, out: str | Path | None = None,
            baseline: str | None = None, workers: int = 1, stack: bool | str = True,
            progress: bool = False, **train: Any) -> Results:
    """Train ``inits`` x ``sweep`` grid x ``seeds`` and compare them (resumable in ``out``).

    Args:
        inits: policy names or initializer specs (a list, a comma string, or {label: spec}).
        model: a built-in model, ``MODULE:FACTORY``, ``hf:``/``timm:``/``torchvision:`` name.
        dataset: a built-in dataset, ``synthetic``, or your own (``.npz``, ``.pt``, folder).
        seeds: a count N (seeds 0..N-1), ``"0,4,7"`` or a list of seeds.
        sweep: axes, e.g. ``{"lr": [0.01, 0.1], "model.width": [64, 128]}``.
        model_kwargs: fixed model arguments.
        target: apply the inits only to these parameters (a glob); the rest keep defaults.
        data_dir: the folder holding the dataset (it must hold it).
        n_train: use only the first N training examples.
        n_test: use only the first N test examples.
        out: the sweep folder (a temporary one when None).
        baseline: compare every init with this one instead of each group's best.
        workers: local worker processes.
        stack: train the inits of one seed together (see :class:`~initlab.lab.sweep.Sweep`).
        progress: show the rich progress display.
        **train: :class:`~initlab.lab.train.TrainConfig` fields (``lr``, ``epochs``, ...).

    Returns:
        :class:`Results` (summary rows, comparisons, verdicts, runs); the report files
        (``report.html``, ``.csv``, ``.json``, ``runs.csv``) are written into ``out``.

    Raises:
        ConfigError: an invalid option (an unknown init, model or dataset; no inits; a
            seed twice; a TrainConfig field that does not exist).

    Examples:
        A tiny sweep on the built-in synthetic dataset (2 inits x 2 seeds, 1 epoch):

        >>> import tempfile
        >>> res = compare(["zeros", "xavier_normal"], model="mlp", dataset="synthetic",
        ...               seeds=2, n_train=256, n_test=128, out=tempfile.mkdtemp())
        >>> acc = {s["init"]: s["test_acc_mean"] for s in res.summary}
        >>> acc["zeros"] < 0.2 < acc["xavier_normal"]  # zeros cannot break symmetry
        True
        >>> sorted(p.name for p in res.out.iterdir() if not p.name.startswith("initlab.db"))
        ['report.csv', 'report.html', 'report.json', 'runs.csv']
    """
    from initlab.lab.progress import Progress
    from initlab.lab.sweep import Sweep, run_sweep
    from initlab.lab.train import TrainConfig

    train.setdefault("epochs", 1)
    config = TrainConfig(**train)
    sw = Sweep(inits=inits, model=model, dataset=dataset, seeds=seeds, train=config,
               target=target, model_kwargs=dict(model_kwargs or {}), data_dir=data_dir,
               n_train=n_train, n_test=n_test, stack=stack, workers=workers,
               axes=dict(sweep or {}))
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="initlab-compare-"))
    run_sweep(sw, out, progress=Progress(enabled=progress))
    res = load_results(out, baseline=baseline)
    res.write_reports()
    return res
