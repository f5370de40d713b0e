"""``initlab.diagnose.compare``: several reports in one plot and one table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from initlab.diagnosis.report import Report, long_rows, summary
from initlab.errors import ConfigError

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """Reports side by side: ``table`` (one summary row per run), ``plot``, ``to_html``."""

    reports: dict[str, Report]

    @property
    def table(self) -> list[dict]:
        """One row per run: verdicts, depth ratios, dead/saturated maxima, spectrum."""
        return [{"run": label, **summary(r)} for label, r in self.reports.items()]

    def to_csv(self, path: str | Path | None = None) -> str:
        """Long format with a run column: ``run,layer,depth,stat,value``."""
        import csv
        import io

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
        text = json.dumps({label: r.to_dict() for label, r in self.reports.items()}, indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def plot(self, path: str | Path | None = None):
        """All runs overlaid: activation std and gradient norm vs depth, log scale."""
        from initlab.diagnosis.render import plot_reports

        return plot_reports(self.reports, path)

    def to_html(self, path: str | Path | None = None) -> str:
        from initlab.diagnosis.render import html_page

        page = html_page(self.reports, title="initlab diagnose: compare")
        if path is not None:
            Path(path).write_text(page)
        return page

    def __rich__(self):
        from initlab.diagnosis.render import rich_summary

        return rich_summary(self.reports)


def compare(reports: dict[str, Report]) -> Comparison:
    """Overlay several reports: ``compare({"xavier": r1, "kaiming": r2}).plot("p.png")``."""
    if not isinstance(reports, dict) or not reports:
        raise ConfigError(
            f"compare needs a non-empty dict of label -> Report; got {type(reports).__name__}"
            f"{'' if not isinstance(reports, dict) else ' (empty)'}. "
            "Hint: initlab.diagnose.compare({'xavier': r1, 'kaiming': r2})"
        )
    bad = [k for k, v in reports.items() if not isinstance(v, Report)]
    if bad:
        raise ConfigError(
            f"compare needs Report values; got {type(reports[bad[0]]).__name__} for "
            f"{bad[0]!r}; expected what initlab.diagnose returns. Hint: Report.from_json(path)"
        )
    return Comparison({str(k): v for k, v in reports.items()})
