"""Scenario ``batchnorm``: does BatchNorm make the choice of init matter less?

The same 784-256-256-256-10 ReLU MLP trained without and with BatchNorm (Linear-BN-ReLU),
its Linear weights drawn from N(0, 0.01), N(0, 1), Xavier normal or Kaiming normal (biases
0; BatchNorm keeps weight 1, bias 0); SGD lr 0.01 momentum 0.9, batch 64, 5 epochs, 5 seeds
(3 in the fast variant) on Fashion-MNIST. ``model.batchnorm`` is a sweep axis: the two
networks are two experiments of one report.

Claims, over seeds: the spread of final test accuracy across the inits (best minus worst,
per seed) is smaller with BatchNorm (paired t-test); and the tutorial's "for small (3-5
layer) networks N(0, 0.01) works well": without BatchNorm, N(0, 0.01) ends within
:data:`WELL` of the best init (95% CI of the per-seed gap).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, beats, per_seed
from initlab.reproductions._practice import Setting, details, run_setting

SMALL = "normal(std=0.01)"
SETTING = Setting(
    model="mlp",
    model_kwargs={"widths": [256, 256, 256], "activation": "relu"},
    inits={SMALL: "normal(std=0.01)", "normal(std=1)": "normal(std=1.0)",
           "xavier_normal": "xavier_normal",
           "kaiming_normal": "kaiming_normal(nonlinearity='relu')"},
    target="fc*", lr=0.01, momentum=0.9, batch_size=64, epochs=5, fast_epochs=1,
    axes={"model.batchnorm": [False, True]},
)
WELL = 0.02  # "works well": at most 2 accuracy points behind the best init


def _bn(flag: bool) -> Callable[[dict[str, Any]], bool]:
    return lambda r: bool(r["config"]["model_kwargs"].get("batchnorm")) == flag


@scenario(
    "batchnorm",
    summary="4-layer ReLU MLP with and without BatchNorm, weights N(0,0.01) / N(0,1) / "
            "Xavier / Kaiming: does BN shrink the spread across inits; does N(0,0.01) work "
            "for a small network?",
    source="practice: 'with BatchNorm the choice of init matters much less'",
    full_runtime="~10 min on 2 CPU cores (5 epochs x 4 inits x 2 networks x 5 seeds)",
)
def run(ctx: Context) -> Result:
    m = run_setting(ctx, "batchnorm", SETTING)
    labels = list(SETTING.inits)
    acc = {flag: {k: per_seed(m.runs, k, where=_bn(flag)) for k in labels}
           for flag in (False, True)}

    def spread(flag: bool) -> dict[int, float]:
        seeds = set.intersection(*(set(v) for v in acc[flag].values()))
        return {s: max(v[s] for v in acc[flag].values()) - min(v[s] for v in acc[flag].values())
                for s in seeds}

    plain = acc[False]
    best = max((k for k in labels if k != SMALL),
               key=lambda k: sum(plain[k].values()) / max(len(plain[k]), 1))
    gap = {s: plain[SMALL][s] - plain[best][s] for s in set(plain[SMALL]) & set(plain[best])}
    checks = [
        beats("BatchNorm shrinks the spread of final test accuracy across inits (best minus "
              "worst init, per seed)", "with BatchNorm", "without", spread(True),
              spread(False), higher=False),
        at_least(f"for a small (4-layer) network N(0, 0.01) works well: within "
                 f"{100 * WELL:.0f} points of the best init ({best}), without BatchNorm",
                 f"{SMALL} minus {best}", gap, -WELL, clip=None),
    ]
    d = details(m, SETTING, ctx.fast)
    d["test_acc"] = {("batchnorm" if flag else "plain"): {k: sorted(v.items())
                                                          for k, v in acc[flag].items()}
                     for flag in (False, True)}
    return Result("batchnorm", checks, d)
