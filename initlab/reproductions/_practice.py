"""Shared machinery of the "scenarios from practice" (seed-cnn, seed-mlp, seed-constant).

Each runs a sweep (:mod:`initlab.lab.sweep`) into ``ctx.out`` (or a temporary directory),
writes the report there, and turns the summary into checks. Fast variants run on the
first examples of real Fashion-MNIST when it is installed, else on synthetic data.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from initlab.lab.report import collect, summarize, write_reports
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.sweep.store import open_store
from initlab.lab.train import TrainConfig
from initlab.reproductions._base import Context

__all__ = ["Setting", "run_setting", "dataset_for", "Measured"]

FAST_TRAIN, FAST_TEST = 1024, 1000


@dataclass
class Setting:
    model: str
    inits: dict[str, str]          # label -> spec / policy name / policy JSON
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 5
    fast_epochs: int = 1
    seeds: int = 5
    fast_seeds: int = 3
    target: str | None = None
    model_kwargs: dict | None = None
    axes: dict | None = None         # sweep axes, e.g. {"model.batchnorm": [False, True]}


def dataset_for(ctx: Context) -> str:
    """``ctx.dataset``, else Fashion-MNIST when installed, else synthetic (fast only; a
    given ``--data-dir`` must hold Fashion-MNIST: no silent synthetic stand-in)."""
    from initlab.lab.data import locate

    if ctx.dataset:
        return ctx.dataset
    if ctx.fast and ctx.data_dir is None and locate("fashion-mnist") is None:
        return "synthetic"
    return "fashion-mnist"


class Measured:
    """The sweep's per-init figures, addressed by label."""

    def __init__(self, summary: list[dict], runs: list[dict], out: Path, dataset: str):
        self.summary = {s["init"]: s for s in summary}
        self.runs, self.out, self.dataset = runs, out, dataset

    def acc(self, label: str) -> float:
        v = self.summary[label]["test_acc_mean"]
        return math.nan if v is None else v

    def train_acc(self, label: str) -> float:
        return self._epoch_mean(label, "train_acc", -1)

    def epoch_loss(self, label: str, epoch: int) -> float:
        """Mean over seeds of the mean training loss of epoch ``epoch`` (1-based; -1 last)."""
        return self._epoch_mean(label, "train_loss", epoch - 1 if epoch > 0 else epoch)

    def _epoch_mean(self, label: str, key: str, index: int) -> float:
        vals = []
        for r in self.runs:
            if r["init"] == label and r["status"] == "done" and r["epochs"]:
                try:
                    v = r["epochs"][index].get(key)
                except IndexError:
                    continue
                if v is not None:
                    vals.append(v)
        return sum(vals) / len(vals) if vals else math.nan

    def table(self) -> list[dict]:
        """Per init, per epoch: mean train loss and test accuracy over seeds."""
        rows = []
        for label in self.summary:
            runs = [r for r in self.runs if r["init"] == label and r["epochs"]]
            n = max((len(r["epochs"]) for r in runs), default=0)
            for i in range(n):
                es = [r["epochs"][i] for r in runs if len(r["epochs"]) > i]
                rows.append({"init": label, "epoch": i + 1,
                             "train_loss": _mean([e.get("train_loss") for e in es]),
                             "train_acc": _mean([e.get("train_acc") for e in es]),
                             "test_acc": _mean([e.get("test_acc") for e in es])})
        return rows


def _mean(vals: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in vals if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


def run_setting(ctx: Context, name: str, s: Setting, out: Path | None = None) -> Measured:
    """Run the sweep of scenario ``name`` (fast or full) and write its report; ``out``:
    the folder (default ``ctx.out`` or a new temporary one): several settings of one
    scenario share it, as separate experiments of one report."""
    dataset = dataset_for(ctx)
    fast = ctx.fast
    seeds = ctx.seeds or (s.fast_seeds if fast else s.seeds)
    config = TrainConfig(optimizer=s.optimizer, lr=s.lr, momentum=s.momentum,
                         batch_size=s.batch_size, epochs=s.fast_epochs if fast else s.epochs,
                         device=ctx.device, grad_norm_steps=10)
    sweep = Sweep(inits=dict(s.inits), model=s.model, dataset=dataset, seeds=seeds,
                  train=config, target=s.target, model_kwargs=dict(s.model_kwargs or {}),
                  data_dir=ctx.data_dir, n_train=FAST_TRAIN if fast else None,
                  n_test=FAST_TEST if fast else None, axes=dict(s.axes or {}))
    if out is None:
        out = Path(ctx.out) if ctx.out else Path(tempfile.mkdtemp(prefix=f"initlab-{name}-"))
    progress = None
    if ctx.progress:
        from initlab.lab.progress import Progress

        progress = Progress(enabled=True)
    run_sweep(sweep, out, progress=progress)
    write_reports(out)
    with open_store(out, create=False) as store:
        runs = collect(store, curves=False)
    return Measured(summarize(runs), runs, out, dataset)


def parameters_set(m: Measured) -> dict[str, dict[str, str]]:
    """Per init label, what each parameter was initialized with (from the recorded Plan of
    its first run): says exactly which parameters an init sets and which keep defaults."""
    out: dict[str, dict[str, str]] = {}
    for r in m.runs:
        if r["init"] in out or not r.get("plan"):
            continue
        out[r["init"]] = {row["name"]: str(row.get("init")) for row in r["plan"]["rows"]}
    return out


def details(m: Measured, setting: Setting, fast: bool) -> dict:
    """The JSON-safe details of a scenario result: where, what, the per-epoch table, the
    per-parameter inits and each experiment's verdict."""
    from initlab.lab.report import compare_rows

    summary = summarize(m.runs)  # every experiment's rows (m.summary is by label only)
    _, groups = compare_rows(m.runs, summary)
    return {"dataset": m.dataset, "out": str(m.out), "report": str(m.out / "report.html"),
            "model": setting.model, "target": setting.target, "fast": fast,
            "inits": setting.inits, "summary": summary, "epochs": m.table(),
            "parameters": parameters_set(m), "groups": groups}


def pct(v: float) -> str:
    return "nan" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"
