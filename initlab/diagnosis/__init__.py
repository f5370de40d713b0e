"""Diagnose a model at init: signal propagation forward and backward, with verdicts.

``initlab.diagnose`` is :func:`diagnose` (with ``diagnose.compare``); the package is
``initlab.diagnosis``: inputs (tensor, tuple or dict batches), losses (which loss, from
which output), hooks, stats, params, verdicts, spectrum, report, render, compare,
matmul_chain. Real models: docs/diagnose-real-models.md.
"""

from __future__ import annotations

from initlab.diagnosis.compare import Comparison, compare
from initlab.diagnosis.core import diagnose
from initlab.diagnosis.matmul_chain import chain_checks, chain_model, matmul_chain
from initlab.diagnosis.report import Report
from initlab.diagnosis.verdicts import THRESHOLDS, Verdict

diagnose.compare = compare

__all__ = [
    "diagnose", "compare", "Comparison", "Report", "Verdict", "THRESHOLDS",
    "matmul_chain", "chain_model", "chain_checks", "print_report",
]


def print_report(report_or_comparison, console=None) -> None:
    """Print a Report or Comparison to the terminal with rich."""
    from rich.console import Console

    (console or Console()).print(report_or_comparison)
