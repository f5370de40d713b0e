"""The statistics diagnose computes on one tensor: named, cheap, and defined once here.

Units. A *unit* is one output feature of a layer, the thing a row of its weight computes:

* a 2-D output ``(N, F)``: each of the F features;
* an output with channels first ``(N, C, ...)`` after a convolution: each of the C channels,
  over all its positions (a convolution's filter is shared across positions, so a channel
  that is zero at one position for the whole batch still learns from the others; a filter
  whose channel is zero everywhere gets no gradient at all);
* a 3-D output after a Linear (``(N, T, D)``, sequences): each of the D features, over the
  batch and all positions.

A unit is *dead* when it is exactly zero for the whole batch (and all its positions).
A unit is *saturated* per element: a tanh/sigmoid/hardtanh output within 1% of the
function's range from one of its bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

__all__ = [
    "ActivationKind",
    "activation_kind",
    "units_matrix",
    "moments",
    "dead_fraction",
    "dead_and_zero",
    "saturated_fraction",
    "SATURATION_MARGIN",
]

SATURATION_MARGIN = 0.01  # within 1% of the range from a bound counts as saturated


@dataclass(frozen=True)
class ActivationKind:
    """What an activation module can suffer from: dead units and/or saturation."""

    name: str
    can_die: bool = False  # exact zeros on a half-line (ReLU family)
    bounds: Callable[[nn.Module], tuple[float, float]] | None = None  # saturating range


def _hardtanh_bounds(m: nn.Module) -> tuple[float, float]:
    h = cast(nn.Hardtanh, m)  # only registered for Hardtanh subclasses
    return float(h.min_val), float(h.max_val)


# First matching entry wins (subclasses included), so ReLU6 and Hardtanh come first.
_KINDS: tuple[tuple[type, ActivationKind], ...] = (
    (nn.ReLU6, ActivationKind("relu6", can_die=True, bounds=lambda m: (0.0, 6.0))),
    (nn.Hardtanh, ActivationKind("hardtanh", bounds=_hardtanh_bounds)),
    (nn.ReLU, ActivationKind("relu", can_die=True)),
    (nn.Hardswish, ActivationKind("hardswish", can_die=True)),
    (nn.Hardsigmoid, ActivationKind("hardsigmoid", bounds=lambda m: (0.0, 1.0))),
    (nn.Tanh, ActivationKind("tanh", bounds=lambda m: (-1.0, 1.0))),
    (nn.Sigmoid, ActivationKind("sigmoid", bounds=lambda m: (0.0, 1.0))),
    (nn.Softsign, ActivationKind("softsign", bounds=lambda m: (-1.0, 1.0))),
    (nn.LeakyReLU, ActivationKind("leaky_relu")),
    (nn.PReLU, ActivationKind("prelu")),
    (nn.RReLU, ActivationKind("rrelu")),
    (nn.ELU, ActivationKind("elu")),
    (nn.CELU, ActivationKind("celu")),
    (nn.SELU, ActivationKind("selu")),
    (nn.GELU, ActivationKind("gelu")),
    (nn.SiLU, ActivationKind("silu")),
    (nn.Mish, ActivationKind("mish")),
    (nn.Softplus, ActivationKind("softplus")),
)


# Activation classes of libraries initlab does not import (Hugging Face transformers' ACT2FN,
# timm), by class name: any class of that name, or a subclass of one.
_NAMED_KINDS: dict[str, ActivationKind] = {
    **{n: ActivationKind("gelu") for n in (
        "GELUActivation", "NewGELUActivation", "FastGELUActivation", "GELUTanh",
        "PytorchGELUTanh", "AccurateGELUActivation", "ClippedGELUActivation",
        "GELUPytorchTanh", "QuickGELUActivation", "QuickGELU", "GELUTanhApproximation")},
    "SiLUActivation": ActivationKind("silu"),
    "SwishActivation": ActivationKind("silu"),
    "MishActivation": ActivationKind("mish"),
    "ReLUSquaredActivation": ActivationKind("relu", can_die=True),
    "LaplaceActivation": ActivationKind("gelu"),
}


# ... and any other class named like a smooth activation (BloomGelu, ...)
_NAME_PATTERNS: tuple[tuple[re.Pattern, ActivationKind], ...] = (
    (re.compile(r"gelu", re.I), ActivationKind("gelu")),
    (re.compile(r"silu|swish", re.I), ActivationKind("silu")),
)


def activation_kind(module: nn.Module) -> ActivationKind | None:
    """The activation a leaf module applies, or None when it is not an activation."""
    return _kind_of(type(module))


_KIND_CACHE: dict[type, ActivationKind | None] = {}  # per module class (a few dozen)


def _kind_of(cls: type) -> ActivationKind | None:
    if cls not in _KIND_CACHE:
        _KIND_CACHE[cls] = _find_kind(cls)
    return _KIND_CACHE[cls]


def _find_kind(cls: type) -> ActivationKind | None:
    for base, kind in _KINDS:
        if issubclass(cls, base):
            return kind
    for base in cls.__mro__:
        if base.__name__ in _NAMED_KINDS:
            return _NAMED_KINDS[base.__name__]
    name = cls.__name__
    return next((kind for pattern, kind in _NAME_PATTERNS if pattern.search(name)), None)


def _unit_dim(t: torch.Tensor, channels_last: bool) -> int:
    return t.dim() - 1 if channels_last or t.dim() <= 2 else 1


def units_matrix(t: torch.Tensor, channels_last: bool, max_samples: int | None = None
                 ) -> torch.Tensor:
    """``t`` as a (samples, units) matrix: rows are what one unit saw, columns are units.

    ``channels_last`` says the units are the last dim (Linear outputs, sequences); otherwise
    dim 1 holds them (convolution outputs). 1-D outputs are one unit per element. With
    ``max_samples``, at most that many evenly spaced samples (batch x positions) are kept,
    gathered without copying the whole tensor.
    """
    if t.dim() <= 1:
        return t.reshape(1, -1)
    moved = t.movedim(_unit_dim(t, channels_last), -1)
    n = moved.numel() // max(moved.shape[-1], 1)
    if max_samples is None or n <= max_samples:
        return moved.reshape(n, moved.shape[-1])
    idx = torch.linspace(0, n - 1, max_samples, device=t.device).round().long()
    lead = torch.unravel_index(idx, moved.shape[:-1])
    return moved[lead]


def dead_and_zero(t: torch.Tensor, channels_last: bool) -> tuple[float, float]:
    """(fraction of units zero for every sample and position, fraction of zero elements)."""
    if t.numel() == 0:
        return math.nan, math.nan
    nonzero = t.detach() != 0
    unit = _unit_dim(t, channels_last) if t.dim() > 1 else 0
    dims = tuple(d for d in range(t.dim()) if d != unit) if t.dim() > 1 else (0,)
    alive = nonzero.any(dim=dims) if t.dim() > 1 else nonzero
    dead = 1.0 - alive.sum().item() / alive.numel()
    zero = 1.0 - nonzero.sum().item() / t.numel()
    return dead, zero


def _count(x: torch.Tensor) -> torch.Tensor:
    """Sum of a 0/1 float tensor, exact: float64 once float32 could round (2^24 elements)."""
    small = x.dtype in (torch.float32, torch.float64) and x.numel() < 2**24
    return x.sum() if small else x.sum(dtype=torch.float64)


def _unit_count(t: torch.Tensor, channels_last: bool) -> int:
    return t.shape[_unit_dim(t, channels_last)] if t.dim() > 1 else t.numel()


def dead_zero_parts(t: torch.Tensor, channels_last: bool) -> list[torch.Tensor]:
    """[units with a nonzero element, nonzero elements] of a finite ``t`` as 0-dim tensors.

    :func:`dead_and_zero` without a host sync, with float reductions only (``|t|.amax``
    per unit, ``|sign(t)|`` summed): the boolean ``any``/``sum`` kernels are several times
    slower on CPU. Exact for finite ``t`` (a NaN would poison the counts).
    """
    if t.dim() > 1:
        unit = _unit_dim(t, channels_last)
        dims = tuple(d for d in range(t.dim()) if d != unit)
        alive = _count(t.abs().amax(dim=dims).sign())
    else:
        alive = _count(t.sign().abs())
    return [alive, _count(t.sign().abs())]


def dead_zero_finish(t: torch.Tensor, channels_last: bool, alive: float, nonzero: float
                     ) -> tuple[float, float]:
    """:func:`dead_and_zero` from the counts of :func:`dead_zero_parts`."""
    return 1.0 - alive / _unit_count(t, channels_last), 1.0 - nonzero / t.numel()


def moments(t: torch.Tensor) -> tuple[float, float, float, int]:
    """(mean, std, rms, number of non-finite elements) over every element.

    A sum and a 2-norm (fast kernels; ``var_mean`` is several times slower), read back in
    one host sync; the variance ``E[x^2] - E[x]^2`` is redone exactly when it is small next
    to ``E[x^2]`` (cancellation), and everything in float64 when float32 overflows. A
    non-finite sum or norm means non-finite elements, which are then counted (statistics NaN).
    """
    d = t.detach()
    if d.numel() == 0:
        return math.nan, math.nan, math.nan, 0
    total, norm = torch.stack(moment_parts(d)).tolist()
    return moments_finish(d, total, norm)


def moment_parts(t: torch.Tensor) -> list[torch.Tensor]:
    """[sum, 2-norm] of ``t`` as 0-dim tensors, for :func:`moments_finish` (no host sync)."""
    d = t.detach()
    if not d.is_floating_point():
        d = d.float()
    return [d.sum(), torch.linalg.vector_norm(d)]


def moments_finish(t: torch.Tensor, total: float, norm: float
                   ) -> tuple[float, float, float, int]:
    """:func:`moments` from the sum and 2-norm :func:`moment_parts` gave (in ``t``'s dtype)."""
    d = t.detach()
    n = d.numel()
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    if not d.is_floating_point():
        d = d.float()
    for dtype in dict.fromkeys((d.dtype, torch.float64)):
        x = d if d.dtype == dtype else d.double()
        if x is not d:
            total, norm = torch.stack([x.sum(), torch.linalg.vector_norm(x)]).tolist()
        if math.isfinite(total) and math.isfinite(norm):
            mean, ms = total / n, (norm * norm) / n
            var = ms - mean * mean
            if var < 1e-4 * ms:  # cancellation: take the exact two-pass variance
                var = torch.var(x.double() if x.dtype != torch.float64 else x,
                                correction=0).item()
            return mean, math.sqrt(max(var, 0.0)), math.sqrt(ms), 0
    bad = int((~torch.isfinite(d)).sum().item())
    return math.nan, math.nan, math.nan, bad


def dead_fraction(units: torch.Tensor) -> float:
    """Fraction of units (columns) that are exactly zero for every sample."""
    if units.numel() == 0:
        return math.nan
    return (units != 0).any(dim=0).logical_not().float().mean().item()


def saturated_fraction(t: torch.Tensor, low: float, high: float) -> float:
    """Fraction of elements within ``SATURATION_MARGIN`` of the range from a bound."""
    if t.numel() == 0:
        return math.nan
    margin = SATURATION_MARGIN * (high - low)
    d = t.detach()
    return ((d <= low + margin) | (d >= high - margin)).sum().item() / d.numel()


def saturated_part(t: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """:func:`saturated_fraction`'s count of a finite ``t``, as a 0-dim tensor (no host sync).

    ``x <= a`` exactly when ``a - x >= 0`` (IEEE subtraction keeps the sign of the exact
    difference), so a Heaviside step with value 1 at 0 counts it with float kernels.
    """
    margin = SATURATION_MARGIN * (high - low)
    d = t.detach()
    lo, hi = low + margin, high - margin
    one = torch.ones((), dtype=d.dtype, device=d.device)
    hits = torch.heaviside(lo - d, one).add_(torch.heaviside(d - hi, one))
    if lo >= hi:  # the two sides overlap: an element near both bounds counts once
        hits.clamp_(max=1)
    return _count(hits)
