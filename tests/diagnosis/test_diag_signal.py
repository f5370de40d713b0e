"""Signal-propagation checks of issue 4: Glorot & Bengio 2010, He et al. 2015, symmetry."""

from __future__ import annotations

import pytest
import torch
from _diag_models import SmallCNN, batch, mlp
from torch import nn

import initlab
from initlab.diagnosis.verdicts import signal_path


def _std_ratio(report) -> float:
    path = signal_path(report.layers)
    return path[-1]["std"] / path[0]["std"]


def test_glorot_tanh_uniform_sqrt_n_vanishes_xavier_does_not():
    x, _ = batch((256, 1000))
    # 5 hidden tanh layers of 1000 (and a linear read-out)
    bad = initlab.diagnose(mlp(6, 1000, nn.Tanh, "unif_sqrt_n", d_in=1000, d_out=10), x)
    good = initlab.diagnose(mlp(6, 1000, nn.Tanh, "xavier_uniform", d_in=1000, d_out=10), x)
    assert len(signal_path(bad.layers)) == 5
    assert _std_ratio(bad) < 0.2
    assert bad.verdict("vanishing_forward") is not None
    assert _std_ratio(good) > 0.5
    assert not {v.name for v in good.verdicts} & {"vanishing_forward", "vanishing_gradient"}


def test_he_30_layer_relu_xavier_vanishes_kaiming_healthy():
    x, y = batch((128, 128))
    rx = initlab.diagnose(mlp(30, 128, nn.ReLU, "xavier", d_in=128, d_out=10), x, y)
    rk = initlab.diagnose(mlp(30, 128, nn.ReLU, "kaiming", d_in=128, d_out=10), x, y)
    gx, gk = rx.layers[0]["weight.grad_norm"], rk.layers[0]["weight.grad_norm"]
    assert gk / gx > 1e3
    v = rx.verdict("vanishing_gradient")
    assert v is not None and v.layers[0] == "1" and "kaiming" in v.suggestion
    assert rk.healthy, rk.verdicts
    for seed in (1, 2, 3):  # healthy is not luck of one draw
        r = initlab.diagnose(mlp(30, 128, nn.ReLU, "kaiming", d_in=128, d_out=10, seed=seed), x, y)
        assert r.healthy, (seed, r.verdicts)


def test_constant_init_cnn_breaks_symmetry_kaiming_does_not():
    x, y = batch((32, 1, 28, 28))
    rc = initlab.diagnose(SmallCNN("constant"), x, y)
    rk = initlab.diagnose(SmallCNN("kaiming"), x, y)
    v = rc.verdict("broken_symmetry")
    assert v is not None
    assert {"conv1", "conv2"} <= set(v.layers)
    assert "fc" not in v.layers  # the read-out gets distinct gradients from the targets
    assert rc.layer("act1")["dup_units_frac"] == 1.0
    assert rk.verdict("broken_symmetry") is None
    assert rk.layer("act1")["dup_units_frac"] == 0.0


def test_dead_and_saturated_units_are_counted():
    x, _ = batch((64, 32))
    model = mlp(3, 64, nn.ReLU, "kaiming", d_in=32, d_out=4)
    with torch.no_grad():
        model[0].bias[:48] = -100.0  # 48 of 64 units never fire
    r = initlab.diagnose(model, x)
    assert r.layer("1")["dead_frac"] == 48 / 64
    assert r.verdict("dead_units").layers == ("1",)
    sat = mlp(3, 64, nn.Tanh, "kaiming", d_in=32, d_out=4)
    with torch.no_grad():
        sat[0].weight.mul_(50)
    r = initlab.diagnose(sat, x)
    assert r.layer("1")["saturated_frac"] > 0.9
    assert "1" in r.verdict("saturation").layers
    # pre-activation statistics of the layer feeding the activation
    assert abs(r.layer("1")["pre_std"] - r.layer("0")["std"]) < 1e-9


def test_dead_units_are_channels_for_conv_outputs():
    x, _ = batch((8, 1, 28, 28))
    model = SmallCNN("kaiming")
    with torch.no_grad():
        model.conv1.bias[:2] = -1e3  # two channels dead everywhere
    r = initlab.diagnose(model, x)
    assert r.layer("act1")["dead_frac"] == 2 / 8


def _policy_ready() -> bool:
    try:
        from initlab.init import Initializer  # noqa: F401
        from initlab.policy import apply  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _policy_ready(), reason="initlab.init / initlab.policy not importable")
def test_init_argument_compares_weight_std_with_the_plan():
    x, y = batch((64, 64))
    model = mlp(4, 64, nn.ReLU, "xavier", d_in=64, d_out=10)
    r = initlab.diagnose(model, x, y, init="kaiming_normal(nonlinearity='relu')", seed=3)
    row = r.layer("0")
    assert row["weight.expected_std"] == pytest.approx(2 ** 0.5 / 8, rel=1e-6)
    assert 0.9 < row["weight.std_ratio"] < 1.1
    assert r.meta["init"].startswith("kaiming_normal")
    again = mlp(4, 64, nn.ReLU, "xavier", d_in=64, d_out=10)
    initlab.diagnose(again, x, y, init="kaiming_normal(nonlinearity='relu')", seed=3)
    assert torch.equal(again[0].weight, model[0].weight)  # init applied in place, by seed



def test_zero_layers_reading_diverse_inputs_are_not_broken_symmetry():
    # Fixup / zero-residual style: a zero read-out after random layers learns at step one
    x, y = batch((64, 32))
    model = mlp(4, 64, nn.ReLU, "kaiming", d_in=32, d_out=10)
    with torch.no_grad():
        model[6].weight.zero_()
    for r in (initlab.diagnose(model, x, y), initlab.diagnose(model, x)):
        assert r.layer("6")["weight.dup_rows_frac"] == 1.0  # identical now...
        assert r.verdict("broken_symmetry") is None  # ...but it reads diverse features
    # a zero layer before it: the read-out reads zeros, nothing can ever move
    with torch.no_grad():
        model[4].weight.zero_()
    v = initlab.diagnose(model, x, y).verdict("broken_symmetry")
    assert v is not None and v.layers == ("6",)
