"""The report of a sweep: numbers, text tables, the HTML page with its plots, the results.

Modules, data first: :mod:`~initlab.lab.report.summary` (runs, summary rows, paired
comparisons), :mod:`~initlab.lab.report.tables` (terminal table, CSV),
:mod:`~initlab.lab.report.figures` (SVG charts, drawn with :mod:`initlab.diagnosis.plot`),
:mod:`~initlab.lab.report.page` (the self-contained ``report.html``),
:mod:`~initlab.lab.report.write` (the report files) and
:mod:`~initlab.lab.report.results` (:class:`Results`, ``compare``, ``load_results``).
The names below are re-exported so ``from initlab.lab.report import report_dict`` keeps
working as it did when this package was one module.
"""

from __future__ import annotations

from initlab.lab.report.summary import (
    SUMMARY_FIELDS,
    collect,
    compare_rows,
    report_dict,
    summarize,
)
from initlab.lab.report.tables import NARROW, render_table, runs_csv, table_text, to_csv
from initlab.lab.report.write import write_reports

__all__ = ["collect", "summarize", "compare_rows", "report_dict", "SUMMARY_FIELDS",
           "render_table", "table_text", "to_csv", "runs_csv", "NARROW", "write_reports"]
