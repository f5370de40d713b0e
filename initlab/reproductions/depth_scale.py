"""Scenario ``depth-scale``: measured correlation depth scales of wide tanh networks match
mean-field theory (Schoenholz et al. 2017) in the ordered phase.

Pairs of inputs start at the length fixed point q* with correlation 1 - eps0 and go through a
wide random tanh network h^{l+1} = W phi(h^l) + b, W ~ N(0, sigma_w2 / N), b ~ N(0, sigma_b2).
In the ordered phase c* = 1 and 1 - c^l decays like exp(-l / xi_c); the measured xi_c is
-1 / slope of a least-squares line through log(mean over pairs and seeds of 1 - c^l).
1 - c is computed from |h1 - h2| in float64, so it stays exact far below float32's epsilon.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._repro import variant
from initlab.theory.meanfield import critical, mean_field

SIGMA_B2 = 0.05
EPS0 = 1e-2
TOLERANCE = 0.10
# The fast variant skips sigma_w^2 = 1.5 (xi ~ 16): its per-seed spread at width 1000 is
# ~8%, too close to the tolerance for 2 seeds.
VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"sigma_w2": (1.0, 1.25), "width": 1000, "seeds": 2, "pairs": 64, "depth": 40},
    False: {"sigma_w2": (1.0, 1.25, 1.5), "width": 2000, "seeds": 8, "pairs": 64, "depth": 48},
}


def one_minus_c(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """1 - cos(h1, h2) per column, from the difference (no cancellation near c = 1)."""
    n1, n2 = h1.norm(dim=0), h2.norm(dim=0)
    return ((h1 - h2).pow(2).sum(dim=0) - (n1 - n2).pow(2)) / (2.0 * n1 * n2)


def measure_decay(sigma_w2: float, *, width: int, seeds: int, pairs: int, depth: int,
                  sigma_b2: float = SIGMA_B2, eps0: float = EPS0, seed: int = 0,
                  device: str = "cpu") -> list[float]:
    """Mean over pairs and seeds of 1 - c^l for l = 0..depth (tanh, float64)."""
    q_star = mean_field("tanh", sigma_w2, sigma_b2).q_star
    total = torch.zeros(depth + 1, dtype=torch.float64)
    for s in range(seeds):
        g = torch.Generator(device=device).manual_seed(1_000_003 * seed + s)
        kw = {"generator": g, "dtype": torch.float64, "device": device}
        z1 = torch.randn(width, pairs, **kw)
        z2 = torch.randn(width, pairs, **kw)
        c0 = 1.0 - eps0
        h1 = math.sqrt(q_star) * z1
        h2 = math.sqrt(q_star) * (c0 * z1 + math.sqrt(1.0 - c0 * c0) * z2)
        eps = [one_minus_c(h1, h2).mean()]
        for _ in range(depth):
            w = torch.randn(width, width, **kw).mul_(math.sqrt(sigma_w2 / width))
            b = torch.randn(width, 1, **kw).mul_(math.sqrt(sigma_b2))
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
    result = Result("depth-scale", details={"config": cfg, "sigma_w2": list(sigmas),
                                            "sigma_b2": SIGMA_B2, "eps0": EPS0,
                                            "runs": []})
    crit = critical("tanh", sigma_b2=SIGMA_B2)
    result.checks.append(Check(
        claim=f"tanh, sigma_b^2={SIGMA_B2}: edge of chaos (chi_1 = 1) at sigma_w^2 ~ 1.76",
        measured=f"sigma_w^2 = {crit.sigma_w2:.4f}, q* = {crit.q_star:.4f}",
        passed=abs(crit.sigma_w2 - 1.76) / 1.76 < 0.02,
    ))
    for sw2 in sigmas:
        theory = mean_field("tanh", sw2, SIGMA_B2).xi_c
        start = time.perf_counter()
        eps = measure_decay(sw2, **cfg, device=ctx.device)
        measured = fit_depth_scale(eps)
        err = (measured - theory) / theory
        result.details["runs"].append({
            "sigma_w2": sw2, "xi_theory": theory, "xi_measured": measured,
            "relative_error": err, "eps": eps, "seconds": time.perf_counter() - start,
        })
        result.checks.append(Check(
            claim=(f"tanh sigma_w^2={sw2}, sigma_b^2={SIGMA_B2}: measured xi_c within "
                   f"{TOLERANCE:.0%} of theory"),
            measured=(f"xi_c measured {measured:.2f} vs theory {theory:.2f} ({err:+.1%}); "
                      f"width {cfg['width']}, {cfg['seeds']} seeds x {cfg['pairs']} pairs, "
                      f"depth {cfg['depth']}"),
            passed=abs(err) <= TOLERANCE,
        ))
    return result
