"""Mean field: published numbers, closed forms, a Monte Carlo check, errors."""

from __future__ import annotations

import math

import pytest
import torch

from initlab.errors import ConfigError, UnknownNameError
from initlab.theory import critical, mean_field


def test_tanh_edge_of_chaos_matches_reference():
    crit = critical("tanh", sigma_b2=0.05)
    assert crit.sigma_w2 == pytest.approx(1.76, rel=0.02)
    assert crit.chi_1 == pytest.approx(1.0, abs=1e-9)
    assert crit.phase == "critical" and math.isinf(crit.xi_c)
    assert crit.q_star > 0


@pytest.mark.parametrize(("sigma_w2", "xi"), [(1.0, 3.6), (1.25, 6.8), (1.5, 15.8)])
def test_tanh_correlation_depth_scales_match_reference(sigma_w2, xi):
    mf = mean_field("tanh", sigma_w2, 0.05)
    assert mf.xi_c == pytest.approx(xi, rel=0.02)
    assert mf.phase == "ordered" and mf.c_star == 1.0
    assert mf.xi_c == pytest.approx(-1.0 / math.log(mf.chi_1), rel=1e-12)
    assert mf.c_map(1.0) == pytest.approx(1.0, abs=1e-9)


def test_relu_closed_forms():
    mf = mean_field("relu", 1.5, 0.1)
    assert mf.q_star == pytest.approx(0.1 / (1 - 0.75), rel=1e-9)
    assert mf.chi_1 == pytest.approx(0.75, rel=1e-9)
    assert critical("relu").sigma_w2 == pytest.approx(2.0, rel=1e-9)
    assert mean_field("linear", 0.8, 0.2).chi_1 == pytest.approx(0.8, rel=1e-12)


def test_erf_critical_point_is_pi_over_4_at_zero_bias():
    crit = critical("erf", sigma_b2=0.0)
    assert crit.sigma_w2 == pytest.approx(math.pi / 4, rel=1e-6)
    assert crit.q_star < 1e-6


def test_fixed_point_and_chi_agree_with_monte_carlo():
    mf = mean_field("tanh", 1.5, 0.05)
    z = torch.randn(2**18, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u = math.sqrt(mf.q_star) * z
    q_mc = 1.5 * float(torch.tanh(u).pow(2).mean()) + 0.05
    chi_mc = 1.5 * float((1 - torch.tanh(u) ** 2).pow(2).mean())
    tol = 6 / math.sqrt(2 * z.numel())
    assert q_mc == pytest.approx(mf.q_star, rel=tol)
    assert chi_mc == pytest.approx(mf.chi_1, rel=tol)


def test_chaotic_phase_has_a_correlation_fixed_point_below_one():
    mf = mean_field("tanh", 3.0, 0.05)
    assert mf.phase == "chaotic" and mf.chi_1 > 1
    assert 0 < mf.c_star < 1
    assert mf.c_map(mf.c_star) == pytest.approx(mf.c_star, abs=1e-8)
    assert 0 < mf.chi_c < 1 and math.isfinite(mf.xi_c)


def test_callables_use_autograd_derivatives():
    by_name = mean_field("tanh", 1.25, 0.05)
    assert mean_field(torch.tanh, 1.25, 0.05).xi_c == pytest.approx(by_name.xi_c, rel=1e-12)
    assert mean_field(torch.nn.Tanh(), 1.25, 0.05).chi_1 == pytest.approx(
        by_name.chi_1, rel=1e-12)
    scaled = mean_field(lambda x: 2 * torch.tanh(x), 1.25 / 4, 0.05)
    assert scaled.q_star == pytest.approx(by_name.q_star, rel=1e-9)  # same map, rescaled


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: mean_field("tanhh", 1.0), UnknownNameError,
         r"Unknown activation 'tanhh'\. Did you mean 'tanh'\?"),
        (lambda: mean_field(3, 1.0), ConfigError, r"activation must be a name or a callable"),
        (lambda: mean_field("tanh", -1.0), ConfigError,
         r"sigma_w2 must be a finite number >= 0\.0; got -1\.0"),
        (lambda: mean_field("tanh", 1.0, float("nan")), ConfigError,
         r"sigma_b2 must be a finite number"),
        (lambda: mean_field("relu", 3.0, 0.1), ConfigError,
         r"no finite fixed point at sigma_w2=3\.0"),
        (lambda: critical("tanh", sigma_b2=0.05, max_sigma_w2=1.0), ConfigError,
         r"No edge of chaos for 'tanh'"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
