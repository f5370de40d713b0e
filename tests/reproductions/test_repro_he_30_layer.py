"""he-30-layer: Xavier stalls, Kaiming converges in a 30-layer plain ReLU MLP (fast)."""

from __future__ import annotations

import math

import torch

import initlab.reproductions as scenarios
from initlab.lab.data import synthetic
from initlab.reproductions.he_30_layer import run_one


def test_fast_variant_passes_with_numbers():
    res = scenarios.get("he-30-layer").run(scenarios.Context(fast=True))
    assert res.passed, [c.measured for c in res.checks]
    assert [c.status for c in res.checks] == ["PASS"] * 3  # 95% CIs over 3 seeds
    xavier, kaiming, grads = (c.measured for c in res.checks)
    assert "95% CI [" in xavier and "n = 3" in xavier
    assert "Xavier final loss [" in xavier and "mean" in xavier
    assert "Kaiming final loss [" in kaiming
    assert "first-layer grad norm Xavier" in grads
    runs = res.details["runs"]
    assert runs["xavier"][0]["final_loss"] > 1.8 > 0.5 > runs["kaiming"][0]["final_loss"]


def test_run_one_is_reproducible():
    torch.set_num_threads(1)
    data = synthetic(512, 64, (1, 28, 28), 10, seed=0)
    cfg = {"depth": 30, "width": 16, "steps": 5}
    a = run_one(cfg, data, "kaiming_normal(nonlinearity='relu')", seed=3)
    b = run_one(cfg, data, "kaiming_normal(nonlinearity='relu')", seed=3)
    assert a["final_loss"] == b["final_loss"] and math.isfinite(a["final_loss"])
    assert a["first_layer_grad_norm"] == b["first_layer_grad_norm"] > 0
