"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2016).

``lsuv_(model, batch)`` pre-initializes every weight with an orthonormal matrix (drawn from
a generator seeded with ``seed``, on the CPU, so the values do not depend on the device),
then walks the layers in the order the forward pass calls them and divides each weight by
the standard deviation of the layer's output (before the activation) until its variance is
1 within ``tol``.

Which parameters are units:

* every module with a ``weight`` of two or more dimensions (Linear, Bilinear, ConvNd,
  ConvTransposeNd, Embedding, custom modules), except normalization layers;
* ``nn.MultiheadAttention`` as four units: the q, k and v chunks of the fused
  ``in_proj_weight`` (or the separate ``q/k/v_proj_weight``), each scaled so that its own
  projection has unit variance (measured on the inputs the module receives), then
  ``out_proj.weight``, scaled on the module's output (``out_proj`` is applied functionally
  inside attention, so hooks on it never fire). The fused fast path is disabled meanwhile.

The forward passes run in eval mode under ``torch.no_grad()`` (no dropout draws from the
global RNG, no BatchNorm running-statistics updates, no autograd history); each module's
own train/eval flag is restored and every hook removed in ``finally``. A measuring pass
stops as soon as the layer being scaled has produced its output.

A layer whose output variance is 0 or not finite is never divided by: it is left as it is,
recorded with status ``zero_variance`` / ``non_finite`` and named in a warning
(``strict=True`` raises :class:`~initlab.errors.ConfigError` instead). Layers that do not
reach the tolerance in ``max_iter`` scalings are recorded as ``not_converged`` and named in
one warning.

The records and the warning live in :mod:`initlab.calibrate.lsuv_result`, finding and
measuring the units in :mod:`initlab.calibrate.lsuv_units`; this module runs the algorithm.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from initlab.calibrate.lsuv_result import LSUVRecord, LSUVResult, LSUVWarning
from initlab.calibrate.lsuv_units import (
    _channel_mean,
    _execution_order,
    _find_units,
    _measure,
    _orthonormal_,
    _Unit,
    _variance,
)
from initlab.errors import ConfigError

__all__ = ["LSUVRecord", "LSUVResult", "LSUVWarning", "lsuv_"]


# ---------------------------------------------------------------- the algorithm


def _scale_unit(model: nn.Module, batch: Any, unit: _Unit, tol: float, max_iter: int,
                center_bias: bool) -> LSUVRecord:
    if center_bias and unit.bias is not None:
        out = _measure(model, batch, unit)
        if out is None:
            return LSUVRecord(unit.name, 0, float("nan"), False, "not_called")
        mean = _channel_mean(out, unit.channel_dim, unit.bias.numel())
        if mean is not None and torch.isfinite(mean).all():
            unit.bias.sub_(mean.to(unit.bias))
    scale = 1.0
    for it in range(max_iter + 1):
        out = _measure(model, batch, unit)
        if out is None:
            return LSUVRecord(unit.name, it, float("nan"), False, "not_called", scale)
        var = _variance(out)
        if not math.isfinite(var):
            return LSUVRecord(unit.name, it, var, False, "non_finite", scale)
        if var == 0.0:
            return LSUVRecord(unit.name, it, var, False, "zero_variance", scale)
        if abs(var - 1.0) < tol:
            return LSUVRecord(unit.name, it, var, True, "converged", scale)
        if it == max_iter:
            break
        factor = 1.0 / math.sqrt(var)
        unit.weight.mul_(factor)
        if center_bias and unit.bias is not None:
            unit.bias.mul_(factor)
        scale *= factor
    return LSUVRecord(unit.name, max_iter, var, False, "not_converged", scale)


def _validate(model: object, tol: object, max_iter: object) -> None:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"lsuv_ needs a torch.nn.Module; got {type(model).__name__}; "
            "hint: call initlab.calibrate.lsuv_(model, batch)."
        )
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ConfigError(
            f"lsuv_ tol must be a number in (0, 1); got {tol!r}; hint: the paper uses tol=0.1."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(
            f"lsuv_ max_iter must be an integer >= 1; got {max_iter!r}; "
            "hint: the paper uses max_iter=10."
        )
    if any(p.is_meta for p in model.parameters()):
        raise ConfigError(
            "lsuv_ got a model with parameters on the meta device; expected real tensors; "
            "hint: initlab.materialize(model, ...) first, then lsuv_."
        )


def lsuv_(
    model: nn.Module,
    batch: Any,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    orthonormal: bool = True,
    center_bias: bool = False,
    seed: int = 0,
    strict: bool = False,
) -> LSUVResult:
    """Initialize ``model`` in place by LSUV on ``batch``; return the per-unit records.

    ``batch`` is what the model is called with: a tensor (``model(batch)``), a tuple or list
    (``model(*batch)``) or a dict (``model(**batch)``). ``orthonormal=True`` first sets every
    unit's weight orthonormal (seeded by ``seed``) and its bias to zero. ``center_bias=True``
    also shifts each bias so the layer's output has zero mean per channel.

    Args:
        model: the model, initialized in place.
        batch: what the model is called with (a tensor, a tuple/list, or a dict).
        tol: stop scaling a layer when its output variance is within ``tol`` of 1.
        max_iter: at most this many scalings per layer.
        orthonormal: first set every weight orthonormal and every bias to zero.
        center_bias: also shift each bias so the layer's output has zero mean per channel.
        seed: the seed of the orthonormal pre-initialization (drawn on the CPU).
        strict: raise instead of warning when a layer's output variance is 0 or not finite.

    Returns:
        An :class:`LSUVResult`: one :class:`LSUVRecord` per unit, in execution order.

    Raises:
        ConfigError: not a module, a meta model, no layer to scale, invalid options, or
            (``strict``) a dead layer.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
        >>> x = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
        >>> result = lsuv_(model, x, tol=0.05)
        >>> result.converged, [r.name for r in result]
        (True, ['0.weight', '2.weight'])
        >>> abs(model(x).var().item() - 1) < 0.1
        True
    """
    _validate(model, tol, max_iter)
    units = _find_units(model)
    if not units:
        raise ConfigError(
            f"lsuv_ found no layer to scale in {type(model).__name__}; expected modules with a "
            "weight of >= 2 dims (Linear, Conv, ConvTranspose, MultiheadAttention, ...); "
            "hint: normalization layers are skipped on purpose."
        )
    modes = {m: m.training for m in model.modules()}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    records: list[LSUVRecord] = []
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        model.eval()
        with torch.no_grad():
            if orthonormal:
                generator = torch.Generator().manual_seed(int(seed))
                for u in units:
                    _orthonormal_(u.weight, generator)
                    if u.bias is not None:
                        u.bias.zero_()
            for unit in _execution_order(model, batch, units):
                records.append(_scale_unit(model, batch, unit, tol, max_iter, center_bias))
                if strict and records[-1].status in ("zero_variance", "non_finite"):
                    r = records[-1]
                    raise ConfigError(
                        f"LSUV: layer '{r.name}' has output variance {r.variance}; expected a "
                        "finite, non-zero variance; hint: check the batch and the layers "
                        "before it (dead ReLUs, zero weights, NaN inputs)."
                    )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, mode in modes.items():
            m.training = mode
    _warn(records)
    return LSUVResult(records)


def _warn(records: list[LSUVRecord]) -> None:
    bad = [r for r in records if r.status in ("zero_variance", "non_finite")]
    if bad:
        names = ", ".join(f"'{r.name}' ({r.status}: {r.variance})" for r in bad)
        warnings.warn(
            f"LSUV left {len(bad)} layer(s) unscaled because their output variance is 0 or "
            f"not finite: {names}; check the batch and the layers before them.",
            LSUVWarning,
            stacklevel=3,
        )
    slow = [r.name for r in records if r.status == "not_converged"]
    if slow:
        warnings.warn(
            f"LSUV did not reach the tolerance for {len(slow)} layer(s): {slow}; "
            "raise max_iter or tol, or check the biases.",
            LSUVWarning,
            stacklevel=3,
        )
