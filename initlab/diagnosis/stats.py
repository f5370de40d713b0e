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

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

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
    "duplicate_fraction",
    "symmetry",
    "SYMMETRY_COSINE",
    "all_finite",
    "SATURATION_MARGIN",
]

SYMMETRY_COSINE = 0.9999  # two vectors this aligned (or both zero) count as identical
SATURATION_MARGIN = 0.01  # within 1% of the range from a bound counts as saturated
# vectors shorter than this are not compared: two random 2-D vectors are often within the
# cosine threshold, two 1-D vectors always are (a batch of 1, a Linear with 1 input)
MIN_SYMMETRY_DIM = 8


@dataclass(frozen=True)
class ActivationKind:
    """What an activation module can suffer from: dead units and/or saturation."""

    name: str
    can_die: bool = False  # exact zeros on a half-line (ReLU family)
    bounds: Callable[[nn.Module], tuple[float, float]] | None = None  # saturating range


def _hardtanh_bounds(m: nn.Module) -> tuple[float, float]:
    return float(m.min_val), float(m.max_val)


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


def activation_kind(module: nn.Module) -> ActivationKind | None:
    """The activation a leaf module applies, or None when it is not an activation."""
    for cls, kind in _KINDS:
        if isinstance(module, cls):
            return kind
    return None


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


def all_finite(t: torch.Tensor) -> bool:
    """Every element finite; a sum is cheaper than an elementwise mask when it is finite."""
    if t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
        return True
    if torch.isfinite(t.sum()).item():
        return True
    return bool(torch.isfinite(t).all())  # the sum may overflow with finite elements


def moments(t: torch.Tensor) -> tuple[float, float, float, int]:
    """(mean, std, rms, number of non-finite elements) over every element.

    A sum and a 2-norm (fast kernels; ``var_mean`` is several times slower); the variance
    ``E[x^2] - E[x]^2`` is redone exactly when it is small next to ``E[x^2]`` (cancellation),
    and everything in float64 when float32 overflows. A non-finite sum or norm means
    non-finite elements, which are then counted (statistics NaN).
    """
    d = t.detach()
    n = d.numel()
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    if not d.is_floating_point():
        d = d.float()
    for dtype in dict.fromkeys((d.dtype, torch.float64)):
        x = d if d.dtype == dtype else d.double()
        total = x.sum().item()
        norm = torch.linalg.vector_norm(x).item()
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


_PROJECTIONS = 16  # random directions a candidate pair must agree on before a full check


class _Rows:
    """Row vectors ``[matrix | column]`` without concatenating them (a weight and its bias)."""

    def __init__(self, matrix: torch.Tensor, column: torch.Tensor | None = None):
        dtype = torch.float64 if matrix.dtype == torch.float64 else torch.float32
        self.m = matrix.detach().to(dtype)
        self.c = None if column is None else column.detach().to(dtype)
        sq = torch.linalg.vector_norm(self.m, dim=1).square()
        if self.c is not None:
            sq = sq + self.c.square()
        self.norm = sq.sqrt()

    def projected(self) -> torch.Tensor:
        """The unit rows projected on 16 fixed Gaussian directions (zero rows stay 0)."""
        dim = self.m.shape[1] + (self.c is not None)
        r = _directions(dim, self.m.dtype, str(self.m.device))
        proj = self.m @ r[: self.m.shape[1]]
        if self.c is not None:
            proj += self.c.unsqueeze(1) * r[-1]
        return proj / self.norm.clamp_min(torch.finfo(self.m.dtype).tiny).unsqueeze(1)

    def identical(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Rows i[k] and j[k]: cosine > 0.9999, or both zero."""
        dot = (self.m[i] * self.m[j]).sum(1)
        if self.c is not None:
            dot = dot + self.c[i] * self.c[j]
        ni, nj = self.norm[i], self.norm[j]
        return (dot > SYMMETRY_COSINE * ni * nj) & (ni * nj > 0) | ((ni == 0) & (nj == 0))


@functools.lru_cache(maxsize=64)
def _directions(dim: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(dim)
    return torch.randn(dim, _PROJECTIONS, generator=g, dtype=dtype).to(device)


def _identical_rows(sets: list[_Rows]) -> torch.Tensor:
    """Per row: is some other row identical (cosine > 0.9999 or both zero) in every set?

    Identical unit rows are within 0.0142 of each other, so within ~0.1 after projecting on
    16 Gaussian directions (chi-square tail below 1e-6), where two random unit vectors
    almost never are; the nearest such candidate of each row is then checked exactly.
    Costs rows x dims x 16 + rows^2 x 16, not rows^2 x dims.
    """
    proj = torch.cat([rows.projected() for rows in sets], dim=1)
    n = proj.shape[0]
    nearest = torch.empty(n, dtype=torch.long, device=proj.device)
    best = torch.empty(n, dtype=proj.dtype, device=proj.device)
    step = max(1, 2**22 // n)  # rows per block: a block of distances stays ~16 MB
    sq = proj.square().sum(dim=1)
    for lo in range(0, n, step):
        block = proj[lo:lo + step]  # squared distances |a|^2 + |b|^2 - 2ab
        dist = torch.addmm(sq.unsqueeze(0), block, proj.t(), alpha=-2).add_(sq[lo:lo + step, None])
        idx = torch.arange(dist.shape[0], device=proj.device)
        dist[idx, idx + lo] = math.inf
        best[lo:lo + step], nearest[lo:lo + step] = dist.min(dim=1)
    cand = (best < 0.01 * len(sets)).nonzero().squeeze(1)  # (0.1 * sqrt(len(sets)))^2
    same = torch.zeros(n, dtype=torch.bool, device=proj.device)
    if cand.numel():
        ok = torch.ones(cand.numel(), dtype=torch.bool, device=proj.device)
        for rows in sets:
            ok &= rows.identical(cand, nearest[cand])
        same[cand] = ok
    return same


def _usable(vectors: torch.Tensor | None) -> bool:
    return (vectors is not None and vectors.dim() == 2 and vectors.shape[0] >= 2
            and vectors.shape[1] >= MIN_SYMMETRY_DIM)


def duplicate_fraction(vectors: torch.Tensor, *, skip_zero: bool = False) -> float:
    """Fraction of rows identical (cosine > 0.9999, or both zero) to another row.

    ``skip_zero`` leaves all-zero rows out (dead units are counted as dead, not as
    duplicates). NaN when the rows are too short to tell (fewer than 8 entries).
    """
    if not _usable(vectors) or not all_finite(vectors):
        return math.nan
    if skip_zero:
        vectors = vectors[(vectors != 0).any(dim=1)]
        if vectors.shape[0] < 2:
            return 0.0
    return _identical_rows([_Rows(vectors)]).float().mean().item()


def symmetry(weight: torch.Tensor, bias: torch.Tensor | None, grad: torch.Tensor | None,
             grad_bias: torch.Tensor | None) -> tuple[float, float]:
    """(fraction of units identical to another, fraction *stuck*: weights and gradients).

    ``weight`` is (units, incoming); a unit's vector is its weight row with its bias
    appended. Units with identical weights and identical gradients stay identical after a
    gradient step: the symmetry a layer cannot break by learning.
    """
    if not _usable(weight) or not all_finite(weight):
        return math.nan, math.nan
    w = _Rows(weight, bias)
    dup = _identical_rows([w])
    if grad is None or grad.shape != weight.shape or not all_finite(grad):
        return dup.float().mean().item(), math.nan
    if not dup.any():
        return 0.0, 0.0
    stuck = _identical_rows([w, _Rows(grad, grad_bias)])
    return dup.float().mean().item(), stuck.float().mean().item()
