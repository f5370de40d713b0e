"""lsuv-thin-deep: LSUV trains a 16 x 32 ReLU MLP at least as well as Xavier (fast)."""

from __future__ import annotations

import torch

import initlab.reproductions as scenarios
from initlab.lab.data import synthetic
from initlab.reproductions.lsuv_thin_deep import build_model


def test_fast_variant_passes_with_numbers():
    res = scenarios.get("lsuv-thin-deep").run(scenarios.Context(fast=True))
    assert res.passed, [c.measured for c in res.checks]
    assert "test accuracy LSUV [" in res.checks[1].measured
    assert "Xavier [" in res.checks[1].measured
    assert [len(v) for v in res.details["runs"].values()] == [3, 3]


def test_lsuv_model_has_unit_variance_and_is_seeded():
    torch.set_num_threads(1)
    data = synthetic(512, 0, (1, 28, 28), 10, seed=0)
    cfg = {"depth": 16, "width": 32}
    a, rec = build_model(cfg, data, "lsuv", seed=1)
    b, _ = build_model(cfg, data, "lsuv", seed=1)
    assert rec.converged and len(rec) == 17
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with torch.no_grad():
        out = a[:-1](data.train_x[:256])               # up to the last hidden ReLU
        pre = a[-1](out)
    assert abs(float(pre.var(unbiased=False)) - 1) < 0.3
