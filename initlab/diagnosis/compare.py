"""``compare_reports``: several diagnoses in one plot and one table.

(Named so it does not collide with ``initlab compare``, the training sweep; the old name
``compare`` / ``initlab.diagnose.compare`` is a deprecated alias for one release.)
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab.diagnosis.plot import Chart
from initlab.diagnosis.render import html_page, plot_reports, rich_summary
from initlab.diagnosis.report import DiagnosisReport
from initlab.diagnosis.summary import long_rows, summary
from initlab.errors import ConfigError

__all__ = ["Comparison", "compare_reports"]


@dataclass
class Comparison:
    """Reports side by side: ``table`` (one summary row per run), ``plot``, ``to_html``.

    Args:
        reports: label -> report, in the order to show them.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from initlab.diagnosis.core import diagnose
        >>> x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
        >>> r = diagnose(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), x, spectrum="off")
        >>> cmp = compare_reports({"a": r, "b": r})
        >>> [row["run"] for row in cmp.table]
        ['a', 'b']
    """

    reports: dict[str, DiagnosisReport]

    @property
    def table(self) -> list[dict[str, Any]]:
        """One row per run: verdicts, depth ratios, dead/saturated maxima, spectrum."""
        return [{"run": label, **summary(r)} for label, r in self.reports.items()]

    def to_csv(self, path: str | Path | None = None) -> str:
        """Long format with a run column: ``run,layer,depth,stat,value``."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["run", "layer", "depth", "stat", "value"],
                                lineterminator="\n")
        writer.writeheader()
        for label, report in self.reports.items():
            writer.writerows({"run": label, **row} for row in long_rows(report))
        if path is not None:
            Path(path).write_text(buf.getvalue())
        return buf.getvalue()

    def to_json(self, path: str | Path | None = None) -> str:
        """``{label: report}`` as JSON; also written to ``path`` when given."""
        text = json.dumps({label: r.to_dict() for label, r in self.reports.items()}, indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def plot(self, path: str | Path | None = None) -> Chart:
        """All runs overlaid: activation std and gradient norm per layer, log scale."""
        return plot_reports(self.reports, path)

    def to_html(self, path: str | Path | None = None) -> str:
        """One self-contained page: verdicts, plot, summary and layer tables."""
        page = html_page(self.reports, title="initlab diagnose: compare")
        if path is not None:
            Path(path).write_text(page)
        return page

    def __rich__(self) -> Any:
        return rich_summary(self.reports)


def compare_reports(reports: dict[str, DiagnosisReport]) -> Comparison:
    """Overlay several diagnoses: ``compare_reports({"xavier": r1, "kaiming": r2})``.

    Args:
        reports: label -> :class:`~initlab.diagnosis.report.DiagnosisReport`.

    Returns:
        The :class:`Comparison` (``table``, ``plot``, ``to_html``, ``to_csv``).

    Raises:
        ConfigError: ``reports`` is not a non-empty dict of reports.

    Examples:
        >>> compare_reports({})
        Traceback (most recent call last):
        ...
        initlab.errors.ConfigError: compare needs a non-empty dict of label -> Report; got dict (empty). Hint: initlab.diagnosis.compare_reports({'xavier': r1, 'kaiming': r2})
    """
    if not isinstance(reports, dict) or not reports:
        raise ConfigError(
            f"compare needs a non-empty dict of label -> Report; got {type(reports).__name__}"
            f"{'' if not isinstance(reports, dict) else ' (empty)'}. "
            "Hint: initlab.diagnosis.compare_reports({'xavier': r1, 'kaiming': r2})"
        )
    bad = [k for k, v in reports.items() if not isinstance(v, DiagnosisReport)]
    if bad:
        raise ConfigError(
            f"compare needs Report values; got {type(reports[bad[0]]).__name__} for "
            f"{bad[0]!r}; expected what initlab.diagnose returns. "
            "Hint: DiagnosisReport.from_json(path)"
        )
    return Comparison({str(k): v for k, v in reports.items()})


def compare(reports: dict[str, DiagnosisReport]) -> Comparison:
    """Deprecated alias of :func:`compare_reports` (it collided with ``initlab compare``)."""
    warnings.warn("initlab.diagnose.compare / initlab.diagnosis.compare is deprecated; use "
                  "initlab.compare_reports", DeprecationWarning, stacklevel=2)
    return compare_reports(reports)
