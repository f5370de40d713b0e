"""glorot: sigmoid top layer saturates; tanh statistics shrink with the standard init (fast)."""

from __future__ import annotations

import torch

import initlab.reproductions as scenarios
from initlab.reproductions.glorot import hidden_means, sigmoid_net, tanh_stats


def test_fast_variant_passes_with_numbers():
    res = scenarios.get("glorot").run(scenarios.Context(fast=True))
    assert res.passed, [c.measured for c in res.checks]
    assert len(res.checks) == 5
    assert "top layer mean 0.5" in res.checks[0].measured
    assert "std per layer [" in res.checks[2].measured
    rows = res.details["sigmoid_means"]
    assert rows[0]["step"] == 0 and len(rows[0]["means"]) == 4
    assert min(r["means"][-1] for r in rows) < 0.1


def test_sigmoid_net_starts_at_half_and_standard_init_bounds():
    torch.set_num_threads(1)
    model = sigmoid_net(64)
    w = model.fc2.weight
    assert w.abs().max() <= 1 / 64 ** 0.5 and w.abs().max() > 0.9 / 64 ** 0.5
    assert torch.equal(model.fc2.bias, torch.zeros(64))
    means = hidden_means(model, torch.randn(100, 1, 28, 28, generator=torch.Generator()
                                            .manual_seed(0)))
    assert all(abs(m - 0.5) < 0.05 for m in means)


def test_tanh_stats_standard_shrinks_normalized_flat():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    std = tanh_stats(x, y, "default")["act_std"]
    norm = tanh_stats(x, y, "xavier_uniform")["act_std"]
    assert len(std) == 5 and all(a > b for a, b in zip(std, std[1:]))
    assert std[-1] / std[0] < 0.3 < 0.5 < norm[-1] / norm[0]
