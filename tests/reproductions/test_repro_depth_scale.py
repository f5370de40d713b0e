"""Scenario depth-scale: the fast variant passes by CIs over seeds; a wrong theory fails;
its estimator is right on exact data."""

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
    torch.set_num_threads(1)
    result = scenarios.get("depth-scale").run(scenarios.Context(fast=True))
    assert [c.status for c in result.checks] == [scenarios.Status.PASS] * 3, \
        [c.measured for c in result.checks]
    edge = result.checks[0].values
    assert edge["sigma_w2"] == pytest.approx(1.76, rel=0.02)
    runs = result.details["runs"]
    assert [r["sigma_w2"] for r in runs] == [1.0, 1.25]
    for check, r in zip(result.checks[1:], runs):
        v = check.values
        # 4 seeds, each its own network and fit; the whole 95% CI is inside +-10%
        assert v["n"] == 4 and v["lower"] == -0.10 and v["upper"] == 0.10
        assert -0.10 <= v["ci95"][0] < v["ci95"][1] <= 0.10
        assert v["per_seed"] == r["relative_error"]
        for s, xi in r["xi_per_seed"].items():
            assert v["per_seed"][s] == pytest.approx(xi / r["xi_theory"] - 1)
        assert len(set(r["xi_per_seed"].values())) == 4  # the seeds are different networks
    assert "depth-scale" in scenarios.available()


def test_a_wrong_theory_fails_the_claim(monkeypatch):
    # the same measurement against a theory 30% off: the CI lies outside +-10% -> FAIL
    import initlab.reproductions.depth_scale as ds

    real = ds.mean_field

    class Off:
        def __init__(self, mf):
            self.q_star, self.xi_c = mf.q_star, 1.3 * mf.xi_c

    monkeypatch.setattr(ds, "mean_field", lambda *a: Off(real(*a)))
    monkeypatch.setitem(ds.VARIANTS, True, {**ds.VARIANTS[True], "sigma_w2": (1.0,),
                                             "width": 300, "depth": 20})
    result = scenarios.get("depth-scale").run(scenarios.Context(fast=True))
    assert result.checks[1].status is scenarios.Status.FAIL
    assert result.checks[1].values["ci95"][1] < -0.10
