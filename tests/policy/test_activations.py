"""Activation detection: fx first, forward tracing on an example input as the fallback."""

import pytest
import torch
from _policy_models import ACT_FUNCS, Untraceable, cnn, mlp
from torch import nn

from initlab.policy.activations import _hook_detect, detect_activations

NAMES = {"0", "3", "5"}


@pytest.mark.parametrize("act", sorted(ACT_FUNCS))
def test_fx_finds_module_activations(act):
    found, method = detect_activations(mlp(act), NAMES)
    assert method == "fx"
    assert found["0"].name == act and found["3"].name == act
    assert found["5"].name == "none"  # the classifier feeds no nonlinearity


@pytest.mark.parametrize("act", sorted(ACT_FUNCS))
def test_fx_finds_functional_activations(act):
    found, _ = detect_activations(mlp(act, functional=True), {"fc1", "fc2", "head"})
    assert (found["fc1"].name, found["fc2"].name, found["head"].name) == (act, act, "none")


def test_leaky_relu_slope_is_read_from_the_module_and_the_call():
    assert detect_activations(mlp("leaky_relu"), NAMES)[0]["0"].param == pytest.approx(0.2)
    fm = mlp("leaky_relu", functional=True)
    assert detect_activations(fm, {"fc1"})[0]["fc1"].param == pytest.approx(0.2)


def test_dropout_norm_and_pooling_are_transparent():
    found, _ = detect_activations(cnn("relu"), {"0", "4", "7"})
    assert found["0"].name == "relu" and "BatchNorm2d" in found["0"].via
    assert found["4"].name == "relu" and found["7"].name == "none"
    found, _ = detect_activations(mlp("tanh"), {"3"})
    assert found["3"].name == "tanh"
    seq = nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.ReLU())
    assert "Dropout" in detect_activations(seq, {"0"})[0]["0"].via


def test_tensor_method_activation():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x).view(-1, 3).relu()

    assert detect_activations(M(), {"fc"})[0]["fc"].name == "relu"


def test_untraceable_model_without_an_example_input_is_read_from_its_structure():
    found, method = detect_activations(Untraceable(), {"a", "b"})
    assert method == "structure"
    assert found["a"].name == "tanh" and found["a"].via == "structure: tanh"
    assert found["b"].name == "none" and found["b"].via.startswith("structure: ")


def test_untraceable_model_falls_back_to_forward_tracing():
    found, method = detect_activations(Untraceable(), {"a", "b"}, torch.randn(2, 4))
    assert method == "hooks"
    assert found["a"].name == "tanh" and found["b"].name == "none"


def test_forward_tracing_agrees_with_fx():
    for act in ("relu", "gelu", "selu"):
        for model in (mlp(act), mlp(act, functional=True)):
            names = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
            fx, _ = detect_activations(model, names)
            hooks = _hook_detect(model, names, torch.randn(2, 8))
            assert {n: a.name for n, a in fx.items()} == {n: a.name for n, a in hooks.items()}


class _Scaled(nn.Module):
    """x * parameter is transparent (Fixup/ReZero/LayerScale); a * b (gating) is not."""

    def __init__(self):
        super().__init__()
        self.a, self.gate, self.b = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x):
        h = torch.relu(self.a(x) * self.scale / 2)
        return torch.relu(self.gate(h) * self.b(h))


def test_scaling_by_a_parameter_is_transparent_gating_is_not():
    names = {"a", "gate", "b"}
    fx, _ = detect_activations(_Scaled(), names)
    hooks = _hook_detect(_Scaled(), names, torch.randn(2, 4))
    for found in (fx, hooks):
        assert found["a"].name == "relu"
        assert found["gate"].name == "none" and found["b"].name == "none"
