"""Figures computed from a diagnosis: long-format rows and the one-line summary.

Pure functions of a report's data (``layers``, ``params``, ``verdicts``, ``spectrum``,
``meta``): used by :mod:`initlab.diagnosis.report` (data) and
:mod:`initlab.diagnosis.render` (rendering) alike, so neither imports the other's way back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from initlab.diagnosis.verdicts import signal_path

if TYPE_CHECKING:
    from initlab.diagnosis.report import DiagnosisReport

__all__ = ["long_rows", "summary"]


def _is_stat(key: str, value: Any) -> bool:
    return key != "depth" and isinstance(value, (int, float)) and not isinstance(value, bool)


def long_rows(report: DiagnosisReport) -> list[dict[str, Any]]:
    """``{layer, depth, stat, value}`` for every numeric statistic of every layer.

    Parameters that belong to no hooked leaf module (a container's own scalars) follow
    with ``layer`` the owning module, ``depth`` None and ``stat`` ``"<param>.<stat>"``.
    """
    out: list[dict[str, Any]] = []
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


def _ratio(path: list[dict[str, Any]], stat: str, first_over_last: bool) -> float | None:
    vals = [r[stat] for r in path if isinstance(r.get(stat), float) and math.isfinite(r[stat])]
    if len(vals) < 2:
        return None
    num, den = (vals[0], vals[-1]) if first_over_last else (vals[-1], vals[0])
    return num / den if den else None


def summary(report: DiagnosisReport) -> dict[str, Any]:
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
