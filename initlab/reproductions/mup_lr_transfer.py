"""Scenario ``mup-lr-transfer``: the μP headline (Yang et al. 2022, Fig. 1) on a CPU.

An MLP (two hidden ReLU layers of one width) on Fashion-MNIST, trained with Adam over a
learning-rate grid (factor 2 per step) at several widths, under the standard
parametrization (``initlab.mup.plan`` with no base: 1/fan_in init, one learning rate) and
under μP (base width 32: the two are the same model at 32). Claims: SP's best learning rate
drifts down with width (at least two grid steps from the narrowest to the widest); μP's stays
within one grid step; under μP the widest model is at least as good as the narrowest.
Metric: the training loss of the final model on a fixed set of training examples (the
first ``EVAL``); a diverged run counts as infinitely bad.

Both variants run on one thread: the runs are small (a batch of 64), so a second thread adds
little speed, and on a loaded machine OpenMP threads spin: measured at width 1024, 2 threads
cost 265 ms CPU per step against 24 ms on one thread. On one thread the full variant took
196 CPU s (3 min 22 s wall, measured 2026-12-04; docs/scaling.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab._core.threads import torch_threads
from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._plots import lr_sweep_chart

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"widths": [32, 64, 128, 256], "log2_lrs": list(range(-12, -5)), "steps": 200,
           "batch": 64, "pool": 2, "seeds": 1, "n_train": 8192},
    False: {"widths": [32, 64, 128, 256, 512, 1024, 2048], "log2_lrs": list(range(-13, -5)),
            "steps": 200, "batch": 64, "pool": 2, "seeds": 1, "n_train": 30000},
}
BASE_WIDTH = 32
EVAL = 2048


def make_mlp(width: int, d_in: int = 196, d_out: int = 10) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width),
                         nn.ReLU(), nn.Linear(width, d_out))


def _data(ctx: Context, n_train: int, pool: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from initlab.lab import data as data_mod

    name = ctx.dataset or "fashion-mnist"
    if name == "synthetic" or (not ctx.dataset and data_mod.locate(name, ctx.data_dir) is None):
        d = data_mod.synthetic(n_train, 256, (1, 28, 28), 10, seed=0, noise=2.0)
        note = ("synthetic data (as asked)" if name == "synthetic" else
                "synthetic data (Fashion-MNIST not installed: apt install dataset-fashion-mnist)")
    else:
        d = data_mod.load(name, ctx.data_dir, progress=False)
        note = f"{d.name}: first {n_train} training examples"
    x = F.avg_pool2d(d.train_x[:n_train], pool)
    x = (x - x.mean()) / x.std()
    return x.reshape(len(x), -1), d.train_y[:n_train], note


def train_loss(par: str, width: int, lr: float, x: torch.Tensor, y: torch.Tensor, steps: int,
               batch: int, seed: int) -> float:
    """The final model's loss on the first ``EVAL`` training examples (inf when diverged)."""
    from initlab.policy.apply import apply
    from initlab.scaling import mup

    with torch.random.fork_rng(devices=[]):
        model = make_mlp(width, x.shape[1])
    if par == "mup":
        p = mup.plan(model, base=lambda w: make_mlp(w, x.shape[1]), base_width=BASE_WIDTH)
    else:
        p = mup.plan(model)
    apply(model, p, seed=seed)
    return adam_final_loss(model, mup.param_groups(model, p, lr), x, y, steps=steps, batch=batch,
                           seed=seed, eval_n=EVAL)


def adam_final_loss(model: nn.Module, groups: list[dict[str, Any]], x: torch.Tensor,
                    y: torch.Tensor, *, steps: int, batch: int, seed: int, eval_n: int) -> float:
    """Train ``model`` with Adam over ``groups`` on batches drawn with ``seed``; its
    cross-entropy on the first ``eval_n`` examples (inf as soon as a loss is not finite)."""
    opt = torch.optim.Adam(groups)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            return math.inf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(F.cross_entropy(model(x[:eval_n]), y[:eval_n]))
    return final if math.isfinite(final) else math.inf


def _best(curve: dict[int, float]) -> float:
    """The optimum in log2(lr): the grid minimum refined by a parabola through it and its two
    neighbours (a grid edge or a diverged neighbour: the grid point itself)."""
    k = min(curve, key=lambda j: (curve[j], j))
    lo, hi = curve.get(k - 1, math.inf), curve.get(k + 1, math.inf)
    den = lo - 2 * curve[k] + hi
    if not (math.isfinite(lo) and math.isfinite(hi)) or den <= 0:
        return float(k)
    return k + max(-0.5, min(0.5, 0.5 * (lo - hi) / den))


def plot(losses: dict, widths: Sequence[int], path: str | Path) -> None:
    """Loss against log2(lr), one line per width, SP and μP side by side."""
    titles = {"sp": "standard parametrization", "mup": f"μP (base width {BASE_WIDTH})"}
    lr_sweep_chart([(titles[par], {f"width {w}": losses[par][w] for w in widths})
                    for par in ("sp", "mup")], path)


@scenario(
    "mup-lr-transfer",
    summary="MLP on Fashion-MNIST, widths 64 -> 2048, Adam lr grid: SP's best lr drifts with "
            "width, μP's stays within one grid step",
    source="Yang et al. 2022, Tensor Programs V (arXiv 2203.03466), Fig. 1",
    full_runtime="~3.5 CPU min (one thread; measured 196 s)",
)
def run(ctx: Context) -> Result:
    cfg = dict(VARIANTS[bool(ctx.fast)])
    if ctx.seeds:
        cfg["seeds"] = int(ctx.seeds)
    with torch_threads(1):  # see the module docstring: extra threads only spin here
        x, y, note = _data(ctx, cfg["n_train"], cfg["pool"])
        losses: dict[str, dict[int, dict[int, float]]] = {"sp": {}, "mup": {}}
        for par in ("sp", "mup"):
            for w in cfg["widths"]:
                losses[par][w] = {
                    k: sum(train_loss(par, w, 2.0 ** k, x, y, cfg["steps"], cfg["batch"], s)
                           for s in range(cfg["seeds"])) / cfg["seeds"]
                    for k in cfg["log2_lrs"]}
    widths = cfg["widths"]
    best = {par: {w: _best(losses[par][w]) for w in widths} for par in losses}
    drift_sp = best["sp"][widths[0]] - best["sp"][widths[-1]]
    spread_mup = max(best["mup"].values()) - min(best["mup"].values())
    edge = [par for par in best for k in best[par].values()
            if round(k) in (cfg["log2_lrs"][0], cfg["log2_lrs"][-1])]
    loss_narrow = min(losses["mup"][widths[0]].values())
    loss_wide = min(losses["mup"][widths[-1]].values())

    def shown(par: str) -> str:
        return ", ".join(f"{w}: 2^{best[par][w]:.2f}" for w in widths)

    checks = [
        Check("SP: the best learning rate drifts down with width (>= 2 grid steps)",
              f"best lr per width {shown('sp')}; drift {drift_sp:.2f} steps", drift_sp >= 2),
        Check("μP: the best learning rate stays within one grid step across widths",
              f"best lr per width {shown('mup')}; spread {spread_mup:.2f} step(s)", spread_mup <= 1),
        Check("μP: wider is at least as good (best loss at the widest <= at the narrowest)",
              f"best loss width {widths[0]}: {loss_narrow:.4f}, width {widths[-1]}: "
              f"{loss_wide:.4f}", loss_wide <= loss_narrow),
    ]
    details = {"note": note, "config": cfg, "best_log2_lr": best,
               "losses": {p: {str(w): {str(k): v for k, v in c.items()} for w, c in d.items()}
                          for p, d in losses.items()},
               "optimum_at_grid_edge": sorted(set(edge))}
    if ctx.out:
        out = Path(ctx.out)
        out.mkdir(parents=True, exist_ok=True)
        plot(losses, widths, out / "mup_lr_transfer.png")
        details["plot"] = str(out / "mup_lr_transfer.png")
    return Result("mup-lr-transfer", checks, details)
