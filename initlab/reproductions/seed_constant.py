"""Scenario ``seed-constant``: every weight and bias of a CNN set to 0.0042 vs PyTorch default.

The blitz-cnn (conv 6@5x5, pool, conv 16@5x5, pool, fc 120-84-10) trained on
Fashion-MNIST with SGD lr 0.01 momentum 0.9, batch 64, 5 epochs, once with every parameter
= 0.0042 and once with PyTorch's default init. A constant init makes all units of a layer
identical; they get identical gradients and stay identical, so the network has one unit
per layer in effect. The scenario measures how far it falls behind (the 95% CI of the
paired gap over 3 seeds, 5 in full) and shows what ``initlab.diagnose`` says about both
models at init (seed 0; diagnose's verdict on a constant init does not depend on a seed).
"""

from __future__ import annotations

import json
from typing import Any

from initlab.reproductions._base import Check, Context, Result, scenario
from initlab.reproductions._claims import at_least, per_seed
from initlab.reproductions._practice import Setting, dataset_for, details, pct, run_setting

CONSTANT = json.dumps({"name": "constant-0.0042", "on_unmatched": "error", "options": {},
                       "rules": [{"init": "constant(val=0.0042)", "name": ["*"],
                                  "label": "constant"}]})
LABEL_CONST, LABEL_DEFAULT = "constant 0.0042 (all)", "pytorch default"
SETTING = Setting(
    model="blitz-cnn",
    inits={LABEL_CONST: CONSTANT, LABEL_DEFAULT: "torch_default"},
    lr=0.01, momentum=0.9, batch_size=64, epochs=5,
    fast_epochs=3,  # the default-init blitz-cnn needs ~50 steps to leave chance level
)
GAP = 0.10  # "falls far behind": at least 10 accuracy points
DIAGNOSE_BATCH = 256


def _diagnose(ctx: Context, dataset: str) -> dict[str, list[dict]]:
    """``initlab.diagnose`` on both inits (seed 0), on a batch of training data."""
    from initlab.diagnosis.core import diagnose
    from initlab.lab.sweep import load_data, prepare_model

    data = load_data(dataset, ctx.data_dir, DIAGNOSE_BATCH, 1, progress=False)
    out: dict[str, Any] = {}
    for label, init in SETTING.inits.items():
        identity: dict[str, Any] = {"model": SETTING.model, "model_kwargs": {}, "init": init, "target": None,
                    "seed": 0}
        model, _ = prepare_model(identity, data.input_shape, data.num_classes)
        report = diagnose(model, data.train_x[:DIAGNOSE_BATCH],
                                  data.train_y[:DIAGNOSE_BATCH])
        out[label] = [{"name": v.name, "layers": list(v.layers), "message": v.message,
                       "suggestion": v.suggestion} for v in report.verdicts]
    return out


@scenario(
    "seed-constant",
    summary="blitz-cnn with every weight and bias = 0.0042 vs PyTorch default: how far a "
            "symmetric init falls behind, and what diagnose says about it",
    source="practice: 'what if all weights are the same constant?' (symmetry breaking)",
    full_runtime="~5 min on 2 CPU cores (5 epochs x 2 inits x 5 seeds, ~1 min a seed)",
)
def run(ctx: Context) -> Result:
    m = run_setting(ctx, "seed-constant", SETTING)
    verdicts = _diagnose(ctx, dataset_for(ctx))
    acc_c, acc_d = m.acc(LABEL_CONST), m.acc(LABEL_DEFAULT)
    const, default = per_seed(m.runs, LABEL_CONST), per_seed(m.runs, LABEL_DEFAULT)
    gap = {s: default[s] - const[s] for s in const if s in default}
    names_c = sorted({v["name"] for v in verdicts[LABEL_CONST]})
    names_d = sorted({v["name"] for v in verdicts[LABEL_DEFAULT]})
    sym = [layer for v in verdicts[LABEL_CONST] if v["name"] == "broken_symmetry"
           for layer in v["layers"]]
    checks = [
        at_least("a constant init falls far behind PyTorch's default (symmetric units learn "
                 "as one)",
                 f"gap default - constant, paired by seed (test acc constant {pct(acc_c)} vs "
                 f"default {pct(acc_d)}; 'far' = {100 * GAP:.0f}+ points)", gap, GAP,
                 clip=None),
        Check("diagnose flags the constant init as broken symmetry, before any training",
              f"verdicts constant: {names_c or 'none'}; default: {names_d or 'none'}; "
              f"broken symmetry in {len(sym)} layer(s) {sym}",
              "broken_symmetry" in names_c and "broken_symmetry" not in names_d,
              values={"verdicts_constant": names_c, "verdicts_default": names_d,
                      "broken_symmetry_layers": sym}),
    ]
    res = details(m, SETTING, ctx.fast)
    res["diagnose"] = verdicts
    return Result("seed-constant", checks, res)
