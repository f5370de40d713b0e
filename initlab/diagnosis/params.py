"""Statistics of every parameter: std against its plan, gradient, symmetry of its rows.

One row per named parameter: ``{param, module, name, shape, std, expected_std, std_ratio,
grad_norm, grad_std, grad_ratio, dup_rows_frac, stuck_rows_frac}``. ``grad_ratio`` is the
gradient's rms over the parameter's rms (the relative size of a plain SGD step at lr 1).
``dup_rows_frac`` is the fraction of units (rows of a Linear weight, filters of a Conv) whose
incoming weights (bias included) are identical to another unit's; ``stuck_rows_frac`` counts
a pair only when their gradients are identical too, so the units stay identical after a step:
the symmetry a layer cannot break by learning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from initlab.diagnosis.stats import moment_parts, moments, moments_finish
from initlab.diagnosis.symmetry import _Rows, _usable, symmetries

if TYPE_CHECKING:
    from initlab.policy.plan import Plan

__all__ = ["param_rows", "expected_stds", "sums_and_norms", "prepare"]

# module types whose weight keeps its output units along dim 1 instead of dim 0
_UNITS_DIM1: tuple[type, ...] = (nn.modules.conv._ConvTransposeNd,)


def expected_stds(plan: Plan | None, params: Mapping[str, torch.Tensor]
                  ) -> dict[str, list[tuple[slice | None, float]]]:
    """name -> [(row slice or None, expected std)] from a Plan's rows (fused chunks split)."""
    out: dict[str, list[tuple[slice | None, float]]] = {}
    if plan is None:
        return out
    for row in getattr(plan, "rows", []):
        std = getattr(row, "std", None)
        name = getattr(row, "name", None)
        if std is None or not isinstance(name, str) or name not in params:
            continue
        chunk = getattr(row, "chunk", None)
        rows = None
        if chunk is not None:
            index, count = chunk
            size = params[name].shape[0] // count
            rows = slice(index * size, (index + 1) * size)
        out.setdefault(name, []).append((rows, float(std)))
    return out


def _unit_rows(module: nn.Module, local: str, t: torch.Tensor | None
               ) -> torch.Tensor | None:
    """A weight as (units, incoming), or None when it is not a weight of 2+ dims."""
    if t is None or local != "weight" or t.dim() < 2:
        return None
    w = t.detach()
    if isinstance(module, _UNITS_DIM1):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _bias_for(rows: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor | None:
    if bias is None or bias.dim() != 1 or bias.shape[0] != rows.shape[0]:
        return None
    return bias.detach()


def _std(t: torch.Tensor) -> float:
    return moments(t)[1] if t.numel() >= 2 else math.nan


def sums_and_norms(tensors: Mapping[str, torch.Tensor | None]
                   ) -> dict[str, tuple[float, float]]:
    """name -> (sum, 2-norm) of every non-empty tensor, read back in one host sync per dtype
    and device (the parts of :func:`~initlab.diagnosis.stats.moments`)."""
    present = {name: t for name, t in tensors.items() if t is not None and t.numel()}
    groups: dict[tuple[torch.device, torch.dtype], list[str]] = {}
    for name, t in present.items():
        groups.setdefault((t.device, t.dtype), []).append(name)
    out: dict[str, tuple[float, float]] = {}
    for names in groups.values():
        parts = [part for name in names for part in moment_parts(present[name])]
        values = torch.stack(parts).tolist()
        for i, name in enumerate(names):
            out[name] = (values[2 * i], values[2 * i + 1])
    return out


def prepare(model: nn.Module, named: Sequence[tuple[str, torch.Tensor]]
            ) -> tuple[dict[str, tuple[float, float]], dict[str, _Rows]]:
    """Before the forward: every parameter's (sum, 2-norm) in one host sync, and the unit
    rows of every weight (:class:`~initlab.diagnosis.symmetry._Rows`, for the symmetry
    check after the backward). A weight's sum and norm come from the passes its rows take
    anyway (row norms; the projection with a column of ones), not from two more."""
    params = dict(named)
    modules = dict(model.named_modules())
    rows: dict[str, _Rows] = {}
    plain: dict[str, torch.Tensor] = {}
    for name, p in named:
        module_name, _, local = name.rpartition(".")
        w = _unit_rows(modules.get(module_name, model), local, p)
        if w is None or not w.is_floating_point() or not _usable(w):
            plain[name] = p
            continue
        bias_name = f"{module_name}.bias" if module_name else "bias"
        rows[name] = _Rows(w, _bias_for(w, params.get(bias_name)), sums=True)
    names = [n for n, p in plain.items() if p.numel()] + list(rows)
    parts = [part for n in names if n in plain for part in moment_parts(plain[n])]
    for r in rows.values():
        assert r.row_sums is not None  # sums=True above
        parts += [r.row_sums.sum(), r.wnorm.square().sum().sqrt()]
    values = torch.stack(parts).tolist() if parts else []
    return {n: (values[2 * i], values[2 * i + 1]) for i, n in enumerate(names)}, rows


def _moments(t: torch.Tensor, parts: tuple[float, float] | None
             ) -> tuple[float, float, float, int]:
    return moments_finish(t, *parts) if parts is not None else moments(t)


def param_rows(model: nn.Module, grads: Mapping[str, torch.Tensor | None],
               plan: Plan | None = None,
               parts: dict[str, tuple[float, float]] | None = None,
               unit_rows: dict[str, _Rows] | None = None) -> list[dict[str, Any]]:
    """One row per parameter of ``model`` (gradients keyed by parameter name).

    ``parts`` and ``unit_rows``: what :func:`prepare` gave, when the caller has it.
    """
    unit_rows = unit_rows or {}
    params = dict(model.named_parameters())
    expected = expected_stds(plan, params)
    modules = dict(model.named_modules())
    if parts is None:
        parts = sums_and_norms(params)
    grad_parts = sums_and_norms({n: g for n, g in grads.items() if g is not None})
    rows: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    for name, p in params.items():
        module_name, _, local = name.rpartition(".")
        module = modules.get(module_name, model)
        grad = grads.get(name)
        _, std, rms, bad = _moments(p, parts.get(name))
        row = {
            "param": name,
            "module": module_name or type(model).__name__,
            "name": local,
            "shape": "x".join(map(str, p.shape)),
            "std": std if p.numel() >= 2 else math.nan,
            "rms": rms,
        }
        pairs = expected.get(name, [])
        if pairs:
            stds = [_std(p[rows] if rows is not None else p) for rows, _ in pairs]
            exp = [e for _, e in pairs]
            # the worst chunk speaks for the parameter
            ratios = [s / e if e > 0 else (1.0 if s == 0 else math.inf) for s, e in zip(stds, exp)]
            worst = max(range(len(ratios)), key=lambda i: abs(math.log(ratios[i] or 1e-300)))
            row["expected_std"] = exp[worst]
            row["std_ratio"] = ratios[worst]
        gbad = 0
        if grad is not None:
            _, gstd, grms, gbad = _moments(grad, grad_parts.get(name))
            row["grad_norm"] = grms * math.sqrt(grad.numel())
            row["grad_std"] = gstd if grad.numel() >= 2 else math.nan
            row["grad_ratio"] = grms / rms if rms > 0 else math.nan
        bias_name = f"{module_name}.bias" if module_name else "bias"
        weight = _unit_rows(module, local, p)
        if weight is not None:
            gw = _unit_rows(module, local, grad)
            gb = _bias_for(weight, grads.get(bias_name)) if gw is not None else None
            row["dup_rows_frac"] = math.nan  # filled below, all weights screened together
            if grad is not None:
                row["stuck_rows_frac"] = math.nan
            pending.append((row, (weight, _bias_for(weight, params.get(bias_name)), gw, gb,
                                  bad == 0 and math.isfinite(rms),
                                  gbad == 0 and gw is not None and math.isfinite(grms),
                                  unit_rows.get(name))))
        rows.append(row)
    for (row, _), (dup, stuck) in zip(pending, symmetries([item for _, item in pending])):
        row["dup_rows_frac"] = dup
        if "stuck_rows_frac" in row:
            row["stuck_rows_frac"] = stuck
    return rows
