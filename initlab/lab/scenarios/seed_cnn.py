"""Scenario ``seed-cnn``: which init of the first conv layer trains a small CNN best?

The folklore experiment: Conv(1,16,3x3)-ReLU-MaxPool-Linear on Fashion-MNIST, ``conv1``
initialized with Xavier normal, Kaiming normal (fan_out, ReLU), N(0, 0.01) or zeros (its
bias 0, as a spec applies it), the Linear layer keeping PyTorch's default; SGD lr 0.01
momentum 0.9, batch 64, 5 epochs. Claims tested: zeros cannot train; Kaiming converges
fastest with ReLU; a too-small N(0, 0.01) starts slower than the scaled inits.
"""

from __future__ import annotations

from initlab.lab.scenarios import Check, Context, Result, scenario
from initlab.lab.scenarios._practice import Setting, details, pct, run_setting

SETTING = Setting(
    model="seed-cnn",
    inits={"xavier_normal": "xavier_normal",
           "kaiming_normal(fan_out)": "kaiming_normal(mode='fan_out', nonlinearity='relu')",
           "normal(std=0.01)": "normal(std=0.01)",
           "zeros": "zeros"},
    target="conv1", lr=0.01, momentum=0.9, batch_size=64, epochs=5, fast_epochs=1,
)
CHANCE_MARGIN = 0.05


@scenario(
    "seed-cnn",
    summary="One-conv CNN on Fashion-MNIST, conv1 initialized with Xavier / Kaiming(fan_out) "
            "/ N(0,0.01) / zeros: does zeros train, does Kaiming converge fastest?",
    source="practice: the 'initialize conv1 four ways' tutorial experiment",
    full_runtime="~30 s on 2 CPU cores (5 epochs x 4 inits x 1 seed, stacked)",
)
def run(ctx: Context) -> Result:
    m = run_setting(ctx, "seed-cnn", SETTING)
    labels = list(SETTING.inits)
    chance = 1.0 / 10
    acc = {k: m.acc(k) for k in labels}
    loss1 = {k: m.epoch_loss(k, 1) for k in labels}
    scaled = [k for k in labels if k != "zeros"]
    best = max(scaled, key=lambda k: acc[k])
    fastest = min(labels, key=lambda k: loss1[k])
    kaiming = "kaiming_normal(fan_out)"
    small = "normal(std=0.01)"
    checks = [
        Check("zeros cannot train (conv1 all zero stays dead: ReLU(0) passes no gradient)",
              f"zeros test acc {pct(acc['zeros'])} vs chance {pct(chance)}; best "
              f"{best} {pct(acc[best])}",
              acc["zeros"] <= chance + CHANCE_MARGIN),
        Check("Kaiming converges fastest with ReLU (lowest mean train loss in epoch 1)",
              "epoch-1 train loss: " + ", ".join(f"{k} {loss1[k]:.4f}" for k in labels)
              + f"; fastest: {fastest}",
              fastest == kaiming),
        Check("a too-small N(0, 0.01) starts slower than Xavier and Kaiming",
              f"epoch-1 train loss {small} {loss1[small]:.4f} vs xavier_normal "
              f"{loss1['xavier_normal']:.4f}, {kaiming} {loss1[kaiming]:.4f}",
              loss1[small] > max(loss1["xavier_normal"], loss1[kaiming])),
    ]
    return Result("seed-cnn", checks, details(m, SETTING, ctx.fast))
