"""Parametrized weights: the plan targets the effective tensor (tested on it)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

import initlab
from initlab.policy.parametrized import weight_norm_data_init

IN, OUT = 256, 512


def _net(wrap):
    torch.manual_seed(0)
    return nn.Sequential(wrap(nn.Linear(IN, OUT)), nn.ReLU(), nn.Linear(OUT, 10))


def _old_weight_norm(m):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.nn.utils.weight_norm(m)


def _old_spectral_norm(m):
    return torch.nn.utils.spectral_norm(m)


WRAPS = {
    "parametrizations.weight_norm": parametrizations.weight_norm,
    "weight_norm (old API)": _old_weight_norm,
}


@pytest.mark.parametrize("kind", sorted(WRAPS))
def test_weight_norm_effective_weight_has_the_planned_std(kind):
    model = _net(WRAPS[kind])
    plan = initlab.apply(model, "auto", seed=0)
    row = plan["0.weight"]
    assert row.std == pytest.approx(math.sqrt(2 / IN))  # He: a ReLU follows, fan_in = IN
    assert "effective weight" in row.reason
    names = {r.name for r in plan}
    assert not any("original" in n or n.endswith(("_g", "_v")) for n in names), names
    with torch.no_grad():
        model(torch.randn(2, IN))  # the old API recomputes weight in a pre-hook
        w = model[0].weight
    assert float(w.std()) == pytest.approx(row.std, rel=6 / math.sqrt(2 * w.numel()) + 0.01)


def test_weight_norm_values_follow_the_keyed_stream():
    a, b = _net(WRAPS["parametrizations.weight_norm"]), _net(_old_weight_norm)
    initlab.apply(a, "auto", seed=4)
    initlab.apply(b, "auto", seed=4)
    with torch.no_grad():
        b(torch.randn(1, IN))
        assert torch.allclose(a[0].weight, b[0].weight, atol=1e-6)
    plain = _net(lambda m: m)
    initlab.apply(plain, "auto", seed=4)
    with torch.no_grad():
        assert torch.allclose(a[0].weight, plain[0].weight, atol=1e-6)


def test_orthogonal_parametrization_stays_orthogonal():
    model = nn.Sequential(parametrizations.orthogonal(nn.Linear(64, 64)), nn.Identity())
    plan = initlab.apply(model, "orthogonal", seed=0)
    assert plan["0.weight"].init.startswith("orthogonal")
    w = model[0].weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-4)
    # a gain the parametrization cannot represent is said, not silently dropped
    tanh = nn.Sequential(parametrizations.orthogonal(nn.Linear(64, 64)), nn.Tanh())
    with pytest.warns(UserWarning, match="parametrization cannot represent"):
        initlab.apply(tanh, "orthogonal", seed=0)


def test_spectral_norm_is_planned_and_said():
    model = _net(_old_spectral_norm)
    plan = initlab.apply(model, "auto", seed=0)
    assert "sigma_max" in plan["0.weight"].reason
    model.eval()
    with torch.no_grad():
        w = model[0].weight_orig
        assert float(w.std()) == pytest.approx(math.sqrt(2 / IN), rel=0.05)


def test_a_custom_parametrization():
    class Symmetric(nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(-1, -2)

        def right_inverse(self, w):
            return w.triu()

    layer = nn.Linear(32, 32)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    plan = initlab.apply(nn.Sequential(layer), "auto", seed=0)
    assert sorted(r.name for r in plan) == ["0.bias", "0.weight"]
    w = layer.weight.detach()
    assert torch.equal(w, w.T)


def test_salimans_kingma_data_dependent_init():
    layer = parametrizations.weight_norm(nn.Linear(16, 8))
    x = torch.randn(512, 16)
    out = weight_norm_data_init(layer, x, init_scale=0.5)
    assert torch.allclose(out.mean(0), torch.zeros(8), atol=1e-4)
    assert torch.allclose(out.std(0), torch.full((8,), 0.5), atol=1e-3)
    with pytest.raises(initlab.ConfigError, match="needs a weight-normalized 'weight'"):
        weight_norm_data_init(nn.Linear(4, 4), x[:, :4])
