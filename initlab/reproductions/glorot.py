"""Scenario ``glorot``: Glorot & Bengio 2010, "Understanding the difficulty of training deep
feedforward neural networks".

1. Sigmoid saturation (their figure 2): a sigmoid MLP with 4 hidden layers of ``width``
   units, the "standard" init W ~ U(+-1/sqrt(fan_in)) (PyTorch's Linear default, spec
   ``default``), biases 0, trained by SGD with mini-batches of 10 on Fashion-MNIST. Every
   ``every`` steps the mean activation of each hidden layer on 300 fixed test examples is
   recorded: the top hidden layer is driven towards 0 early in training while the lower ones
   stay near 0.5.
2. Tanh layer-wise statistics at init (their figures 3 and 6-7), measured by
   ``initlab.diagnose``: 5 tanh layers of 1000 units on 300 Fashion-MNIST images; with the
   standard init the activations' std shrinks layer by layer and the back-propagated
   gradients shrink towards the input; the normalized init U(+-sqrt(6/(fan_in+fan_out)))
   (``xavier_uniform``) keeps both nearly flat.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from initlab.diagnosis.core import diagnose
from initlab.lab.models import build
from initlab.policy.apply import apply
from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._repro import descend, fmt, fmt_list, get_data, minibatches, save

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"width": 256, "steps": 1500, "every": 100, "n_train": 20000},
    False: {"width": 1000, "steps": 5000, "every": 100, "n_train": None},
}
LR, BATCH, PROBE = 0.1, 10, 300
SATURATED, ALIVE = 0.1, 0.3
STATS_WIDTH, STATS_DEPTH = 1000, 5
SHRINKS, FLAT = 0.3, 0.5


def sigmoid_net(width: int, seed: int = 0):
    """Sigmoid MLP 784-width x4-10 with the standard init and zero biases."""
    torch.manual_seed(seed)
    model = build("plain-deep", (1, 28, 28), 10, kind="mlp", depth=4, width=width,
                  activation="sigmoid")
    apply(model, "default", seed=seed)
    return model


@torch.no_grad()
def hidden_means(model, x: torch.Tensor) -> list[float]:
    """Mean activation of each hidden (sigmoid) layer on ``x``."""
    means, h = [], x.flatten(1)
    for name, module in model.named_children():
        h = module(h)
        if name.startswith("act"):
            means.append(float(h.mean()))
    return means


def saturation_run(data, width: int, steps: int, every: int, seed: int = 0) -> list[dict]:
    """SGD on mini-batches of 10; rows {step, means} every ``every`` steps."""
    model = sigmoid_net(width, seed)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed)
    probe = data.test_x[:PROBE]
    n = len(data.train_y)
    batches, rows = minibatches(n, BATCH, g), []
    for step in range(steps + 1):
        if step % every == 0:
            rows.append({"step": step, "means": hidden_means(model, probe)})
        if step == steps:
            break
        idx = next(batches)
        descend(opt, F.cross_entropy(model(data.train_x[idx]), data.train_y[idx]))
    return rows


def tanh_stats(x: torch.Tensor, y: torch.Tensor, init: str, seed: int = 0) -> dict:
    """Per tanh layer: activation std and back-propagated gradient std (initlab.diagnose)."""
    torch.manual_seed(seed)
    model = build("plain-deep", (1, 28, 28), 10, kind="mlp", depth=STATS_DEPTH,
                  width=STATS_WIDTH, activation="tanh")
    apply(model, init, seed=seed)
    report = diagnose(model, x, y)
    acts = [r for r in report.layers if r.get("type") == "Tanh"]
    return {"act_std": [r["std"] for r in acts], "grad_std": [r["grad_std"] for r in acts],
            "verdicts": [v.name for v in report.verdicts]}


@scenario(
    "glorot",
    summary="Sigmoid nets saturate the top hidden layer early; tanh activations and gradients "
            "shrink layer by layer with the standard init, stay flat with the normalized one",
    source="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward "
           "neural networks (AISTATS)",
    full_runtime="~40 s on 2 CPU cores (width 1000, 5000 SGD steps of 10; measured 37 s)",
)
def run(ctx: Context) -> Result:
    cfg = VARIANTS[bool(ctx.fast)]
    data, note = get_data(ctx, cfg["n_train"], 1000)
    rows = saturation_run(data, cfg["width"], cfg["steps"], cfg["every"])
    top = [r["means"][-1] for r in rows]
    low = [r["means"][0] for r in rows]
    k = min(range(len(top)), key=lambda i: top[i])
    x, y = data.train_x[:PROBE], data.train_y[:PROBE]
    std = {"standard": tanh_stats(x, y, "default"), "normalized": tanh_stats(x, y,
                                                                            "xavier_uniform")}

    def ratio(label, key):
        v = std[label][key]
        return v[-1] / v[0] if key == "act_std" else v[0] / v[-1]

    checks = [
        Check(f"sigmoid, standard init: the top hidden layer's mean activation falls below "
              f"{SATURATED} within the first {cfg['steps']} steps (batch {BATCH})",
              f"top layer mean {fmt(top[0])} at step 0, min {fmt(top[k])} at step "
              f"{rows[k]['step']}, {fmt(top[-1])} at step {rows[-1]['step']}; width "
              f"{cfg['width']}", top[k] < SATURATED),
        Check(f"... while the first hidden layer stays active (mean > {ALIVE})",
              f"first layer mean at that step {fmt(low[k])} (min over the run "
              f"{fmt(min(low))})", low[k] > ALIVE),
        Check(f"tanh, standard init: activation std shrinks layer by layer (last/first < "
              f"{SHRINKS})",
              f"std per layer {fmt_list(std['standard']['act_std'])}, ratio "
              f"{fmt(ratio('standard', 'act_std'))} (paper .307 ... .033)",
              ratio("standard", "act_std") < SHRINKS),
        Check(f"tanh, normalized init: activation std nearly flat (last/first > {FLAT})",
              f"std per layer {fmt_list(std['normalized']['act_std'])}, ratio "
              f"{fmt(ratio('normalized', 'act_std'))} (paper .468 ... .291)",
              ratio("normalized", "act_std") > FLAT),
        Check(f"tanh: back-propagated gradients shrink towards the input with the standard init "
              f"(first/last < {SHRINKS}), nearly flat with the normalized one (> {FLAT})",
              f"activation-gradient std per layer, standard "
              f"{fmt_list(std['standard']['grad_std'], 2)} (ratio "
              f"{fmt(ratio('standard', 'grad_std'))}); normalized "
              f"{fmt_list(std['normalized']['grad_std'], 2)} (ratio "
              f"{fmt(ratio('normalized', 'grad_std'))})",
              ratio("standard", "grad_std") < SHRINKS and ratio("normalized", "grad_std") > FLAT),
    ]
    details = {"config": {**cfg, "lr": LR, "batch_size": BATCH, "probe": PROBE}, "data": note,
               "sigmoid_means": rows, "tanh": std}
    result = Result("glorot", checks, details)
    save(ctx, result)
    return result
