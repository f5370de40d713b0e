"""Presets beyond auto: families, torch_default, fixup, zero_residual, skipinit, gpt2, zero, delta_orthogonal."""

import math

import pytest
import torch
from _policy_models import Mixed, ResMLP, TinyGPT, mlp
from scipy import stats
from torch import nn

import initlab
from initlab.errors import ConfigError
from initlab.init import get
from initlab.policy import get_policy


def _zeros(t):
    return torch.count_nonzero(t).item() == 0


@pytest.mark.parametrize("family,prefix", [("xavier", "xavier_uniform("),
                                           ("kaiming", "kaiming_normal("),
                                           ("lecun", "lecun_normal("),
                                           ("orthogonal", "orthogonal(")])
def test_families_use_one_scheme_with_the_activation_gain(family, prefix):
    plan = initlab.plan(mlp("tanh"), family)
    for name in ("0.weight", "3.weight", "5.weight"):
        assert plan[name].init.startswith(prefix), plan[name]
    if family != "lecun":
        assert plan["0.weight"].gain == pytest.approx(5 / 3)
        assert plan["5.weight"].gain == pytest.approx(1.0)
    lstm = initlab.plan(Mixed(), family)["lstm.weight_hh_l0[0]"]
    assert lstm.init.startswith("orthogonal(")


def test_torch_default_matches_torch_distribution():
    """torch_default draws from the same distributions as PyTorch's constructors."""
    model = nn.Sequential(nn.Conv2d(64, 128, 3, groups=2), nn.Linear(300, 400))
    initlab.apply(model, "torch_default", seed=0)
    for layer, fan_in in ((model[0], 32 * 9), (model[1], 300)):
        bound = 1 / math.sqrt(fan_in)
        for t in (layer.weight, layer.bias):
            x = t.detach().flatten().double().numpy()
            assert abs(x).max() <= bound
    x = model[1].weight.detach().flatten().double().numpy()
    bound = 1 / math.sqrt(300)
    assert x.size >= 2**16
    assert stats.kstest(x, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3
    conv = model[0].weight.detach().flatten().double()  # uniform: std = bound / sqrt(3)
    assert abs(conv.std().item() * math.sqrt(3 * 32 * 9) - 1) < 6 / math.sqrt(2 * conv.numel())
    plan = initlab.plan(Mixed(), "torch_default")
    assert all(r.init.startswith("uniform(") for r in plan if r.name.startswith("lstm."))
    qkv = plan["mha.in_proj_weight[0]"]  # torch: xavier_uniform over the fused (24, 8) block
    assert qkv.init == str(get({"name": "uniform", "config": {"a": -math.sqrt(6 / 32),
                                                                       "b": math.sqrt(6 / 32)}}))
    assert plan["mha.out_proj.bias"].init == str(get("zeros"))


def test_fixup():
    model = ResMLP(d=8, blocks=4)
    plan = initlab.plan(model, "fixup")
    L, m = 4, 2
    he = math.sqrt(2 / 8)
    assert plan["blocks.0.fc1.weight"].std == pytest.approx(he * L ** (-1 / (2 * m - 2)))
    assert plan["blocks.0.fc2.weight"].init == str(get("zeros"))
    assert plan["head.weight"].init == str(get("zeros"))
    assert plan["head.bias"].init == str(get("zeros"))
    assert plan["stem.weight"].init.startswith("kaiming_normal(")
    assert plan["blocks.1.bias1a"].init == str(get("zeros"))
    assert plan["blocks.1.scale"].init == str(get("ones"))
    initlab.apply(model, plan, seed=0)
    out = model(torch.randn(5, 6))
    assert _zeros(out)  # Fixup: logits exactly 0 at init


def test_fixup_torchvision_style_blocks():
    class BasicBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
            self.downsample = nn.Conv2d(c, c, 1)

        def forward(self, x):
            return torch.relu(self.downsample(x) + self.conv2(torch.relu(self.conv1(x))))

    model = nn.Sequential(BasicBlock(4), BasicBlock(4), nn.Flatten(), nn.Linear(4 * 25, 3))
    plan = initlab.plan(model, "fixup")
    assert plan["0.conv2.weight"].init == str(get("zeros"))
    assert plan["0.conv1.weight"].std == pytest.approx(math.sqrt(2 / 36) * 2 ** -0.5)
    assert plan["0.downsample.weight"].init.startswith("kaiming_normal(")
    assert plan["3.weight"].init == str(get("zeros"))


def test_fixup_without_branches_says_how_to_mark_them():
    with pytest.raises(ConfigError, match=r"found no residual branches.*residual_branch = True"):
        initlab.plan(mlp("relu"), "fixup")


def test_zero_residual():
    plan = initlab.plan(ResMLP(norm=True), "zero_residual")
    assert plan["blocks.0.norm.weight"].init == str(get("zeros"))
    assert plan["blocks.0.fc2.weight"].init.startswith("kaiming_normal(")  # the norm is zeroed
    plan = initlab.plan(ResMLP(norm=False), "zero_residual")
    assert plan["blocks.2.fc2.weight"].init == str(get("zeros"))
    assert plan["head.weight"].init.startswith("xavier")


def test_skipinit_gates():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.gate = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x + self.gate * self.fc(x)

    assert initlab.plan(Gated(), "skipinit")["gate"].init == str(get("zeros"))
    assert initlab.plan(Gated(), "auto")["gate"].init == str(get("ones"))


def test_gpt2_and_a_user_glob_for_residual_projections():
    plan = initlab.plan(TinyGPT(n_layer=3), "gpt2")
    resid = 0.02 / math.sqrt(2 * 3)
    assert plan["h.1.c_proj.weight"].std == pytest.approx(resid)
    assert plan["h.1.mlp_proj.weight"].std == pytest.approx(0.02)  # not matched by default
    assert plan["wte.weight"].std == pytest.approx(0.02)
    assert plan["h.0.c_attn.bias"].init == str(get("zeros"))
    policy = get_policy("gpt2").with_options(residual=["*c_proj.weight", "*mlp_proj.weight"])
    plan = initlab.plan(TinyGPT(n_layer=3), policy)
    assert plan["h.2.mlp_proj.weight"].std == pytest.approx(resid)
    assert "n_layer=3" in plan["h.2.mlp_proj.weight"].reason


def test_zero_preset_is_deterministic_and_seed_free():
    a, b = mlp("relu"), mlp("relu")
    plan = initlab.apply(a, "zero", seed=0)
    initlab.apply(b, "zero", seed=99)
    assert all(r.init.startswith("zero_hadamard(") for r in plan if r.role == "weight")
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a[3].weight, torch.eye(16)) and torch.equal(a[5].weight, torch.eye(3, 16))
    expanding = initlab.init.zero_hadamard_(torch.empty(16, 8))  # m > n: the Hadamard form
    assert torch.equal(a[0].weight, expanding)


def test_delta_orthogonal_preset():
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, padding_mode="circular", bias=False),
                          nn.Tanh(), nn.Conv2d(8, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 3))
    plan = initlab.plan(model, "delta_orthogonal")
    assert plan["0.weight"].init.startswith("delta_orthogonal(")
    assert plan["2.weight"].init.startswith("orthogonal(") and "out < in" in plan["2.weight"].reason
    assert plan["4.weight"].init.startswith("orthogonal(")
    assert plan["2.bias"].init == str(get("zeros"))
    initlab.apply(model, plan, seed=0)
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        y = model[0].double()(x)
    torch.testing.assert_close(y.flatten(1).norm(dim=1), x.flatten(1).norm(dim=1), rtol=1e-5, atol=0)
