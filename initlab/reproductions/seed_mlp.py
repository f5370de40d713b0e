"""Scenario ``seed-mlp``: zeros / N(0, 0.01) / Xavier / Kaiming on a 784-512-256-10 ReLU MLP.

What each init sets: every Linear weight (fc1, fc2, fc3) is drawn from the scheme, every
bias is 0 (an initializer spec applied to a whole model zeroes biases; ``zeros`` zeroes
everything); ``details["parameters"]`` lists it per parameter from the recorded Plan. SGD
lr 0.01 momentum 0.5, batch 64, 5 epochs, 5 seeds (3 in the fast variant) on
Fashion-MNIST. Claims, decided over seeds: zeros cannot train (symmetry: every unit of a
layer gets the same gradient, here none at all); N(0, 0.01) shrinks the signal layer by
layer and learns slowest of the random inits; Kaiming converges fastest with ReLU and ends
with the best accuracy.
"""

from __future__ import annotations

from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_most, best_of, per_seed
from initlab.reproductions._practice import Setting, details, run_setting

SETTING = Setting(
    model="mlp",
    model_kwargs={"widths": [512, 256], "activation": "relu"},
    inits={"zeros": "zeros",
           "normal(std=0.01)": "normal(std=0.01)",
           "xavier_normal": "xavier_normal",
           "kaiming_normal": "kaiming_normal(nonlinearity='relu')"},
    lr=0.01, momentum=0.5, batch_size=64, epochs=5, fast_epochs=1,
)
CHANCE, CHANCE_MARGIN = 0.1, 0.05
RANDOM = ("normal(std=0.01)", "xavier_normal", "kaiming_normal")


@scenario(
    "seed-mlp",
    summary="MLP 784-512-256-10 ReLU, all weights zeros / N(0,0.01) / Xavier / Kaiming "
            "(biases 0): zeros cannot train, Kaiming converges fastest",
    source="practice: the classic 'weight initialization in PyTorch' MLP experiment",
    full_runtime="~7 min on 2 CPU cores (5 epochs x 4 inits x 5 seeds)",
)
def run(ctx: Context) -> Result:
    m = run_setting(ctx, "seed-mlp", SETTING)
    labels = list(SETTING.inits)
    acc = {k: per_seed(m.runs, k) for k in labels}
    loss1 = {k: per_seed(m.runs, k, "loss1") for k in labels}
    checks = [
        at_most("zeros cannot train", "zeros", acc["zeros"], CHANCE + CHANCE_MARGIN),
        best_of("N(0, 0.01) learns slowest of the random inits (the signal vanishes with "
                "depth; highest epoch-1 train loss)", "normal(std=0.01)",
                {k: loss1[k] for k in RANDOM}, higher=True, pct=False),
        best_of("Kaiming converges fastest with ReLU (lowest mean train loss in epoch 1)",
                "kaiming_normal", loss1, higher=False, pct=False),
        best_of("Kaiming ends with the best test accuracy", "kaiming_normal", acc),
    ]
    return Result("seed-mlp", checks, details(m, SETTING, ctx.fast))
