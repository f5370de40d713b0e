"""completep-depth (fast): claims decided over seeds, with their numbers; the parametrization."""

from __future__ import annotations

import json
import math

import pytest
import torch

from initlab import reproductions
from initlab.lab.data import synthetic
from initlab.reproductions.completep_depth import BASE_DEPTH, ResMLP, train_loss


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("completep")
    return reproductions.get("completep-depth").run(reproductions.Context(fast=True, out=out)), out


def test_fast_variant_decides_its_claims_with_numbers(result):
    r, out = result
    assert [c.status in ("PASS", "FAIL", "INCONCLUSIVE") for c in r.checks] == [True] * 3
    assert all(c.passed == (c.status == "PASS") for c in r.checks)
    shift, drift, deep = (c.measured for c in r.checks)
    assert "95% CI [" in shift and "n = 3" in shift and "L=8: 2^" in shift
    assert "p = " in drift or "won " in drift
    assert "alpha=1 " in deep and "alpha=0 " in deep
    best = r.details["best_log2_lr"]
    assert set(best) == {"0.0", "0.5", "1.0"} and all(len(best[a]["8"]) == 3 for a in best)
    assert r.details["optimum_at_grid_edge"] == []     # the grid brackets every optimum
    losses = r.details["losses"]
    for a in losses:  # training learns: the best loss per depth is far below chance (ln 10)
        for per_seed in losses[a].values():
            assert all(min(c.values()) < 0.8 for c in per_seed)
    json.dumps(r.details)
    assert (out / "completep_depth.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def data():
    d = synthetic(256, 16, (1, 4, 4), 4, seed=0, noise=1.0)
    return d.train_x.reshape(256, -1), d.train_y


def test_alphas_agree_at_the_base_depth_and_differ_deeper(data):
    x, y = data
    kw = {"width": 16, "steps": 20, "batch": 32, "seed": 1}
    base = [train_loss(a, BASE_DEPTH, 2.0 ** -6, x, y, **kw) for a in (0.0, 0.5, 1.0)]
    assert base[0] == base[1] == base[2] and math.isfinite(base[0])
    deep = [train_loss(a, 8, 2.0 ** -6, x, y, **kw) for a in (0.0, 0.5, 1.0)]
    assert len(set(deep)) == 3
    assert train_loss(1.0, 8, 2.0 ** -6, x, y, **kw) == deep[2]      # reproducible


def test_resmlp_blocks_are_found_by_completep():
    from initlab.scaling import completep

    p = completep.plan(ResMLP(16, 8, d_in=8, d_out=4), base_depth=BASE_DEPTH, alpha=1.0)
    mult = p.meta["mup"]["branch_multipliers"]
    assert set(mult) == {f"blocks.{i}.mlp.2" for i in range(8)}
    assert all(v == pytest.approx(0.25) for v in mult.values())
