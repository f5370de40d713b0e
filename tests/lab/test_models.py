"""Built-in models: shapes, structure, configuration errors, activations, user factories."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from initlab.errors import ConfigError, UnknownNameError
from initlab.lab import models

IMG = (1, 28, 28)


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name,kwargs,shape", [
    ("seed-cnn", {}, (1, 28, 28)),
    ("seed-cnn", {}, (3, 32, 32)),
    ("mlp", {}, (1, 28, 28)),
    ("mlp", {"depth": 3, "width": 32, "activation": "tanh"}, (20,)),
    ("plain-deep", {"depth": 5, "width": 16}, (1, 28, 28)),
    ("plain-deep", {"kind": "cnn", "depth": 4, "width": 8, "activation": "gelu"}, (3, 16, 16)),
    ("resnet-nonorm", {"blocks": 3, "width": 32}, (1, 28, 28)),
    ("resnet-nonorm", {"kind": "conv", "blocks": 2, "width": 8}, (3, 16, 16)),
    ("blitz-cnn", {}, (3, 32, 32)),
    ("blitz-cnn", {}, (1, 28, 28)),
])
def test_forward_shapes(name, kwargs, shape):
    net = models.build(name, shape, 7, **kwargs)
    out = net(torch.randn(4, *shape))
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()


def test_seed_cnn_structure():
    net = models.build("seed-cnn", IMG, 10)
    assert tuple(net.conv1.weight.shape) == (16, 1, 3, 3) and net.conv1.padding == (1, 1)
    assert tuple(net.fc.weight.shape) == (10, 16 * 14 * 14)
    assert _n_params(net) == 16 * 9 + 16 + 16 * 196 * 10 + 10


def test_mlp_default_is_784_512_256_10_relu():
    net = models.build("mlp", IMG, 10)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256),
                                                                  (256, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 2
    assert [n for n, _ in net.named_children()] == ["flatten", "fc1", "act1", "fc2", "act2", "fc3"]


def test_plain_deep_has_no_norm_and_no_skip():
    net = models.build("plain-deep", IMG, 10, depth=20, width=8, activation="tanh")
    assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 21
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 20
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm)
                   for m in net.modules())


def test_resnet_nonorm_is_fixup_ready():
    net = models.build("resnet-nonorm", IMG, 10, blocks=5, width=16)
    branches = [m for m in net.modules() if getattr(m, "residual_branch", False)]
    assert len(branches) == 5
    names = dict(net.named_parameters())
    for scalar in ("bias1a", "bias1b", "bias2a", "bias2b", "scale"):
        assert names[f"blocks.0.branch.{scalar}"].shape == (1,)
    assert names["blocks.0.branch.scale"].item() == 1.0
    # a zero last layer makes every block the identity map (what Fixup relies on)
    x = torch.randn(3, *IMG)
    with torch.no_grad():
        for b in branches:
            b.layer2.weight.zero_()
            b.layer2.bias.zero_()
        h = torch.relu(net.stem(net.flatten(x)))
        torch.testing.assert_close(net.blocks(h), h)
    plain = models.build("resnet-nonorm", IMG, 10, blocks=2, width=8, scalars=False)
    assert not any(p.numel() == 1 for p in plain.parameters())


def test_blitz_cnn_adapts_to_input():
    net = models.build("blitz-cnn", (3, 32, 32), 10)
    assert tuple(net.fc1.weight.shape) == (120, 16 * 5 * 5)
    assert tuple(net.conv1.weight.shape) == (6, 3, 5, 5)
    net = models.build("blitz-cnn", (1, 28, 28), 10)
    assert tuple(net.fc1.weight.shape) == (120, 16 * 4 * 4)
    with pytest.raises(ConfigError, match=r"'blitz-cnn' needs images of at least 16x16; got 8x8"):
        models.build("blitz-cnn", (1, 8, 8), 10)


def test_activation_table():
    for name in ("relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid", "selu", "elu",
                 "identity", "linear", "Leaky-ReLU"):
        assert isinstance(models.activation(name), nn.Module)
    assert isinstance(models.activation("linear"), nn.Identity)
    with pytest.raises(UnknownNameError, match=r"Unknown activation 'rleu'. Did you mean "
                                               r"'relu'\?"):
        models.build("mlp", IMG, 10, activation="rleu")


def test_config_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown model 'mpl'. Did you mean 'mlp'\? "
                                               r"Available: \['blitz-cnn'"):
        models.build("mpl", IMG, 10)
    with pytest.raises(ConfigError, match=r"Model 'mlp' does not accept \['blocks'\]"):
        models.build("mlp", IMG, 10, blocks=3)
    with pytest.raises(ConfigError, match=r"got both widths=\[8\] and depth=2"):
        models.build("mlp", IMG, 10, widths=[8], depth=2)
    with pytest.raises(ConfigError, match=r"'plain-deep': depth must be a positive integer; "
                                          r"got 0"):
        models.build("plain-deep", IMG, 10, depth=0)
    with pytest.raises(ConfigError, match=r"kind must be 'mlp' or 'conv'; got 'cnn'"):
        models.build("resnet-nonorm", IMG, 10, kind="cnn")
    with pytest.raises(ConfigError, match=r"'seed-cnn' needs an image input_shape \(C, H, W\); "
                                          r"got \(784,\)"):
        models.build("seed-cnn", (784,), 10)
    assert models.available() == ["blitz-cnn", "mlp", "plain-deep", "resnet-nonorm", "seed-cnn"]


def test_user_factory(tmp_path, monkeypatch):
    (tmp_path / "my_models_for_initlab.py").write_text(
        "import torch.nn as nn\n"
        "def make(input_shape, num_classes, hidden=4):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], hidden),\n"
        "                         nn.ReLU(), nn.Linear(hidden, num_classes))\n"
        "def no_shape(width=3):\n"
        "    return nn.Linear(width, 2)\n"
        "def not_a_model():\n"
        "    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    net = models.build("my_models_for_initlab:make", (5,), 3, hidden=6)
    assert net(torch.randn(2, 5)).shape == (2, 3) and net[1].out_features == 6
    assert models.build("my_models_for_initlab:no_shape", (5,), 3).in_features == 3
    with pytest.raises(UnknownNameError, match=r"Module 'my_models_for_initlab' has no factory "
                                               r"'mak'.*Did you mean 'make'\?.*\['make', "
                                               r"'no_shape', 'not_a_model'\]"):
        models.build("my_models_for_initlab:mak", (5,), 3)
    with pytest.raises(ConfigError, match=r"does not accept \['depth'\]; expected some of "
                                          r"\['hidden'\]"):
        models.build("my_models_for_initlab:make", (5,), 3, depth=2)
    with pytest.raises(ConfigError, match=r"returned int; expected a torch.nn.Module"):
        models.build("my_models_for_initlab:not_a_model", (5,), 3)
    with pytest.raises(UnknownNameError, match=r"Cannot import module 'no_such_mod_xyz' for "
                                               r"model 'no_such_mod_xyz:f'"):
        models.build("no_such_mod_xyz:f", (5,), 3)
    with pytest.raises(ConfigError, match=r"is not MODULE:FACTORY"):
        models.build("my_models_for_initlab:", (5,), 3)
    sys.modules.pop("my_models_for_initlab", None)
