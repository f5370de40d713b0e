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

Every claim is decided over 3 seeds (the seed sets the init and the batch order) by the 95%
CI of the mean of a per-seed figure (PASS / FAIL / INCONCLUSIVE,
:mod:`initlab.reproductions._claims`): the top layer's lowest mean and layer 1's mean at that
step; the ratios last/first layer of the tanh activation stds and first/last of the gradient
stds.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab.diagnosis.core import diagnose
from initlab.lab.data import Dataset
from initlab.lab.models import build
from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, at_most
from initlab.reproductions._repro import descend, fmt_list, get_data, minibatches, save, variant

VARIANTS: dict[bool, dict[str, Any]] = {
    True: {"width": 256, "steps": 1500, "every": 100, "n_train": 20000, "seeds": 3},
    False: {"width": 1000, "steps": 5000, "every": 100, "n_train": None, "seeds": 3},
}
TANH_INITS = {"standard": "default", "normalized": "xavier_uniform"}
LR, BATCH, PROBE = 0.1, 10, 300
SATURATED, ALIVE = 0.1, 0.3
STATS_WIDTH, STATS_DEPTH = 1000, 5
SHRINKS, FLAT = 0.3, 0.5


def sigmoid_net(width: int, seed: int = 0) -> nn.Module:
    """Sigmoid MLP 784-width x4-10 with the standard init and zero biases."""
    torch.manual_seed(seed)
    model = build("plain-deep", (1, 28, 28), 10, kind="mlp", depth=4, width=width,
                  activation="sigmoid")
    apply(model, "default", seed=seed)
    return model


@torch.no_grad()
def hidden_means(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Mean activation of each hidden (sigmoid) layer on ``x``."""
    means: list[float] = []
    h = x.flatten(1)
    for name, module in model.named_children():
        h = module(h)
        if name.startswith("act"):
            means.append(float(h.mean()))
    return means


def saturation_run(data: Dataset, width: int, steps: int, every: int, seed: int = 0
                   ) -> list[dict[str, Any]]:
    """SGD on mini-batches of 10; rows {step, means} every ``every`` steps."""
    model = sigmoid_net(width, seed)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed)
    probe = data.test_x[:PROBE]
    n = len(data.train_y)
    batches = minibatches(n, BATCH, g)
    rows: list[dict[str, Any]] = []
    for step in range(steps + 1):
        if step % every == 0:
            rows.append({"step": step, "means": hidden_means(model, probe)})
        if step == steps:
            break
        idx = next(batches)
        descend(opt, F.cross_entropy(model(data.train_x[idx]), data.train_y[idx]))
    return rows


def tanh_stats(x: torch.Tensor, y: torch.Tensor, init: str, seed: int = 0
               ) -> dict[str, list[Any]]:
    """Per tanh layer: activation std and back-propagated gradient std (initlab.diagnose)."""
    torch.manual_seed(seed)
    model = build("plain-deep", (1, 28, 28), 10, kind="mlp", depth=STATS_DEPTH,
                  width=STATS_WIDTH, activation="tanh")
    apply(model, init, seed=seed)
    report = diagnose(model, x, y)
    acts = [r for r in report.layers if r.get("type") == "Tanh"]
    return {"act_std": [r["std"] for r in acts], "grad_std": [r["grad_std"] for r in acts],
            "verdicts": [v.name for v in report.verdicts]}


def _saturation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the top hidden layer's mean is lowest: that mean, the step, layer 1's mean there."""
    top = [r["means"][-1] for r in rows]
    k = min(range(len(top)), key=lambda i: top[i])
    return {"top_min": top[k], "step": rows[k]["step"], "low_at_min": rows[k]["means"][0],
            "low_min": min(r["means"][0] for r in rows)}


def _ratio(values: list[float], key: str) -> float:
    """last/first for activation stds (shrinking forward), first/last for gradient stds."""
    return values[-1] / values[0] if key == "act_std" else values[0] / values[-1]


@scenario(
    "glorot",
    summary="Sigmoid nets saturate the top hidden layer early; tanh activations and gradients "
            "shrink layer by layer with the standard init, stay flat with the normalized one",
    source="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward "
           "neural networks (AISTATS)",
    full_runtime="~2 min on 2 CPU cores (width 1000, 5000 SGD steps of 10, 3 seeds; one seed "
                 "measured 37 s)",
)
def run(ctx: Context) -> Result:
    cfg = variant(ctx, VARIANTS)
    seeds = range(cfg["seeds"])
    data, note = get_data(ctx, cfg["n_train"], 1000)
    runs = {s: saturation_run(data, cfg["width"], cfg["steps"], cfg["every"], seed=s)
            for s in seeds}
    sat = {s: _saturation(rows) for s, rows in runs.items()}
    x, y = data.train_x[:PROBE], data.train_y[:PROBE]
    std = {s: {label: tanh_stats(x, y, init, seed=s) for label, init in TANH_INITS.items()}
           for s in seeds}
    ratio = {(label, key): {s: _ratio(std[s][label][key], key) for s in seeds}
             for label in TANH_INITS for key in ("act_std", "grad_std")}
    s0 = std[0] if 0 in std else next(iter(std.values()))
    n = f"{cfg['seeds']} seed(s)"
    checks = [
        at_most(f"sigmoid, standard init: the top hidden layer's mean activation falls below "
                f"{SATURATED} within the first {cfg['steps']} steps (batch {BATCH}; 95% CI "
                f"over seeds of its minimum)",
                f"top layer mean at step 0 {fmt_list(r[0]['means'][-1] for r in runs.values())}"
                f", minimum {fmt_list(v['top_min'] for v in sat.values())} at steps "
                f"{[v['step'] for v in sat.values()]}; width {cfg['width']}, {n}; minimum",
                {s: v["top_min"] for s, v in sat.items()}, SATURATED, pct=False),
        at_least(f"... while the first hidden layer stays active (mean > {ALIVE} at that step)",
                 f"first layer mean at that step (min over the run "
                 f"{fmt_list(v['low_min'] for v in sat.values())})",
                 {s: v["low_at_min"] for s, v in sat.items()}, ALIVE, pct=False),
        at_most(f"tanh, standard init: activation std shrinks layer by layer (last/first < "
                f"{SHRINKS})",
                f"std per layer (seed 0) {fmt_list(s0['standard']['act_std'])} (paper .307 ... "
                f".033); last/first", ratio["standard", "act_std"], SHRINKS, pct=False,
                clip=None),
        at_least(f"tanh, normalized init: activation std nearly flat (last/first > {FLAT})",
                 f"std per layer (seed 0) {fmt_list(s0['normalized']['act_std'])} (paper .468 "
                 f"... .291); last/first", ratio["normalized", "act_std"], FLAT, pct=False,
                 clip=None),
        at_most(f"tanh, standard init: back-propagated gradients shrink towards the input "
                f"(first/last < {SHRINKS})",
                f"activation-gradient std per layer (seed 0) "
                f"{fmt_list(s0['standard']['grad_std'], 2)}; first/last",
                ratio["standard", "grad_std"], SHRINKS, pct=False, clip=None),
        at_least(f"tanh, normalized init: back-propagated gradients nearly flat (first/last > "
                 f"{FLAT})",
                 f"activation-gradient std per layer (seed 0) "
                 f"{fmt_list(s0['normalized']['grad_std'], 2)}; first/last",
                 ratio["normalized", "grad_std"], FLAT, pct=False, clip=None),
    ]
    details = {"config": {**cfg, "lr": LR, "batch_size": BATCH, "probe": PROBE,
                          "tanh_inits": TANH_INITS},
               "data": note,
               "sigmoid_means": {str(s): rows for s, rows in runs.items()},
               "saturation": {str(s): v for s, v in sat.items()},
               "tanh": {str(s): v for s, v in std.items()},
               "ratios": {f"{label}.{key}": {str(s): r for s, r in v.items()}
                          for (label, key), v in ratio.items()}}
    result = Result("glorot", checks, details)
    save(ctx, result)
    return result
