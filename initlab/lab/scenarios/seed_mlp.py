"""Scenario ``seed-mlp``: zeros / N(0, 0.01) / Xavier / Kaiming on a 784-512-256-10 ReLU MLP.

Every weight initialized by the scheme, biases 0; SGD lr 0.01 momentum 0.5, batch 64,
5 epochs on Fashion-MNIST. Claims tested: zeros cannot train (symmetry: every unit of a
layer gets the same gradient, here none at all); N(0, 0.01) shrinks the signal layer by
layer and learns slowest of the random inits; Kaiming converges fastest with ReLU and ends
with the best accuracy.
"""

from __future__ import annotations

from initlab.lab.scenarios import Check, Context, Result, scenario
from initlab.lab.scenarios._practice import Setting, details, pct, run_setting

SETTING = Setting(
    model="mlp",
    model_kwargs={"widths": [512, 256], "activation": "relu"},
    inits={"zeros": "zeros",
           "normal(std=0.01)": "normal(std=0.01)",
           "xavier_normal": "xavier_normal",
           "kaiming_normal": "kaiming_normal(nonlinearity='relu')"},
    lr=0.01, momentum=0.5, batch_size=64, epochs=5, fast_epochs=1,
)
CHANCE_MARGIN = 0.05


@scenario(
    "seed-mlp",
    summary="MLP 784-512-256-10 ReLU, all weights zeros / N(0,0.01) / Xavier / Kaiming: "
            "zeros cannot train, Kaiming converges fastest",
    source="practice: the classic 'weight initialization in PyTorch' MLP experiment",
    full_runtime="~1.5 min on 2 CPU cores (5 epochs x 4 inits x 1 seed)",
)
def run(ctx: Context) -> Result:
    m = run_setting(ctx, "seed-mlp", SETTING)
    labels = list(SETTING.inits)
    chance = 0.1
    acc = {k: m.acc(k) for k in labels}
    train_acc = {k: m.train_acc(k) for k in labels}
    loss1 = {k: m.epoch_loss(k, 1) for k in labels}
    fastest = min(labels, key=lambda k: loss1[k])
    top = max(acc.values())
    best = ", ".join(k for k in labels if acc[k] == top)  # ties: all of them
    random = ["normal(std=0.01)", "xavier_normal", "kaiming_normal"]
    slowest = max(random, key=lambda k: loss1[k])
    checks = [
        Check("zeros cannot train",
              f"zeros: train acc {pct(train_acc['zeros'])}, test acc {pct(acc['zeros'])} "
              f"(chance {pct(chance)})",
              acc["zeros"] <= chance + CHANCE_MARGIN),
        Check("N(0, 0.01) learns slowest of the random inits (the signal vanishes with depth)",
              "epoch-1 train loss: " + ", ".join(f"{k} {loss1[k]:.4f}" for k in random)
              + f"; slowest: {slowest}",
              slowest == "normal(std=0.01)"),
        Check("Kaiming converges fastest with ReLU (lowest mean train loss in epoch 1)",
              "epoch-1 train loss: " + ", ".join(f"{k} {loss1[k]:.4f}" for k in labels)
              + f"; fastest: {fastest}",
              fastest == "kaiming_normal"),
        Check("Kaiming ends with the best test accuracy",
              "test acc: " + ", ".join(f"{k} {pct(acc[k])}" for k in labels)
              + f"; best: {best}",
              acc["kaiming_normal"] == top),
    ]
    return Result("seed-mlp", checks, details(m, SETTING, ctx.fast))
