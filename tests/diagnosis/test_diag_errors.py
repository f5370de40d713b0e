"""Bad input, non-finite networks, and the model left exactly as it was."""

from __future__ import annotations

import pytest
import torch
from _diag_models import SmallCNN, batch, mlp
from torch import nn

import initlab
from initlab.reproductions.matmul_chain import chain_model


def test_wrong_input_shape_names_the_first_layer_and_the_shape():
    x, _ = batch((4, 3, 32, 32))
    with pytest.raises(initlab.ConfigError, match=(
            r"Input of shape \(4, 3, 32, 32\) does not fit the model: its first layer 'conv1' "
            r"is Conv2d\(1, 8, .*\) and expects \(N, 1, H, W\); got shape \(4, 3, 32, 32\)")):
        initlab.diagnose(SmallCNN("kaiming"), x)
    x, _ = batch((4, 30))
    with pytest.raises(initlab.ConfigError, match=r"first layer '0' is Linear\(in_features=20, "
                       r".*expects \(N, \.\.\., 20\); got shape \(4, 30\)"):
        initlab.diagnose(mlp(2, 8, nn.ReLU, "kaiming", d_in=20, d_out=3), x)


def test_non_finite_input_is_an_error():
    x, _ = batch((4, 20))
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    with pytest.raises(initlab.ConfigError, match=r"Input x has non-finite values: got 2 NaN/Inf "
                       r"of 80 elements; expected finite values"):
        initlab.diagnose(mlp(2, 8, nn.ReLU, "kaiming", d_in=20, d_out=3), x)


class _Functional(nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2


def test_model_without_leaf_modules_is_an_error():
    with pytest.raises(initlab.ConfigError, match=r"Model _Functional has no leaf modules to "
                       r"hook: got a module with no submodules and no parameters"):
        initlab.diagnose(_Functional(), torch.ones(2, 3))
    with pytest.raises(initlab.ConfigError, match=r"Model Sequential has no leaf modules"):
        initlab.diagnose(nn.Sequential(), torch.ones(2, 3))


def test_not_a_module_or_not_a_tensor():
    with pytest.raises(initlab.ConfigError, match=r"diagnose needs an nn.Module; got type"):
        initlab.diagnose(nn.Linear, torch.ones(2, 3))
    with pytest.raises(initlab.ConfigError, match=r"diagnose needs x as a torch.Tensor, a tuple "
                       r"of positional inputs or a dict of keyword inputs; got list"):
        initlab.diagnose(nn.Linear(3, 2), [[1.0, 2.0, 3.0]])


def test_bad_targets_for_cross_entropy():
    x, _ = batch((4, 20))
    with pytest.raises(initlab.ConfigError, match=r"Targets y do not fit cross entropy on the "
                       r"output: got y \(3,\) torch.int64 for output \(4, 3\)"):
        initlab.diagnose(mlp(2, 8, nn.ReLU, "kaiming", d_in=20, d_out=3), x,
                         torch.zeros(3, dtype=torch.long))


def test_overflowing_chain_reports_non_finite_with_the_first_layer():
    for seed in range(3):
        model = chain_model("normal", std=1.0, depth=40, width=512, seed=seed)
        x, _ = batch((1, 512), seed=seed)
        r = initlab.diagnose(model, x)
        v = r.verdict("non_finite")
        assert v is not None and [x.name for x in r.verdicts] == ["non_finite"]
        assert v.layers[0] in ("26", "27", "28", "29")
        first_bad = next(row for row in r.layers if row.get("nonfinite"))
        assert first_bad["layer"] == v.layers[0]


def test_non_finite_loss_is_a_verdict_not_a_crash():
    x, y = batch((4, 20), classes=3)
    r = initlab.diagnose(mlp(2, 8, nn.ReLU, "kaiming", d_in=20, d_out=3), x, y,
                         loss_fn=lambda out, t: out.sum() * float("inf"))
    assert r.verdict("non_finite").layers == ("loss",)
    assert not r.healthy


class _Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        self.bn(self.drop(self.fc(x)))
        raise ValueError("boom in forward")


def _snapshot(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [b.clone() for b in model.buffers()], [p.grad for p in model.parameters()])


def test_state_restored_and_hooks_removed_when_forward_raises():
    model = _Exploding().eval()
    model.fc.weight.requires_grad_(False)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="boom in forward"):
        initlab.diagnose(model, torch.randn(8, 4, generator=torch.Generator().manual_seed(0)))
    after = _snapshot(model)
    assert before[0] == after[0] and before[1] == after[1]
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2]))
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_state_restored_after_a_normal_run_and_grads_untouched():
    model = SmallCNN("kaiming", batchnorm=True)
    model.train()
    model.fc.eval()
    model.conv1.weight.requires_grad_(False)
    sentinel = torch.full_like(model.conv2.weight, 7.0)
    model.conv2.weight.grad = sentinel
    before = _snapshot(model)
    state = torch.get_rng_state()
    x, y = batch((16, 1, 28, 28))
    r = initlab.diagnose(model, x, y)
    after = _snapshot(model)
    assert before[0] == after[0] and before[1] == after[1]
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2]))  # BN running stats
    assert model.conv2.weight.grad is sentinel and model.conv1.weight.grad is None
    assert torch.equal(torch.get_rng_state(), state)  # global RNG neither read nor advanced
    assert "weight.grad_norm" in r.layer("conv1")  # frozen params are diagnosed too
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_dropout_is_off_and_results_are_deterministic():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))
    x, _ = batch((8, 16))
    r1, r2 = initlab.diagnose(model, x, seed=1), initlab.diagnose(model, x, seed=2)
    assert r1.layer("2")["std"] == r1.layer("1")["std"]  # dropout is the identity
    assert r1.layers == r2.layers


def test_in_place_activations_and_repeated_modules():
    act = nn.ReLU(inplace=True)
    model = nn.Sequential(nn.Linear(8, 8), act, nn.Linear(8, 8), act, nn.Linear(8, 2))
    x, _ = batch((32, 8))
    r = initlab.diagnose(model, x)
    names = [row["layer"] for row in r.layers]
    assert names == ["0", "1", "2", "1#2", "4"]
    assert r.layer("1")["pre_std"] == pytest.approx(r.layer("0")["std"])
    assert r.layer("0")["grad_norm"] > 0 and r.layer("1")["grad_norm"] > 0
