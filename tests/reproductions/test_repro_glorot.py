"""glorot: sigmoid top layer saturates; tanh statistics shrink with the standard init (fast)."""

from __future__ import annotations

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.reproductions.glorot import hidden_means, sigmoid_net, tanh_stats


def test_fast_variant_passes_with_numbers():
    torch.set_num_threads(1)
    res = scenarios.get("glorot").run(scenarios.Context(fast=True))
    assert [c.status for c in res.checks] == [scenarios.Status.PASS] * 6, \
        [c.measured for c in res.checks]
    assert res.status is scenarios.Status.PASS
    top, low, act_std, act_norm, grad_std, grad_norm = (c.values for c in res.checks)
    for v in (top, low, act_std, act_norm, grad_std, grad_norm):
        assert v["n"] == 3 and set(v["per_seed"]) == {"0", "1", "2"}
    # the CI decides: it lies on the claimed side of the bound
    assert top["upper"] == 0.1 and top["ci95"][1] < 0.1 < 0.3 < low["ci95"][0]
    assert act_std["ci95"][1] < 0.3 and grad_std["ci95"][1] < 0.3
    assert act_norm["ci95"][0] > 0.5 and grad_norm["ci95"][0] > 0.5
    # the per-seed figures are the ones recorded in the details
    rows = res.details["sigmoid_means"]
    assert set(rows) == {"0", "1", "2"}
    for s, seed_rows in rows.items():
        assert seed_rows[0]["step"] == 0 and len(seed_rows[0]["means"]) == 4
        assert abs(seed_rows[0]["means"][-1] - 0.5) < 0.05
        assert top["per_seed"][s] == min(r["means"][-1] for r in seed_rows)
        std = res.details["tanh"][s]["standard"]["act_std"]
        assert act_std["per_seed"][s] == pytest.approx(std[-1] / std[0])
    # seeds differ (the seed reaches init and batch order)
    assert len(set(top["per_seed"].values())) == 3


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
