"""Claims decided by statistics over seeds: PASS, FAIL or INCONCLUSIVE, with their numbers.

A comparison claim ("A beats B") is a paired t-test over the seeds both ran (the seeds
share batches, so they pair): PASS when the difference has the claimed sign and p < 0.05,
FAIL when it has the other sign and p < 0.05, INCONCLUSIVE otherwise, and always with
fewer than :data:`MIN_SEEDS` seeds. "A is the best of several" makes one test per rival,
Holm-corrected: PASS when A beats every rival, FAIL when a rival beats A. A threshold claim
("zeros stays at chance") uses the 95% CI of the mean: PASS when the whole CI is on the
claimed side, FAIL when it is all on the other side; :func:`within` asks for the whole CI
inside an interval. A deterministic claim (a property of every seed, like a rank bound) is
:func:`every_seed`: PASS when it holds on every seed, FAIL when it fails on one.

Every check carries its numbers in ``values`` (``mean``, ``ci95``, ``p_value``, ``n``,
``delta``, ``per_seed``, ...), so tests compare numbers and verdicts, not prose.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from initlab.lab.grouping import score
from initlab.lab.stats import ALPHA, PairedTest, describe, holm, paired_test
from initlab.reproductions._base import Check

__all__ = ["MIN_SEEDS", "per_seed", "beats", "best_of", "at_most", "at_least", "within",
           "every_seed"]

MIN_SEEDS = 3
_INC = "INCONCLUSIVE"
Run = dict[str, Any]
PerSeed = Mapping[int, float]


def per_seed(runs: list[Run], label: str, metric: str = "test_acc",
             where: Callable[[Run], bool] | None = None) -> dict[int, float]:
    """``{seed: value}`` of init ``label``: ``test_acc`` (final; a diverged seed scores 0),
    ``loss1`` (mean train loss of epoch 1; a diverged seed scores +inf) or ``train_acc``;
    ``where(run)`` keeps only some runs (one experiment of several)."""
    out: dict[int, float] = {}
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


def _test(a: PerSeed, b: PerSeed, higher: bool) -> tuple[PairedTest | None, int, int | None]:
    seeds = sorted(set(a) & set(b))
    if any(math.isinf(a[s]) or math.isinf(b[s]) for s in seeds):  # a diverged loss
        wins = sum((a[s] > b[s]) == higher and a[s] != b[s] for s in seeds)
        return None, len(seeds), wins
    t = paired_test([a[s] for s in seeds], [b[s] for s in seeds])
    return t, len(seeds), None


def _mean(v: PerSeed) -> float:
    return sum(v.values()) / len(v) if v else math.nan


def _verdict(t: PairedTest | None, n: int, higher: bool, wins: int | None
             ) -> tuple[str, str]:
    if t is None:  # a diverged seed: count the seeds won instead
        wins = wins or 0
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


def _delta(t: PairedTest | None, pct: bool) -> str:
    if t is None or t.delta is None:
        return ""
    k, unit = (100.0, " points") if pct else (1.0, "")
    half = "" if t.ci95 is None else f" ± {k * (t.ci95[1] - t.ci95[0]) / 2:.2f}"
    return f"Δ = {k * t.delta:+.2f}{half}{unit}; "


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _seeds(v: PerSeed) -> dict[str, float | None]:
    return {str(k): _finite(float(x)) for k, x in sorted(v.items())}


def _test_values(t: PairedTest | None, n: int, wins: int | None) -> dict[str, Any]:
    if t is None:
        return {"n": n, "seeds_won": wins, "delta": None, "ci95": None, "p_value": None}
    return {"n": n, "delta": _finite(t.delta), "p_value": t.p_value,
            "ci95": None if t.ci95 is None else [float(t.ci95[0]), float(t.ci95[1])]}


def beats(claim: str, a: str, b: str, va: PerSeed, vb: PerSeed, *, higher: bool = True,
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
    values = {"test": "paired t-test", "a": a, "b": b, "higher_is_better": higher,
              "mean_a": _finite(_mean(va)), "mean_b": _finite(_mean(vb)),
              **_test_values(t, n, wins), "per_seed_a": _seeds(va), "per_seed_b": _seeds(vb)}
    return Check(claim, measured, status == "PASS", status, values)


def best_of(claim: str, winner: str, values: Mapping[str, PerSeed], *, higher: bool = True,
            pct: bool = True) -> Check:
    """Check "``winner`` is the best of ``values``": one paired test per rival, Holm.

    ``values["rivals"]`` holds, per rival, its mean and the test against it (the
    Holm-adjusted p-value).
    """
    rivals = [k for k in values if k != winner]
    tests = [_test(values[winner], values[k], higher) for k in rivals]
    adjusted = holm([t.p_value if t is not None else None for t, _, _ in tests])
    states: list[str] = []
    parts: list[str] = []
    rival_values: dict[str, dict[str, Any]] = {}
    for k, (t, n, wins), p in zip(rivals, tests, adjusted):
        if t is not None and p is not None:
            t = type(t)(t.delta, t.ci95, p, t.n)  # the Holm-adjusted p decides
        status, text = _verdict(t, n, higher, wins)
        states.append(status)
        rival_values[k] = {"mean": _finite(_mean(values[k])), "status": status,
                           **_test_values(t, n, wins)}
        parts.append(f"vs {k} {_fmt(_mean(values[k]), pct)}: {_delta(t, pct)}{text}")
    status = "FAIL" if "FAIL" in states else (_INC if _INC in states else "PASS")
    measured = (f"{winner} {_fmt(_mean(values[winner]), pct)}; " + "; ".join(parts) +
                " (paired t-tests over seeds, Holm)")
    out = {"test": "paired t-tests, Holm", "winner": winner, "higher_is_better": higher,
           "mean": _finite(_mean(values[winner])), "n": min((n for _, n, _ in tests), default=0),
           "rivals": rival_values, "per_seed": {k: _seeds(v) for k, v in values.items()}}
    return Check(claim, measured, status == "PASS", status, out)


def _interval(claim: str, label: str, v: PerSeed, lower: float | None, upper: float | None,
              pct: bool, clip: tuple[float, float] | None) -> Check:
    """PASS when the 95% CI of the mean lies in [lower, upper], FAIL when it lies outside."""
    d = describe(list(v.values()), clip=clip)
    lo_b = -math.inf if lower is None else lower
    hi_b = math.inf if upper is None else upper
    if d.ci95 is None or d.n < MIN_SEEDS:
        status = _INC
        ci = f"n = {d.n}: too few seeds for a CI (>= {MIN_SEEDS})"
    else:
        lo, hi = d.ci95
        inside = lo_b <= lo and hi <= hi_b
        outside = hi < lo_b or lo > hi_b
        status = "PASS" if inside else ("FAIL" if outside else _INC)
        ci = f"95% CI [{_fmt(lo, pct)}, {_fmt(hi, pct)}], n = {d.n}"
    if lower is not None and upper is not None:
        side = f"in [{_fmt(lower, pct)}, {_fmt(upper, pct)}]"
    else:
        side = f"<= {_fmt(hi_b, pct)}" if lower is None else f">= {_fmt(lo_b, pct)}"
    mean = "nan" if d.mean is None else _fmt(d.mean, pct)
    measured = f"{label} {mean} ({ci}); claimed {side}"
    values = {"test": "95% CI of the mean", "mean": d.mean, "std": d.std, "n": d.n,
              "ci95": None if d.ci95 is None else [float(d.ci95[0]), float(d.ci95[1])],
              "lower": lower, "upper": upper, "per_seed": _seeds(v)}
    return Check(claim, measured, status == "PASS", status, values)


def _threshold(claim: str, label: str, v: PerSeed, bound: float, below: bool, pct: bool,
               clip: tuple[float, float] | None) -> Check:
    return _interval(claim, label, v, None if below else bound, bound if below else None,
                     pct, clip)


def within(claim: str, label: str, v: PerSeed, lower: float, upper: float, *,
           pct: bool = False, clip: tuple[float, float] | None = None) -> Check:
    """Check "the mean of ``v`` lies in [``lower``, ``upper``]" by its 95% CI: PASS when the
    whole CI is inside, FAIL when it is all outside, else INCONCLUSIVE."""
    return _interval(claim, label, v, lower, upper, pct, clip)


def every_seed(claim: str, per_seed: Mapping[int, Any], holds: Callable[[Any], bool], *,
               record: Callable[[Any], Any] | None = None, summary: str | None = None,
               describe_value: Callable[[Any], str] = str) -> Check:
    """Check a deterministic claim (a property, not an average) on every seed.

    Args:
        claim: the claim's text.
        per_seed: ``{seed: what was measured}``.
        holds: whether the claim holds for one seed's value.
        record: turns a value into JSON-safe data for ``values`` (default: as given).
        summary: the measured text after "held on k/n seeds" (default: every seed's value
            through ``describe_value``).
        describe_value: one seed's value as text.

    Returns:
        PASS when the claim holds on every seed, FAIL when it fails on one, INCONCLUSIVE
        with fewer than :data:`MIN_SEEDS` seeds; ``values``: ``n``, ``held`` (the count),
        ``per_seed`` ``{seed: {"value": ..., "held": bool}}``.
    """
    held = {s: bool(holds(v)) for s, v in sorted(per_seed.items())}
    n, ok = len(held), sum(held.values())
    if ok < n:
        status = "FAIL"
    elif n < MIN_SEEDS:
        status = _INC
    else:
        status = "PASS"
    if summary is None:
        summary = "; ".join(f"seed {s}: {describe_value(per_seed[s])}" for s in held)
    note = "" if n >= MIN_SEEDS else f" (too few seeds: >= {MIN_SEEDS})"
    measured = f"held on {ok}/{n} seeds{note}: {summary}"
    keep = record or (lambda v: v)
    values = {"test": "every seed", "n": n, "held": ok,
              "per_seed": {str(s): {"value": keep(per_seed[s]), "held": held[s]} for s in held}}
    return Check(claim, measured, status == "PASS", status, values)


def at_most(claim: str, label: str, v: PerSeed, bound: float, *, pct: bool = True,
            clip: tuple[float, float] | None = (0.0, 1.0)) -> Check:
    """Check "the mean of ``v`` is at most ``bound``" by its 95% CI (cut to ``clip``, the
    values' valid range; None for differences)."""
    return _threshold(claim, label, v, bound, True, pct, clip)


def at_least(claim: str, label: str, v: PerSeed, bound: float, *, pct: bool = True,
             clip: tuple[float, float] | None = (0.0, 1.0)) -> Check:
    """Check "the mean of ``v`` is at least ``bound``" by its 95% CI (see :func:`at_most`)."""
    return _threshold(claim, label, v, bound, False, pct, clip)
