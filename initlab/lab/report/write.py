"""Write a sweep's report files: report.html, report.csv, runs.csv, report.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from initlab.lab.report.page import render_html
from initlab.lab.report.summary import collect, compare_rows, summarize
from initlab.lab.report.tables import runs_csv, to_csv
from initlab.lab.sweep.store import open_store

__all__ = ["write_reports"]


def write_reports(out: str | Path, *, coord_check: Any = None) -> dict[str, Path]:
    """Write ``report.html``, ``report.csv`` (summary), ``runs.csv`` and ``report.json``.

    Args:
        out: the sweep folder.
        coord_check: a coordinate-check result (or its ``to_dict()``) for a panel in the
            HTML page.

    Returns:
        ``{"html", "csv", "runs_csv", "json"}`` -> the paths written.
    """
    out = Path(out)
    with open_store(out, create=False) as store:
        runs = collect(store)
    summary = summarize(runs)
    comparisons, groups = compare_rows(runs, summary)
    paths = {"html": out / "report.html", "csv": out / "report.csv",
             "runs_csv": out / "runs.csv", "json": out / "report.json"}
    _write(paths["html"], render_html(summary, runs, title=f"initlab sweep: {out.name}",
                                      groups=groups, coord_check=coord_check))
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


def _json_default(o: Any) -> str:
    return str(o)
