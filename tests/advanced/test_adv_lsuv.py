"""LSUV: reaches the tolerance on every layer type, leaves the model as it found it."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from initlab.calibrate import LSUVWarning, lsuv_
from initlab.errors import ConfigError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _outputs(model, batch, modules):
    """Each module's output variance on batch (independent of lsuv_'s own hooks)."""
    seen = {}

    def hook(name):
        def fn(mod, args, out):
            out = out[0] if isinstance(out, tuple) else out
            seen.setdefault(name, float(out.var(unbiased=False)))

        return fn

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        with torch.no_grad():
            model.eval()
            model(batch)
    finally:
        for h in handles:
            h.remove()
    return seen


def _no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(64, 10))


def test_mlp_reaches_tolerance_and_records_every_layer():
    model = _mlp()
    x = torch.randn(256, 20, generator=_gen()) * 3.0
    result = lsuv_(model, x, tol=0.05)
    assert [r.name for r in result] == ["0.weight", "2.weight", "5.weight"]
    assert result.converged and all(r.status == "converged" for r in result)
    var = _outputs(model, x, {n: model[int(n)] for n in ("0", "2", "5")})
    for v in var.values():
        assert abs(v - 1.0) < 0.05
    assert result["2.weight"].variance == pytest.approx(var["2"], rel=1e-5)
    assert result.to_dict()["layers"][0]["name"] == "0.weight"
    assert "2.weight" in str(result)


def test_cnn_skips_norm_layers_and_leaves_their_statistics_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 16, 3, stride=2), nn.GroupNorm(4, 16), nn.ReLU(),
                          nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    x = torch.randn(32, 3, 16, 16, generator=_gen(1))
    result = lsuv_(model, x)
    assert [r.name for r in result] == ["0.weight", "3.weight", "7.weight"]
    assert result.converged
    assert torch.equal(model[1].running_mean, torch.zeros(8))  # eval mode: no BN update
    assert torch.equal(model[4].weight, torch.ones(16))
    var = _outputs(model, x, {"0": model[0], "3": model[3], "7": model[7]})
    assert all(abs(v - 1.0) < 0.1 for v in var.values())


def test_conv_transpose_and_1d_3d_layers():
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 4, stride=2), nn.Tanh(),
                          nn.ConvTranspose2d(6, 3, 3, groups=3))
    x = torch.randn(8, 4, 8, 8, generator=_gen(2))
    result = lsuv_(model, x, tol=0.02)
    assert result.converged and len(result) == 2
    var = _outputs(model, x, {"0": model[0], "2": model[2]})
    assert all(abs(v - 1.0) < 0.02 for v in var.values())
    for model, x in [
        (nn.Sequential(nn.Conv1d(3, 5, 3), nn.ReLU(), nn.Conv1d(5, 5, 3)), torch.randn(4, 3, 20)),
        (nn.Sequential(nn.Conv3d(2, 4, 2), nn.ConvTranspose3d(4, 2, 2)), torch.randn(2, 2, 6, 6, 6)),
    ]:
        result = lsuv_(model, x * 4)
        assert result.converged and len(result) == 2


def test_multihead_attention_scales_each_in_projection_chunk_and_out_proj():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
    layer.train()
    x = torch.randn(8, 10, 32, generator=_gen(3)) * 5
    fast = torch.backends.mha.get_fastpath_enabled()
    result = lsuv_(layer, x, tol=0.05)
    names = [r.name for r in result]
    assert names[:4] == [f"self_attn.in_proj_weight[{i}]" for i in range(3)] + [
        "self_attn.out_proj.weight"]
    assert set(names[4:]) == {"linear1.weight", "linear2.weight"}
    assert result.converged
    assert torch.backends.mha.get_fastpath_enabled() == fast
    assert layer.training and layer.self_attn.training
    # each chunk of the fused projection has unit output variance on its own input
    e = 32
    with torch.no_grad():
        h = layer.norm1(x) if layer.norm_first else x
        w, b = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias
        for i in range(3):
            out = nn.functional.linear(h, w[i * e:(i + 1) * e], b[i * e:(i + 1) * e])
            assert abs(float(out.var(unbiased=False)) - 1.0) < 0.05


def test_separate_kv_projections_tuple_batch_and_center_bias():
    attn = nn.MultiheadAttention(16, 2, kdim=8, vdim=8, batch_first=True)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attn
            self.head = nn.Linear(16, 4)

        def forward(self, q, kv):
            return self.head(self.attn(q, kv, kv)[0])

    model = Wrap()
    q, kv = torch.randn(4, 5, 16, generator=_gen(4)), torch.randn(4, 7, 8, generator=_gen(5)) + 2
    result = lsuv_(model, (q, kv), center_bias=True)
    assert [r.name for r in result][:3] == ["attn.q_proj_weight", "attn.k_proj_weight",
                                            "attn.v_proj_weight"]
    assert result.converged
    with torch.no_grad():
        out = model.head(model.attn(q, kv, kv)[0])
    assert out.mean(dim=(0, 1)).abs().max() < 1e-4  # centred per channel


def test_restores_modes_and_removes_hooks_when_forward_raises():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)

        def forward(self, x):
            x = self.a(x)
            raise RuntimeError("boom in forward")

    model = Boom()
    model.train()
    model.b.eval()
    fast = torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(RuntimeError, match="boom in forward"):
        lsuv_(model, torch.randn(8, 4))
    assert model.training and model.a.training and not model.b.training
    assert _no_hooks(model)
    assert torch.backends.mha.get_fastpath_enabled() == fast


def test_zero_variance_layer_is_reported_by_name_not_divided():
    class Dead(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(4, 8)
            self.second = nn.Linear(8, 8)

        def forward(self, x):
            return self.second(self.first(x) * 0.0)

    model = Dead()
    with pytest.warns(LSUVWarning, match=r"'second\.weight' \(zero_variance: 0\.0\)"):
        result = lsuv_(model, torch.randn(16, 4, generator=_gen()))
    rec = result["second.weight"]
    assert rec.status == "zero_variance" and not rec.converged and rec.iterations == 0
    assert torch.isfinite(model.second.weight).all()
    assert not result.converged
    with pytest.raises(ConfigError, match=r"layer 'second\.weight' has output variance 0\.0"):
        lsuv_(Dead(), torch.randn(16, 4), strict=True)


def test_non_finite_output_is_reported():
    model = nn.Sequential(nn.Linear(3, 3))
    x = torch.tensor([[1.0, float("inf"), 0.0]] * 4)
    with pytest.warns(LSUVWarning, match=r"'0\.weight' \(non_finite"):
        result = lsuv_(model, x)
    assert result[0].status == "non_finite"


def test_not_converged_is_flagged_with_a_warning():
    model = nn.Sequential(nn.Linear(8, 8))
    with torch.no_grad():
        model[0].bias.copy_(torch.arange(8.0) * 3)  # bias spread alone has variance >> 1
    with pytest.warns(LSUVWarning, match=r"did not reach the tolerance .*'0\.weight'"):
        result = lsuv_(model, torch.randn(32, 8, generator=_gen()), orthonormal=False,
                               max_iter=3)
    assert result[0].status == "not_converged" and result[0].iterations == 3


def test_deterministic_no_global_rng_no_autograd_history():
    x = torch.randn(64, 20, generator=_gen(7))
    a, b, c = _mlp(), _mlp(), _mlp()
    state = torch.get_rng_state()
    lsuv_(a, x, seed=3)
    lsuv_(b, x, seed=3)
    lsuv_(c, x, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
        assert pa.is_leaf and pa.grad is None and pa.requires_grad
    assert not torch.equal(a[0].weight, c[0].weight)
    # orthonormal pre-init: rows of the first layer stay orthogonal after the scaling
    w = a[0].weight.detach()
    gram = w.T @ w
    assert torch.allclose(gram, gram[0, 0] * torch.eye(20), atol=1e-5)


def test_dict_batch_and_unused_layer():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)

        def forward(self, inputs):
            return self.used(inputs)

    result = lsuv_(Model(), {"inputs": torch.randn(16, 4)})
    assert result["used.weight"].converged
    assert result["unused.weight"].status == "not_called"
    assert result.converged  # layers the forward never calls do not count


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": 0.0}, r"tol must be a number in \(0, 1\); got 0\.0"),
        ({"tol": "0.1"}, r"tol must be a number in \(0, 1\); got '0\.1'"),
        ({"max_iter": 0}, r"max_iter must be an integer >= 1; got 0"),
        ({"max_iter": 2.5}, r"max_iter must be an integer >= 1; got 2\.5"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        lsuv_(nn.Linear(2, 2), torch.randn(4, 2), **kwargs)


def test_models_without_layers_meta_models_and_non_modules():
    with pytest.raises(ConfigError, match=r"found no layer to scale in Sequential"):
        lsuv_(nn.Sequential(nn.ReLU(), nn.LayerNorm(4)), torch.randn(2, 4))
    with pytest.raises(ConfigError, match=r"meta device.*initlab\.materialize"):
        lsuv_(nn.Linear(2, 2, device="meta"), torch.randn(2, 2))
    with pytest.raises(ConfigError, match=r"needs a torch\.nn\.Module; got function"):
        lsuv_(lambda x: x, torch.randn(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lsuv_(nn.Linear(2, 2), torch.randn(64, 2, generator=_gen()))
