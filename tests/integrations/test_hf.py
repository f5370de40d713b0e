"""initlab.hf.from_config: meta build, one materialize pass, policy "hf", partial checkpoints."""

import math

import pytest
import torch

import initlab
from initlab import rng
from initlab.errors import ConfigError

tf = pytest.importorskip("transformers")

V = 512


def _llama(**kw):
    return tf.LlamaConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, vocab_size=V, **kw)


def _gpt2():
    return tf.GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=V, n_positions=64,
                         bos_token_id=0, eos_token_id=0)


def _bert():
    return tf.BertConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, vocab_size=V, max_position_embeddings=64)


def _t5():
    return tf.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=1, num_heads=4, vocab_size=V,
                       decoder_start_token_id=0)


def _clip():
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=V, bos_token_id=0, eos_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)
    return tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


CONFIGS = {"llama": _llama, "gpt2": _gpt2, "bert": _bert, "t5": _t5, "clip": _clip}


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_lazy_attribute():
    assert initlab.hf.from_config is not None
    assert "hf" not in initlab.__all__ or hasattr(initlab, "hf")


def test_hf_policy_is_the_same_on_any_thread_count_and_run():
    before = rng.get_num_threads()
    try:
        rng.set_num_threads(1)
        one = _state(initlab.hf.from_config(_llama(), policy="hf", seed=0))
        rng.set_num_threads(2)
        two = _state(initlab.hf.from_config(_llama(), policy="hf", seed=0))
    finally:
        rng.set_num_threads(before)
    _equal(one, two)
    _equal(one, _state(initlab.hf.from_config(_llama(), policy="hf", seed=0)))
    other = _state(initlab.hf.from_config(_llama(), policy="hf", seed=1))
    assert not torch.equal(one["model.layers.0.mlp.up_proj.weight"],
                           other["model.layers.0.mlp.up_proj.weight"])


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_parameters_off_meta_and_buffers_equal_a_cpu_build(kind):
    model = initlab.hf.from_config(CONFIGS[kind](), policy="hf", seed=0)
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    ref = dict(type(model)(CONFIGS[kind]()).named_buffers())  # a plain CPU build
    assert ref or kind in ("gpt2", "t5")  # these have no buffers
    mine = dict(model.named_buffers())
    for name, buf in ref.items():
        assert torch.equal(mine[name], buf), name


def test_hf_policy_reproduces_the_models_own_distributions():
    model = initlab.hf.from_config(_gpt2(), policy="hf", seed=0)
    proj = model.transformer.h[0].mlp.c_proj.weight.detach().double()
    want, n = 0.02 / math.sqrt(2 * 2), proj.numel()
    assert n >= 2**14
    assert abs(proj.std().item() / want - 1) < 6 / math.sqrt(2 * n)
    assert torch.all(model.transformer.h[0].ln_1.weight == 1)
    assert torch.all(model.transformer.h[0].attn.c_attn.bias == 0)
    assert model.lm_head.weight is model.transformer.wte.weight  # ties kept


def test_padding_row_and_clip_constant():
    model = initlab.hf.from_config(_llama(pad_token_id=5), policy="hf", seed=0)
    emb = model.model.embed_tokens.weight
    assert torch.all(emb[5] == 0) and emb[4].abs().sum() > 0
    cfg = _clip()
    clip = initlab.hf.from_config(cfg, policy="hf", seed=0)
    assert clip.logit_scale.item() == pytest.approx(cfg.logit_scale_init_value, rel=1e-6)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("policy", ["auto", "hf"])
def test_lm_loss_at_init(kind, policy):
    model = initlab.hf.from_config(CONFIGS[kind](), policy=policy, seed=0)
    x = torch.randint(0, V, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = model(input_ids=x, labels=x).loss.item()
    assert math.isfinite(loss) and loss <= 1.5 * math.log(V)


def test_only_missing_loads_the_state_dict_and_initializes_the_rest():
    full = initlab.hf.from_config(_llama(), policy="hf", seed=7)
    sd = {k: v for k, v in full.state_dict().items() if "layers.1." not in k}
    model = initlab.hf.from_config(_llama(), policy="hf", seed=0, state_dict=sd, only="missing")
    mine = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(mine[k], v), k
    w = mine["model.layers.1.mlp.up_proj.weight"]
    assert not torch.equal(w, full.state_dict()["model.layers.1.mlp.up_proj.weight"])
    assert 0.015 < w.std().item() < 0.025


def test_dtype():
    model = initlab.hf.from_config(_llama(), policy="hf", seed=0, dtype=torch.bfloat16)
    assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16


def test_config_dict():
    model = initlab.hf.from_config({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2,
                                    "vocab_size": 100, "n_positions": 16}, policy="hf")
    assert model.transformer.wte.weight.shape == (100, 32)


@pytest.mark.parametrize("kwargs, match", [
    ({"only": "missing"}, r"only='missing' needs the loaded weights; got state_dict=None"),
    ({"state_dict": {}}, r"state_dict= is only used with only='missing'; got only=None"),
    ({"only": "all", "state_dict": {}}, r"from_config supports only='missing'; got only='all'"),
    ({"state_dict": {"nope.weight": torch.zeros(1)}, "only": "missing"},
     r"state_dict has 1 key\(s\) the model lacks: nope.weight"),
])
def test_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        initlab.hf.from_config(_gpt2(), policy="hf", **kwargs)


def test_bad_config():
    with pytest.raises(ConfigError, match=r"needs a transformers config or a dict with 'model_type'; "
                                          r"got list"):
        initlab.hf.from_config([1, 2])
    with pytest.raises(ConfigError, match=r"Unknown model_type 'nope'"):
        initlab.hf.from_config({"model_type": "nope"})
