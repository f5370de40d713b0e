"""Claims decided by statistics over seeds: PASS, FAIL or INCONCLUSIVE, with their numbers.

A comparison claim ("A beats B") is a paired t-test over the seeds both ran (the seeds
share batches, so they pair): PASS when the difference has the claimed sign and p < 0.05,
FAIL when it has the other sign and p < 0.05, INCONCLUSIVE otherwise, and always with
fewer than :data:`MIN_SEEDS` seeds. "A is the best of several" makes one test per rival,
Holm-corrected: PASS when A beats every rival, FAIL when a rival beats A. A threshold claim
("zeros stays at chance") uses the 95% CI of the mean: PASS when the whole CI is on the
claimed side, FAIL when it is all on the other side.
"""

from __future__ import annotations

import math

from initlab.lab.grouping import score
from initlab.lab.stats import ALPHA, describe, holm, paired_test
from initlab.reproductions._base import Check

__all__ = ["MIN_SEEDS", "per_seed", "beats", "best_of", "at_most", "at_least"]

MIN_SEEDS = 3
_INC = "INCONCLUSIVE"


def per_seed(runs: list[dict], label: str, metric: str = "test_acc",
             where=None) -> dict[int, float]:
    """``{seed: value}`` of init ``label``: ``test_acc`` (final; a diverged seed scores 0),
    ``loss1`` (mean train loss of epoch 1; a diverged seed scores +inf) or ``train_acc``;
    ``where(run)`` keeps only some runs (one experiment of several)."""
    out = {}
    for r in runs:
        if r["init"] != label or (where is not None and not where(r)):
            continue
        if metric == "test_acc":
            v = score(r)
        elif r["status"] == "diverged":
            v = math.inf if metric == "loss1" else 0.0
        elif r["status"] == "done" and r["epochs"]:
            v = r["epochs"][0 if metric == "loss1" else -1].get(
                "train_loss" if metric == "loss1" else metric)
        else:
            v = None
        if v is not None:
            out[r["seed"]] = v
    return out


def _fmt(v: float, pct: bool) -> str:
    return f"{100 * v:.2f}%" if pct else f"{v:.4f}"


def _test(a: dict, b: dict, higher: bool):
    seeds = sorted(set(a) & set(b))
    if any(math.isinf(a[s]) or math.isinf(b[s]) for s in seeds):  # a diverged loss
        wins = sum((a[s] > b[s]) == higher and a[s] != b[s] for s in seeds)
        return None, len(seeds), wins
    t = paired_test([a[s] for s in seeds], [b[s] for s in seeds])
    return t, len(seeds), None


def _mean(v: dict) -> float:
    return sum(v.values()) / len(v) if v else math.nan


def _verdict(t, n: int, higher: bool, wins) -> tuple[str, str]:
    if t is None:  # a diverged seed: count the seeds won instead
        status = _INC if n < MIN_SEEDS or 0 < wins < n else ("PASS" if wins == n else "FAIL")
        return status, f"won {wins}/{n} seeds (a diverged seed)"
    if t.delta is None:
        return _INC, "no seeds in common"
    p = t.p_value
    text = f"n = {n}" if p is None else f"p = {p:.3g}, n = {n}"
    if n < MIN_SEEDS or p is None:
        return _INC, f"{text}: too few seeds (>= {MIN_SEEDS})"
    if p < ALPHA:
        return ("PASS" if (t.delta > 0) == higher else "FAIL"), text
    return _INC, text + " (not significant)"


def _delta(t, pct: bool) -> str:
    if t is None or t.delta is None:
        return ""
    k, unit = (100.0, " points") if pct else (1.0, "")
    half = "" if t.ci95 is None else f" ± {k * (t.ci95[1] - t.ci95[0]) / 2:.2f}"
    return f"Δ = {k * t.delta:+.2f}{half}{unit}; "


def beats(claim: str, a: str, b: str, va: dict, vb: dict, *, higher: bool = True,
          pct: bool = True) -> Check:
    """Check "``a`` beats ``b``" on per-seed values (``higher``: larger is better).

    Args:
        claim: the claim's text.
        a: the label claimed better.
        b: the label claimed worse.
        va: ``a``'s value per seed.
        vb: ``b``'s value per seed.
        higher: whether larger values are better (accuracy) or smaller (loss).
        pct: show values as percentages.

    Returns:
        A Check with status PASS, FAIL or INCONCLUSIVE and the numbers.
    """
    t, n, wins = _test(va, vb, higher)
    status, text = _verdict(t, n, higher, wins)
    measured = (f"{a} {_fmt(_mean(va), pct)} vs {b} {_fmt(_mean(vb), pct)} (mean over seeds); "
                f"{_delta(t, pct)}{text}")
    return Check(claim, measured, status == "PASS", status)


def best_of(claim: str, winner: str, values: dict[str, dict], *, higher: bool = True,
            pct: bool = True) -> Check:
    """Check "``winner`` is the best of ``values``": one paired test per rival, Holm."""
    rivals = [k for k in values if k != winner]
    tests = [_test(values[winner], values[k], higher) for k in rivals]
    adjusted = holm([t.p_value if t is not None else None for t, _, _ in tests])
    states, parts = [], []
    for k, (t, n, wins), p in zip(rivals, tests, adjusted):
        if t is not None and p is not None:
            t = type(t)(t.delta, t.ci95, p, t.n)  # the Holm-adjusted p decides
        status, text = _verdict(t, n, higher, wins)
        states.append(status)
        parts.append(f"vs {k} {_fmt(_mean(values[k]), pct)}: {_delta(t, pct)}{text}")
    status = "FAIL" if "FAIL" in states else (_INC if _INC in states else "PASS")
    measured = (f"{winner} {_fmt(_mean(values[winner]), pct)}; " + "; ".join(parts) +
                " (paired t-tests over seeds, Holm)")
    return Check(claim, measured, status == "PASS", status)


def _threshold(claim: str, label: str, v: dict, bound: float, below: bool, pct: bool,
               clip) -> Check:
    d = describe(list(v.values()), clip=clip)
    if d.ci95 is None or d.n < MIN_SEEDS:
        status = _INC
        ci = f"n = {d.n}: too few seeds for a CI (>= {MIN_SEEDS})"
    else:
        lo, hi = d.ci95
        inside, outside = (hi <= bound, lo > bound) if below else (lo >= bound, hi < bound)
        status = "PASS" if inside else ("FAIL" if outside else _INC)
        ci = f"95% CI [{_fmt(lo, pct)}, {_fmt(hi, pct)}], n = {d.n}"
    side = "<=" if below else ">="
    mean = "nan" if d.mean is None else _fmt(d.mean, pct)
    measured = f"{label} {mean} ({ci}); claimed {side} {_fmt(bound, pct)}"
    return Check(claim, measured, status == "PASS", status)


def at_most(claim: str, label: str, v: dict, bound: float, *, pct: bool = True,
            clip: tuple[float, float] | None = (0.0, 1.0)) -> Check:
    """Check "the mean of ``v`` is at most ``bound``" by its 95% CI (cut to ``clip``, the
    values' valid range; None for differences)."""
    return _threshold(claim, label, v, bound, True, pct, clip)


def at_least(claim: str, label: str, v: dict, bound: float, *, pct: bool = True,
             clip: tuple[float, float] | None = (0.0, 1.0)) -> Check:
    """Check "the mean of ``v`` is at least ``bound``" by its 95% CI (see :func:`at_most`)."""
    return _threshold(claim, label, v, bound, False, pct, clip)
