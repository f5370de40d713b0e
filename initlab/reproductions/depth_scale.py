"""Scenario ``depth-scale``: measured correlation depth scales of wide tanh networks match
mean-field theory (Schoenholz et al. 2017) in the ordered phase.

Pairs of inputs start at the length fixed point q* with correlation 1 - eps0 and go through a
wide random tanh network h^{l+1} = W phi(h^l) + b, W ~ N(0, sigma_w2 / N), b ~ N(0, sigma_b2).
In the ordered phase c* = 1 and 1 - c^l decays like exp(-l / xi_c); the measured xi_c is
-1 / slope of a least-squares line through log(mean over pairs and seeds of 1 - c^l).
1 - c is computed from |h1 - h2| in float64, so it stays exact far below float32's epsilon.

Each seed is one network: its xi_c is fitted alone, and each claim "within 10% of theory"
is decided by the 95% CI over seeds of the relative error (PASS when the whole CI lies in
[-10%, +10%], FAIL when it lies outside, else INCONCLUSIVE); the fit of the seed-averaged
curve is reported too. The edge-of-chaos claim is a deterministic computation.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._claims import within
from initlab.reproductions._repro import fmt_list, variant
from initlab.theory.meanfield import critical, mean_field

SIGMA_B2 = 0.05
EPS0 = 1e-2
TOLERANCE = 0.10
EDGE, EDGE_TOLERANCE = 1.76, 0.02
# Per-seed spread of the relative error at width 1000, depth 40 (6 seeds): ~1.7% at
# sigma_w^2 = 1.0, ~3% at 1.25, ~7% at 1.5. The fast variant takes 4 seeds (the CI's half
# width is ~1.6 std) and skips sigma_w^2 = 1.5 (xi ~ 16), too noisy at that width.
VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"sigma_w2": (1.0, 1.25), "width": 1000, "seeds": 4, "pairs": 64, "depth": 40},
    False: {"sigma_w2": (1.0, 1.25, 1.5), "width": 2000, "seeds": 8, "pairs": 64, "depth": 48},
}


def one_minus_c(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """1 - cos(h1, h2) per column, from the difference (no cancellation near c = 1)."""
    n1, n2 = h1.norm(dim=0), h2.norm(dim=0)
    return ((h1 - h2).pow(2).sum(dim=0) - (n1 - n2).pow(2)) / (2.0 * n1 * n2)


def _draw(g: torch.Generator, rows: int, cols: int) -> torch.Tensor:
    """A float64 standard normal ``rows x cols`` matrix from ``g``, on ``g``'s device."""
    return torch.randn(rows, cols, generator=g, dtype=torch.float64, device=g.device)


def measure_decay(sigma_w2: float, *, width: int, seeds: int, pairs: int, depth: int,
                  sigma_b2: float = SIGMA_B2, eps0: float = EPS0, seed: int = 0,
                  device: str = "cpu") -> list[float]:
    """Mean over pairs and seeds of 1 - c^l for l = 0..depth (tanh, float64).

    Network ``s`` of the ``seeds`` draws its inputs and weights from seed
    ``1_000_003 * seed + s``; the scenario measures each seed alone (``seeds=1, seed=s``).

    Args:
        sigma_w2: the weight variance times the width.
        width: the layer width.
        seeds: how many independent networks to average over.
        pairs: input pairs per network.
        depth: the number of layers.
        sigma_b2: the bias variance.
        eps0: 1 - c of each input pair.
        seed: the base seed.
        device: the torch device.

    Returns:
        ``depth + 1`` values of 1 - c (layer 0 is the input).

    Examples:
        >>> eps = measure_decay(1.0, width=64, seeds=1, pairs=4, depth=3)
        >>> len(eps), eps[0] > eps[-1] > 0
        (4, True)
    """
    q_star = mean_field("tanh", sigma_w2, sigma_b2).q_star
    total = torch.zeros(depth + 1, dtype=torch.float64)
    for s in range(seeds):
        g = torch.Generator(device=device).manual_seed(1_000_003 * seed + s)
        z1 = _draw(g, width, pairs)
        z2 = _draw(g, width, pairs)
        c0 = 1.0 - eps0
        h1 = math.sqrt(q_star) * z1
        h2 = math.sqrt(q_star) * (c0 * z1 + math.sqrt(1.0 - c0 * c0) * z2)
        eps = [one_minus_c(h1, h2).mean()]
        for _ in range(depth):
            w = _draw(g, width, width).mul_(math.sqrt(sigma_w2 / width))
            b = _draw(g, width, 1).mul_(math.sqrt(sigma_b2))
            h1 = w @ torch.tanh(h1) + b
            h2 = w @ torch.tanh(h2) + b
            eps.append(one_minus_c(h1, h2).mean())
        total += torch.stack(eps).cpu()
    return (total / seeds).tolist()


def fit_depth_scale(eps: list[float]) -> float:
    """-1 / slope of the least-squares line through (l, log eps_l)."""
    y = torch.log(torch.tensor(eps, dtype=torch.float64))
    x = torch.arange(len(eps), dtype=torch.float64)
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    return -1.0 / slope if slope < 0 else math.inf


@scenario(
    "depth-scale",
    summary="Correlation depth scale xi_c of wide tanh nets in the ordered phase vs mean field",
    source="Schoenholz et al. 2017, Deep Information Propagation (ICLR)",
    full_runtime="~10 min on 2 busy CPU cores, 1 thread (width 2000, 8 seeds, 3 sigma_w^2)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    sigmas = cfg.pop("sigma_w2")
    seeds = int(cfg.pop("seeds"))
    runs: list[dict[str, Any]] = []
    result = Result("depth-scale", details={"config": {**cfg, "seeds": seeds},
                                            "sigma_w2": list(sigmas), "sigma_b2": SIGMA_B2,
                                            "eps0": EPS0, "tolerance": TOLERANCE,
                                            "runs": runs})
    crit = critical("tanh", sigma_b2=SIGMA_B2)
    crit_err = (crit.sigma_w2 - EDGE) / EDGE
    result.checks.append(Check(
        claim=f"tanh, sigma_b^2={SIGMA_B2}: edge of chaos (chi_1 = 1) at sigma_w^2 ~ {EDGE} "
              f"(within {EDGE_TOLERANCE:.0%}; deterministic: no seeds)",
        measured=f"sigma_w^2 = {crit.sigma_w2:.4f}, q* = {crit.q_star:.4f}",
        passed=abs(crit_err) < EDGE_TOLERANCE,
        values={"test": "deterministic", "sigma_w2": crit.sigma_w2, "q_star": crit.q_star,
                "expected": EDGE, "relative_error": crit_err, "tolerance": EDGE_TOLERANCE},
    ))
    for sw2 in sigmas:
        theory = mean_field("tanh", sw2, SIGMA_B2).xi_c
        start = time.perf_counter()
        curves = {s: measure_decay(sw2, **cfg, seeds=1, seed=s, device=ctx.device)
                  for s in range(seeds)}
        xi = {s: fit_depth_scale(eps) for s, eps in curves.items()}
        err = {s: (v - theory) / theory for s, v in xi.items()}
        pooled = fit_depth_scale([sum(c[k] for c in curves.values()) / seeds
                                  for k in range(cfg["depth"] + 1)])
        runs.append({
            "sigma_w2": sw2, "xi_theory": theory, "xi_per_seed": {str(s): v for s, v in xi.items()},
            "relative_error": {str(s): v for s, v in err.items()},
            "xi_pooled": pooled, "relative_error_pooled": (pooled - theory) / theory,
            "eps": {str(s): c for s, c in curves.items()},
            "seconds": time.perf_counter() - start,
        })
        result.checks.append(within(
            f"tanh sigma_w^2={sw2}, sigma_b^2={SIGMA_B2}: measured xi_c within {TOLERANCE:.0%} "
            f"of theory (95% CI over seeds of the relative error)",
            f"xi_c per seed {fmt_list(xi.values(), 2)} vs theory {theory:.2f} (pooled fit "
            f"{pooled:.2f}); width {cfg['width']}, {cfg['pairs']} pairs, depth {cfg['depth']}, "
            f"{seeds} seed(s); relative error", err, -TOLERANCE, TOLERANCE))
    return result
