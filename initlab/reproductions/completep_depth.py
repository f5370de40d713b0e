"""Scenario ``completep-depth``: the CompleteP depth-transfer claim (Dey et al. 2025) on a CPU.

A pre-LayerNorm residual MLP (``x + branch(LN(x))``, each branch Linear-ReLU-Linear at a
fixed width) on Fashion-MNIST (2x pooled), trained with Adam over a learning-rate grid
(factor 2 per step) at several depths L, under :func:`initlab.scaling.completep.plan` with
base depth L0 = 2 and alpha in {0, 1/2, 1}: each residual branch's output is multiplied by
(L / L0)^-alpha and the Adam learning rate of the weights inside the blocks by
(L / L0)^(alpha - 1) (the family's rule; at L0 all three are the same model). The optimum per
depth is the grid minimum refined by a parabola (:func:`initlab.reproductions.mup_lr_transfer._best`),
per seed. Claims, decided over seeds (:mod:`initlab.reproductions._claims`):

1. CompleteP (alpha = 1): the best learning rate moves at most one grid step from L0 to the
   deepest model (95% CI of the per-seed |shift|).
2. alpha = 0: the best learning rate moves more than under CompleteP (paired over seeds).
3. At the deepest model, CompleteP's best loss beats alpha = 0's (paired over seeds).

Metric: the final model's training loss on the first ``EVAL`` training examples; a diverged
run counts as infinitely bad. The claims are measured, not tuned: at this scale the effect
may not show, and then a claim says FAIL or INCONCLUSIVE.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from initlab._core.threads import torch_threads
from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._claims import at_most, beats
from initlab.reproductions._plots import lr_sweep_chart
from initlab.reproductions.mup_lr_transfer import _best, _data, adam_final_loss

__all__ = ["ResMLP", "train_loss", "VARIANTS", "ALPHAS"]

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"depths": [2, 8], "log2_lrs": list(range(-12, -5)), "width": 64, "steps": 150,
           "batch": 64, "pool": 2, "seeds": 3, "n_train": 8192},
    False: {"depths": [2, 4, 8, 16, 32], "log2_lrs": list(range(-13, -4)), "width": 64,
            "steps": 150, "batch": 64, "pool": 2, "seeds": 3, "n_train": 30000},
}
ALPHAS = (0.0, 0.5, 1.0)
BASE_DEPTH = 2
EVAL = 2048


class Block(nn.Module):
    """One pre-LN residual block: ``x + mlp(norm(x))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


class ResMLP(nn.Module):
    """A residual MLP: input Linear, ``depth`` pre-LN blocks, LayerNorm, readout.

    Args:
        width: the residual width.
        depth: the number of blocks L.
        d_in: the input size (flattened).
        d_out: the number of classes.

    Examples:
        >>> m = ResMLP(16, 3, d_in=8, d_out=4)
        >>> m(torch.zeros(2, 8)).shape, len(m.blocks)
        (torch.Size([2, 4]), 3)
    """

    def __init__(self, width: int, depth: int, d_in: int = 196, d_out: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.flatten(1))
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def train_loss(alpha: float, depth: int, lr: float, x: torch.Tensor, y: torch.Tensor, *,
               width: int, steps: int, batch: int, seed: int) -> float:
    """Train one ResMLP under the depth parametrization ``alpha``; its final training loss.

    Args:
        alpha: the depth exponent (0, 1/2 or 1; see :func:`initlab.scaling.completep.plan`).
        depth: the number of blocks L (base depth :data:`BASE_DEPTH`).
        lr: the base Adam learning rate.
        x: inputs, one row per example (flattened).
        y: class labels.
        width: the residual width.
        steps: Adam steps.
        batch: the batch size.
        seed: the init and batch seed.

    Returns:
        The loss on the first ``EVAL`` examples after training (inf when diverged).
    """
    import initlab.scaling.mup as mup
    from initlab.policy import apply
    from initlab.scaling import completep

    with torch.random.fork_rng(devices=[]):
        model = ResMLP(width, depth, x.shape[1], int(y.max()) + 1)
    p = completep.plan(model, base_depth=BASE_DEPTH, alpha=alpha)
    apply(model, p, seed=seed)
    hooks = mup.attach(model, p)
    try:
        return adam_final_loss(model, mup.param_groups(model, p, lr), x, y, steps=steps,
                               batch=batch, seed=seed, eval_n=EVAL)
    finally:
        hooks.remove()


Curves = dict[float, dict[int, list[dict[int, float]]]]  # alpha -> depth -> per seed {k: loss}


def _sweep(cfg: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> Curves:
    curves: Curves = {a: {} for a in ALPHAS}
    for depth in cfg["depths"]:
        for a in ALPHAS:
            if depth == BASE_DEPTH and a != ALPHAS[0]:  # (L/L0)^... = 1: the same model
                curves[a][depth] = curves[ALPHAS[0]][depth]
                continue
            curves[a][depth] = [
                {k: train_loss(a, depth, 2.0 ** k, x, y, width=cfg["width"], steps=cfg["steps"],
                               batch=cfg["batch"], seed=s) for k in cfg["log2_lrs"]}
                for s in range(cfg["seeds"])]
    return curves


def _mean_curve(per_seed: list[dict[int, float]]) -> dict[int, float]:
    return {k: sum(c[k] for c in per_seed) / len(per_seed) for k in per_seed[0]}


def plot(curves: Curves, depths: list[int], path: Path) -> None:
    """Mean loss against log2(lr), one line per depth, one panel per alpha."""
    names = {0.0: "alpha = 0", 0.5: "alpha = 1/2 (depth-μP)", 1.0: "alpha = 1 (CompleteP)"}
    lr_sweep_chart([(names[a], {f"L = {d}": _mean_curve(curves[a][d]) for d in depths})
                    for a in ALPHAS], path)


@scenario(
    "completep-depth",
    summary="Residual MLP on Fashion-MNIST, depths 2 -> 32, branches x L^-alpha: CompleteP's "
            "(alpha = 1) best Adam lr stays put with depth, alpha = 0's drifts",
    source="Dey et al. 2025, CompleteP (arXiv 2505.01618), Fig. 1",
    full_runtime="~8 CPU min (one thread)",
)
def run(ctx: Context) -> Result:
    """Run the sweep and decide the three claims (see the module docstring)."""
    cfg = dict(VARIANTS[bool(ctx.fast)])
    if ctx.seeds:
        cfg["seeds"] = int(ctx.seeds)
    with torch_threads(1):  # small runs: extra threads only spin (see mup_lr_transfer)
        x, y, note = _data(ctx, cfg["n_train"], cfg["pool"])
        curves = _sweep(cfg, x, y)
    depths, seeds = cfg["depths"], range(cfg["seeds"])
    lo, hi = depths[0], depths[-1]
    best = {a: {d: [_best(c) for c in curves[a][d]] for d in depths} for a in ALPHAS}
    shift = {a: {s: abs(best[a][hi][s] - best[a][lo][s]) for s in seeds} for a in ALPHAS}
    deep_loss = {a: {s: min(curves[a][hi][s].values()) for s in seeds} for a in ALPHAS}
    mean_best = {a: {d: _best(_mean_curve(curves[a][d])) for d in depths} for a in ALPHAS}

    def shown(a: float) -> str:
        return ", ".join(f"L={d}: 2^{mean_best[a][d]:.2f}" for d in depths)

    c1 = at_most(f"CompleteP (alpha = 1): the best lr moves at most one grid step from L = {lo} "
                 f"to L = {hi}", "|shift|", shift[1.0], 1.0, pct=False, clip=(0.0, math.inf))
    c2 = beats(f"alpha = 0: the best lr moves more than under CompleteP (L = {lo} -> {hi})",
               "alpha=0 |shift|", "alpha=1 |shift|", shift[0.0], shift[1.0], pct=False)
    c3 = beats(f"at L = {hi}, CompleteP's best loss beats alpha = 0's", "alpha=1", "alpha=0",
               deep_loss[1.0], deep_loss[0.0], higher=False, pct=False)
    checks = [
        Check(c1.claim, f"{c1.measured}; best lr (seed-mean curve) {shown(1.0)}", c1.passed,
              c1.status),
        Check(c2.claim, f"{c2.measured}; alpha=0 best lr {shown(0.0)}; alpha=1/2 {shown(0.5)}",
              c2.passed, c2.status),
        c3,
    ]
    edge = sorted({str(a) for a in ALPHAS for d in depths for k in best[a][d]
                   if round(k) in (cfg["log2_lrs"][0], cfg["log2_lrs"][-1])})
    details: dict[str, Any] = {
        "note": note, "config": cfg, "base_depth": BASE_DEPTH,
        "best_log2_lr": {str(a): {str(d): v for d, v in best[a].items()} for a in ALPHAS},
        "best_log2_lr_mean_curve": {str(a): {str(d): v for d, v in mean_best[a].items()}
                                    for a in ALPHAS},
        "losses": {str(a): {str(d): [{str(k): v for k, v in c.items()} for c in per]
                            for d, per in curves[a].items()} for a in ALPHAS},
        "optimum_at_grid_edge": edge,
    }
    if ctx.out:
        out = Path(ctx.out)
        out.mkdir(parents=True, exist_ok=True)
        plot(curves, depths, out / "completep_depth.png")
        details["plot"] = str(out / "completep_depth.png")
    return Result("completep-depth", checks, details)
