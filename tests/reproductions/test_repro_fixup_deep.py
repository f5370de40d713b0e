"""fixup-deep: He explodes, Fixup starts at logits exactly 0 and trains (fast variant)."""

from __future__ import annotations

import json

import pytest
import torch

import initlab
import initlab.reproductions as scenarios
from initlab.lab.models import build
from initlab.reproductions.fixup_deep import build_model, init_logits


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("fixup")
    res = scenarios.get("fixup-deep").run(scenarios.Context(fast=True, out=out))
    return res, out


def test_fast_variant_passes_with_numbers(result):
    res, out = result
    assert [c.status for c in res.checks] == [scenarios.Status.PASS] * 3, \
        [c.measured for c in res.checks]
    he, zero, trains = (c.values for c in res.checks)
    # the two claims at init: properties checked on each of the 3 seeds
    assert he["test"] == zero["test"] == "every seed"
    assert he["n"] == he["held"] == 3 and zero["n"] == zero["held"] == 3
    for s in ("0", "1", "2"):
        v = he["per_seed"][s]["value"]
        assert not v["finite"] or v["std"] > 1e3
        assert zero["per_seed"][s]["value"] == 0.0
        assert res.details["he"][s] == v
    # training: the CI over the 3 seeds of the training accuracy is above 0.95
    assert trains["n"] == 3 and trains["lower"] == 0.95 and trains["ci95"][0] >= 0.95
    runs = res.details["runs"]
    assert [r["lr"] for r in runs] == [0.01] * 3 and [r["seed"] for r in runs] == [0, 1, 2]
    assert [trains["per_seed"][str(r["seed"])] for r in runs] == [r["train_acc"] for r in runs]
    assert res.details["config"]["report_lr_high"] is False  # the fast variant skips lr 0.1
    saved = json.loads((out / "result.json").read_text())
    assert saved["status"] == "PASS" and saved["name"] == "fixup-deep"
    assert saved["checks"][2]["values"]["per_seed"] == trains["per_seed"]


def test_untrained_run_scores_zero():
    from initlab.reproductions.fixup_deep import _trained
    assert _trained({"status": "done", "max_loss": 2.3})
    assert not _trained({"status": "diverged", "max_loss": 2.3})
    assert not _trained({"status": "done", "max_loss": float("nan")})


def test_fixup_logits_exactly_zero_on_100_blocks():
    x = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for seed in (0, 1):
        out = init_logits(build_model(16, seed, "fixup", blocks=100), x)
        assert torch.equal(out, torch.zeros_like(out))


def test_fixup_conv_resnet_logits_zero_and_he_explodes():
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    model = build("resnet-nonorm", (1, 8, 8), 10, kind="conv", blocks=100, width=4)
    initlab.apply(model, "fixup", seed=0)
    with torch.no_grad():
        assert torch.equal(model(x), torch.zeros(8, 10))
    initlab.apply(model, "kaiming", seed=0)
    with torch.no_grad():
        he = model(x)
    assert not torch.isfinite(he).all() or he.double().std() > 1e3


def test_fixup_scales_first_branch_layer_by_depth():
    plan = initlab.plan(build("resnet-nonorm", (1, 28, 28), 10, blocks=100, width=16), "fixup")
    rows = {r.name: r for r in plan.rows}
    he = rows["stem.weight"].std
    first = rows["blocks.0.branch.layer1.weight"]
    # m = 2 layers per branch: factor L^(-1/(2m-2)) = 100^(-1/2) = 0.1 on He (fan_in 16)
    assert first.std == pytest.approx((2 / 16) ** 0.5 * 0.1, rel=1e-6)
    assert he == pytest.approx((2 / 784) ** 0.5, rel=1e-6)
    assert rows["blocks.0.branch.layer2.weight"].std == 0
    assert rows["fc.weight"].std == 0
