"""LLM recipes: each checked against its reference formula; residual outputs found by shape."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

import initlab
from initlab.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
import corpus  # noqa: E402

D, L = 64, 2   # the corpus' tiny sizes
# model type -> (attention out, mlp out, mlp up or None, a q projection) of block 1
LAYOUTS = {
    "gpt2": ("transformer.h.1.attn.c_proj.weight", "transformer.h.1.mlp.c_proj.weight", None,
             "transformer.h.1.attn.c_attn.weight[q]"),
    "gpt_neox": ("gpt_neox.layers.1.attention.dense.weight",
                 "gpt_neox.layers.1.mlp.dense_4h_to_h.weight", None,
                 "gpt_neox.layers.1.attention.query_key_value.weight[q]"),
    "llama": ("model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
              "model.layers.1.mlp.up_proj.weight", "model.layers.1.self_attn.q_proj.weight"),
    "olmo": ("model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
             "model.layers.1.mlp.up_proj.weight", "model.layers.1.self_attn.q_proj.weight"),
    "bloom": ("transformer.h.1.self_attention.dense.weight",
              "transformer.h.1.mlp.dense_4h_to_h.weight", None,
              "transformer.h.1.self_attention.query_key_value.weight[q]"),
}


@pytest.fixture(scope="module")
def models():
    return {name: corpus.build(name, meta=True) for name in LAYOUTS}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_residual_outputs_found_by_structure_in_every_layout(models, name):
    attn_out, mlp_out, _, q = LAYOUTS[name]
    p = initlab.plan(models[name], "megatron")
    small = {r.key for r in p.rows if r.std is not None and math.isclose(r.std, 0.02 / math.sqrt(2 * L))}
    assert {attn_out, mlp_out, attn_out.replace(".1.", ".0."), mlp_out.replace(".1.", ".0.")} == small
    assert p[q].std == pytest.approx(0.02)


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_neox_small_init_and_wang_init(models, name):
    # EleutherAI/gpt-neox megatron/model/init_functions.py: small_init_init_method
    # std = sqrt(2 / (5 * dim)); wang_init_method std = 2 / n_layers / sqrt(dim)
    attn_out, mlp_out, _, q = LAYOUTS[name]
    p = initlab.plan(models[name], "neox_small_init")
    assert p[q].std == pytest.approx(math.sqrt(2 / (5 * D)))
    assert p[mlp_out].std == pytest.approx(2 / (L * math.sqrt(D)))
    assert p[attn_out].std == pytest.approx(2 / (L * math.sqrt(D)))


def test_olmo_mitchell(models):
    """Checked against allenai/OLMo olmo/initialization.py @ ce5f30d56e90 (``init_weights``,
    ``InitFnType.mitchell``: std = std_factor / sqrt(d), divided by sqrt(2 (layer_id + 1)) when
    layer_id is given, trunc_normal at +-3 std) and its callers in olmo/model.py @ e80587a4a891:
    ``OlmoBlock.reset_parameters`` (attn_out d = d_model, ff_out d = ff_out.in_features, both
    with layer_id), ``OlmoSequentialBlock`` / ``OlmoLlamaBlock.reset_parameters`` (att_proj,
    q/k/v, ff_proj: d = d_model, layer_id None), ``OLMo.reset_parameters`` (wte: std_factor 1
    unless scale_logits; wpe likewise; ff_out, the untied head: d = d_model, no layer_id)."""
    p = initlab.plan(models["olmo"], "olmo_mitchell")
    cut = str(initlab.get(f"trunc_normal_std(std={1 / math.sqrt(D)}, a=-3.0, b=3.0)"))
    assert p["model.embed_tokens.weight"].init == cut                      # wte, 1/sqrt(d_model)
    assert p["lm_head.weight"].init == cut                                 # ff_out (final_out)
    assert p["model.layers.1.mlp.gate_proj.weight"].init == cut            # ff_proj, no layer_id
    attn_out, mlp_out, _, q = LAYOUTS["olmo"]
    assert p[q].init == str(initlab.get(f"trunc_normal_std(std={1 / math.sqrt(D)}, a=-3.0, b=3.0)"))
    assert p[attn_out].init.startswith("trunc_normal_std") and "a=-3.0" in p[attn_out].init
    assert f"std={1 / math.sqrt(2 * D * 2)}" in p[attn_out].init
    assert f"std={1 / math.sqrt(2 * 128 * 2)}" in p[mlp_out].init            # ff_in = 128
    assert f"std={1 / math.sqrt(2 * 128 * 1)}" in p[mlp_out.replace('.1.', '.0.')].init


def test_olmo2_every_weight_002(models):
    p = initlab.plan(models["olmo"], "olmo2")
    mats = [r for r in p.rows if len(r.shape) == 2]
    assert mats and all(r.init == "normal(mean=0.0, std=0.02)" for r in mats)
    assert all(r.init == "ones()" for r in p.rows if r.role == "norm_weight")


def test_torchtitan_depth_init(models):
    # pytorch/torchtitan torchtitan/models/llama3/model.py: init_std = 0.02 / (2 * (layer_id + 1))
    # ** 0.5 for wo, w2, w3 (depth_init) else 0.02 / (2 * n_layers) ** 0.5; output
    # trunc_normal std dim ** -0.5, cutoff 3; embeddings normal std 1
    p = initlab.plan(models["llama"], "torchtitan_depth")
    attn_out, mlp_out, up, q = LAYOUTS["llama"]
    for key in (attn_out, mlp_out, up):
        assert f"std={0.02 / math.sqrt(2 * 2)}" in p[key].init
        assert f"std={0.02 / math.sqrt(2 * 1)}" in p[key.replace('.1.', '.0.')].init
    assert p[q].init == "trunc_normal(mean=0.0, std=0.02, a=-2.0, b=2.0)"
    assert p["model.layers.1.mlp.gate_proj.weight"].init == p[q].init
    assert p["lm_head.weight"].init == str(initlab.get(f"trunc_normal_std(std={D ** -0.5}, a=-3.0, b=3.0)"))
    assert p["model.embed_tokens.weight"].init == "normal(mean=0.0, std=1.0)"
    flat = initlab.plan(models["llama"], initlab.scaling.recipes.recipe("torchtitan_depth", depth_init=False))
    assert f"std={0.02 / math.sqrt(2 * L)}" in flat[up.replace('.1.', '.0.')].init


def test_deepnorm_and_t_fixup(models):
    # DeepNet (arXiv 2203.00555) decoder-only: beta = (8N)^(-1/4) on FFN, v, out; q, k gain 1
    p = initlab.plan(models["llama"], "deepnorm")
    beta = (8 * L) ** -0.25
    attn_out, mlp_out, up, q = LAYOUTS["llama"]
    for key in (attn_out, mlp_out, up, "model.layers.1.self_attn.v_proj.weight"):
        assert p[key].init == f"xavier_normal(gain={beta})"
    for key in (q, "model.layers.1.self_attn.k_proj.weight"):
        assert p[key].init == "xavier_normal(gain=1.0)"
    assert "alpha=(2N)^(1/4)=1.414" in p[attn_out].reason
    # T-Fixup (Huang et al. 2020): embeddings N(0, d^-1/2) and v, w, MLP x (9N)^(-1/4)
    t = initlab.plan(models["llama"], "t_fixup")
    f = (9 * L) ** -0.25
    assert t["model.embed_tokens.weight"].std == pytest.approx(D ** -0.5 * f)
    assert t[mlp_out].init == f"xavier_uniform(gain={f})"
    assert t[q].init == "xavier_uniform(gain=1.0)"


def test_small_init_emb_and_gpt2_llama(models):
    p = initlab.plan(models["llama"], "small_init_emb")
    assert p["model.embed_tokens.weight"].init == "uniform(a=-0.0001, b=0.0001)"
    g = initlab.plan(models["llama"], "gpt2")
    assert g[LAYOUTS["llama"][0]].std == pytest.approx(0.02 / math.sqrt(2 * L))


def test_recipe_values_apply_on_a_real_model():
    model = corpus.build("llama")
    initlab.apply(model, "megatron", seed=0)
    w = model.model.layers[1].mlp.down_proj.weight
    assert float(w.detach().std()) == pytest.approx(0.01, rel=0.05)
    assert torch.isfinite(w).all()


def test_no_blocks_is_an_error():
    with pytest.raises(ConfigError, match=r"Recipe 'megatron' found no transformer blocks in "
                                          r"Sequential; expected an nn.ModuleList"):
        initlab.plan(torch.nn.Sequential(torch.nn.Linear(4, 4)), "megatron")
