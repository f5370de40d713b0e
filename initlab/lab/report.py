"""Reports of a sweep: summary per experiment and init, comparisons, table, JSON, CSV.

Definitions: a run's figures are those of its last evaluation (``final``). Runs are first
split into groups, one per experiment (:mod:`initlab.lab.grouping`: every config field but
init and seed); a folder holding two experiments gives two sets of rows, never one pooled.
A summary row is one init in one group: ``n`` seeds in the headline (done + diverged; a
diverged seed scores test accuracy 0, a failure, never dropped), ``test_acc_mean``,
``test_acc_std``, ``test_acc_ci95`` ([lo, hi], Student t, clipped to [0, 1]) over them;
``seeds`` counts the ``done`` runs, over which ``train_loss_*`` are computed; ``diverged``,
``failed`` and ``pending`` count the others. ``steps_to_target_mean`` averages the runs
that reached the target (``reached`` of them). ``comparisons``: each init against its
group's best by a paired t-test over seeds, Holm-corrected (:mod:`initlab.lab.stats`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from initlab.lab.grouping import compare_group, group_runs, score, verdict_line
from initlab.lab.stats import describe
from initlab.lab.store import Store, open_store

__all__ = ["collect", "summarize", "compare_rows", "render_table", "to_csv", "write_reports",
           "report_dict", "SUMMARY_FIELDS"]

SUMMARY_FIELDS = ("group", "init", "init_spec", "n", "seeds", "test_acc_mean", "test_acc_std",
                  "test_acc_ci95", "train_loss_mean", "train_loss_std", "steps_to_target_mean",
                  "reached", "diverged", "failed", "pending", "wall_time_mean", "config")


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    d = describe(values)
    return d.mean, d.std


def collect(store: Store, *, curves: bool = True) -> list[dict]:
    """Every run with its metrics: the rows of ``runs`` plus epochs, losses, grad norms."""
    runs = []
    for r in store.runs():
        epochs = store.epochs(r["id"])
        run = {"id": r["id"], "init": r["init_label"], "init_spec": r["init_spec"],
               "seed": r["seed"], "status": r["status"], "error": r["error"],
               "steps": r["steps"], "steps_to_target": r["steps_to_target"],
               "diverged_at": r["diverged_at"], "wall_time": r["wall_time"],
               "stacked": r["stacked"], "attempts": r["attempts"],
               "final": epochs[-1] if epochs else {}, "epochs": epochs,
               "config": r["identity"], "environment": r["environment"], "plan": r["plan"]}
        if curves:
            run["step_losses"] = store.step_losses(r["id"])
            run["grad_norms"] = store.grad_norms(r["id"])
        runs.append(run)
    return runs


def summarize(runs: list[dict]) -> list[dict]:
    """One summary row per group and init, in sweep order (see the module docstring)."""
    rows = []
    for g in group_runs(runs):
        by_init: dict[str, list[dict]] = {}
        for r in g.runs:
            by_init.setdefault(r["init"], []).append(r)
        for init, rs in by_init.items():
            done = [r for r in rs if r["status"] == "done"]
            acc = describe([score(r) for r in rs], clip=(0.0, 1.0))
            loss = _mean_std([r["final"].get("train_loss") for r in done])
            reached = [r["steps_to_target"] for r in done if r["steps_to_target"] is not None]
            rows.append({
                "group": g.label, "init": init, "init_spec": rs[0]["init_spec"],
                "n": acc.n, "seeds": len(done),
                "test_acc_mean": acc.mean, "test_acc_std": acc.std,
                "test_acc_ci95": list(acc.ci95) if acc.ci95 else None,
                "train_loss_mean": loss[0], "train_loss_std": loss[1],
                "steps_to_target_mean": _mean_std(reached)[0], "reached": len(reached),
                "diverged": sum(r["status"] == "diverged" for r in rs),
                "failed": sum(r["status"] == "failed" for r in rs),
                "pending": sum(r["status"] in ("pending", "running") for r in rs),
                "wall_time_mean": _mean_std([r["wall_time"] for r in done])[0],
                "config": g.config,
            })
    return rows


def compare_rows(runs: list[dict], summary: list[dict] | None = None,
                 baseline: str | None = None) -> tuple[list[dict], list[dict]]:
    """Paired comparisons and one verdict per group.

    Args:
        runs: the runs (:func:`collect`).
        summary: their :func:`summarize` rows (computed when not given).
        baseline: compare every init with this one instead of each group's best.

    Returns:
        ``(comparisons, groups)``: comparison rows ``{group, init, baseline, delta, ci95,
        p_value, p_raw, n, significant}`` and ``{group, config, verdict}`` per group.
    """
    summary = summarize(runs) if summary is None else summary
    comparisons, groups = [], []
    for g in group_runs(runs):
        means = {s["init"]: s["test_acc_mean"] for s in summary if s["group"] == g.label}
        if baseline is not None and baseline not in means:
            from initlab.errors import ConfigError

            raise ConfigError(f"--baseline {baseline!r} is not an init of this sweep; "
                              f"expected one of {list(means)}")
        rows = compare_group(g, means, baseline)
        comparisons += rows
        groups.append({"group": g.label, "config": g.config,
                       "verdict": verdict_line(rows, means)})
    return comparisons, groups


def report_dict(out: str | Path, baseline: str | None = None) -> dict:
    """``{"summary", "comparisons", "groups", "runs"}`` of the sweep in ``out`` (JSON)."""
    with open_store(out, create=False) as store:
        runs = collect(store, curves=False)
    for r in runs:
        r.pop("plan", None)
    summary = summarize(runs)
    comparisons, groups = compare_rows(runs, summary, baseline)
    return {"summary": summary, "comparisons": comparisons, "groups": groups, "runs": runs}


def _fmt(mean, std, digits: int = 4, pct: bool = False) -> str:
    if mean is None:
        return "-"
    k = 100.0 if pct else 1.0
    s = f"{mean * k:.{digits}f}"
    return s + (f" ± {std * k:.{digits}f}" if std is not None else "")


def _ci(s: dict) -> str:
    ci = s.get("test_acc_ci95")
    return "-" if not ci else f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _cells(s: dict, targets: bool, compact: bool) -> list[str]:
    stt = "-" if s["steps_to_target_mean"] is None else \
        f"{s['steps_to_target_mean']:.0f} ({s['reached']}/{s['seeds']})"
    acc = _fmt(s["test_acc_mean"], s["test_acc_std"], 2, pct=True)
    loss = _fmt(s["train_loss_mean"], s["train_loss_std"])
    if compact:  # two lines per cell instead of more columns: numbers are never cut
        return [str(s.get("n", s["seeds"])), acc.replace(" ± ", "\n± ") + "\n" + _ci(s),
                loss.replace(" ± ", "\n± ")] + ([stt] if targets else []) + \
            [f"{s['diverged']}/{s['failed']}"]
    return [str(s.get("n", s["seeds"])), acc, _ci(s), loss] + ([stt] if targets else []) + \
        [str(s["diverged"]), str(s["failed"])]


def render_table(summary: list[dict], title: str | None = None, compact: bool = False):
    """A rich Table of the summary rows (a ``group`` column when the folder holds several
    experiments, ``steps to target`` when a target was set); numbers are never cut: the
    init and group columns wrap instead, and ``compact`` stacks each figure on two lines
    for narrow terminals."""
    from rich.table import Table

    table = Table(title=title)
    grouped = any(s.get("group") for s in summary)
    targets = any(s["steps_to_target_mean"] is not None for s in summary)
    if grouped:
        table.add_column("group", overflow="fold", min_width=8)
    table.add_column("init", overflow="fold", min_width=10)
    cols = (["n", "test acc % / 95% CI", "train loss"] + (["to target"] if targets else []) +
            ["div/fail"]) if compact else \
        (["n", "test acc %", "95% CI", "final train loss"] +
         (["steps to target"] if targets else []) + ["diverged", "failed"])
    for col in cols:
        table.add_column(col, justify="right", no_wrap=True)
    for s in summary:
        table.add_row(*([s.get("group") or "-"] if grouped else []), s["init"],
                      *_cells(s, targets, compact))
    return table


NARROW = 80  # below this many columns even the compact table may not fit


def _numbers_width(summary: list[dict]) -> int:
    """Columns the full table's number cells need (cells + borders), init/group aside."""
    targets = any(s["steps_to_target_mean"] is not None for s in summary)
    heads = ["n", "test acc %", "95% CI", "final train loss"] + \
        (["steps to target"] if targets else []) + ["diverged", "failed"]
    widths = [max([len(h)] + [len(_cells(s, targets, False)[i]) for s in summary])
              for i, h in enumerate(heads)]
    return sum(w + 3 for w in widths) + 1


def table_text(summary: list[dict], title: str | None = None, width: int | None = 200,
               groups: list[dict] | None = None) -> str:
    """The summary table (and each group's verdict line) as plain text ``width`` wide
    (None: the terminal's width when stdout is one or $COLUMNS is set, else 200)."""
    import shutil
    import sys

    from rich.console import Console

    if width is None:  # the terminal's width ($COLUMNS counts); 200 into a pipe or file
        fits = sys.stdout.isatty() or "COLUMNS" in os.environ
        width = shutil.get_terminal_size((200, 24)).columns if fits else 200
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    names = 13 + (11 if any(s.get("group") for s in summary) else 0)  # init/group minimum
    compact = _numbers_width(summary) + names > width
    if compact and width < NARROW:  # too narrow for any table: one line per figure
        console.print(title or "", highlight=False)
        for s in summary:
            cells = _cells(s, False, False)
            console.print(f"{s['group'] + ': ' if s.get('group') else ''}{s['init']}\n"
                          f"  n {cells[0]}, test acc % {cells[1]}, 95% CI {cells[2]}\n"
                          f"  train loss {cells[3]}, diverged {cells[4]}, failed {cells[5]}",
                          highlight=False)
    else:
        console.print(render_table(summary, title, compact=compact))
    for g in groups or []:
        console.print((f"{g['group']}: " if g["group"] else "") + g["verdict"],
                      highlight=False)
    return buf.getvalue()


def to_csv(summary: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    w.writeheader()
    for s in summary:
        w.writerow({k: _cell(s.get(k)) for k in SUMMARY_FIELDS})
    return buf.getvalue()


def _cell(v):
    if v is None:
        return ""
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def runs_csv(runs: list[dict]) -> str:
    """Long format, one row per run and epoch: the raw numbers behind the summary."""
    cols = ("run_id", "init", "seed", "status", "epoch", "step", "train_loss", "train_acc",
            "test_loss", "test_acc")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in runs:
        for e in r["epochs"] or [{}]:
            w.writerow([r["id"], r["init"], r["seed"], r["status"]] +
                       [e.get(c, "") for c in cols[4:]])
    return buf.getvalue()


def write_reports(out: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.csv`` (summary), ``runs.csv`` and ``report.json``."""
    from initlab.lab.report_html import render_html

    out = Path(out)
    with open_store(out, create=False) as store:
        runs = collect(store)
    summary = summarize(runs)
    comparisons, groups = compare_rows(runs, summary)
    paths = {"html": out / "report.html", "csv": out / "report.csv",
             "runs_csv": out / "runs.csv", "json": out / "report.json"}
    _write(paths["html"], render_html(summary, runs, title=f"initlab sweep: {out.name}",
                                          groups=groups))
    _write(paths["csv"], to_csv(summary))
    _write(paths["runs_csv"], runs_csv(runs))
    slim = [{k: v for k, v in r.items() if k not in ("plan", "step_losses", "grad_norms")}
            for r in runs]
    _write(paths["json"], json.dumps({"summary": summary, "comparisons": comparisons,
                                      "groups": groups, "runs": slim}, indent=1,
                                     default=_json_default))
    return paths


def _write(path: Path, text: str) -> None:
    """Write whole or not at all (a temp file renamed over it): two drivers on one
    directory, or a kill mid-write, never leave a half-written report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_default(o):
    return str(o)
