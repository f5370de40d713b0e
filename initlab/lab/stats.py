"""Statistics over seeds: mean, std, n, 95% confidence intervals, paired t-tests, Holm.

A comparison of inits is a claim about seeds. Each init's figure is summarized by its mean,
sample standard deviation, count and a two-sided 95% Student-t confidence interval for the
mean; two inits are compared by a paired t-test over the seeds they share (runs of one seed
see the same batches: common random numbers pair them), and the p-values of the several
comparisons made in one group are Holm-corrected (step-down, family-wise error 5%).

The Student-t distribution is computed here (regularized incomplete beta by a continued
fraction), so the lab needs no scipy; the tests check it against scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Describe", "PairedTest", "describe", "paired_test", "holm", "t_sf", "t_ppf",
           "ALPHA"]

ALPHA = 0.05


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz method)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
          + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on :func:`t_sf`, to 1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1); got {q}")
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_sf(mid, df) > 1.0 - q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Describe:
    """Mean, sample std, count and 95% CI of one figure over seeds (None where undefined)."""

    mean: float | None
    std: float | None
    n: int
    ci95: tuple[float, float] | None


def describe(values: Sequence[float | None], clip: tuple[float, float] | None = None
             ) -> Describe:
    """Summarize finite ``values``: mean, sample std (n >= 2), t-based 95% CI (n >= 2).

    Args:
        values: one figure per seed; None and non-finite entries are left out.
        clip: the figure's valid range (e.g. (0, 1) for an accuracy); the CI is cut to it.

    Returns:
        A :class:`Describe`; ``std`` and ``ci95`` are None with fewer than two values.
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        return Describe(None, None, 0, None)
    mean = math.fsum(vals) / n
    if n < 2:
        return Describe(mean, None, 1, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_ppf(1.0 - ALPHA / 2.0, n - 1) * std / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if clip is not None:
        lo, hi = max(lo, clip[0]), min(hi, clip[1])
    return Describe(mean, std, n, (lo, hi))


@dataclass(frozen=True)
class PairedTest:
    """A paired t-test of ``a - b`` over the pairs: mean difference, its 95% CI, p-value."""

    delta: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    n: int


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided paired t-test of ``mean(a - b) = 0`` (pairs with a non-finite side dropped).

    Args:
        a: one figure per seed for the first init.
        b: the same seeds' figures for the second init, in the same order.

    Returns:
        A :class:`PairedTest`; ``p_value`` and ``ci95`` are None with fewer than two pairs.
        Identical differences give p = 1 when they are all zero and p = 0 otherwise.
    """
    if len(a) != len(b):
        raise ValueError(f"paired_test needs equal lengths; got {len(a)} and {len(b)}")
    d = [float(x) - float(y) for x, y in zip(a, b)
         if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    n = len(d)
    if n == 0:
        return PairedTest(None, None, None, 0)
    mean = math.fsum(d) / n
    if n < 2:
        return PairedTest(mean, None, None, 1)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in d) / (n - 1))
    if sd == 0.0:
        return PairedTest(mean, (mean, mean), 1.0 if mean == 0.0 else 0.0, n)
    se = sd / math.sqrt(n)
    half = t_ppf(1.0 - ALPHA / 2.0, n - 1) * se
    p = min(1.0, 2.0 * t_sf(abs(mean / se), n - 1))
    return PairedTest(mean, (mean - half, mean + half), p, n)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input order (None stays None).

    Args:
        p_values: the raw p-values of one family of comparisons.

    Returns:
        Adjusted p-values: compare each with the family-wise level (0.05).
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
