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


def test_fast_variant_passes_with_numbers(result):
    assert result.passed, [c.measured for c in result.checks]
    same, pi, zero = result.checks
    assert "bit-identical: True" in same.measured
    assert "step 150:" in pi.measured and "still all zero: 15 of 15" in pi.measured
    ranks = result.details["runs"]
    assert max(ranks["partial identity"]["ranks"].values()) <= 49
    assert ranks["ZerO"]["ranks"][150] > 49
    assert ranks["partial identity"]["ranks"][0] == ranks["ZerO"]["ranks"][0] == 0


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
