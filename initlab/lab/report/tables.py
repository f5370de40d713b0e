"""The sweep summary as text: a rich table that never cuts a number, CSV files."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import TYPE_CHECKING, Any

from initlab.lab.report.summary import SUMMARY_FIELDS

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["render_table", "table_text", "to_csv", "runs_csv", "NARROW"]


def _fmt(mean: float | None, std: float | None, digits: int = 4, pct: bool = False) -> str:
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


def render_table(summary: list[dict[str, Any]], title: str | None = None,
                 compact: bool = False) -> Table:
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


def _cell(v: Any) -> Any:
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
