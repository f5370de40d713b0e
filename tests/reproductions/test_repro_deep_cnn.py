"""deep-cnn: delta-orthogonal circular conv preserves the norm; the fast variant's numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab
import initlab.reproductions as scenarios
from initlab.lab.stats import describe, paired_test
from initlab.reproductions.deep_cnn import VanillaCNN, init_cnn, norm_preservation


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    return scenarios.get("deep-cnn").run(scenarios.Context(fast=True))


def test_fast_variant_numbers(result):
    crit, norm, delta, gauss, better = result.checks
    assert crit.status == "PASS" and norm.status == "PASS", (crit.measured, norm.measured)
    assert crit.values["sigma_w2"] == pytest.approx(1.18, abs=0.01)
    assert abs(crit.values["chi_1"] - 1) < 1e-4
    assert norm.values["n"] >= 3 and norm.values["held"] == norm.values["n"]
    assert all(max(v["value"]) <= 1e-5 for v in norm.values["per_seed"].values())
    runs = result.details["runs"]
    assert {r["scheme"] for r in runs} == {"delta_orthogonal", "gaussian"}
    assert all(len(r["epoch_train_acc"]) == 7 for r in runs)
    acc = {s: {r["seed"]: r["train_acc"] for r in runs if r["scheme"] == s}
           for s in ("delta_orthogonal", "gaussian")}
    assert all(set(a) == {0, 1, 2} and all(0.0 <= v <= 1.0 for v in a.values())
               for a in acc.values())
    # The training claims do not reproduce at CPU scale (docs/reproductions.md): their
    # verdicts are not asserted, but they must follow the 95% CI of the recorded per-seed
    # accuracies (recomputed here from the runs) against the claimed bound.
    for check, scheme, bound, below in ((delta, "delta_orthogonal", 0.9, False),
                                        (gauss, "gaussian", 0.5, True)):
        d = describe(list(acc[scheme].values()), clip=(0.0, 1.0))
        assert check.values["n"] == 3 and check.values["mean"] == pytest.approx(d.mean)
        lo, hi = d.ci95
        assert check.values["ci95"] == pytest.approx([lo, hi])
        inside, outside = (hi <= bound, lo > bound) if below else (lo >= bound, hi < bound)
        assert check.status == ("PASS" if inside else "FAIL" if outside else "INCONCLUSIVE")
    t = paired_test([acc["delta_orthogonal"][s] for s in range(3)],
                    [acc["gaussian"][s] for s in range(3)])
    assert better.values["delta"] == pytest.approx(t.delta)
    assert better.values["p_value"] == pytest.approx(t.p_value)
    assert better.status == ("INCONCLUSIVE" if t.p_value >= 0.05 else
                             "PASS" if t.delta > 0 else "FAIL")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("c_in", "c_out", "gain"), [(16, 16, 1.0), (8, 32, 1.3), (3, 3, 0.7)])
def test_delta_orthogonal_circular_conv_preserves_norm(dtype, c_in, c_out, gain):
    assert norm_preservation(c_in, c_out, gain, dtype=dtype) <= 1e-5


def test_norm_check_fails_for_gaussian_kernels():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 12, 12, generator=g, dtype=torch.float64)
    circ = nn.Conv2d(16, 16, 3, padding=1, padding_mode="circular", bias=False).double()
    nn.init.normal_(circ.weight, 0, math.sqrt(1 / 144), generator=g)
    ratio = circ(x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert (ratio - 1).abs().max() > 1e-3


def test_init_cnn_variances_and_policy_agree():
    model = VanillaCNN(1, 16, 4)
    init_cnn(model, "gaussian", 1.2, 1e-3, seed=0)
    w = torch.cat([c.weight.flatten() for c in model.convs[1:]])
    assert w.std().item() == pytest.approx(math.sqrt(1.2 / 144), rel=0.05)
    init_cnn(model, "delta_orthogonal", 1.2, 1e-3, seed=0)
    centre = model.convs[1].weight[:, :, 1, 1]
    assert torch.allclose(centre.T @ centre, 1.2 * torch.eye(16), atol=1e-5)
    # the delta_orthogonal policy uses the same initializer on these convs
    plan = initlab.plan(VanillaCNN(1, 16, 4), "delta_orthogonal")
    assert all(r.init.startswith("delta_orthogonal") for r in plan.rows
               if r.name.startswith("convs") and r.name.endswith("weight"))
