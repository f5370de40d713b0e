"""zero-rank: partial identity keeps rank(W3 - I) <= d, ZerO exceeds it; ZerO is seedless."""

from __future__ import annotations

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.reproductions._repro import rank
from initlab.reproductions.zero_rank import build_model


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    return scenarios.get("zero-rank").run(scenarios.Context(fast=True))


def test_fast_variant_holds_on_every_seed(result):
    same, pi, zero = result.checks
    assert [c.status for c in result.checks] == ["PASS"] * 3, [c.measured for c in result.checks]
    assert same.values == {"tensors": same.values["tensors"], "identical": True}
    assert pi.values["n"] == pi.values["held"] == zero.values["n"] == zero.values["held"] == 3
    for seed in ("0", "1", "2"):
        p = pi.values["per_seed"][seed]["value"]
        z = zero.values["per_seed"][seed]["value"]
        assert max(p["ranks"].values()) <= 49 and p["zero_rows_fc2"] == 15
        assert z["ranks"]["150"] > 49
        assert p["ranks"]["0"] == z["ranks"]["0"] == 0
    assert result.details["runs"]["ZerO"]["0"] == zero.values["per_seed"]["0"]["value"]


def test_zero_init_identical_for_two_seeds_full_size():
    a, b = build_model(1024, "zero", seed=0), build_model(1024, "zero", seed=7)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    w2 = a.fc2.weight                       # 1024 x 784: Hadamard block, entries +-2^-5
    assert torch.equal(w2.abs(), torch.full_like(w2, 2.0 ** -5))
    assert torch.equal(a.fc3.weight, torch.eye(1024))


def test_partial_identity_leaves_extra_units_dead():
    m = build_model(1024, "identity", seed=3)
    assert torch.equal(m.fc2.weight, torch.eye(1024, 784))


def test_rank_helper():
    g = torch.Generator().manual_seed(0)
    low = torch.randn(50, 7, generator=g) @ torch.randn(7, 40, generator=g)
    assert rank(low) == 7
    assert rank(torch.zeros(5, 5)) == 0
    assert rank(torch.eye(6)) == 6
