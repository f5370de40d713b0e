"""Activations without tracing: HF models (fx cannot trace them), torch's transformers, meta.

Without an example input the module structure answers (forward source, activation classes,
the config); with one the forward tracer answers, and both agree. Activation modules are
atomic: NewGELUActivation is GELU even though it calls torch.tanh inside.
"""

import warnings

import pytest
import torch
from torch import nn

from initlab.policy.act_table import activation_of_config, activation_of_module, activation_of_name
from initlab.policy.activations import _hook_detect, detect_activations


def weighted(model: nn.Module) -> set[str]:
    """The modules plan() asks about: those with a weight-like own parameter, norms excluded."""
    return {n for n, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))
            and "norm" not in type(m).__name__.lower() and "Embedding" not in type(m).__name__}


# --------------------------------------------------------------------------- tiny HF models
def _hf_cases():
    T = pytest.importorskip("transformers")
    small = {"num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 100}
    return {
        # name: (build, inputs, expected activation of each MLP's first projection, first, gate-free
        #        siblings that must be "none")
        "gpt2": (lambda: T.GPT2LMHeadModel(T.GPT2Config(
            n_embd=32, n_layer=1, n_head=2, vocab_size=100, n_positions=16)),
                 "ids", "gelu", ".mlp.c_fc", (".mlp.c_proj", ".attn.c_attn", ".attn.c_proj")),
        "gptj": (lambda: T.GPTJForCausalLM(T.GPTJConfig(
            n_embd=32, n_layer=1, n_head=2, vocab_size=100, n_positions=16, rotary_dim=8)),
                 "ids", "gelu", ".mlp.fc_in", (".mlp.fc_out", ".attn.q_proj", ".attn.out_proj")),
        "llama": (lambda: T.LlamaForCausalLM(T.LlamaConfig(
            hidden_size=32, intermediate_size=64, num_key_value_heads=1, **small)),
                  "ids", "silu", ".mlp.gate_proj",
                  (".mlp.up_proj", ".mlp.down_proj", ".self_attn.q_proj", ".self_attn.o_proj")),
        "bloom": (lambda: T.BloomForCausalLM(T.BloomConfig(
            hidden_size=32, n_layer=1, n_head=2, vocab_size=100)),
                  "ids", "gelu", ".mlp.dense_h_to_4h",
                  (".mlp.dense_4h_to_h", ".self_attention.query_key_value")),
        "phi": (lambda: T.PhiForCausalLM(T.PhiConfig(
            hidden_size=32, intermediate_size=64, **small)),
                "ids", "gelu", ".mlp.fc1", (".mlp.fc2", ".self_attn.q_proj", ".self_attn.dense")),
        "bert": (lambda: T.BertModel(T.BertConfig(hidden_size=32, intermediate_size=64, **small)),
                 "ids", "gelu", ".intermediate.dense",
                 (".output.dense", ".attention.self.query", ".attention.output.dense")),
        "albert": (lambda: T.AlbertModel(T.AlbertConfig(
            hidden_size=32, intermediate_size=64, embedding_size=16, **small)),
                   "ids", "gelu", ".ffn", (".ffn_output", ".attention.query", ".attention.dense")),
        "t5": (lambda: T.T5ForConditionalGeneration(T.T5Config(
            d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16, vocab_size=100,
            feed_forward_proj="gated-gelu")),
               "seq2seq", "gelu", ".DenseReluDense.wi_0",
               (".DenseReluDense.wi_1", ".DenseReluDense.wo", ".SelfAttention.q")),
        "clip_text": (lambda: T.CLIPTextModel(T.CLIPTextConfig(
            hidden_size=32, intermediate_size=64, max_position_embeddings=16, **small)),
                      "ids", "gelu", ".mlp.fc1", (".mlp.fc2", ".self_attn.q_proj")),
        "clip_vision": (lambda: T.CLIPVisionModel(T.CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            image_size=32, patch_size=8)),
                        "pixels", "gelu", ".mlp.fc1",
                        (".mlp.fc2", ".self_attn.out_proj", "embeddings.patch_embedding")),
    }


HF = ("gpt2", "gptj", "llama", "bloom", "phi", "bert", "albert", "t5", "clip_text", "clip_vision")


def _inputs(kind: str, device: str = "cpu"):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 100, (2, 8), generator=g).to(device)
    if kind == "pixels":
        return {"pixel_values": torch.randn(2, 3, 32, 32, generator=g).to(device)}
    if kind == "seq2seq":
        return {"input_ids": ids, "decoder_input_ids": ids}
    return {"input_ids": ids}


def _check(found, names, act, first, nones):
    firsts = [n for n in names if n.endswith(first)]
    assert firsts, f"no module ends with {first}"
    for n in firsts:
        assert found[n].name == act, (n, found[n])
    for suffix in nones:
        matched = [n for n in names if n.endswith(suffix)]
        assert matched, f"no module ends with {suffix}"
        for n in matched:
            assert found.get(n) is None or found[n].name == "none", (n, found[n])


@pytest.mark.parametrize("case", HF)
def test_hf_without_an_example_input_reads_the_structure(case):
    build, _, act, first, nones = _hf_cases()[case]
    model = build()
    names = weighted(model)
    found, method = detect_activations(model, names)
    assert method.startswith("structure")
    assert set(found) == names  # every layer answered
    _check(found, names, act, first, nones)
    for n in names:
        assert found[n].via.startswith(("structure: ", "config: ")), found[n]


@pytest.mark.parametrize("case", HF)
def test_hf_forward_tracing_agrees_with_the_structure(case):
    build, kind, act, first, nones = _hf_cases()[case]
    model = build()
    names = weighted(model)
    structure, _ = detect_activations(model, names)
    hooks, method = detect_activations(model, names, _inputs(kind))
    assert method == "hooks"
    _check(hooks, names, act, first, nones)
    assert {n: hooks[n].name if n in hooks else "none" for n in names} == \
        {n: structure[n].name for n in names}


@pytest.mark.parametrize("case", ("gpt2", "llama", "bloom", "clip_vision", "t5"))
def test_meta_model_with_meta_inputs(case):
    build, kind, act, first, nones = _hf_cases()[case]
    with torch.device("meta"):
        model = build()
    names = weighted(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the forward on meta ran: no fallback warning
        found, method = detect_activations(model, names, _inputs(kind, "meta"))
    assert method == "hooks"
    _check(found, names, act, first, nones)
    found, method = detect_activations(model, names)  # no input: structure, nothing run
    assert method.startswith("structure")
    _check(found, names, act, first, nones)


def test_gelu_new_is_gelu_not_tanh_and_the_plan_row_says_how():
    build = _hf_cases()["gpt2"][0]
    model = build()
    found, _ = detect_activations(model, weighted(model))
    info = found["transformer.h.0.mlp.c_fc"]
    assert (info.name, info.via) == ("gelu", "structure: transformer.h.0.mlp.act (NewGELUActivation)")
    hooks = _hook_detect(model, weighted(model), _inputs("ids"))
    assert hooks["transformer.h.0.mlp.c_fc"].via == \
        "hooks: transformer.h.0.mlp.act (NewGELUActivation)"


def test_quick_gelu_and_bloom_gelu_are_gelu():
    T = pytest.importorskip("transformers")
    from transformers.activations import ACT2FN

    assert activation_of_module(ACT2FN["quick_gelu"]).name == "gelu"
    assert activation_of_module(ACT2FN["gelu_new"]).name == "gelu"
    assert activation_of_module(ACT2FN["gelu_pytorch_tanh"]).name == "gelu"
    assert activation_of_module(ACT2FN["relu2"]).name == "relu"
    assert activation_of_module(ACT2FN["swish"]).name == "silu"
    assert activation_of_module(ACT2FN["linear"]).name == "none"
    from transformers.models.bloom.modeling_bloom import BloomGelu

    assert activation_of_module(BloomGelu()).name == "gelu"
    assert T is not None


def test_activation_classes_by_name_without_transformers():
    class NewGELUActivation(nn.Module):  # same name as HF's, not HF's type
        def forward(self, x):
            return 0.5 * x * (1 + torch.tanh(x))

    class QuickGELU(nn.Module):  # timm-style name
        def forward(self, x):
            return x * torch.sigmoid(1.702 * x)

    assert activation_of_module(NewGELUActivation()).name == "gelu"
    assert activation_of_module(QuickGELU()).name == "gelu"
    assert activation_of_module(nn.Linear(2, 2)) is None

    class GeluLinear(nn.Linear):  # a layer, whatever its name says
        pass

    assert activation_of_module(GeluLinear(2, 2)) is None
    assert activation_of_module(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) is None
    assert activation_of_name("bloom_gelu_forward") == "gelu"
    assert activation_of_name("gelu_pytorch_tanh") == "gelu"
    assert activation_of_name("leaky_relu") == "leaky_relu"
    assert activation_of_name("rotate_half") is None


class _Cfg:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize(("config", "expected"), [
    (_Cfg(hidden_act="gelu_new"), ("gelu", "hidden_act='gelu_new'")),
    (_Cfg(activation_function="quick_gelu"), ("gelu", "activation_function='quick_gelu'")),
    (_Cfg(hidden_activation="gelu_pytorch_tanh"), ("gelu", "hidden_activation='gelu_pytorch_tanh'")),
    (_Cfg(feed_forward_proj="gated-silu"), ("silu", "feed_forward_proj='gated-silu'")),
    (_Cfg(hidden_act="swish"), ("silu", "hidden_act='swish'")),
    (_Cfg(hidden_act="relu2"), ("relu", "hidden_act='relu2'")),
    (_Cfg(hidden_act="linear"), ("none", "hidden_act='linear'")),
    (_Cfg(vocab_size=3), None),
])
def test_activation_of_config(config, expected):
    assert activation_of_config(config) == expected


class _FunctionalMLP(nn.Module):
    """An MLP calling ACT2FN[config.hidden_act] functionally, untraceable by fx."""

    def __init__(self, act: str):
        super().__init__()
        self.config = _Cfg(hidden_act=act)
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 4)

    def forward(self, x):
        from transformers.activations import ACT2FN

        h = self.fc1(x)
        if h.sum() > 1e9:  # data-dependent: fx cannot trace
            h = h * 2
        return self.fc2(ACT2FN[self.config.hidden_act](h))


def test_a_functional_activation_call_takes_the_config():
    pytest.importorskip("transformers")
    found, method = detect_activations(_FunctionalMLP("gelu_new"), {"fc1", "fc2"})
    assert method == "structure+config"
    assert (found["fc1"].name, found["fc1"].via) == ("gelu", "config: hidden_act='gelu_new'")
    assert found["fc2"].name == "none"


# ------------------------------------------------------------------ torch's own transformers
@pytest.mark.parametrize(("kwargs", "act"), [
    ({}, "relu"), ({"activation": "gelu"}, "gelu"), ({"activation": nn.GELU()}, "gelu"),
    ({"activation": torch.nn.functional.silu}, "silu"),
])
def test_transformer_encoder_layer_without_an_example_input(kwargs, act):
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, **kwargs)
    names = weighted(layer)
    found, method = detect_activations(layer, names)
    assert method == "structure"
    assert found["linear1"].name == act
    assert found["linear2"].name == "none" and found["self_attn"].name == "none"
    assert found["self_attn.out_proj"].name == "none"
    hooks, _ = detect_activations(layer, names, torch.randn(2, 5, 16))
    assert hooks["linear1"].name == act


def test_nn_transformer_without_an_example_input():
    model = nn.Transformer(16, 2, 2, 1, 32, activation="gelu", batch_first=True)
    names = weighted(model)
    found, method = detect_activations(model, names)
    assert method == "structure"
    linear1 = sorted(n for n in names if n.endswith("linear1"))
    assert linear1 == ["decoder.layers.0.linear1", "encoder.layers.0.linear1",
                       "encoder.layers.1.linear1"]
    assert all(found[n].name == "gelu" for n in linear1)
    assert all(found[n].name == "none" for n in names if not n.endswith("linear1"))


def test_structure_follows_children_and_sequentials_inside_an_untraceable_model():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(x)  # the activation is applied by the parent

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.stack = nn.Sequential(nn.Linear(3, 3), nn.Dropout(), nn.LeakyReLU(0.1),
                                       nn.Linear(3, 3))
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            h = torch.relu(self.block(x) + x)
            if h.sum() > 1e9:
                h = -h
            return self.head(self.stack(h.mean((2, 3))))

    found, _ = detect_activations(Net(), {"block.conv", "stack.0", "stack.3", "head"})
    assert found["block.conv"].name == "relu" and found["block.conv"].via == "structure: add -> relu"
    assert found["stack.0"].name == "leaky_relu" and found["stack.0"].param == pytest.approx(0.1)
    assert "Dropout" in found["stack.0"].via
    assert found["stack.3"].name == "none" and found["head"].name == "none"


def test_an_unreadable_forward_falls_back_to_registration_order():
    ns: dict = {}
    exec("import torch\ndef forward(self, x):\n    return self.fc2(self.act(self.fc1(x)))", ns)

    class NoSource(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 4)

    NoSource.forward = ns["forward"]  # defined in a string: no source file to read
    NoSource.__module__ = "not_a_module"
    found, _ = detect_activations(nn.ModuleDict({"m": NoSource()}), {"m.fc1", "m.fc2"})
    assert found["m.fc1"].name == "silu"
    assert found["m.fc1"].via == "structure: m.act (SiLU) registered after m.fc1"
    assert found["m.fc2"].name == "none"


def test_a_forward_that_fails_on_the_input_warns_and_reads_the_structure():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum() > 0:
                pass
            return torch.tanh(self.fc(x))

    with pytest.warns(UserWarning, match=r"forward pass failed \(RuntimeError: .*module structure"):
        found, method = detect_activations(Bad(), {"fc"}, torch.randn(2, 3))
    assert method == "structure" and found["fc"].name == "tanh"


def test_fx_treats_activation_modules_as_leaves():
    class NewGELUActivation(nn.Module):
        def forward(self, x):
            return 0.5 * x * (1.0 + torch.tanh(0.79788456 * (x + 0.044715 * x**3)))

    model = nn.Sequential(nn.Linear(4, 8), NewGELUActivation(), nn.Linear(8, 2))
    found, method = detect_activations(model, {"0", "2"})
    assert method == "fx"
    assert found["0"].name == "gelu" and found["0"].via == "fx: NewGELUActivation"
