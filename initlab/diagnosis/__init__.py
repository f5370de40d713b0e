"""Diagnose a model at init: signal propagation forward and backward, with verdicts.

``initlab.diagnose`` is :func:`diagnose`; :func:`compare_reports` overlays several
reports (``diagnose.compare`` and ``Report`` are the deprecated old names); the package is
``initlab.diagnosis``: inputs (tensor, tuple or dict batches), losses (which loss, from
which output), hooks, stats, params, verdicts, spectrum, report, render, compare.
Real models: docs/diagnose-real-models.md.
"""

from __future__ import annotations

import warnings
from typing import Any

from initlab.diagnosis.compare import Comparison, compare, compare_reports
from initlab.diagnosis.core import diagnose
from initlab.diagnosis.report import DiagnosisReport
from initlab.diagnosis.verdicts import THRESHOLDS, Verdict

# deprecated (one release): ``initlab.diagnose.compare`` -> ``compare_reports`` (it warns)
setattr(diagnose, "compare", compare)  # noqa: B010 (an attribute on a function)

__all__ = [
    "diagnose", "compare_reports", "Comparison", "DiagnosisReport", "Verdict", "THRESHOLDS",
    "print_report",
]

# Deprecated aliases (one release): the matrix-product experiment is a reproduction now.
_MOVED = {"matmul_chain", "chain_model", "chain_checks"}


def __getattr__(name: str) -> Any:
    if name == "Report":
        warnings.warn("initlab.diagnosis.Report is deprecated; use DiagnosisReport",
                      DeprecationWarning, stacklevel=2)
        return DiagnosisReport
    if name in _MOVED:
        import importlib

        warnings.warn(f"initlab.diagnosis.{name} moved to initlab.reproductions.matmul_chain."
                      f"{name}; the old name goes in the next release", DeprecationWarning,
                      stacklevel=2)
        # imported by name: reproductions is a layer above diagnosis (no static import)
        return getattr(importlib.import_module("initlab.reproductions.matmul_chain"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_report(report_or_comparison: DiagnosisReport | Comparison,
                 console: Any = None) -> None:
    """Print a DiagnosisReport or Comparison to the terminal with rich.

    Args:
        report_or_comparison: what :func:`diagnose` or :func:`compare_reports` returned.
        console: a ``rich.console.Console`` (a new one on stdout by default).

    Examples:
        >>> import torch
        >>> from rich.console import Console
        >>> from torch import nn
        >>> x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
        >>> r = diagnose(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), x, spectrum="off")
        >>> import io
        >>> console = Console(width=120, record=True, file=io.StringIO())
        >>> print_report(r, console)
        >>> text = console.export_text()
        >>> "Linear" in text, "healthy: no verdict fired" in text
        (True, True)
    """
    from rich.console import Console

    (console or Console()).print(report_or_comparison)
