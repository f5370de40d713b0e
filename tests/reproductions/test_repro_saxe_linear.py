"""saxe-linear: orthogonal deep linear nets learn in depth-independent time (fast)."""

from __future__ import annotations

import math

import pytest
import torch

import initlab
import initlab.reproductions as scenarios
from initlab.lab.stats import describe
from initlab.reproductions.saxe_linear import INITS, linear_net, loss_levels


def test_fast_variant_numbers_and_verdicts():
    res = scenarios.get("saxe-linear").run(scenarios.Context(fast=True))
    orth, gauss = res.checks
    steps = res.details["steps"]
    for check, label, bound, below in ((orth, "orthogonal", 1.0, True),
                                       (gauss, "gaussian", 1.0, False)):
        per = [math.log2(max(600 if a is None else a, 1) / max(600 if b is None else b, 1))
               for a, b in zip(steps[label]["16"], steps[label]["4"])]
        assert len(per) == 3 and check.values["n"] == 3
        assert check.values["per_seed"] == {str(i): pytest.approx(v) for i, v in enumerate(per)}
        lo, hi = describe(per).ci95
        assert check.values["ci95"] == pytest.approx([lo, hi])
        inside, outside = (hi <= bound, lo > bound) if below else (lo >= bound, hi < bound)
        assert check.status == ("PASS" if inside else "FAIL" if outside else "INCONCLUSIVE")
    # the effect itself, on the medians over the 3 seeds
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
