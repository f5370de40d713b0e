"""Scenario ``lsuv-thin-deep``: a thin deep net trains at least as well with LSUV as with
Xavier (Mishkin & Matas 2016, "All you need is a good init", thin deep FitNets).

``plain-deep`` MLP: 16 hidden Linear+ReLU layers of width 32, Linear classifier, no
normalization. Xavier normal (biases 0) against ``initlab.lsuv_`` (orthonormal pre-init,
then each layer scaled to unit output variance on 256 training examples, tol 0.1). SGD
lr 0.01, momentum 0.9, batch 128 on Fashion-MNIST, 3 seeds (the seed sets the init, the
LSUV batch and the batch order). "At least as well": the 95% CI of the paired difference
of final test accuracy (LSUV - Xavier, same seed) lies above ``-MARGIN`` (non-inferiority);
INCONCLUSIVE when it straddles it. With ReLU, Xavier's signal halves in variance per
layer (2^-16 after 16 layers), so its first epoch is slow; LSUV starts at unit variance.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from initlab.calibrate.lsuv import LSUVResult, lsuv_
from initlab.lab.data import Dataset
from initlab.lab.models import build
from initlab.lab.train import TrainConfig, train
from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, every_seed
from initlab.reproductions._repro import fmt, get_data, mean, save, variant

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"depth": 16, "width": 32, "epochs": 2, "seeds": 3, "n_train": 4096, "n_test": 2000},
    False: {"depth": 16, "width": 32, "epochs": 10, "seeds": 3, "n_train": None,
            "n_test": None},
}
LR, MOMENTUM, BATCH, LSUV_BATCH = 0.01, 0.9, 128, 256
MARGIN = 0.01


def build_model(cfg: dict[str, Any], data: Dataset, init: str, seed: int
                ) -> tuple[nn.Module, LSUVResult | None]:
    """The thin deep MLP initialized by ``init`` ('xavier' or 'lsuv'); LSUV record or None."""
    torch.manual_seed(seed)
    model = build("plain-deep", data.input_shape, data.num_classes, kind="mlp",
                  depth=cfg["depth"], width=cfg["width"], activation="relu")
    if init == "xavier":
        apply(model, "xavier_normal", seed=seed)
        return model, None
    g = torch.Generator().manual_seed(seed)
    batch = data.train_x[torch.randperm(len(data.train_y), generator=g)[:LSUV_BATCH]]
    record = lsuv_(model, batch, seed=seed)
    return model, record


def run_one(cfg: dict[str, Any], data: Dataset, init: str, seed: int, device: str) -> dict:
    model, record = build_model(cfg, data, init, seed)
    config = TrainConfig(optimizer="sgd", lr=LR, momentum=MOMENTUM, batch_size=BATCH,
                         epochs=cfg["epochs"], device=device)
    r = train(model, data, config, data_seed=seed)
    return {"init": init, "seed": seed, "status": r.status,
            "test_acc": r.final.get("test_acc", float("nan")),
            "epoch1_train_loss": r.epochs[0]["train_loss"] if r.epochs else float("nan"),
            "test_acc_per_epoch": [e["test_acc"] for e in r.epochs],
            "lsuv_converged": None if record is None else record.converged,
            "seconds": r.wall_time}


@scenario(
    "lsuv-thin-deep",
    summary="Thin deep ReLU MLP (16 x 32): LSUV trains at least as well as Xavier (3 seeds)",
    source="Mishkin & Matas 2016, All you need is a good init (ICLR)",
    full_runtime="~2 min on 2 CPU cores (2 inits x 3 seeds x 10 epochs of "
                 "Fashion-MNIST; measured 119 s)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    data, note = get_data(ctx, cfg["n_train"], cfg["n_test"])
    runs = {init: [run_one(cfg, data, init, s, ctx.device) for s in range(cfg["seeds"])]
            for init in ("xavier", "lsuv")}
    acc = {k: {r["seed"]: r["test_acc"] for r in v} for k, v in runs.items()}
    loss1 = {k: [r["epoch1_train_loss"] for r in v] for k, v in runs.items()}
    diff = {s: acc["lsuv"][s] - acc["xavier"][s] for s in acc["lsuv"] if s in acc["xavier"]}
    setting = (f"depth {cfg['depth']} x width {cfg['width']}, {cfg['epochs']} epochs, "
               f"{cfg['seeds']} seeds")
    checks = [
        every_seed("LSUV brings every layer to unit output variance (tol 0.1)",
                   {r["seed"]: r["lsuv_converged"] for r in runs["lsuv"]}, bool,
                   summary="every layer converged"),
        # non-inferiority: the 95% CI of the paired difference LSUV - Xavier (same seeds,
        # same batches) lies above -MARGIN
        at_least(f"LSUV trains at least as well as Xavier: mean final test accuracy >= Xavier's "
                 f"- {MARGIN}",
                 f"LSUV - Xavier, paired by seed (LSUV {fmt(mean(acc['lsuv'].values()))}, "
                 f"Xavier {fmt(mean(acc['xavier'].values()))}; epoch-1 train loss LSUV "
                 f"{fmt(mean(loss1['lsuv']))} vs Xavier {fmt(mean(loss1['xavier']))}; "
                 f"{setting})", diff, -MARGIN, clip=None),
    ]
    details = {"config": {**cfg, "lr": LR, "momentum": MOMENTUM, "batch_size": BATCH,
                          "lsuv_batch": LSUV_BATCH, "margin": MARGIN},
               "data": note, "runs": runs}
    result = Result("lsuv-thin-deep", checks, details)
    save(ctx, result)
    return result
