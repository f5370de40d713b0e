"""Axis ticks for initlab's charts: round linear steps, powers of ten, and their labels."""

from __future__ import annotations

import math

__all__ = ["nice_ticks", "log_ticks"]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round ticks (steps of 1, 2 or 5 x 10^k) covering ``[lo, hi]``.

    Args:
        lo: the lower end of the range.
        hi: the upper end of the range.
        n: about how many ticks.

    Returns:
        The ticks, ascending.

    Examples:
        >>> nice_ticks(0.13, 0.87)
        [0.2, 0.4, 0.6, 0.8]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (both > 0), at most ``most`` of them (every k-th decade
    when the range spans more); 2x and 5x as well within one decade.

    Args:
        lo: the lower end (> 0).
        hi: the upper end (> lo).
        most: the most ticks to return.

    Returns:
        The ticks, ascending.

    Examples:
        >>> log_ticks(0.05, 20)
        [0.1, 1.0, 10.0]
        >>> len(log_ticks(1e-3, 1e44))
        8
    """
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    exps = [k for k in range(a, b + 1) if lo * (1 - 1e-9) <= 10.0 ** k <= hi * 1.000001]
    if len(exps) > most:
        step = math.ceil(len(exps) / most)
        exps = [k for k in exps if k % step == 0] or exps[::step]
    ticks = [10.0 ** k for k in exps]
    if len(ticks) < 2:
        ticks = sorted({m * 10.0 ** k for k in range(a - 1, b + 1) for m in (1, 2, 5)
                        if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9)})
    return ticks


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        exp = math.floor(math.log10(abs(v)) + 1e-9)
        mant = v / 10.0 ** exp
        return f"1e{exp}" if abs(abs(mant) - 1) < 1e-9 else f"{mant:.2g}e{exp}"
    return f"{v:g}"
