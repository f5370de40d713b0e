"""The low-coherence "spread" init: coherence targets, exact cases, scale, determinism, spec."""

from __future__ import annotations

import math

import pytest
import torch

import initlab
from initlab.errors import ConfigError
from initlab.init.spread import Spread, coherence, spread_frame, welch_bound


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_welch_bound_values_and_errors():
    assert welch_bound(64, 27) == pytest.approx(math.sqrt(37 / (27 * 63)))
    assert welch_bound(28, 27) == pytest.approx(1 / 27)
    assert welch_bound(10, 10) == 0.0
    with pytest.raises(ConfigError, match=r"welch_bound needs positive integers; got m=0"):
        welch_bound(4, 0)


def test_coherence_and_its_errors():
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])
    assert coherence(w) == pytest.approx(1 / math.sqrt(2))
    with pytest.raises(ConfigError, match=r"coherence needs a tensor of >= 2 dims with >= 2 rows"):
        coherence(torch.ones(5))
    with pytest.raises(ConfigError, match=r"undefined for zero rows; got 1 zero row"):
        coherence(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_at_most_m_rows_are_orthogonal():
    w = torch.empty(24, 8, 3, 3)
    initlab.init.spread_(w, generator=_gen())
    flat = w.reshape(24, -1)
    gram = flat @ flat.T
    assert torch.allclose(gram, gram.diagonal().mean() * torch.eye(24), atol=1e-6)
    assert coherence(w) < 1e-5


@pytest.mark.parametrize("m", [2, 7, 27, 64])
def test_m_plus_one_rows_form_the_simplex(m):
    x = spread_frame(m + 1, m, initlab.init.TorchSource(_gen(m)))
    cos = x @ x.T
    off = cos[~torch.eye(m + 1, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -1.0 / m), atol=1e-6)
    assert coherence(x) == pytest.approx(1.0 / m, abs=1e-6)
    assert coherence(x) == pytest.approx(welch_bound(m + 1, m), abs=1e-6)


@pytest.mark.parametrize(("n", "m", "target"), [
    (40, 20, 1.15), (48, 32, 1.15), (40, 32, 1.15), (128, 64, 1.15),
    (64, 27, 1.20),  # N > 2m; REFERENCE.md: 1.16 with a simple Adam
])
def test_overcomplete_frames_come_close_to_the_welch_bound(n, m, target):
    w = torch.empty(n, m)
    initlab.init.spread_(w, generator=_gen())
    ratio = coherence(w) / welch_bound(n, m)
    assert 1.0 <= ratio <= target
    gauss = torch.randn(n, m, generator=_gen(1))
    assert coherence(gauss) > 2.5 * coherence(w)


def test_near_square_frames_use_the_naimark_complement():
    # N = m + 2: the best tight frames reach ~sqrt(2) x Welch (lines in R^2); direct Adam alone
    # gets stuck far above that
    w = torch.empty(34, 32)
    initlab.init.spread_(w, generator=_gen())
    assert coherence(w) / welch_bound(34, 32) <= 1.45


@pytest.mark.parametrize(("shape", "kwargs", "std"), [
    ((96, 16, 1, 1), {}, 1 / math.sqrt(16)),  # 1x1 conv 16 -> 96, LeCun by default
    ((32, 8, 3, 3), {"gain": math.sqrt(2)}, math.sqrt(2 / 72)),  # He, orthogonal regime
    ((64, 40), {"scale": 2.0, "mode": "fan_avg"}, math.sqrt(2 / 52)),
    ((50, 30), {"gain": -1.5}, 1.5 / math.sqrt(30)),
])
def test_rows_are_scaled_to_the_variance_rule(shape, kwargs, std):
    w = torch.empty(shape)
    initlab.init.spread_(w, generator=_gen(), **kwargs)
    norms = w.reshape(shape[0], -1).norm(dim=1)
    m = w[0].numel()
    assert torch.allclose(norms, torch.full_like(norms, std * math.sqrt(m)), rtol=1e-5)
    assert float(w.pow(2).mean().sqrt()) == pytest.approx(std, rel=1e-5)
    assert Spread(**kwargs).expected_std(shape) == pytest.approx(std)


def test_layout_changes_the_fan():
    w = torch.empty(8, 4, 3, 3)  # a ConvTranspose2d(8 -> 4*groups) weight
    initlab.init.spread_(w, generator=_gen(), layout="conv_transpose", groups=2)
    assert float(w.pow(2).mean().sqrt()) == pytest.approx(1 / math.sqrt(4 * 9), rel=1e-5)


def test_deterministic_given_the_generator_and_dtype_kept():
    a, b, c = (torch.empty(40, 24, dtype=torch.float64) for _ in range(3))
    initlab.init.spread_(a, generator=_gen(5))
    initlab.init.spread_(b, generator=_gen(5))
    initlab.init.spread_(c, generator=_gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64
    h = torch.empty(20, 12, dtype=torch.bfloat16)
    assert initlab.init.spread_(h, generator=_gen()) is h and torch.isfinite(h.float()).all()


def test_spec_round_trip_and_validation():
    spec = initlab.get("spread(gain=2.0, iterations=50)")
    assert spec == Spread(gain=2.0, iterations=50) and not spec.elementwise
    assert initlab.get(spec.to_dict()) == spec
    assert initlab.get("low_coherence") == Spread()
    w = torch.empty(30, 10)
    spec(w, generator=_gen())
    assert coherence(w) < 2 * welch_bound(30, 10)
    with pytest.raises(ConfigError, match=r"Invalid iterations=0 for initializer 'spread'"):
        Spread(iterations=0)
    with pytest.raises(ConfigError, match=r"Invalid mode='fan_inn'.*Did you mean 'fan_in'"):
        Spread(mode="fan_inn")
    with pytest.raises(ConfigError, match=r"spread needs a tensor with at least 2 dimensions"):
        initlab.init.spread_(torch.empty(5))


def test_policy_path_fills_the_whole_tensor_from_a_keyed_stream():
    model = torch.nn.Sequential(torch.nn.Linear(16, 48), torch.nn.Linear(48, 4))
    initlab.apply(model, "spread(iterations=100)", seed=0)
    w = model[0].weight
    assert coherence(w) < 2 * welch_bound(48, 16)
    other = torch.nn.Sequential(torch.nn.Linear(16, 48), torch.nn.Linear(48, 4))
    initlab.apply(other, "spread(iterations=100)", seed=0)
    assert torch.equal(other[0].weight, w)
