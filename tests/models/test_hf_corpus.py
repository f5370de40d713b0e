"""The real-model corpus, as a user types it: apply / materialize / plan on tiny HF configs.

Every family must work with no rules and no example input; values must be right where the
structure decides them (tied embeddings, Conv1D fans, fused q/k/v, custom norms, constants).
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402

import initlab  # noqa: E402

NAMES = sorted(corpus.CORPUS)
LMS = [n for n in NAMES if corpus.CORPUS[n].kind == "lm"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("name", NAMES)
def test_apply_auto_as_typed(name):
    model = corpus.build(name)
    plan = initlab.apply(model, "auto", seed=0)
    from initlab.policy.audit import effective_originals

    planned = {r.name for r in plan}
    behind = effective_originals(model)  # parametrized weights are planned by their effective name
    effective = {n for n, _ in model.named_parameters()} - {o for v in behind.values() for o in v}
    effective |= set(behind)
    assert planned <= effective
    # every tensor has an answer: a rule, the model's own init, or its kept values
    assert effective - planned == set(), sorted(effective - planned)[:5]
    for n, p in model.named_parameters():
        assert torch.isfinite(p).all(), n


@pytest.mark.parametrize("name", NAMES)
def test_materialize_equals_apply(name):
    ref = corpus.build(name)
    initlab.apply(ref, "auto", seed=3)
    meta = corpus.build(name, meta=True)
    initlab.materialize(meta, "auto", seed=3)
    got, want = dict(meta.named_parameters()), dict(ref.named_parameters())
    assert got.keys() == want.keys()
    keep = {r.name for r in initlab.plan(corpus.build(name), "auto") if r.init == "keep"}
    for n in want:
        if n in keep:  # the model's own values: drawn from torch's global RNG at build time
            continue
        assert torch.equal(got[n], want[n]), n
    bufs = dict(corpus.build(name).named_buffers())
    for n, b in meta.named_buffers():
        assert not b.is_meta, n
        assert torch.equal(b, bufs[n]), n


@pytest.mark.parametrize("name", [n for n in NAMES if corpus.CORPUS[n].tied])
def test_ties_kept_and_decided_once(name):
    model = corpus.build(name)
    plan = initlab.apply(model, "auto", seed=0)
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert emb.weight is head.weight
    row = next(r for r in plan if r.role == "tied_embedding")
    d = emb.weight.shape[1]
    assert row.std == pytest.approx(1 / math.sqrt(d))
    if emb.padding_idx is not None:
        assert torch.count_nonzero(emb.weight[emb.padding_idx]) == 0


@pytest.mark.parametrize("name", LMS)
def test_lm_loss_at_init_is_near_ln_vocab(name):
    model = corpus.build(name)
    initlab.apply(model, "auto", seed=0)
    batch = corpus.inputs(name, batch=4, seq=16)
    with torch.no_grad():
        loss = model(**batch, labels=batch["input_ids"]).loss
    assert loss <= 1.5 * math.log(corpus.VOCAB), float(loss)


def test_gpt2_conv1d_fans_and_fused_qkv():
    model = corpus.build("gpt2")
    plan = initlab.plan(model, "auto")
    d = model.config.n_embd
    fc = plan["transformer.h.0.mlp.c_fc.weight"]
    assert (fc.view, fc.shape, fc.fan_in, fc.fan_out) == ("T", (4 * d, d), d, 4 * d)
    proj = plan["transformer.h.0.mlp.c_proj.weight"]
    assert (proj.fan_in, proj.fan_out) == (4 * d, d)
    chunks = [r for r in plan if r.name == "transformer.h.0.attn.c_attn.weight"]
    assert [r.key.rpartition("[")[2] for r in chunks] == ["q]", "k]", "v]"]
    assert all((r.shape, r.fan_in, r.fan_out) == ((d, d), d, d) for r in chunks)
    initlab.apply(model, plan, seed=0)
    w = model.transformer.h[0].attn.c_attn.weight.detach()  # (in, out): q is columns 0:d
    assert w[:, :d].std() == pytest.approx(chunks[0].std, rel=0.1)


@pytest.mark.parametrize("name,param,heads", [
    ("phi3", "model.layers.0.self_attn.qkv_proj.weight", (4, 2, 16)),
    ("gpt_neox", "gpt_neox.layers.0.attention.query_key_value.weight", (4, 4, 16)),
    ("bloom", "transformer.h.0.self_attention.query_key_value.weight", (4, 4, 16)),
])
def test_fused_qkv_split_with_head_counts(name, param, heads):
    plan = initlab.plan(corpus.build(name), "auto")
    nq, nkv, hd = heads
    rows = [r for r in plan if r.name == param]
    assert [r.shape[0] for r in rows] == [nq * hd, nkv * hd, nkv * hd]


def test_custom_norms_by_behaviour():
    gemma = initlab.plan(corpus.build("gemma"), "auto")
    row = gemma["model.layers.0.input_layernorm.weight"]
    assert row.role == "norm_weight" and row.init.startswith("zeros")  # Gemma: x * (1 + w)
    llama = initlab.plan(corpus.build("llama"), "auto")
    assert llama["model.layers.0.input_layernorm.weight"].init.startswith("ones")
    t5 = initlab.plan(corpus.build("t5"), "auto")
    assert t5["encoder.block.0.layer.0.layer_norm.weight"].role == "norm_weight"


def test_model_constants_keep_their_values():
    clip = corpus.build("clip")
    initlab.apply(clip, "auto", seed=0)
    assert float(clip.logit_scale) == pytest.approx(clip.config.logit_scale_init_value)
    convnext = corpus.build("convnext")
    initlab.apply(convnext, "auto", seed=0)
    ls = convnext.convnext.encoder.stages[0].layers[0].layer_scale_parameter
    assert torch.allclose(ls, torch.full_like(ls, convnext.config.layer_scale_init_value))
    mamba = corpus.build("mamba")
    before = mamba.backbone.layers[0].mixer.dt_proj.bias.clone()
    initlab.apply(mamba, "auto", seed=0)
    after = mamba.backbone.layers[0].mixer.dt_proj.bias
    assert torch.count_nonzero(after) == after.numel()
    assert torch.allclose(before.exp().log(), after.exp().log()) or after.std() > 0


def test_moe_experts_per_expert_fans():
    model = corpus.build("mixtral")
    plan = initlab.plan(model, "auto")
    rows = [r for r in plan if r.name == "model.layers.0.mlp.experts.gate_up_proj"]
    n, inter, d = 4, model.config.intermediate_size, model.config.hidden_size
    assert len(rows) == 2 * n
    assert all((r.shape, r.fan_in, r.fan_out) == ((inter, d), d, inter) for r in rows)
    initlab.apply(model, plan, seed=0)
    w = model.model.layers[0].mlp.experts.gate_up_proj.detach()
    assert w[0, :inter].std() == pytest.approx(rows[0].std, rel=0.1)


def test_gpt2_preset_scales_llama_residual_projections():
    plan = initlab.plan(corpus.build("llama"), "gpt2")
    for name in ("model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.down_proj.weight"):
        assert plan[name].std == pytest.approx(0.02 / math.sqrt(2 * 2)), name
    assert plan["model.layers.0.self_attn.q_proj.weight"].std == pytest.approx(0.02)


def test_fused_gate_up_halves_get_their_own_activation():
    plan = initlab.plan(corpus.build("phi3"), "auto")
    gate = plan["model.layers.0.mlp.gate_up_proj.weight[gate]"]
    up = plan["model.layers.0.mlp.gate_up_proj.weight[up]"]
    assert "silu" in gate.reason and "no activation" in up.reason
    assert gate.std > up.std
