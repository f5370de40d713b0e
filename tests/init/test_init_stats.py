"""Statistical tests: n = 2**16 draws, KS test for the shape AND a relative std tolerance.

A KS test on a few hundred samples cannot see a missing sqrt(2); the std check with
tolerance 6/sqrt(2n) (six standard errors of a sample std) can.
"""

import math

import pytest
import torch
from scipy import stats

from initlab import init as I
from initlab.init.scaling import TRUNC_STD

N = 2**16
TOL = 6 / math.sqrt(2 * N)
SHAPE = (256, 256)  # fans 256 / 256; N elements


def _check(t, dist, std):
    x = t.detach().double().flatten().numpy()
    assert x.size >= N
    assert stats.kstest(x, dist.cdf).pvalue > 1e-4
    assert abs(x.std() / std - 1) < TOL


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_uniform_and_normal():
    _check(I.uniform_(torch.empty(SHAPE), -0.5, 1.5, generator=_g()),
           stats.uniform(-0.5, 2.0), 2 / math.sqrt(12))
    _check(I.normal_(torch.empty(SHAPE), 0.3, 0.02, generator=_g()), stats.norm(0.3, 0.02), 0.02)


@pytest.mark.parametrize("mean,std,a,b", [(0, 1, -2, 2), (0.5, 2.0, -1.0, 3.0), (0, 0.02, -2, 2),
                                          (0, 1, 0.2, 0.7)])
def test_trunc_normal(mean, std, a, b):
    dist = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    t = I.trunc_normal_(torch.empty(SHAPE, dtype=torch.float64), mean, std, a, b, generator=_g())
    assert t.min() >= a and t.max() <= b
    _check(t, dist, dist.std())


def test_trunc_normal_std_units():
    dist = stats.truncnorm(-1.5, 2.5, loc=1.0, scale=0.1)
    t = I.trunc_normal_std_(torch.empty(SHAPE, dtype=torch.float64), 1.0, 0.1, -1.5, 2.5,
                            generator=_g())
    _check(t, dist, dist.std())


def test_truncation_constant():
    assert abs(stats.truncnorm(-2, 2).std() - TRUNC_STD) < 1e-15


@pytest.mark.parametrize("mode,fan", [("fan_in", 256), ("fan_out", 128), ("fan_avg", 192)])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_variance_scaling(mode, fan, distribution):
    shape = (128, 256, 2)  # fan_in 512, fan_out 256 with torch's convention (rf 2)
    scale = 3.0
    t = I.variance_scaling_(torch.empty(shape, dtype=torch.float64), scale, mode, distribution,
                            generator=_g())
    std = math.sqrt(scale / (2 * fan))
    dist = {"normal": stats.norm(0, std),
            "uniform": stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std),
            "truncated_normal": stats.truncnorm(-2, 2, scale=std / TRUNC_STD)}[distribution]
    _check(t, dist, std)


@pytest.mark.parametrize("fn,kwargs,std", [
    ("kaiming_normal_", {"nonlinearity": "relu"}, math.sqrt(2 / 256)),
    ("kaiming_normal_", {"nonlinearity": "relu", "mode": "fan_avg"}, math.sqrt(2 / 256)),
    ("kaiming_uniform_", {"a": 0.5, "mode": "fan_out"}, math.sqrt(2 / 1.25 / 256)),
    ("kaiming_normal_", {"nonlinearity": "gelu"}, 1.5335304411955348 / 16),
    ("xavier_normal_", {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / 512)),
    ("xavier_uniform_", {}, math.sqrt(2 / 512)),
    ("lecun_normal_", {}, 1 / 16),
    ("lecun_uniform_", {}, 1 / 16),
])
def test_named_schemes_std(fn, kwargs, std):
    t = getattr(I, fn)(torch.empty(SHAPE, dtype=torch.float64), **kwargs, generator=_g())
    if "uniform" in fn:
        dist = stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std)
    elif fn == "lecun_normal_":
        dist = stats.truncnorm(-2, 2, scale=std / TRUNC_STD)
    else:
        dist = stats.norm(0, std)
    _check(t, dist, std)


def test_default_weight_and_bias():
    w = I.default_(torch.empty(SHAPE, dtype=torch.float64), generator=_g())
    bound = 1 / 16
    _check(w, stats.uniform(-bound, 2 * bound), bound / math.sqrt(3))
    b = I.default_(torch.empty(2, 256), torch.empty(N, dtype=torch.float64), generator=_g())
    assert b.shape == (2, 256)


def test_sparse_nonzeros_are_normal():
    t = I.sparse_(torch.empty(512, 512, dtype=torch.float64), 0.5, std=0.3, generator=_g())
    nz = t[t != 0]
    assert nz.numel() == 512 * 256
    _check(nz, stats.norm(0, 0.3), 0.3)


def test_orthogonal_entries_scale():
    """Haar orthogonal (n x n): entries have variance 1/n; KS against N(0, 1/n) fits for large n."""
    n = 256
    t = I.orthogonal_(torch.empty(n, n, dtype=torch.float64), generator=_g())
    _check(t, stats.norm(0, 1 / math.sqrt(n)), 1 / math.sqrt(n))
