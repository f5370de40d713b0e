"""The result of a diagnosis: rows of statistics, verdicts, and ways to read them.

``Report.layers`` is one dict per leaf-module call in execution order (its own parameters'
statistics are in the same row as ``weight.std``, ``weight.grad_norm``, ...);
``Report.params`` one dict per parameter; ``Report.verdicts`` the problems found.
Serialization: ``to_json`` / ``from_json`` round-trip, ``to_csv`` is long format
``layer,depth,stat,value``, ``to_pandas`` a DataFrame of the layer rows. Rendering (plot,
HTML, terminal table) lives in :mod:`initlab.diagnosis.render`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from initlab.diagnosis.verdicts import Verdict, signal_path
from initlab.errors import ConfigError

__all__ = ["Report", "long_rows", "summary"]


def _clean(value):
    """JSON-safe: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _is_stat(key: str, value) -> bool:
    return key != "depth" and isinstance(value, (int, float)) and not isinstance(value, bool)


def long_rows(report: Report) -> list[dict]:
    """``{layer, depth, stat, value}`` for every numeric statistic of every layer.

    Parameters that belong to no hooked leaf module (a container's own scalars) follow
    with ``layer`` the owning module, ``depth`` None and ``stat`` ``"<param>.<stat>"``.
    """
    out = []
    for row in report.layers:
        for key, value in row.items():
            if _is_stat(key, value):
                out.append({"layer": row["layer"], "depth": row["depth"], "stat": key,
                            "value": value})
    hooked = {row["module"] for row in report.layers}
    for p in report.params:
        if p["module"] in hooked:
            continue
        for key, value in p.items():
            if _is_stat(key, value):
                out.append({"layer": p["module"], "depth": None, "stat": f"{p['name']}.{key}",
                            "value": value})
    return out


def _ratio(path: list[dict], stat: str, first_over_last: bool):
    vals = [r[stat] for r in path if isinstance(r.get(stat), float) and math.isfinite(r[stat])]
    if len(vals) < 2:
        return None
    num, den = (vals[0], vals[-1]) if first_over_last else (vals[-1], vals[0])
    return num / den if den else None


def summary(report: Report) -> dict:
    """One line of figures per report (the comparison table and the CLI's JSON)."""
    path = signal_path(report.layers)
    dead = [r["dead_frac"] for r in report.layers if "dead_frac" in r]
    sat = [r["saturated_frac"] for r in report.layers if "saturated_frac" in r]
    spec = report.spectrum or {}
    value, classes = report.meta.get("loss_value"), report.meta.get("num_classes")
    over = (value / math.log(classes) if isinstance(value, float) and math.isfinite(value)
            and classes and classes >= 2 else None)
    return {
        "healthy": report.healthy,
        "verdicts": [v.name for v in report.verdicts],
        "std_last_over_first": _ratio(path, "std", False),
        "grad_first_over_last": _ratio(path, "grad_norm", True),
        "max_dead_frac": max(dead) if dead else None,
        "max_saturated_frac": max(sat) if sat else None,
        "spectrum_frac_in_0.5_2": spec.get("frac_in_0.5_2"),
        "spectrum_max": spec.get("max"),
        "loss": report.meta.get("loss"),
        "loss_over_ln_classes": over,
        "logit_std": report.meta.get("logit_std"),
    }


@dataclass
class Report:
    """What :func:`initlab.diagnose` found: statistics per layer and verdicts."""

    layers: list[dict]
    params: list[dict] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    spectrum: dict | None = None
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each: what could not run

    @property
    def healthy(self) -> bool:
        """True when no verdict fired."""
        return not self.verdicts

    def verdict(self, name: str) -> Verdict | None:
        """The verdict called ``name``, or None when it did not fire."""
        return next((v for v in self.verdicts if v.name == name), None)

    def layer(self, name: str) -> dict:
        """The row of layer ``name`` (first call)."""
        for row in self.layers:
            if row["layer"] == name:
                return row
        raise KeyError(name)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
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
    def from_dict(cls, d: dict) -> Report:
        def restore(rows):
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
    def from_json(cls, text_or_path: str | Path) -> Report:
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

    def to_pandas(self):
        """The layer rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError(
                "Report.to_pandas needs pandas, which is not installed; got no module "
                "'pandas'. Hint: pip install pandas, or use report.layers / report.to_csv()"
            ) from None
        return pd.DataFrame(self.layers)

    # ------------------------------------------------------------------ rendering
    def plot(self, path: str | Path | None = None, *, label: str | None = None):
        """Activation std and gradient norm vs depth (log scale); saved when ``path``."""
        from initlab.diagnosis.render import plot_reports

        return plot_reports({label or self.meta.get("model", "model"): self}, path)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (table, verdicts, embedded plot)."""
        from initlab.diagnosis.render import html_page

        page = html_page({self.meta.get("model", "model"): self})
        if path is not None:
            Path(path).write_text(page)
        return page

    def __rich__(self):
        from initlab.diagnosis.render import rich_report

        return rich_report(self)

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else ", ".join(v.name for v in self.verdicts)
        return f"Report({self.meta.get('model', 'model')}, {len(self.layers)} layers, {state})"
