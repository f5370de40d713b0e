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

import torch
from torch import nn

from initlab.diagnosis.stats import moments, symmetry

__all__ = ["param_rows", "expected_stds"]

# module types whose weight keeps its output units along dim 1 instead of dim 0
_UNITS_DIM1: tuple[type, ...] = (nn.modules.conv._ConvTransposeNd,)


def expected_stds(plan, params: dict[str, torch.Tensor]) -> dict[str, list[tuple]]:
    """name -> [(row slice or None, expected std)] from a Plan's rows (fused chunks split)."""
    out: dict[str, list[tuple]] = {}
    if plan is None:
        return out
    for row in getattr(plan, "rows", []):
        std = getattr(row, "std", None)
        name = getattr(row, "name", None)
        if std is None or name not in params:
            continue
        chunk = getattr(row, "chunk", None)
        rows = None
        if chunk is not None:
            index, count = chunk
            size = params[name].shape[0] // count
            rows = slice(index * size, (index + 1) * size)
        out.setdefault(name, []).append((rows, float(std)))
    return out


def _unit_rows(module: nn.Module, local: str, t: torch.Tensor | None):
    """A weight as (units, incoming), or None when it is not a weight of 2+ dims."""
    if t is None or local != "weight" or t.dim() < 2:
        return None
    w = t.detach()
    if isinstance(module, _UNITS_DIM1):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _bias_for(rows: torch.Tensor, bias: torch.Tensor | None):
    if bias is None or bias.dim() != 1 or bias.shape[0] != rows.shape[0]:
        return None
    return bias.detach()


def _std(t: torch.Tensor) -> float:
    return moments(t)[1] if t.numel() >= 2 else math.nan


def param_rows(model: nn.Module, grads: dict[str, torch.Tensor | None], plan=None) -> list[dict]:
    """One row per parameter of ``model`` (gradients keyed by parameter name)."""
    params = dict(model.named_parameters())
    expected = expected_stds(plan, params)
    modules = dict(model.named_modules())
    rows = []
    for name, p in params.items():
        module_name, _, local = name.rpartition(".")
        module = modules.get(module_name, model)
        grad = grads.get(name)
        _, std, rms, _ = moments(p)
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
        if grad is not None:
            _, gstd, grms, _ = moments(grad)
            row["grad_norm"] = grms * math.sqrt(grad.numel())
            row["grad_std"] = gstd if grad.numel() >= 2 else math.nan
            row["grad_ratio"] = grms / rms if rms > 0 else math.nan
        bias_name = f"{module_name}.bias" if module_name else "bias"
        weight = _unit_rows(module, local, p)
        if weight is not None:
            gw = _unit_rows(module, local, grad)
            gb = _bias_for(weight, grads.get(bias_name)) if gw is not None else None
            row["dup_rows_frac"], stuck = symmetry(
                weight, _bias_for(weight, params.get(bias_name)), gw, gb)
            if grad is not None:
                row["stuck_rows_frac"] = stuck
        rows.append(row)
    return rows
