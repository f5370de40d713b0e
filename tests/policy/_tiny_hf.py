"""Tiny Hugging Face models (hidden 16-32, one or two layers) for the materialize/audit tests."""

import pytest
import torch

T = pytest.importorskip("transformers")


def _configs():
    return {
        "llama": (T.LlamaForCausalLM, T.LlamaConfig(
            vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)),
        "gpt2": (T.GPT2LMHeadModel, T.GPT2Config(
            vocab_size=100, n_embd=32, n_layer=1, n_head=4, n_positions=64, bos_token_id=0,
            eos_token_id=0)),
        "bert": (T.BertForMaskedLM, T.BertConfig(
            vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64)),
        "bart": (T.BartForConditionalGeneration, T.BartConfig(
            vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
            decoder_ffn_dim=64, max_position_embeddings=64)),
        "swin": (T.SwinForImageClassification, T.SwinConfig(
            image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
            window_size=4)),
        "wav2vec2": (T.Wav2Vec2ForCTC, T.Wav2Vec2Config(
            vocab_size=32, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
            intermediate_size=64, conv_dim=(16, 16), conv_kernel=(3, 3), conv_stride=(2, 2),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)),
    }


NAMES = list(_configs())


def build(name: str, device: str = "cpu"):
    """The tiny model ``name`` built on ``device`` (under a fixed global seed)."""
    cls, config = _configs()[name]
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        return cls(config)
