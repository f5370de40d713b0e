"""initlab.policy.native: the model's own init, recorded without writing, run when asked."""

import math

import pytest
import torch
from torch import nn

import initlab
from initlab.policy.native import native_init_fn, native_specs, run_native

tf = pytest.importorskip("transformers")

N_MIN = 2**14


def _llama():
    return tf.LlamaConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=1,
                          num_attention_heads=4, num_key_value_heads=2, vocab_size=512,
                          pad_token_id=3)


def _gpt2():
    return tf.GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=512, n_positions=256,
                         bos_token_id=0, eos_token_id=0)


def _bert():
    return tf.BertConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=1,
                         num_attention_heads=2, vocab_size=512, max_position_embeddings=256)


def _t5():
    return tf.T5Config(d_model=64, d_ff=256, d_kv=16, num_layers=1, num_heads=4, vocab_size=512,
                       decoder_start_token_id=0)


def _clip():
    text = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=512, bos_token_id=0, eos_token_id=1)
    vision = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)
    return tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)


CONFIGS = {"llama": (_llama, tf.AutoModelForCausalLM), "gpt2": (_gpt2, tf.AutoModelForCausalLM),
           "bert": (_bert, tf.AutoModel), "t5": (_t5, tf.AutoModelForSeq2SeqLM),
           "clip": (_clip, tf.AutoModel)}


def _build(kind):
    make, auto = CONFIGS[kind]
    torch.manual_seed(0)
    return auto.from_config(make())


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_nothing_is_written(kind):
    model = _build(kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = {k: id(v) for k, v in model.named_parameters()}
    native_specs(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert ids == {k: id(v) for k, v in model.named_parameters()}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_specs_match_the_models_own_init(kind):
    """Every tensor HF initialized: its values fit the recorded spec."""
    model = _build(kind)
    specs = native_specs(model)
    params = dict(model.named_parameters())
    checked = 0
    for name, p in params.items():
        found = specs[name]
        assert found.spec is not None, (name, found)
        init = initlab.get(found.spec)
        cfg = init.get_config()
        values = p.detach().double()
        if found.zero_rows:
            assert torch.all(values[list(found.zero_rows)] == 0), name
            keep = [i for i in range(values.shape[0]) if i not in found.zero_rows]
            values = values[keep]
        if init.name in ("zeros", "ones", "constant"):
            expected = {"zeros": 0.0, "ones": 1.0}.get(init.name, cfg.get("val"))
            assert torch.all(values == torch.tensor(expected, dtype=torch.float32).double()), name
            checked += 1
        elif init.name == "normal" and values.numel() >= N_MIN:
            n = values.numel()
            rel = abs(values.std().item() / cfg["std"] - 1)
            assert rel < 6 / math.sqrt(2 * n), (name, values.std().item(), cfg["std"])
            assert abs(values.mean().item() - cfg["mean"]) < 6 * cfg["std"] / math.sqrt(n), name
            checked += 1
    assert checked >= 5


def test_llama_padding_row_and_rope_buffers():
    specs = native_specs(_build("llama"))
    emb = specs["model.embed_tokens.weight"]
    assert emb.spec == "normal(mean=0.0, std=0.02)"
    assert emb.zero_rows == (3,)
    assert emb.source == "LlamaPreTrainedModel._init_weights"
    assert specs["model.norm.weight"].spec == "ones()"
    inv = specs["model.rotary_emb.inv_freq"]
    assert inv.spec is None and "copy_" in inv.note


def test_gpt2_residual_projections_are_scaled():
    specs = native_specs(_build("gpt2"))
    std = 0.02 / math.sqrt(2 * 2)
    for name in ("transformer.h.1.attn.c_proj.weight", "transformer.h.0.mlp.c_proj.weight"):
        assert initlab.get(specs[name].spec).std == pytest.approx(std)
    assert specs["transformer.h.0.attn.c_attn.weight"].spec == "normal(mean=0.0, std=0.02)"


def test_clip_logit_scale_keeps_the_config_value():
    cfg = _clip()
    specs = native_specs(tf.CLIPModel(cfg))
    init = initlab.get(specs["logit_scale"].spec)
    assert init.name == "constant"
    assert init.val == pytest.approx(cfg.logit_scale_init_value, rel=1e-6)


@pytest.mark.parametrize("kind", ["llama", "gpt2", "clip"])
def test_meta_model_gives_the_same_specs(kind):
    make, auto = CONFIGS[kind]
    real = native_specs(auto.from_config(make()))
    with torch.device("meta"):
        meta_model = auto.from_config(make())
    meta = native_specs(meta_model)
    for name, found in real.items():
        if found.source == "constructor":  # meta has no constructor values
            continue
        assert meta[name].spec == found.spec, name
        assert meta[name].zero_rows == found.zero_rows, name


def test_plain_torch_modules():
    model = nn.Sequential(nn.Linear(8, 4), nn.Embedding(10, 4, padding_idx=1),
                          nn.LayerNorm(4), nn.MultiheadAttention(4, 2))
    specs = native_specs(model)
    w = initlab.get(specs["0.weight"].spec)
    assert w.name == "kaiming_uniform" and w.a == pytest.approx(math.sqrt(5))
    assert specs["0.weight"].source == "Linear.reset_parameters"
    b = initlab.get(specs["0.bias"].spec)
    assert (b.a, b.b) == (pytest.approx(-1 / math.sqrt(8)), pytest.approx(1 / math.sqrt(8)))
    assert specs["1.weight"].spec == "normal(mean=0.0, std=1.0)"
    assert specs["1.weight"].zero_rows == (1,)
    assert specs["2.weight"].spec == "ones()" and specs["2.bias"].spec == "zeros()"
    assert specs["3.in_proj_weight"].spec == "xavier_uniform(gain=1.0)"
    assert specs["3.in_proj_bias"].spec == "zeros()"


class _TimmStyle(nn.Module):
    """timm's trunc_normal_: uniform, erfinv, scale, shift, clamp, all in place."""

    def __init__(self):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 64))
        self.scale = nn.Parameter(torch.full((64,), 1e-5))
        self.init_weights()

    def init_weights(self):
        std, mean, a, b = 0.02, 0.0, -2.0, 2.0
        lo, hi = (1 + math.erf((a - mean) / std / math.sqrt(2))) / 2, \
            (1 + math.erf((b - mean) / std / math.sqrt(2))) / 2
        with torch.no_grad():
            t = self.token
            t.uniform_(2 * lo - 1, 2 * hi - 1)
            t.erfinv_()
            t.mul_(std * math.sqrt(2.0))
            t.add_(mean)
            t.clamp_(min=a, max=b)


def test_timm_style_trunc_normal_and_constructor_constants():
    specs = native_specs(_TimmStyle())
    init = initlab.get(specs["token"].spec)
    assert init.name == "trunc_normal"
    assert init.std == pytest.approx(0.02) and init.mean == pytest.approx(0.0, abs=1e-12)
    assert specs["token"].source == "_TimmStyle.init_weights"
    scale = initlab.get(specs["scale"].spec)
    assert scale.name == "constant" and scale.val == pytest.approx(1e-5)
    assert specs["scale"].source == "constructor"


def test_untouched_tensor_with_values_is_reported():
    class Free(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.arange(6.0).reshape(2, 3))

    found = native_specs(Free())["table"]
    assert found.spec is None and found.source == "constructor" and "keep" in found.note


def test_native_init_fn_and_run_native_are_seeded_and_restore_the_rng():
    model = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 2))
    assert native_init_fn(model, "") is None
    fn, label = native_init_fn(model, "0")
    assert label == "Linear.reset_parameters"
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    done = run_native(model, ["", "0", "1"], seed=5)
    assert done == {"0": "Linear.reset_parameters", "1": "Linear.reset_parameters"}
    assert torch.equal(torch.random.get_rng_state(), state)
    first = model[0].weight.detach().clone()
    nn.init.zeros_(model[0].weight)
    run_native(model, ["0"], seed=5)
    assert torch.equal(model[0].weight, first)
    run_native(model, ["0"], seed=6)
    assert not torch.equal(model[0].weight, first)


def test_native_init_fn_runs_hf_init_weights():
    model = _build("gpt2")
    name = "transformer.h.0.attn.c_proj"
    fn, label = native_init_fn(model, name)
    assert label == "GPT2PreTrainedModel._init_weights"
    with torch.no_grad():
        model.get_submodule(name).weight.zero_()
    run_native(model, [name], seed=0)
    assert model.get_submodule(name).weight.std().item() > 0


def test_native_chooser_is_registered():
    from initlab.policy.rules import CHOOSERS

    assert "native" in CHOOSERS


def test_transformers_is_not_imported_by_initlab():
    import subprocess
    import sys

    code = "import sys, initlab, initlab.policy.native; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
