"""Scenario ``fixup-deep``: a 100-block residual MLP without normalization (Zhang et al. 2019).

Model ``resnet-nonorm`` (kind mlp: Linear stem, 100 blocks ``relu(x + branch(x))`` with
``branch = scale * fc(relu(fc(x + b) + b) + b) + b``, Linear classifier). With He init the
residual stream's variance roughly doubles per block, so the logits explode at init; the
``fixup`` preset (branch-first layers He x L^(-1/(2m-2)), last layer of each branch 0,
classifier 0) starts with logits exactly 0 and trains at lr 0.01 (SGD, momentum 0.9).
The training task is the first ``n_train`` Fashion-MNIST examples; accuracy is measured on
those same examples after training. The claims are decided over 3 seeds (the seed sets the
init and the batch order): the two claims at init are properties checked on every seed, the
training claim by the 95% CI over seeds of the training accuracy. The full variant also
trains seed 0 at lr 0.1 and reports it (in the measured string and the details), as the
issue asks; it is not a check (the fast variant skips it to pay for its 3 seeds).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from initlab.lab.data import Dataset
from initlab.lab.models import build
from initlab.lab.train import TrainConfig, train
from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, every_seed
from initlab.reproductions._repro import (
    accuracy,
    as_train_eval,
    fmt,
    fmt_list,
    get_data,
    save,
    variant,
)

BLOCKS = 100
VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"width": 32, "n_train": 256, "epochs": 24, "batch_size": 32, "seeds": 3,
           "report_lr_high": False},
    False: {"width": 128, "n_train": 4096, "epochs": 30, "batch_size": 128, "seeds": 3,
            "report_lr_high": True},
}
PROBE = 256
LR, LR_HIGH = 0.01, 0.1
TARGET_ACC = 0.95
EXPLODED = 1e3


def build_model(width: int, seed: int, policy: str, blocks: int = BLOCKS) -> nn.Module:
    """``resnet-nonorm`` (mlp) with ``blocks`` blocks, initialized by ``policy``."""
    torch.manual_seed(seed)
    model = build("resnet-nonorm", (1, 28, 28), 10, kind="mlp", blocks=blocks, width=width)
    apply(model, policy, seed=seed)
    return model


@torch.no_grad()
def init_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits on ``x`` in eval mode (train mode restored), without gradients."""
    model.eval()
    out = model(x)
    model.train()
    return out


def _logit_stats(logits: torch.Tensor) -> dict[str, Any]:
    """Whether the logits are finite, and their std (inf when not)."""
    finite = bool(torch.isfinite(logits).all())
    return {"finite": finite, "std": float(logits.double().std()) if finite else math.inf}


def _trained(run: dict[str, Any]) -> bool:
    """Whether a training run finished with finite losses."""
    return run["status"] == "done" and math.isfinite(run["max_loss"])


def _train(cfg: dict[str, Any], data: Dataset, lr: float, seed: int, device: str
           ) -> dict[str, Any]:
    model = build_model(cfg["width"], seed, "fixup")
    config = TrainConfig(optimizer="sgd", lr=lr, momentum=0.9, batch_size=cfg["batch_size"],
                         epochs=cfg["epochs"], device=device)
    run = train(model, data, config, data_seed=seed)
    acc = accuracy(model.cpu(), data.train_x, data.train_y) if run.status == "done" else math.nan
    losses = run.step_losses
    return {"lr": lr, "seed": seed, "status": run.status, "train_acc": acc,
            "final_loss": losses[-1] if losses else math.nan,
            "max_loss": max(losses) if losses else math.nan,
            "epoch_train_acc": [e["test_acc"] for e in run.epochs], "seconds": run.wall_time}


@scenario(
    "fixup-deep",
    summary="100-block no-norm residual MLP: He explodes at init, Fixup starts at logits 0 "
            "and trains at lr 0.01",
    source="Zhang, Dauphin & Ma 2019, Fixup Initialization (ICLR)",
    full_runtime="~6 min on 2 CPU cores (width 128, 4096 Fashion-MNIST examples, 30 "
                 "epochs at lr 0.01 on 3 seeds + lr 0.1 on seed 0; one run measured 87 s)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    seeds = range(cfg["seeds"])
    data, note = get_data(ctx, cfg["n_train"], 0)
    data = as_train_eval(data)
    probe = data.train_x[:PROBE]
    he = {s: _logit_stats(init_logits(build_model(cfg["width"], s, "kaiming"), probe))
          for s in seeds}
    fix = {s: float(init_logits(build_model(cfg["width"], s, "fixup"), probe).abs().max())
           for s in seeds}
    low = {s: _train(cfg, data, LR, s, ctx.device) for s in seeds}
    high = _train(cfg, data, LR_HIGH, 0, ctx.device) if cfg["report_lr_high"] else None
    chance = 1.0 / data.num_classes
    acc = {s: r["train_acc"] if _trained(r) else 0.0 for s, r in low.items()}
    reported = ("" if high is None else
                f" (reported, not a claim: at lr {LR_HIGH}, seed 0, status {high['status']}, "
                f"training accuracy {fmt(high['train_acc'])}, chance {chance:.2f})")
    checks = [
        every_seed(f"He init, {BLOCKS} blocks: non-finite logits or logit std > {EXPLODED:g} "
                   f"at init", he, lambda v: not v["finite"] or v["std"] > EXPLODED,
                   describe_value=lambda v: f"finite={v['finite']}, std {fmt(v['std'])}"),
        every_seed(f"Fixup, {BLOCKS} blocks: logits exactly 0 at init", fix,
                   lambda v: v == 0.0,
                   describe_value=lambda v: f"max |logit| = {v:g} over {probe.shape[0]} inputs"),
        at_least(f"Fixup at lr {LR}: finite loss and training accuracy >= {TARGET_ACC} (95% CI "
                 f"over seeds; a run with a non-finite loss scores 0)",
                 f"status {[r['status'] for r in low.values()]}, max step loss "
                 f"{fmt_list(r['max_loss'] for r in low.values())}, training accuracy "
                 f"{fmt_list(acc.values())} after {cfg['epochs']} epochs on "
                 f"{len(data.train_y)} examples{reported}; training accuracy",
                 acc, TARGET_ACC),
    ]
    details = {"config": {**cfg, "blocks": BLOCKS, "lr": LR, "lr_high": LR_HIGH,
                          "probe": PROBE},
               "data": note, "he": {str(s): v for s, v in he.items()},
               "fixup_max_abs_logit": {str(s): v for s, v in fix.items()},
               "runs": [*low.values(), *([] if high is None else [high])]}
    result = Result("fixup-deep", checks, details)
    save(ctx, result)
    return result
