"""Jacobian spectrum: dynamical isometry at depth 64, width 400 (Pennington et al. 2017)."""

from __future__ import annotations

import math

import pytest
import torch
from _diag_models import batch, mlp
from torch import nn

import initlab
from initlab.diagnosis.spectrum import jacobian_spectrum

SW2, SB2, QSTAR, DEPTH, WIDTH = 1.0306, 4.65e-6, 1 / 64, 64, 400


def _critical_tanh(weights: str, act=nn.Tanh, seed: int = 0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers = []
    for _ in range(DEPTH):
        lin = nn.Linear(WIDTH, WIDTH)
        with torch.no_grad():
            if weights == "orthogonal":
                nn.init.orthogonal_(lin.weight, gain=math.sqrt(SW2), generator=g)
            else:
                nn.init.normal_(lin.weight, 0.0, math.sqrt(SW2 / WIDTH), generator=g)
            nn.init.normal_(lin.bias, 0.0, math.sqrt(SB2), generator=g)
        layers += [lin, act()]
    return nn.Sequential(*layers)


def _input(n: int = 3) -> torch.Tensor:
    # per-unit pre-activation variance q* at the first layer
    x, _ = batch((n, WIDTH), seed=7)
    return x * math.sqrt((QSTAR - SB2) / SW2)


def test_orthogonal_tanh_is_dynamically_isometric():
    r = initlab.diagnose(_critical_tanh("orthogonal"), _input(), spectrum="exact")
    assert r.spectrum["method"] == "exact"
    assert len(r.spectrum["values"]) == 3 * WIDTH
    assert r.spectrum["frac_in_0.5_2"] >= 0.9


def test_gaussian_tanh_and_relu_are_not():
    gauss = initlab.diagnose(_critical_tanh("gaussian"), _input(), spectrum="exact")
    assert gauss.spectrum["frac_in_0.5_2"] <= 0.15
    relu = _critical_tanh("orthogonal", act=nn.ReLU)
    with torch.no_grad():
        for m in relu:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, gain=math.sqrt(2), generator=torch.Generator())
    r = initlab.diagnose(relu, _input(), spectrum="exact")
    assert r.spectrum["frac_in_0.5_2"] <= 0.15


def test_orthogonal_linear_network_is_an_exact_isometry():
    model = mlp(DEPTH, WIDTH, None, "orthogonal", d_in=WIDTH, d_out=WIDTH, bias=False)
    r = initlab.diagnose(model, _input(2), spectrum="exact")
    values = torch.tensor(r.spectrum["values"])
    assert (values - 1).abs().max() < 1e-5


def test_lanczos_estimate_agrees_with_exact():
    x, _ = batch((2, 96))
    model = mlp(6, 96, nn.Tanh, "xavier", d_in=96, d_out=96)
    exact = jacobian_spectrum(model, x, "exact")
    est = jacobian_spectrum(model, x, "lanczos", steps=60, seed=1)
    assert abs(est["frac_in_0.5_2"] - exact["frac_in_0.5_2"]) < 0.15
    assert est["max"] == pytest.approx(exact["max"], rel=0.02)


def test_spectrum_auto_runs_on_small_models_and_is_opt_in_on_large():
    x, _ = batch((4, 20))
    small = initlab.diagnose(mlp(3, 16, nn.ReLU, "kaiming", d_in=20, d_out=5), x)
    assert small.spectrum is not None and small.spectrum["method"] == "exact"
    xb, _ = batch((2, 300))
    big = mlp(2, 300, nn.ReLU, "kaiming", d_in=300, d_out=300)
    assert initlab.diagnose(big, xb).spectrum is None
    assert initlab.diagnose(big, xb, spectrum="lanczos").spectrum["method"] == "lanczos"
    assert initlab.diagnose(big, xb, spectrum="off").spectrum is None


def test_spectrum_with_batchnorm_in_training_mode():
    from _diag_models import SmallCNN

    x, _ = batch((8, 1, 28, 28))
    r = initlab.diagnose(SmallCNN("kaiming", batchnorm=True), x, spectrum="exact")
    assert r.spectrum["samples"] == 4 and r.spectrum["out_dim"] == 10


def test_unknown_spectrum_method_is_an_error():
    x, _ = batch((4, 20))
    with pytest.raises(initlab.ConfigError, match=r"Unknown spectrum method 'svd'; expected one of"):
        initlab.diagnose(mlp(2, 8, nn.ReLU, "kaiming", d_in=20, d_out=3), x, spectrum="svd")
