"""saxe-linear: orthogonal deep linear nets learn in depth-independent time (fast)."""

from __future__ import annotations

import torch

import initlab
import initlab.reproductions as scenarios
from initlab.reproductions.saxe_linear import INITS, linear_net, loss_levels


def test_fast_variant_passes_with_numbers():
    res = scenarios.get("saxe-linear").run(scenarios.Context(fast=True))
    assert res.passed, [c.measured for c in res.checks]
    orth, gauss = res.checks
    assert "depth 4:" in orth.measured and "depth 16:" in orth.measured
    assert "ratio" in gauss.measured
    assert res.details["ratio"]["orthogonal"] < 2 < res.details["ratio"]["gaussian"]
    assert res.details["loss_star"] < res.details["threshold"] < res.details["loss_zero"]


def _product_singular_values(init: str, depth: int) -> torch.Tensor:
    net = linear_net(32, 32, depth, out=32)
    initlab.apply(net, init, seed=0)
    prod = torch.eye(32, dtype=torch.float64)
    for layer in net:
        prod = layer.weight.detach().double() @ prod
    return torch.linalg.svdvals(prod)


def test_products_orthogonal_isometric_gaussian_skewed():
    torch.set_num_threads(1)
    s = _product_singular_values(INITS["orthogonal"], 16)
    assert torch.allclose(s, torch.ones_like(s), atol=1e-5)
    s = _product_singular_values(INITS["gaussian"], 16)
    assert float(s.max() / s.min()) > 1e3


def test_loss_levels_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    t = x @ torch.randn(5, 3, generator=g)
    best, zero = loss_levels(x, t)
    assert best < 1e-10 < zero
