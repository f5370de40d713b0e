"""initlab.mup: classes and init per role, parameter groups, attach, and a plan that survives JSON."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import initlab
from initlab.errors import ConfigError, UnknownNameError
from initlab.scaling import mup
from initlab.scaling.models import Transformer, mlp

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))


def make(width):
    return mlp(width, d_in=10, d_out=3, depth=2)


def test_classes_and_init_std_per_role():
    p = mup.plan(make(256), base=make, base_width=64)
    params = p.meta["mup"]["params"]
    assert [params[n]["class"] for n in ("0.weight", "0.bias", "2.weight", "4.weight", "4.bias")] \
        == ["input", "vector", "hidden", "output", "fixed"]
    g = math.sqrt(2)
    assert p["0.weight"].std == pytest.approx(g / math.sqrt(10))        # input: fan_in fixed
    assert p["2.weight"].std == pytest.approx(g / math.sqrt(256))       # hidden: 1/fan_in
    assert p["4.weight"].std == pytest.approx(1 / math.sqrt(64) / 4)    # output: sigma0 / m
    assert p["0.bias"].init == "zeros()"


def test_classes_hold_at_the_base_width_itself():
    p = mup.plan(make(64), base=make, base_width=64, config=mup.MuP(readout_zero=True))
    assert p.meta["mup"]["params"]["2.weight"]["class"] == "hidden"
    assert p["4.weight"].init == "zeros()"
    assert p["2.weight"].std == pytest.approx(math.sqrt(2) / 8)


def test_no_base_is_standard_parametrization():
    p = initlab.plan(make(128), "mup")
    assert p["2.weight"].std == pytest.approx(math.sqrt(2) / math.sqrt(128))
    assert p["4.weight"].std == pytest.approx(1 / math.sqrt(128))


def test_adam_and_sgd_groups_keep_lr_times_wd_constant():
    model = make(256)
    p = mup.plan(model, base=make, base_width=64)
    adam = {tuple(g["names"]): g for g in mup.param_groups(model, p, 1e-2, weight_decay=0.1, optimizer="adamw")}
    assert adam[("2.weight",)]["lr"] == pytest.approx(1e-2 / 4)
    assert adam[("4.weight",)]["lr"] == pytest.approx(1e-2 / 4)
    assert adam[("0.weight",)]["lr"] == pytest.approx(1e-2)
    for g in adam.values():
        assert g["lr"] * g["weight_decay"] == pytest.approx(1e-3)
    sgd = {n: g for g in mup.param_groups(model, p, 0.1, weight_decay=0.0, optimizer="sgd") for n in g["names"]}
    assert sgd["0.weight"]["lr"] == pytest.approx(0.4)    # input: x m_out
    assert sgd["0.bias"]["lr"] == pytest.approx(0.4)      # vector: x m
    assert sgd["2.weight"]["lr"] == pytest.approx(0.1)    # hidden: m_out / m_in
    assert sgd["4.weight"]["lr"] == pytest.approx(0.025)  # output: 1 / m_in
    torch.optim.AdamW(mup.param_groups(model, p, 1e-2, weight_decay=0.1, optimizer="adamw")).step()


def test_plan_survives_json_and_nothing_is_stored_on_tensors():
    model = make(256)
    p = mup.plan(model, base=make, base_width=64)
    initlab.apply(model, p, seed=0)
    q = initlab.Plan.from_dict(json.loads(json.dumps(p.to_dict())))
    a = mup.param_groups(model, p, 1e-2, weight_decay=0.1)
    b = mup.param_groups(model, q, 1e-2, weight_decay=0.1)
    assert [(g["names"], g["lr"], g["weight_decay"]) for g in a] == \
        [(g["names"], g["lr"], g["weight_decay"]) for g in b]
    fresh = make(256)
    fresh.load_state_dict(model.state_dict())
    mup.attach(fresh, q)
    assert all(not vars(t) for t in fresh.parameters())
    assert torch.equal(fresh(torch.ones(2, 10)), model(torch.ones(2, 10)))


def test_attention_scale_is_one_over_d_and_equal_to_sp_at_the_base():
    def tf(width):
        return Transformer(width, depth=1, heads=1, vocab=16, seq=4)

    model = tf(128)
    p = mup.plan(model, base=tf, base_width=32)
    report = mup.attach(model, p)
    assert model.blocks[0].attn.scaling == pytest.approx(math.sqrt(32) / 128)
    assert report.attention_unset == []
    base = tf(32)
    mup.attach(base, mup.plan(base, base=tf, base_width=32))
    assert base.blocks[0].attn.scaling == pytest.approx(32 ** -0.5)
    sp = tf(128)
    mup.attach(sp, mup.plan(sp, base=tf, base_width=32, config=mup.MuP(attention="1/sqrt(d)")))
    assert sp.blocks[0].attn.scaling == pytest.approx(128 ** -0.5)


def test_query_zero_and_unsettable_attention_reported():
    class Net(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
            self.out = nn.Linear(width, 4)

        def forward(self, x):
            return self.out(self.attn(x, x, x)[0])

    p = mup.plan(Net(64), base=Net, base_width=32)
    assert p.meta["mup"]["attention_unset"] == ["attn"]
    assert "NOT set" in str(mup.attach(Net(64), p))
    tf = mup.plan(Transformer(64, depth=1), base=lambda w: Transformer(w, depth=1), base_width=32,
                  config=mup.MuP(query_zero=True))
    assert tf["blocks.0.attn.q_proj.weight"].init == "zeros()"
    assert tf["blocks.0.attn.k_proj.weight"].init != "zeros()"


def test_tied_embedding_keeps_input_init_and_gets_a_readout_multiplier():
    import corpus
    from transformers import AutoModelForCausalLM

    def gpt2(width):
        cfg = corpus.config("gpt2")
        cfg.n_embd, cfg.n_head = width, 2
        return AutoModelForCausalLM.from_config(cfg)

    model = gpt2(64).eval()
    p = mup.plan(model, base=gpt2, base_width=32, config=mup.MuP(std=0.02))
    info = p.meta["mup"]
    assert info["params"]["transformer.wte.weight"]["class"] == "input"
    assert p["transformer.wte.weight"].std == pytest.approx(0.02)
    assert info["readout_multipliers"] == {"lm_head": 0.5}
    assert p["transformer.h.0.mlp.c_fc.weight"].std == pytest.approx(0.02 / math.sqrt(2))
    ids = torch.randint(0, 100, (1, 6))
    before = model(ids).logits
    report = mup.attach(model, p)
    assert model.transformer.h[0].attn.scaling == pytest.approx(math.sqrt(16) / 32)
    assert report.readout_multipliers == {"lm_head": 0.5}
    model.transformer.h[0].attn.scaling = model.transformer.h[1].attn.scaling = 32 ** -0.5
    assert torch.allclose(model(ids).logits, 0.5 * before)
    report.remove()
    assert torch.allclose(model(ids).logits, before)


def test_errors():
    model = make(256)
    with pytest.raises(ConfigError, match=r"no μP parametrization \(plan of policy 'auto'\)"):
        mup.param_groups(model, initlab.plan(model, "auto"), 1e-2)
    p = mup.plan(model, base=make, base_width=64)
    with pytest.raises(UnknownNameError, match=r"Unknown optimizer 'adamx' for μP. Did you mean"):
        mup.param_groups(model, p, 1e-2, optimizer="adamx")
    with pytest.raises(ConfigError, match=r"'0.weight' has fan_out 32 below its base 64; expected the target"):
        mup.plan(make(32), base=make, base_width=64)
    with pytest.raises(ConfigError, match=r"needs the base width; got width=None"):
        mup.plan(model, base=make)
    with pytest.raises(ConfigError, match=r"MuP attention must be '1/d' or '1/sqrt\(d\)'; got 'd'"):
        mup.MuP(attention="d")
    with pytest.raises(ConfigError, match=r"'1.weight' is not in the base model; expected the base"):
        mup.plan(nn.Sequential(make(128), nn.Linear(3, 3)), base=nn.Sequential(make(64)))
