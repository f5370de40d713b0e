"""materialize on real models: every buffer equal to a CPU build, off-meta tensors found,
ties kept, "keep" rows run the model's own init, no forward pass, the caller's RNG kept."""

import importlib

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from _tiny_hf import NAMES, build  # noqa: E402

import initlab  # noqa: E402
from initlab.errors import ConfigError  # noqa: E402

buffers_mod = importlib.import_module("initlab.policy.buffers")

COVER = initlab.Policy(rules=(initlab.Rule("normal(std=0.02)"),), on_unmatched="error")


def _ties(model):
    groups = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(n)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


@pytest.mark.parametrize("name", NAMES)
def test_buffers_equal_a_cpu_build(name):
    ref = build(name)
    model = initlab.materialize(build(name, "meta"), COVER, seed=3)
    ref_buffers = dict(ref.named_buffers())
    buffers = dict(model.named_buffers())
    assert list(buffers) == list(ref_buffers)
    for k, b in buffers.items():
        assert b.device.type == "cpu" and b.dtype == ref_buffers[k].dtype, k
        assert torch.equal(b, ref_buffers[k]), k
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    assert _ties(model) == _ties(ref)


@pytest.mark.parametrize("name", ["llama", "bert", "gpt2"])
def test_parameters_equal_apply_bit_for_bit(name):
    ref = build(name)
    initlab.apply(ref, COVER, seed=5)
    model = initlab.materialize(build(name, "meta"), COVER, seed=5)
    ref_sd = ref.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref_sd[k]), k


def test_known_hf_buffers_are_recomputed_without_the_models_init(monkeypatch):
    monkeypatch.setattr(buffers_mod, "native_init_fn", lambda model, name: None)
    for name in ("llama", "bert"):
        ref = build(name)
        model = initlab.materialize(build(name, "meta"), COVER, seed=0)
        labels = model._initlab_plans[-1].meta["materialized"]["buffers"]
        assert set(labels.values()) == {"recomputed (known HF buffer)"}
        for k, b in ref.named_buffers():
            assert torch.equal(model.get_buffer(k), b), k


def test_buffer_labels_name_the_models_own_init():
    model = initlab.materialize(build("llama", "meta"), COVER, seed=0)
    labels = model._initlab_plans[-1].meta["materialized"]["buffers"]
    assert labels["model.rotary_emb.inv_freq"].startswith("native: ")
    assert labels["model.rotary_emb.inv_freq"].endswith("._init_weights")


def test_a_parameter_created_off_meta_is_found_and_initialized():
    meta = build("wav2vec2", "meta")
    assert not meta.wav2vec2.masked_spec_embed.is_meta  # torch.Tensor(n) ignores the device
    before = meta.wav2vec2.masked_spec_embed.detach().clone()
    model = initlab.materialize(meta, COVER, seed=0)
    ref = build("wav2vec2", "cpu")
    initlab.apply(ref, COVER, seed=0)
    # initialized by the plan, as apply does: not silently kept
    assert torch.equal(model.wav2vec2.masked_spec_embed, ref.wav2vec2.masked_spec_embed)
    assert not torch.equal(model.wav2vec2.masked_spec_embed, before)
    # unless the caller says its values are to be kept (a loaded checkpoint)
    meta = build("wav2vec2", "meta")
    before = meta.wav2vec2.masked_spec_embed.detach().clone()
    model = initlab.materialize(meta, COVER, seed=0, keep={"wav2vec2.masked_spec_embed"})
    assert torch.equal(model.wav2vec2.masked_spec_embed, before)
    row = {r["name"]: r for r in initlab.audit(model).rows}["wav2vec2.masked_spec_embed"]
    assert row["provenance"] == "constructor, not meta"


def test_no_forward_and_the_callers_rng_is_kept():
    model = build("bart", "meta")
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    initlab.materialize(model, COVER, seed=0)
    assert calls == []
    assert torch.equal(torch.random.get_rng_state(), state)


def _keep_plan(model, key):
    plan = initlab.plan(model, COVER)
    for row in plan.rows:
        if row.name == key:
            row.init, row.rule, row.std = "keep", "keep", None
    return plan


def test_keep_rows_on_meta_run_the_models_own_init():
    model = build("llama", "meta")
    key = "model.layers.0.mlp.down_proj.weight"
    model = initlab.materialize(model, _keep_plan(model, key), seed=0)
    w = model.get_parameter(key)
    assert torch.isfinite(w).all() and abs(w.std().item() - 0.02) < 0.004  # initializer_range
    again = initlab.materialize(build("llama", "meta"), _keep_plan(build("llama", "meta"), key), seed=0)
    assert torch.equal(again.get_parameter(key), w)  # seeded from the initlab seed
    row = {r["name"]: r for r in initlab.audit(model).rows}[key]
    assert row["provenance"].startswith("native: ") and not row["problems"]


def test_keep_row_without_an_own_init_is_an_error():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.g = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.g

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), Scale())
    plan = initlab.plan(model, COVER)
    plan["1.g"].init = "keep"
    with pytest.raises(ConfigError, match=r"cannot keep 1 meta parameter\(s\) \(1\.g\).*Hint: add a Rule"):
        initlab.materialize(model, plan)
    assert model[0].weight.is_meta  # nothing was allocated


def test_constructor_values_kept_by_from_config_come_first():
    meta = build("llama", "meta")
    value = torch.arange(4.0)
    meta.__dict__["_initlab_constructor_values"] = {"model.rotary_emb.inv_freq": value}
    model = initlab.materialize(meta, COVER, seed=0)
    assert torch.equal(model.model.rotary_emb.inv_freq, value)
    assert {r["name"]: r for r in initlab.audit(model).rows}["model.rotary_emb.inv_freq"][
        "provenance"] == "constructor (kept values)"


def test_an_unfillable_buffer_names_the_fix():
    class Table(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("lut", torch.randn(3))

        def forward(self, x):
            return self.fc(x)

    with torch.device("meta"):
        model = Table()
    with pytest.raises(ConfigError, match=r"leave 1 tensor\(s\) uninitialized .*: lut\. Hint: .*"
                                          r"reset_buffers\(\) method \(tried: reset_running_stats"):
        initlab.materialize(model, COVER)
    assert model.fc.weight.is_meta


def test_a_strategy_that_fills_only_part_of_a_buffer_does_not_count():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("b", torch.zeros(4))

        def reset_buffers(self):
            self.b[:2] = 0.0

        def forward(self, x):
            return self.fc(x)

    with torch.device("meta"):
        model = Half()
    with pytest.raises(ConfigError, match=r"uninitialized .*: b\. Hint"):
        initlab.materialize(model, COVER)


class _DeviceFromParam(nn.Module):
    """timm SwinV2-CR's pattern: buffers computed on a parameter's device (its own and a
    child's), in ``_init_buffers`` called by the constructor."""

    def __init__(self, from_values: bool = False):
        super().__init__()
        self.from_values = from_values
        self.norm = nn.LayerNorm(4)
        self.logit_scale = nn.Parameter(torch.full((2,), 0.5))
        self.register_buffer("coords", torch.empty(3, 3))
        self.register_buffer("mask", None, persistent=False)
        self._init_buffers()

    def _init_buffers(self):
        device = self.logit_scale.device
        grid = torch.arange(3, device=device, dtype=torch.float32)
        coords = torch.log1p((grid[:, None] - grid[None, :]).abs())
        if self.from_values:   # a buffer that depends on a parameter's values
            coords = coords * self.logit_scale[0]
        self.coords.copy_(coords)
        self.register_buffer("mask", torch.ones(2, 2, device=self.norm.weight.device).tril(),
                             persistent=False)

    def forward(self, x):
        return self.norm(x) * self.logit_scale.sum()


def test_a_buffer_computed_on_a_parameters_device_is_filled():
    with torch.device("meta"):
        model = _DeviceFromParam()
    initlab.materialize(model, COVER)
    ref = _DeviceFromParam()
    for name, buf in ref.named_buffers():
        assert torch.equal(dict(model.named_buffers())[name], buf), name
    assert all(not p.is_meta for p in model.parameters())
    assert model.logit_scale is dict(model.named_parameters())["logit_scale"]


def test_a_buffer_computed_from_parameter_values_is_not_taken():
    with torch.device("meta"):
        model = _DeviceFromParam(from_values=True)
    with pytest.raises(ConfigError, match=r"uninitialized .*: coords \(coords: _init_buffers: "):
        initlab.materialize(model, COVER)
    assert model.logit_scale.is_meta and model.norm.weight.is_meta   # nothing was changed


def test_build_meta_keeps_constructor_buffers_and_computation():
    class Computed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            width = int(torch.round(torch.tensor(7.6)))  # computes while it builds
            self.fc = torch.nn.Linear(4, width)
            self.register_buffer("index", torch.arange(width).flip(0))  # no method refills it
            self.scale = torch.nn.Parameter(torch.full((width,), 0.1))

        def forward(self, x):
            return self.fc(x)[:, self.index] * self.scale

    with pytest.raises((NotImplementedError, RuntimeError)), torch.device("meta"):
        Computed()
    model = initlab.build_meta(Computed)
    assert model.fc.weight.is_meta and not model.index.is_meta
    initlab.materialize(model, "auto", seed=0)
    assert torch.equal(model.index, torch.arange(8).flip(0))
    assert torch.equal(model.scale, torch.full((8,), 0.1))  # the constructor's constant
    ref = Computed()
    initlab.apply(ref, "auto", seed=0)
    assert torch.equal(model.fc.weight, ref.fc.weight)
