"""Identical units: rows of a weight, or units' activations, that are (nearly) the same.

Two rows are *identical* when their cosine exceeds 0.9999, or both are zero. The fractions
of one layer (:func:`duplicate_fraction`, :func:`symmetry`) and of many layers at once
(:func:`duplicate_fractions`, :func:`symmetries`) are here; the search they run (random
projections, nearest neighbours, the batched :func:`screen`) is in
:mod:`initlab.diagnosis.symmetry_search`.
"""

from __future__ import annotations

import math

import torch

from initlab.diagnosis.symmetry_search import (
    SYMMETRY_COSINE,
    _identical_rows,
    _Rows,
    screen,
)

__all__ = ["SYMMETRY_COSINE", "MIN_SYMMETRY_DIM", "all_finite", "duplicate_fraction",
           "symmetry", "duplicate_fractions", "symmetries"]

# vectors shorter than this are not compared: two random 2-D vectors are often within the
# cosine threshold, two 1-D vectors always are (a batch of 1, a Linear with 1 input)
MIN_SYMMETRY_DIM = 8


def all_finite(t: torch.Tensor) -> bool:
    """Every element finite; a sum is cheaper than an elementwise mask when it is finite."""
    if t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
        return True
    if torch.isfinite(t.sum()).item():
        return True
    return bool(torch.isfinite(t).all())  # the sum may overflow with finite elements


def _usable(vectors: torch.Tensor | None) -> bool:
    return (vectors is not None and vectors.dim() == 2 and vectors.shape[0] >= 2
            and vectors.shape[1] >= MIN_SYMMETRY_DIM)


_DIRECT_MACS = 2**24  # rows^2 x entries up to this: every pair compared exactly, at once
_DIRECT_BLOCK = 2**22  # cosines per batched product (~16 MB in float32)


def _direct(vectors: torch.Tensor) -> bool:
    n, d = vectors.shape
    return n * n * d <= _DIRECT_MACS


def _direct_fractions(mats: list[torch.Tensor], skip_zero: bool) -> list[float]:
    """:func:`duplicate_fraction` of finite matrices of one shape, by every pair's cosine.

    For few and short rows (activations of a batch: units x samples) one batched product
    of all pairs costs less than the projections and searches of the general path, and is
    exact. Rows are scaled by their largest entry, then to unit length (no square
    underflows or overflows), so the product holds the cosines; each row's largest
    cosine with another row decides.
    """
    x = torch.stack(mats)
    x = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    tiny = torch.finfo(x.dtype).tiny
    peak = x.abs().amax(dim=2, keepdim=True)                           # (layers, rows, 1)
    x = x / peak.clamp_min(tiny)
    x = x / torch.linalg.vector_norm(x, dim=2, keepdim=True).clamp_min(tiny)
    cos = torch.bmm(x, x.transpose(1, 2))                              # (layers, rows, rows)
    cos.diagonal(dim1=1, dim2=2).fill_(-2.0)                           # not its own partner
    partner = cos.amax(dim=2) > SYMMETRY_COSINE                        # zero rows: cosines 0
    zero = peak.squeeze(2) == 0
    if not skip_zero:  # two zero rows are identical
        partner |= zero & (zero.sum(dim=1, keepdim=True) >= 2)
        return partner.float().mean(dim=1).tolist()
    keep = ~zero
    counts = torch.stack([(partner & keep).sum(dim=1), keep.sum(dim=1)], 1).tolist()
    return [hit / kept if kept >= 2 else 0.0 for hit, kept in counts]


def duplicate_fraction(vectors: torch.Tensor, *, skip_zero: bool = False,
                       finite: bool | None = None) -> float:
    """Fraction of rows identical (cosine > 0.9999, or both zero) to another row.

    ``skip_zero`` leaves all-zero rows out (dead units are counted as dead, not as
    duplicates). NaN when the rows are too short to tell (fewer than 8 entries) or hold a
    non-finite value (``finite=True``: the caller knows they do not; not checked again).
    """
    if not _usable(vectors) or not (finite or all_finite(vectors)):
        return math.nan
    if _direct(vectors):
        return _direct_fractions([vectors], skip_zero)[0]
    # rows scaled by their largest entry (the copy also makes them contiguous: reductions
    # along the strided rows of a (samples, units) view run ~10x slower): cosines do not
    # change, and no square underflows or overflows
    peak = vectors.abs().amax(dim=1, keepdim=True)
    scaled = vectors / peak.clamp_min(torch.finfo(peak.dtype).tiny)
    if not skip_zero:
        return _fraction(_identical_rows([_Rows(scaled)]))
    keep = (peak.squeeze(1) != 0).nonzero().squeeze(1)  # finite: not all zero
    if keep.numel() < 2:
        return 0.0
    if keep.numel() < scaled.shape[0]:
        scaled = scaled.index_select(0, keep)
    return _fraction(_identical_rows([_Rows(scaled)]))


def _fraction(same: torch.Tensor | None) -> float:
    return 0.0 if same is None else same.float().mean().item()


def symmetry(weight: torch.Tensor, bias: torch.Tensor | None, grad: torch.Tensor | None,
             grad_bias: torch.Tensor | None, *, finite: bool | None = None,
             grad_finite: bool | None = None, rows: _Rows | None = None
             ) -> tuple[float, float]:
    """(fraction of units identical to another, fraction *stuck*: weights and gradients).

    ``weight`` is (units, incoming); a unit's vector is its weight row with its bias
    appended. Units with identical weights and identical gradients stay identical after a
    gradient step: the symmetry a layer cannot break by learning. ``finite`` /
    ``grad_finite``: True when the caller knows the weight / gradient is finite (a finite
    norm), which skips the check here. ``rows``: the weight's :class:`_Rows`, when built.
    """
    if not _usable(weight) or not (finite or all_finite(weight)):
        return math.nan, math.nan
    w = rows if rows is not None else _Rows(weight, bias)
    frac = _fraction(_identical_rows([w]))
    if grad is None or grad.shape != weight.shape or not (grad_finite or all_finite(grad)):
        return frac, math.nan
    if frac == 0:
        return 0.0, 0.0
    return frac, _fraction(_identical_rows([w, _Rows(grad, grad_bias)]))


# ----------------------------------------------------------------------------- many layers
def duplicate_fractions(vectors: list[torch.Tensor], *, skip_zero: bool = False,
                        finite: bool | None = None) -> list[float]:
    """:func:`duplicate_fraction` of each matrix; the layers :func:`screen` clears get 0."""
    usable = [i for i, v in enumerate(vectors) if _usable(v) and (finite or all_finite(v))]
    out = [math.nan] * len(vectors)
    direct: dict[tuple, list[int]] = {}
    rest = []
    for i in usable:
        v = vectors[i]
        if _direct(v):
            direct.setdefault((tuple(v.shape), v.dtype, v.device), []).append(i)
        else:
            rest.append(i)
    for (shape, *_), idx in direct.items():
        per = max(1, _DIRECT_BLOCK // (shape[0] * shape[0]))
        for lo in range(0, len(idx), per):
            chunk = idx[lo:lo + per]
            for i, frac in zip(chunk, _direct_fractions([vectors[i] for i in chunk], skip_zero)):
                out[i] = frac
    usable = rest
    mats = [vectors[i].contiguous() for i in usable]
    flags = screen([_Rows(m) for m in mats], skip_zero=skip_zero)
    for i, m, flag in zip(usable, mats, flags):
        out[i] = duplicate_fraction(m, skip_zero=skip_zero, finite=True) if flag else 0.0
    return out


def symmetries(items: list[tuple]) -> list[tuple[float, float]]:
    """:func:`symmetry` of each ``(weight, bias, grad, grad_bias, finite, grad_finite,
    rows)`` (``rows``: the weight's :class:`_Rows`, or None); the weights :func:`screen`
    clears have no identical rows, hence none stuck either."""
    out: list[tuple[float, float]] = []
    ready = [i for i, (w, *_, fin, _g, _r) in enumerate(items) if _usable(w) and fin]
    sets = [items[i][6] or _Rows(items[i][0], items[i][1]) for i in ready]
    flags = dict(zip(ready, screen(sets)))
    built = dict(zip(ready, sets))
    for i, (w, b, g, gb, fin, gfin, _) in enumerate(items):
        if flags.get(i, True):
            out.append(symmetry(w, b, g, gb, finite=fin, grad_finite=gfin, rows=built.get(i)))
            continue
        grad_ok = g is not None and g.shape == w.shape and (gfin or all_finite(g))
        out.append((0.0, 0.0 if grad_ok else math.nan))
    return out
