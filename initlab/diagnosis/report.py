"""The result of a diagnosis: rows of statistics, verdicts, and ways to read them.

``DiagnosisReport.layers`` is one dict per leaf-module call in execution order (its own
parameters' statistics are in the same row as ``weight.std``, ``weight.grad_norm``, ...);
``DiagnosisReport.params`` one dict per parameter; ``DiagnosisReport.verdicts`` the problems
found. Serialization: ``to_json`` / ``from_json`` round-trip, ``to_csv`` is long format
``layer,depth,stat,value``, ``to_pandas`` a DataFrame of the layer rows. Figures computed
from the rows are in :mod:`initlab.diagnosis.summary`; rendering (plot, HTML, terminal
table) in :mod:`initlab.diagnosis.render`, which reads reports and imports nothing back.
(``Report`` is the deprecated old name: it collided with the sweep's ``initlab report``.)
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.diagnosis.plot import Chart
from initlab.diagnosis.render import html_page, plot_reports, rich_report
from initlab.diagnosis.summary import long_rows, summary
from initlab.diagnosis.verdicts import Verdict
from initlab.errors import ConfigError

__all__ = ["DiagnosisReport", "long_rows", "summary"]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@dataclass
class DiagnosisReport:
    """What :func:`initlab.diagnose` found: statistics per layer and verdicts.

    Args:
        layers: one row per leaf-module call, in execution order.
        params: one row per parameter.
        verdicts: the problems found (empty: healthy).
        spectrum: the input-output Jacobian's singular-value summary, when computed.
        meta: the model, loss, input shapes and similar facts.
        notes: one line each: what could not run.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from initlab.diagnosis.core import diagnose
        >>> torch.manual_seed(0) and None
        >>> model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> r = diagnose(model, torch.randn(16, 8), torch.randint(0, 3, (16,)),
        ...               spectrum="off")
        >>> type(r).__name__, [row["layer"] for row in r.layers]
        ('DiagnosisReport', ['0', '1', '2'])
        >>> DiagnosisReport.from_json(r.to_json()).meta["model"] == r.meta["model"]
        True
    """

    layers: list[dict[str, Any]]
    params: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    spectrum: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each: what could not run

    @property
    def healthy(self) -> bool:
        """True when no verdict fired."""
        return not self.verdicts

    def verdict(self, name: str) -> Verdict | None:
        """The verdict called ``name``, or None when it did not fire."""
        return next((v for v in self.verdicts if v.name == name), None)

    def layer(self, name: str) -> dict[str, Any]:
        """The row of layer ``name`` (first call)."""
        for row in self.layers:
            if row["layer"] == name:
                return row
        raise KeyError(name)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-safe dict (NaN as None)."""
        return _clean({
            "meta": self.meta,
            "healthy": self.healthy,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "spectrum": self.spectrum,
            "notes": list(self.notes),
            "layers": self.layers,
            "params": self.params,
        })

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiagnosisReport:
        """The report :meth:`to_dict` gave (None back to NaN)."""
        def restore(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: (math.nan if v is None else v) for k, v in r.items()} for r in rows]

        verdicts = [Verdict(v["name"], tuple(v["layers"]), v["message"], v["suggestion"])
                    for v in d.get("verdicts", [])]
        return cls(restore(d["layers"]), restore(d.get("params", [])), verdicts,
                   d.get("spectrum"), d.get("meta", {}), list(d.get("notes", [])))

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The report as JSON (NaN as null); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> DiagnosisReport:
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))

    def to_csv(self, path: str | Path | None = None) -> str:
        """Long format ``layer,depth,stat,value``; also written to ``path`` when given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["layer", "depth", "stat", "value"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(long_rows(self))
        if path is not None:
            Path(path).write_text(buf.getvalue())
        return buf.getvalue()

    def to_pandas(self) -> Any:
        """The layer rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError(
                "DiagnosisReport.to_pandas needs pandas, which is not installed; got no module "
                "'pandas'. Hint: pip install pandas, or use report.layers / report.to_csv()"
            ) from None
        return pd.DataFrame(self.layers)

    # ------------------------------------------------------------------ rendering
    def plot(self, path: str | Path | None = None, *, label: str | None = None) -> Chart:
        """Activation std and gradient norm per layer (log scale, layer names on x).

        Args:
            path: also save it here (``.svg``, or ``.png`` / ``.pdf`` via matplotlib).
            label: the legend's name for this report (default: the model's).

        Returns:
            The :class:`~initlab.diagnosis.plot.Chart` (``.svg()``, ``.save(path)``).
        """
        return plot_reports({label or self.meta.get("model", "model"): self}, path)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (table, verdicts, embedded plot)."""
        page = html_page({self.meta.get("model", "model"): self})
        if path is not None:
            Path(path).write_text(page)
        return page

    def __rich__(self) -> Any:
        return rich_report(self)

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else ", ".join(v.name for v in self.verdicts)
        model = self.meta.get("model", "model")
        return f"DiagnosisReport({model}, {len(self.layers)} layers, {state})"


def __getattr__(name: str) -> Any:
    if name == "Report":
        warnings.warn("initlab.diagnosis.report.Report is deprecated; use DiagnosisReport",
                      DeprecationWarning, stacklevel=2)
        return DiagnosisReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
