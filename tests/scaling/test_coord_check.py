"""initlab.coord_check: flat under a correct μP, failing on every seeded mistake (10 of 10 seeds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import initlab
from initlab.errors import ConfigError, UnknownNameError

sys.path.insert(0, str(Path(__file__).parent))
import _mistakes as M  # noqa: E402

SEEDS = range(10)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _check(case, seed):
    make, par, opt, lr, wd = case
    return initlab.coord_check(make, M.WIDTHS, M.batch(make, seed), par, opt, lr=lr, steps=3,
                               seed=seed, weight_decay=wd)


@pytest.mark.parametrize("name", list(M.CORRECT))
def test_correct_mup_is_healthy_for_every_seed(name):
    for seed in SEEDS:
        cc = _check(M.CORRECT[name], seed)
        assert cc.healthy, (name, seed, cc.problems)


@pytest.mark.parametrize("name", list(M.MISTAKES))
def test_seeded_mistake_fails_for_every_seed(name):
    failed = [not _check(M.MISTAKES[name], seed).healthy for seed in SEEDS]
    assert sum(failed) == 10, (name, failed)


def test_mistakes_are_named_in_the_problems():
    cc = _check(M.MISTAKES["unscaled Adam weight decay"], 0)
    assert any("lr x wd" in p and "2.weight" in p for p in cc.problems)
    cc = _check(M.MISTAKES["attention 1/sqrt(d) instead of 1/d"], 0)
    assert any("attn.scores" in p and "grows" in p for p in cc.problems)
    cc = _check(M.MISTAKES["unscaled embedding learning rate"], 0)
    assert any(p.startswith("step") and "of 0's output vanishes" in p for p in cc.problems)


def test_sp_output_grows_with_width_and_mup_stays_flat():
    make, x = M.make_mlp, M.batch(M.make_mlp, 0)
    sp = initlab.coord_check(make, M.WIDTHS, x, "sp", lr=1e-2)
    mu = initlab.coord_check(make, M.WIDTHS, x, "mup", lr=1e-2)
    assert not sp.healthy and sp.slope() > 0.5
    assert mu.healthy and abs(mu.slope()) < 0.25
    assert sp.slope(step=0) == pytest.approx(mu.slope(step=0), abs=0.6)  # both O(1) at init
    assert abs(mu.slope("2", stat="delta")) < 0.25 < sp.slope("2", stat="delta")


def test_any_policy_name_is_a_parametrization_with_one_learning_rate():
    cc = initlab.coord_check(M.make_mlp, M.WIDTHS, M.batch(M.make_mlp, 0), "kaiming", lr=1e-2)
    assert cc.parametrization == "kaiming" and not cc.healthy


def test_records_plot_and_json(tmp_path):
    cc = initlab.coord_check(M.make_mlp, [32, 64], M.batch(M.make_mlp, 0), "mup", steps=2)
    assert len(cc.values("<output>", "act", 0)) == 2
    stats = {r["stat"] for r in cc.records}
    assert stats == {"act", "delta", "dw"}
    assert set(cc.slopes("dw")) == {"0.weight", "2.weight", "4.weight"}
    d = json.loads(json.dumps(cc.to_dict()))
    assert d["widths"] == [32, 64] and d["healthy"] == cc.healthy
    cc.plot(tmp_path / "cc.png")
    assert (tmp_path / "cc.png").read_bytes()[:4] == b"\x89PNG"


def test_global_rng_untouched():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    initlab.coord_check(M.make_mlp, [32, 64], M.batch(M.make_mlp, 0), "mup", steps=1)
    assert torch.equal(torch.rand(3), expected)


def test_errors():
    x = M.batch(M.make_mlp, 0)
    with pytest.raises(ConfigError, match=r"at least two increasing widths; got \[64\]"):
        initlab.coord_check(M.make_mlp, [64], x)
    with pytest.raises(ConfigError, match=r"steps must be a positive integer; got 0"):
        initlab.coord_check(M.make_mlp, [32, 64], x, steps=0)
    with pytest.raises(UnknownNameError, match=r"Unknown optimizer 'adm'. Did you mean 'adam'"):
        initlab.coord_check(M.make_mlp, [32, 64], x, optimizer="adm")
    with pytest.raises(ConfigError, match=r"make_model\(32\) must return an nn.Module; got int"):
        initlab.coord_check(lambda w: 3, [32, 64], x, "sp")
