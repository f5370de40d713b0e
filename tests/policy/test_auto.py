"""The `auto` preset: the scheme, gain and fans it picks for each kind of layer."""

import math

import pytest
import torch
from _policy_models import ACT_FUNCS, Mixed, cnn, mlp
from scipy import stats
from torch import nn

import initlab
from initlab.init import get

EXPECTED = {  # activation -> (initializer name, gain)
    "relu": ("kaiming_normal", math.sqrt(2)),
    "leaky_relu": ("kaiming_normal", math.sqrt(2 / (1 + 0.2**2))),
    "gelu": ("variance_scaling", 1.5335),
    "silu": ("variance_scaling", 1.6765),
    "tanh": ("xavier_uniform", 5 / 3),
    "sigmoid": ("xavier_uniform", 1.0),
    "selu": ("lecun_normal", 1.0),
}


@pytest.mark.parametrize("functional", [False, True])
@pytest.mark.parametrize("act", sorted(ACT_FUNCS))
def test_auto_picks_scheme_and_gain_for_mlps(act, functional):
    model = mlp(act, functional=functional)
    plan = initlab.plan(model, "auto")
    first = plan["fc1.weight" if functional else "0.weight"]
    head = plan["head.weight" if functional else "5.weight"]
    name, gain = EXPECTED[act]
    assert first.init.startswith(name + "("), first.init
    assert first.gain == pytest.approx(gain, rel=1e-3)
    assert act in first.reason
    fan_in, fan_out = 8, 16
    expected_std = {"kaiming_normal": gain / math.sqrt(fan_in),
                    "variance_scaling": gain / math.sqrt(fan_in),
                    "xavier_uniform": gain * math.sqrt(2 / (fan_in + fan_out)),
                    "lecun_normal": 1 / math.sqrt(fan_in)}[name]
    assert first.std == pytest.approx(expected_std, rel=1e-3)
    assert head.init.startswith("xavier_uniform(") and head.gain == 1.0
    assert "no activation" in head.reason
    bias = plan["fc1.bias" if functional else "0.bias"]
    assert bias.init == str(get("zeros"))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_auto_cnn_with_depthwise_conv(act):
    plan = initlab.plan(cnn(act), "auto")
    assert (plan["0.weight"].fan_in, plan["0.weight"].fan_out) == (27, 72)
    depthwise = plan["4.weight"]  # Conv2d(8, 8, 3, groups=8): weight (8, 1, 3, 3)
    assert (depthwise.fan_in, depthwise.fan_out) == (9, 9)  # torch would say fan_out 72
    assert depthwise.groups == 8
    assert plan["1.weight"].init == str(get("ones"))
    assert plan["1.bias"].init == str(get("zeros"))


def test_transposed_conv_fans():
    model = nn.Sequential(nn.ConvTranspose2d(6, 4, 3, groups=2), nn.ReLU())
    row = initlab.plan(model, "auto")["0.weight"]  # weight (6, 2, 3, 3)
    assert row.layout == "conv_transpose"
    assert (row.fan_in, row.fan_out) == (3 * 9, 2 * 9)
    assert row.std == pytest.approx(math.sqrt(2 / 27), rel=1e-6)


def test_recurrent_and_attention_chunks():
    model = Mixed()
    plan = initlab.plan(model, "auto")
    rows = [r for r in plan if r.name == "lstm.weight_ih_l0"]
    assert [r.chunk for r in rows] == [(i, 4) for i in range(4)]
    assert all(r.shape == (7, 5) and r.init.startswith("xavier_uniform(") for r in rows)
    assert (rows[0].fan_in, rows[0].fan_out) == (5, 7)  # per gate, not (5, 28)
    hh = [r for r in plan if r.name == "lstm.weight_hh_l1"]
    assert len(hh) == 4 and all(r.init.startswith("orthogonal(") for r in hh)
    forget = plan["lstm.bias_ih_l0[1]"]
    assert forget.init == str(get("ones")) and "forget" in forget.reason
    assert plan["lstm.bias_hh_l0[1]"].init == str(get("zeros"))
    assert all(plan[f"lstm.bias_ih_l0[{i}]"].init == str(get("zeros")) for i in (0, 2, 3))
    assert len([r for r in plan if r.name == "gru.weight_hh_l0"]) == 3
    assert all(plan[f"gru.bias_ih_l0[{i}]"].init == str(get("zeros")) for i in range(3))
    qkv = [r for r in plan if r.name == "mha.in_proj_weight"]
    assert [r.chunk for r in qkv] == [(0, 3), (1, 3), (2, 3)]
    assert all((r.fan_in, r.fan_out) == (8, 8) for r in qkv)  # torch's fused block: (8, 24)


def test_applied_lstm_values():
    model = Mixed()
    initlab.apply(model, "auto", seed=0)
    lstm = model.lstm
    b = lstm.bias_ih_l0 + lstm.bias_hh_l0
    assert torch.equal(b[7:14], torch.ones(7)) and torch.equal(b[:7], torch.zeros(7))
    for g in range(4):  # each recurrent gate block is orthogonal on its own
        w = lstm.weight_hh_l0[g * 7:(g + 1) * 7].detach()
        torch.testing.assert_close(w @ w.T, torch.eye(7), atol=1e-5, rtol=0)
    assert torch.equal(model.emb.weight[2], torch.zeros(8))  # padding_idx row stays 0


def test_applied_kaiming_statistics():
    """2**16+ samples: the drawn weights have He's std (relative tol ~ 6/sqrt(2n)) and shape."""
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 2))
    initlab.apply(model, "auto", seed=1)
    w = model[0].weight.detach().flatten().double()
    n = w.numel()
    assert n >= 2**16
    std = math.sqrt(2 / 256)
    assert abs(w.std().item() / std - 1) < 6 / math.sqrt(2 * n)
    assert stats.kstest((w / std).numpy(), "norm").pvalue > 1e-3


def test_applied_xavier_tanh_statistics():
    model = nn.Sequential(nn.Linear(256, 512), nn.Tanh(), nn.Linear(512, 2))
    initlab.apply(model, "auto", seed=2)
    w = model[0].weight.detach().flatten().double()
    bound = 5 / 3 * math.sqrt(6 / (256 + 512))
    assert w.abs().max().item() <= bound
    assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 6 / math.sqrt(2 * w.numel())
    assert stats.kstest(w.numpy(), "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3


def test_exact_gain_option_for_tanh():
    policy = initlab.policy.get_policy("auto").with_options(exact_gain=True)
    row = initlab.plan(mlp("tanh"), policy)["0.weight"]
    assert row.gain == pytest.approx(1.5925, rel=1e-3) and "exact" in row.reason
