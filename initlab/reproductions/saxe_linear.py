"""Scenario ``saxe-linear``: deep linear nets learn in depth-independent time from orthogonal
init, but slow down with depth from scaled Gaussian init (Saxe, McClelland & Ganguli 2013).

Net: ``depth`` bias-free Linear layers, no activation, d -> width -> ... -> width -> 10.
Task: Fashion-MNIST images average-pooled to 7x7 (d = 49) and scaled by 1/sqrt(d) (norm ~1,
so the initial map is small next to the targets, as in Saxe et al.'s analysis),
mean-squared error to centred one-hot targets, mini-batch SGD (no momentum) with the
learning rate scaled as lr0 / depth (each of the depth layers moves the end-to-end map, so
the step of the product grows with depth; Saxe et al.'s learning-time analysis uses this
scaling). Inits: orthogonal (gain 1)
vs scaled Gaussian N(0, 1/fan_in), which preserves the norm on average but whose products
have highly skewed singular values. Measured: SGD steps until the training loss (all
training examples, every ``every`` steps) reaches L* + frac (L_zero - L*), L* the least-
squares optimum, L_zero the loss of predicting 0; the median over seeds is shown, and each
claim is decided by the 95% CI over seeds of log2(steps at the deepest / shallowest depth).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, at_most
from initlab.reproductions._repro import (
    descend,
    get_data,
    minibatches,
    pool_images,
    save,
    variant,
)

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"depths": (4, 16), "width": 32, "seeds": 3, "n_train": 2048, "max_steps": 600},
    False: {"depths": (4, 8, 16, 32), "width": 64, "seeds": 3, "n_train": 8192,
            "max_steps": 3000},
}
POOL, BATCH, LR0, EVERY, FRAC = 4, 128, 2.0, 5, 0.2
INITS = {"orthogonal": "orthogonal",
         "gaussian": "variance_scaling(scale=1.0, mode='fan_in', distribution='normal')"}
FLAT, GROWS = 2.0, 2.0


def linear_net(d: int, width: int, depth: int, out: int = 10) -> nn.Sequential:
    dims = [d] + [width] * (depth - 1) + [out]
    return nn.Sequential(*(nn.Linear(a, b, bias=False) for a, b in zip(dims, dims[1:])))


def targets(y: torch.Tensor, classes: int = 10) -> torch.Tensor:
    return nn.functional.one_hot(y, classes).float() - 1.0 / classes


def loss_levels(x: torch.Tensor, t: torch.Tensor) -> tuple[float, float]:
    """(least-squares optimum L*, loss of predicting 0), per example: mean sum of squares."""
    sol = torch.linalg.lstsq(x.double(), t.double()).solution
    best = float(((x.double() @ sol - t.double()) ** 2).sum(1).mean())
    return best, float((t ** 2).sum(1).mean())


def steps_to_threshold(x: torch.Tensor, t: torch.Tensor, init: str, depth: int, width: int, threshold: float,
                       max_steps: int, seed: int) -> int | None:
    torch.manual_seed(seed)
    model = linear_net(x.shape[1], width, depth)
    apply(model, init, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=LR0 / depth)
    g = torch.Generator().manual_seed(seed)
    n = len(t)
    batches = minibatches(n, BATCH, g)
    for step in range(max_steps + 1):
        if step % EVERY == 0:
            with torch.no_grad():
                full = float(((model(x) - t) ** 2).sum(1).mean())
            if full <= threshold:
                return step
            if not torch.isfinite(torch.tensor(full)):
                return None
        idx = next(batches)
        descend(opt, ((model(x[idx]) - t[idx]) ** 2).sum(1).mean())
    return None


def _median(values: list[int | None], cap: int) -> float:
    vals = sorted(cap if v is None else v for v in values)
    return float(vals[len(vals) // 2]) if len(vals) % 2 else 0.5 * (vals[len(vals) // 2 - 1]
                                                                     + vals[len(vals) // 2])


@scenario(
    "saxe-linear",
    summary="Deep linear nets, depth 4 to 32: steps to a loss threshold grow with depth for "
            "scaled Gaussian init, stay flat for orthogonal",
    source="Saxe, McClelland & Ganguli 2013, Exact solutions to the nonlinear dynamics of "
           "learning in deep linear neural networks (ICLR 2014)",
    full_runtime="~10 s on 2 CPU cores (4 depths x 2 inits x 3 seeds, width 64; "
                 "measured 8 s)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    data, note = get_data(ctx, cfg["n_train"], 0)
    data = pool_images(data, POOL)
    x = data.train_x.flatten(1)
    x, t = x / x.shape[1] ** 0.5, targets(data.train_y)
    best, zero = loss_levels(x, t)
    threshold = best + FRAC * (zero - best)
    cap = cfg["max_steps"]
    steps = {label: {d: [steps_to_threshold(x, t, init, d, cfg["width"], threshold, cap, s)
                         for s in range(cfg["seeds"])] for d in cfg["depths"]}
             for label, init in INITS.items()}
    med = {label: {d: _median(v, cap) for d, v in per.items()} for label, per in steps.items()}
    lo, hi = cfg["depths"][0], cfg["depths"][-1]
    ratio = {label: med[label][hi] / max(med[label][lo], 1.0) for label in INITS}
    # per seed: log2 of steps(deepest) / steps(shallowest), a step count that never reached
    # the threshold counted as the cap (so a "grows" claim is conservative)
    def capped(v: int | None) -> int:
        return max(cap if v is None else v, 1)

    log_ratio = {label: {s: math.log2(capped(steps[label][hi][s]) / capped(steps[label][lo][s]))
                         for s in range(cfg["seeds"])} for label in INITS}

    def series(label: str) -> str:
        return ", ".join(f"depth {d}: {'>' if any(v is None for v in steps[label][d]) else ''}"
                         f"{med[label][d]:g}" for d in cfg["depths"])

    setting = (f"width {cfg['width']}, lr {LR0}/depth, batch {BATCH}, {cfg['seeds']} seed(s), "
               f"threshold L* + {FRAC}(L0 - L*) = {threshold:.4f}")
    checks = [
        at_most(f"orthogonal: steps to threshold stay flat from depth {lo} to {hi} (ratio < "
                f"{FLAT}: log2 ratio per seed < {math.log2(FLAT):g})",
                f"median steps {series('orthogonal')} ({setting}); log2 ratio",
                log_ratio["orthogonal"], math.log2(FLAT), pct=False, clip=None),
        at_least(f"scaled Gaussian: steps to threshold grow with depth (ratio depth {hi} / depth "
                 f"{lo} > {GROWS}: log2 ratio per seed > {math.log2(GROWS):g})",
                 f"median steps {series('gaussian')}; log2 ratio", log_ratio["gaussian"],
                 math.log2(GROWS), pct=False, clip=None),
    ]
    details = {"config": {**cfg, "pool": POOL, "batch_size": BATCH, "lr0": LR0, "every": EVERY,
                          "frac": FRAC, "inits": INITS},
               "data": note, "loss_star": best, "loss_zero": zero, "threshold": threshold,
               "steps": {k: {str(d): v for d, v in per.items()} for k, per in steps.items()},
               "median": {k: {str(d): v for d, v in per.items()} for k, per in med.items()},
               "ratio": ratio,
               "log2_ratio": {k: {str(s): v for s, v in per.items()}
                              for k, per in log_ratio.items()}}
    result = Result("saxe-linear", checks, details)
    save(ctx, result)
    return result
