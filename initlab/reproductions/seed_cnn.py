"""Scenario ``seed-cnn``: which init of the first conv layer trains a small CNN best?

The folklore experiment as the tutorial writes it: Conv(1,16,3x3)-ReLU-MaxPool-Linear on
Fashion-MNIST, ``conv1.weight`` initialized with Xavier normal, Kaiming normal (fan_out,
ReLU), N(0, 0.01) or zeros; ``conv1.bias`` and the Linear layer keep PyTorch's default
(the tutorial touches the weight only). A second experiment in the same report zeroes
conv1's weight *and* bias (what initlab's ``zeros`` spec does to a whole layer). SGD lr 0.01
momentum 0.9, batch 64, 5 epochs, 5 seeds (3 in the fast variant).

Claims, each decided over seeds (paired t-tests, Holm; CIs for thresholds): the tutorial's
"zeros cannot train" in both readings (the default bias breaks the symmetry: expect FAIL
for the weight-only zeros, PASS for weight and bias); Kaiming converges fastest with ReLU;
a too-small N(0, 0.01) starts slower than Xavier and Kaiming.
"""

from __future__ import annotations

from dataclasses import replace

from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_most, best_of, per_seed
from initlab.reproductions._practice import Setting, details, run_setting

KAIMING, SMALL = "kaiming_normal(fan_out)", "normal(std=0.01)"
ZEROS_W, ZEROS_WB = "zeros", "zeros (weight and bias)"
SETTING = Setting(
    model="seed-cnn",
    inits={"xavier_normal": "xavier_normal",
           KAIMING: "kaiming_normal(mode='fan_out', nonlinearity='relu')",
           SMALL: "normal(std=0.01)",
           ZEROS_W: "zeros"},
    target="conv1.weight", lr=0.01, momentum=0.9, batch_size=64, epochs=5, fast_epochs=1,
)
BIAS_ZEROED = replace(SETTING, inits={ZEROS_WB: "zeros"}, target="conv1")
CHANCE, CHANCE_MARGIN = 0.1, 0.05


@scenario(
    "seed-cnn",
    summary="One-conv CNN on Fashion-MNIST, conv1.weight initialized with Xavier / "
            "Kaiming(fan_out) / N(0,0.01) / zeros (bias default, as the tutorial) and zeros "
            "with the bias zeroed too: does zeros train, does Kaiming converge fastest?",
    source="practice: the 'initialize conv1 four ways' tutorial experiment",
    full_runtime="~3 min on 2 CPU cores (5 epochs x 5 inits x 5 seeds, stacked)",
)
def run(ctx: Context) -> Result:
    first = run_setting(ctx, "seed-cnn", SETTING)
    m = run_setting(ctx, "seed-cnn", BIAS_ZEROED, out=first.out)
    acc = {k: per_seed(m.runs, k) for k in (*SETTING.inits, ZEROS_WB)}
    loss1 = {k: per_seed(m.runs, k, "loss1") for k in SETTING.inits}
    bound = CHANCE + CHANCE_MARGIN
    checks = [
        at_most("zeros cannot train, the tutorial's way (conv1.weight = 0, its bias keeps "
                "PyTorch's default)", ZEROS_W, acc[ZEROS_W], bound),
        at_most("zeros cannot train with conv1's bias zeroed too (ReLU(0) passes no "
                "gradient)", ZEROS_WB, acc[ZEROS_WB], bound),
        best_of("Kaiming converges fastest with ReLU (lowest mean train loss in epoch 1)",
                KAIMING, loss1, higher=False, pct=False),
        best_of("a too-small N(0, 0.01) starts slower than Xavier and Kaiming (highest "
                "epoch-1 train loss)", SMALL,
                {k: loss1[k] for k in (SMALL, "xavier_normal", KAIMING)}, higher=True,
                pct=False),
    ]
    d = details(m, SETTING, ctx.fast)
    d["inits"] = {**SETTING.inits, ZEROS_WB: "zeros (target conv1: weight and bias)"}
    return Result("seed-cnn", checks, d)
