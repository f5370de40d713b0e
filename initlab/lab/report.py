"""Reports of a sweep: summary per init (mean ± std over seeds), terminal table, JSON, CSV.

Definitions: a run's figures are those of its last evaluation (``final``). The summary of
an init aggregates its ``done`` runs (sample std, ``None`` with fewer than two);
``diverged`` counts the runs that hit a non-finite loss (their last good metrics stay in
the runs list), ``failed`` the runs that raised, ``pending`` those not finished yet.
``steps_to_target_mean`` averages the runs that reached the target (``reached`` of them).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from initlab.lab.store import Store, open_store

__all__ = ["collect", "summarize", "render_table", "to_csv", "write_reports", "SUMMARY_FIELDS"]

SUMMARY_FIELDS = ("init", "init_spec", "seeds", "test_acc_mean", "test_acc_std",
                  "train_loss_mean", "train_loss_std", "steps_to_target_mean", "reached",
                  "diverged", "failed", "pending", "wall_time_mean")


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))


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
    """One summary row per init, in sweep order (see the module docstring)."""
    by_init: dict[str, list[dict]] = {}
    for r in runs:
        by_init.setdefault(r["init"], []).append(r)
    rows = []
    for init, rs in by_init.items():
        done = [r for r in rs if r["status"] == "done"]
        acc = _mean_std([r["final"].get("test_acc") for r in done])
        loss = _mean_std([r["final"].get("train_loss") for r in done])
        reached = [r["steps_to_target"] for r in done if r["steps_to_target"] is not None]
        rows.append({
            "init": init, "init_spec": rs[0]["init_spec"], "seeds": len(done),
            "test_acc_mean": acc[0], "test_acc_std": acc[1],
            "train_loss_mean": loss[0], "train_loss_std": loss[1],
            "steps_to_target_mean": _mean_std(reached)[0], "reached": len(reached),
            "diverged": sum(r["status"] == "diverged" for r in rs),
            "failed": sum(r["status"] == "failed" for r in rs),
            "pending": sum(r["status"] in ("pending", "running") for r in rs),
            "wall_time_mean": _mean_std([r["wall_time"] for r in done])[0],
        })
    return rows


def report_dict(out: str | Path) -> dict:
    """``{"summary": [...], "runs": [...]}`` of the sweep in ``out`` (the JSON format)."""
    with open_store(out, create=False) as store:
        runs = collect(store, curves=False)
    for r in runs:
        r.pop("plan", None)
    return {"summary": summarize(runs), "runs": runs}


def _fmt(mean, std, digits: int = 4, pct: bool = False) -> str:
    if mean is None:
        return "-"
    k = 100.0 if pct else 1.0
    s = f"{mean * k:.{digits}f}"
    return s + (f" ± {std * k:.{digits}f}" if std is not None else "")


def render_table(summary: list[dict], title: str | None = None):
    """A rich Table of the summary rows."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("init", no_wrap=True)
    for col in ("seeds", "test acc %", "final train loss", "steps to target", "diverged",
                "failed"):
        table.add_column(col, justify="right")
    for s in summary:
        stt = "-" if s["steps_to_target_mean"] is None else \
            f"{s['steps_to_target_mean']:.0f} ({s['reached']}/{s['seeds']})"
        table.add_row(s["init"], str(s["seeds"]),
                      _fmt(s["test_acc_mean"], s["test_acc_std"], 2, pct=True),
                      _fmt(s["train_loss_mean"], s["train_loss_std"]), stt,
                      str(s["diverged"]), str(s["failed"]))
    return table


def table_text(summary: list[dict], title: str | None = None, width: int = 200) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(
        render_table(summary, title))
    return buf.getvalue()


def to_csv(summary: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    w.writeheader()
    for s in summary:
        w.writerow({k: ("" if s.get(k) is None else s.get(k)) for k in SUMMARY_FIELDS})
    return buf.getvalue()


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
    paths = {"html": out / "report.html", "csv": out / "report.csv",
             "runs_csv": out / "runs.csv", "json": out / "report.json"}
    _write(paths["html"], render_html(summary, runs, title=f"initlab sweep: {out.name}"))
    _write(paths["csv"], to_csv(summary))
    _write(paths["runs_csv"], runs_csv(runs))
    slim = [{k: v for k, v in r.items() if k not in ("plan", "step_losses", "grad_norms")}
            for r in runs]
    _write(paths["json"], json.dumps({"summary": summary, "runs": slim}, indent=1,
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
