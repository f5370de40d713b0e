"""The seeded μP mistakes the coordinate check must catch, written as a user would make them.

Each case is ``(make_model, parametrization, optimizer, lr, weight_decay)`` for
``initlab.coord_check``: the check itself knows nothing of the mistake.
"""

from __future__ import annotations

import math
from functools import partial

import torch

import initlab
from initlab.scaling import mup
from initlab.scaling.models import Transformer, mlp

BASE = 32
WIDTHS = [32, 64, 128, 256]
CONFIG = mup.MuP(readout_zero=True)


def make_tf(width: int) -> torch.nn.Module:
    return Transformer(width, depth=1, heads=1, vocab=32, seq=8)


def make_mlp(width: int) -> torch.nn.Module:
    return mlp(width, d_in=16, d_out=10, depth=2)


def make_emb(width: int) -> torch.nn.Module:
    """Embedding -> ReLU layer -> readout: a token model without attention."""
    return torch.nn.Sequential(torch.nn.Embedding(32, width), torch.nn.Linear(width, width),
                               torch.nn.ReLU(), torch.nn.Linear(width, 32))


def mup_plan(make, model, width, config=CONFIG):
    return mup.plan(model, base=make, base_width=BASE, config=config)


def wrong_readout(make, model, width):
    """The readout multiplier left at 1: SP init and no 1/m on its learning rate."""
    p = mup_plan(make, model, width, mup.MuP())
    for row in p.rows:
        info = p.meta["mup"]["params"][row.name]
        if info["class"] == "output":
            info["lr"] = {"adam": 1.0, "sgd": 1.0}
            row.init = str(initlab.get(f"normal(std={1 / math.sqrt(row.fan_in)})"))
    return p


def attention_sqrt_d(make, model, width):
    return mup_plan(make, model, width, mup.MuP(readout_zero=True, attention="1/sqrt(d)"))


def base_is_target(make, model, width):
    """The base width taken from the model being trained (every multiplier 1)."""
    return mup.plan(model, base=make, base_width=width, config=CONFIG)


def no_lr_multipliers(model, plan, lr, wd):
    return torch.optim.Adam(model.parameters(), lr=lr)


def unscaled_weight_decay(model, plan, lr, wd):
    groups = mup.param_groups(model, plan, lr, weight_decay=wd, optimizer="adamw")
    for g in groups:
        g["weight_decay"] = wd
    return torch.optim.AdamW(groups)


def unscaled_embedding_lr(model, plan, lr, wd):
    groups = mup.param_groups(model, plan, lr, weight_decay=wd, optimizer="sgd")
    for g in groups:
        if g["mup_class"] == "input":
            g["lr"] = lr
    return torch.optim.SGD(groups)


def _case(make, plan_fn, optimizer, lr, wd=0.0):
    return make, partial(plan_fn, make), optimizer, lr, wd


CORRECT = {
    "mlp adam": _case(make_mlp, mup_plan, "adam", 1e-2),
    "mlp adamw": _case(make_mlp, mup_plan, "adamw", 1e-2, 0.1),
    "mlp sgd": _case(make_mlp, mup_plan, "sgd", 0.5),
    "transformer adam": _case(make_tf, mup_plan, "adam", 0.03),
    "embedding sgd": _case(make_emb, mup_plan, "sgd", 0.5),
}
MISTAKES = {
    "wrong readout multiplier": _case(make_mlp, wrong_readout, "adam", 1e-2),
    "missing learning-rate multipliers": _case(make_mlp, mup_plan, no_lr_multipliers, 1e-2),
    "unscaled Adam weight decay": _case(make_mlp, mup_plan, unscaled_weight_decay, 1e-2, 0.1),
    "attention 1/sqrt(d) instead of 1/d": _case(make_tf, attention_sqrt_d, "adam", 0.03),
    "wrong base width": _case(make_mlp, base_is_target, "adam", 1e-2),
    "unscaled embedding learning rate": _case(make_emb, mup_plan, unscaled_embedding_lr, 0.5),
}


def batch(make, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if make in (make_tf, make_emb):
        ids = torch.randint(0, 32, (4, 8), generator=g)
        return ids, ids
    return torch.randn(32, 16, generator=g), torch.randint(0, 10, (32,), generator=g)
