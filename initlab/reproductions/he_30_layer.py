"""Scenario ``he-30-layer``: a 30-layer plain ReLU net stalls with Xavier, trains with Kaiming
(He et al. 2015, section 2.2 and figure 3).

``plain-deep`` MLP: 30 hidden Linear+ReLU layers of width 128 and a Linear classifier, no
normalization, no skips; every weight Xavier normal (std sqrt(2/(fan_in+fan_out))) or Kaiming
normal (std sqrt(2/fan_in)), biases 0. SGD lr 0.002, momentum 0.9, batch 128, 1000 steps on
Fashion-MNIST, 3 seeds (the seed sets both the init and the batch order; the fast variant
too): each claim is decided by the 95% CI over seeds (PASS / FAIL / INCONCLUSIVE). "Final loss" is
the mean training loss of the last 50 steps; the first layer's gradient norm is taken at the
first step. With Xavier the signal shrinks by ~sqrt(2) per ReLU layer (2^-15 over 30), the
gradients vanish and the loss stays near ln 10 = 2.30.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from initlab.lab.data import Dataset
from initlab.lab.models import build
from initlab.lab.train import TrainConfig, train
from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, at_most
from initlab.reproductions._repro import fmt_list, get_data, save, tail_mean, variant

INITS = {"xavier": "xavier_normal", "kaiming": "kaiming_normal(nonlinearity='relu')"}
VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"depth": 30, "width": 128, "steps": 600, "seeds": 3, "n_train": 8192},
    False: {"depth": 30, "width": 128, "steps": 1000, "seeds": 3, "n_train": None},
}
LR, MOMENTUM, BATCH = 0.002, 0.9, 128
XAVIER_STALLS, KAIMING_CONVERGES = 1.8, 0.5


def run_one(cfg: dict[str, Any], data: Dataset, init: str, seed: int, device: str = "cpu") -> dict:
    """Train one plain-deep MLP; final loss (last 50 steps) and first-layer grad norm."""
    torch.manual_seed(seed)
    model = build("plain-deep", data.input_shape, data.num_classes, kind="mlp",
                  depth=cfg["depth"], width=cfg["width"], activation="relu")
    apply(model, init, seed=seed)
    config = TrainConfig(optimizer="sgd", lr=LR, momentum=MOMENTUM, batch_size=BATCH,
                         steps=cfg["steps"], grad_norm_steps=1, device=device)
    r = train(model, data, config, data_seed=seed)
    g1 = [row["value"] for row in r.grad_norms if row["layer"] == "fc1" and row["step"] == 1]
    return {"init": init, "seed": seed, "status": r.status,
            "final_loss": tail_mean(r.step_losses, 50) if r.status == "done" else float("inf"),
            "first_layer_grad_norm": g1[0] if g1 else float("nan"),
            "test_acc": r.final.get("test_acc"), "seconds": r.wall_time}


@scenario(
    "he-30-layer",
    summary="30-layer plain ReLU MLP (width 128, SGD lr 0.002): Xavier stalls, Kaiming converges",
    source="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers (ICCV), figure 3",
    full_runtime="~1 min on 2 CPU cores (2 inits x 3 seeds x 1000 steps; measured 67 s)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    data, note = get_data(ctx, cfg["n_train"], 2000 if ctx.fast else None)
    runs = {label: [run_one(cfg, data, init, seed, ctx.device) for seed in range(cfg["seeds"])]
            for label, init in INITS.items()}
    loss = {k: [r["final_loss"] for r in v] for k, v in runs.items()}
    grad = {k: [r["first_layer_grad_norm"] for r in v] for k, v in runs.items()}
    setting = (f"depth {cfg['depth']}, width {cfg['width']}, {cfg['steps']} steps, "
               f"{cfg['seeds']} seed(s)")
    per = {k: {r["seed"]: r["final_loss"] for r in v} for k, v in runs.items()}
    ratio = {r["seed"]: math.log10(k["first_layer_grad_norm"] / r["first_layer_grad_norm"])
             for r, k in zip(runs["xavier"], runs["kaiming"])
             if r["first_layer_grad_norm"] > 0}
    checks = [
        at_least(f"Xavier stalls: mean final loss > {XAVIER_STALLS} ({setting})",
                 f"Xavier final loss {fmt_list(loss['xavier'])}, mean", per["xavier"],
                 XAVIER_STALLS, pct=False, clip=None),
        at_most(f"Kaiming converges: mean final loss < {KAIMING_CONVERGES}",
                f"Kaiming final loss {fmt_list(loss['kaiming'])}, mean", per["kaiming"],
                KAIMING_CONVERGES, pct=False, clip=None),
        at_least("Xavier's gradients vanish: first-layer gradient norm at step 1 is > 100x "
                 "smaller (log10 Kaiming / Xavier > 2, per seed)",
                 f"first-layer grad norm Xavier {fmt_list(grad['xavier'])} vs Kaiming "
                 f"{fmt_list(grad['kaiming'])}; log10 ratio", ratio, 2.0, pct=False, clip=None),
    ]
    details = {"config": {**cfg, "lr": LR, "momentum": MOMENTUM, "batch_size": BATCH,
                          "inits": INITS}, "data": note, "runs": runs}
    result = Result("he-30-layer", checks, details)
    save(ctx, result)
    return result
