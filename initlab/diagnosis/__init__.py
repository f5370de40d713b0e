"""Diagnose a model at init: signal propagation forward and backward, with verdicts.

``initlab.diagnose`` is :func:`diagnose` (with ``diagnose.compare``); the package is
``initlab.diagnosis``: inputs (tensor, tuple or dict batches), losses (which loss, from
which output), hooks, stats, params, verdicts, spectrum, report, render, compare.
Real models: docs/diagnose-real-models.md.
"""

from __future__ import annotations

from initlab.diagnosis.compare import Comparison, compare
from initlab.diagnosis.core import diagnose
from initlab.diagnosis.report import Report
from initlab.diagnosis.verdicts import THRESHOLDS, Verdict

diagnose.compare = compare

__all__ = [
    "diagnose", "compare", "Comparison", "Report", "Verdict", "THRESHOLDS",
    "print_report",
]

# Deprecated aliases (one release): the matrix-product experiment is a reproduction now.
_MOVED = {"matmul_chain", "chain_model", "chain_checks"}


def __getattr__(name: str) -> object:
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"initlab.diagnosis.{name} moved to initlab.reproductions.matmul_chain."
                      f"{name}; the old name goes in the next release", DeprecationWarning,
                      stacklevel=2)
        # imported by name: reproductions is a layer above diagnosis (no static import)
        return getattr(importlib.import_module("initlab.reproductions.matmul_chain"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_report(report_or_comparison, console=None) -> None:
    """Print a Report or Comparison to the terminal with rich."""
    from rich.console import Console

    (console or Console()).print(report_or_comparison)
