"""Scenario depth-scale: the fast variant passes; its estimator is right on exact data."""

from __future__ import annotations

import math

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.reproductions.depth_scale import fit_depth_scale, one_minus_c


def test_fit_recovers_an_exact_exponential():
    eps = [0.01 * math.exp(-layer / 4.2) for layer in range(30)]
    assert fit_depth_scale(eps) == pytest.approx(4.2, rel=1e-9)
    assert math.isinf(fit_depth_scale([0.01] * 10))


def test_one_minus_c_is_accurate_near_one():
    g = torch.Generator().manual_seed(0)
    h1 = torch.randn(1000, 3, generator=g, dtype=torch.float64)
    h2 = h1 + 1e-4 * torch.randn(1000, 3, generator=g, dtype=torch.float64)
    exact = 1 - torch.nn.functional.cosine_similarity(h1, h2, dim=0)
    direct = one_minus_c(h1, h2)
    assert torch.all(direct > 0)
    assert torch.allclose(direct, exact, rtol=1e-6)


def test_fast_variant_matches_mean_field_within_ten_percent():
    sc = scenarios.get("depth-scale")
    result = sc.run(scenarios.Context(fast=True))
    assert len(result.checks) == 3
    assert result.passed, [c.measured for c in result.checks]
    runs = result.details["runs"]
    assert [r["sigma_w2"] for r in runs] == [1.0, 1.25]
    assert all(abs(r["relative_error"]) < 0.10 for r in runs)
    assert "depth-scale" in scenarios.available()
