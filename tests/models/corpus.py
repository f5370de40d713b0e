"""The real-model corpus: tiny Hugging Face configs of many families, built without download.

``build(name)`` returns a freshly built model (the family's own init); ``build(name, meta=True)``
builds it on the meta device. Sizes are tiny (hidden 32-64, 2 layers, vocab 256) so the whole
corpus builds in seconds; the point is each family's structure (norm classes, tied embeddings,
Conv1D, fused QKV, MoE experts, SSM parameters, rotary buffers), not its scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

VOCAB = 256

# common tiny sizes; each key is set only where the config has it (attribute maps included)
_TINY: dict[str, Any] = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 128, "vocab_size": VOCAB, "max_position_embeddings": 64,
    "num_key_value_heads": 2, "head_dim": 16, "d_model": 64, "d_ff": 128, "d_kv": 16,
    "num_layers": 2, "num_heads": 4, "encoder_layers": 2, "decoder_layers": 2,
    "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128, "image_size": 32, "patch_size": 8, "num_channels": 3,
    "embed_dim": 32, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
    "decoder_start_token_id": 1,
}


@dataclass
class Entry:
    """One corpus model: its HF model type, the auto class, config overrides, its input kind."""

    model_type: str
    auto: str = "AutoModelForCausalLM"
    overrides: dict[str, Any] = field(default_factory=dict)
    kind: str = "lm"          # lm, seq2seq, encoder, vision, clip, audio
    tied: bool = False        # the input embedding and the LM head are one tensor
    tags: tuple[str, ...] = ()


CORPUS: dict[str, Entry] = {e.model_type if not e.tags else e.tags[0]: e for e in (
    Entry("gpt2", tied=True),
    Entry("gpt_neox", overrides={"rotary_pct": 0.5}),
    Entry("gptj", overrides={"n_embd": 64, "n_head": 4, "rotary_dim": 8}, tied=False),
    Entry("llama"),
    Entry("llama", overrides={"tie_word_embeddings": True}, tied=True, tags=("llama-tied",)),
    Entry("mistral"),
    Entry("qwen2", overrides={"tie_word_embeddings": True}, tied=True),
    Entry("gemma", tied=True),
    Entry("gemma2", tied=True),
    Entry("phi", overrides={"partial_rotary_factor": 0.5}),
    Entry("phi3"),
    Entry("opt", overrides={"word_embed_proj_dim": 64, "ffn_dim": 128}, tied=True),
    Entry("bloom", overrides={"n_head": 4}, tied=True),
    Entry("falcon", overrides={"new_decoder_architecture": True, "num_kv_heads": 2},
          tied=True),
    Entry("mixtral", overrides={"num_local_experts": 4, "num_experts_per_tok": 2}),
    Entry("qwen2_moe", overrides={"num_experts": 4, "num_experts_per_tok": 2,
                                  "moe_intermediate_size": 32,
                                  "shared_expert_intermediate_size": 64}),
    Entry("olmo"),
    Entry("olmo2"),
    Entry("starcoder2"),
    Entry("mamba", overrides={"state_size": 8, "expand": 2, "conv_kernel": 4}, tied=True),
    Entry("t5", auto="AutoModelForSeq2SeqLM", kind="seq2seq", tied=True,
          overrides={"feed_forward_proj": "gated-gelu", "tie_word_embeddings": True}),
    Entry("bart", auto="AutoModelForSeq2SeqLM", kind="seq2seq", tied=True),
    Entry("whisper", auto="AutoModelForSpeechSeq2Seq", kind="audio", tied=True,
          overrides={"num_mel_bins": 16, "max_source_positions": 32,
                     "max_target_positions": 32}),
    Entry("bert", auto="AutoModelForMaskedLM", kind="encoder", tied=True),
    Entry("roberta", auto="AutoModelForMaskedLM", kind="encoder", tied=True,
          overrides={"pad_token_id": 1}),
    Entry("xlm-roberta", auto="AutoModelForMaskedLM", kind="encoder", tied=True,
          overrides={"pad_token_id": 1}),
    Entry("deberta-v2", auto="AutoModelForMaskedLM", kind="encoder", tied=True),
    Entry("albert", auto="AutoModelForMaskedLM", kind="encoder", tied=True,
          overrides={"embedding_size": 32}),
    Entry("distilbert", auto="AutoModelForMaskedLM", kind="encoder", tied=True,
          overrides={"dim": 64, "hidden_dim": 128, "n_layers": 2, "n_heads": 4}),
    Entry("electra", auto="AutoModelForMaskedLM", kind="encoder", tied=True,
          overrides={"embedding_size": 64}),
    Entry("vit", auto="AutoModelForImageClassification", kind="vision"),
    Entry("swin", auto="AutoModelForImageClassification", kind="vision",
          overrides={"embed_dim": 16, "depths": [1, 1], "num_heads": [2, 2], "window_size": 2,
                     "patch_size": 4}),
    Entry("convnext", auto="AutoModelForImageClassification", kind="vision",
          overrides={"hidden_sizes": [16, 32], "depths": [1, 1], "num_stages": 2}),
    Entry("resnet", auto="AutoModelForImageClassification", kind="vision",
          overrides={"hidden_sizes": [16, 32], "depths": [1, 1], "embedding_size": 16}),
    Entry("clip", auto="AutoModel", kind="clip"),
    Entry("gpt_bigcode", overrides={"multi_query": True}, tied=True),
    Entry("codegen", overrides={"n_embd": 64, "n_head": 4, "rotary_dim": 8, "n_ctx": 64}),
    Entry("mpt", overrides={"d_model": 64, "n_heads": 4, "n_layers": 2, "expansion_ratio": 2},
          tied=True),
    Entry("stablelm"),
    Entry("qwen3"),
    Entry("granite"),
    Entry("cohere", tied=True),
    Entry("mt5", auto="AutoModelForSeq2SeqLM", kind="seq2seq"),
    Entry("pegasus", auto="AutoModelForSeq2SeqLM", kind="seq2seq", tied=True),
    Entry("marian", auto="AutoModelForSeq2SeqLM", kind="seq2seq", tied=True,
          overrides={"decoder_vocab_size": 256}),
    Entry("mbart", auto="AutoModelForSeq2SeqLM", kind="seq2seq", tied=True),
    Entry("xlnet", auto="AutoModelForCausalLM", kind="lm", tied=True,
          overrides={"n_head": 4, "d_inner": 128}),
    Entry("funnel", auto="AutoModelForMaskedLM", kind="encoder",
          overrides={"block_sizes": [1, 1], "d_head": 16, "n_head": 4}),
    Entry("mobilebert", auto="AutoModelForMaskedLM", kind="encoder",
          overrides={"embedding_size": 32, "intra_bottleneck_size": 32,
                     "true_hidden_size": 32}),
    Entry("beit", auto="AutoModelForImageClassification", kind="vision"),
    Entry("deit", auto="DeiTForImageClassification", kind="vision"),
    Entry("dinov2", auto="AutoModelForImageClassification", kind="vision"),
    Entry("wav2vec2", auto="AutoModelForCTC", kind="ctc",
          overrides={"conv_dim": [16, 16], "conv_stride": [5, 2], "conv_kernel": [10, 3],
                     "num_feat_extract_layers": 2,
                     "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}),
)}


def config(name: str):
    """The tiny config of corpus entry ``name``."""
    from transformers import AutoConfig, CLIPConfig

    entry = CORPUS[name]
    if entry.model_type == "clip":
        text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 2, "vocab_size": VOCAB, "max_position_embeddings": 32}
        vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
        return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    cfg = AutoConfig.for_model(entry.model_type)
    for key, value in {**_TINY, **entry.overrides}.items():
        if key in entry.overrides or hasattr(cfg, key):
            try:
                setattr(cfg, key, value)
            except (AttributeError, NotImplementedError):  # derived (Falcon's head_dim)
                pass
    return cfg


def build(name: str, *, meta: bool = False, seed: int = 0) -> torch.nn.Module:
    """Corpus model ``name`` built by its auto class from the tiny config (no download)."""
    import transformers

    transformers.logging.set_verbosity_error()
    entry = CORPUS[name]
    cls = getattr(transformers, entry.auto)
    make = cls.from_config if entry.auto.startswith("Auto") else cls
    torch.manual_seed(seed)
    if meta:
        with torch.device("meta"):
            return make(config(name))
    return make(config(name))


def inputs(name: str, model=None, batch: int = 2, seq: int = 8) -> dict[str, torch.Tensor]:
    """A keyword-argument batch for corpus model ``name`` (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    kind = CORPUS[name].kind
    ids = torch.randint(2, VOCAB, (batch, seq), generator=g)
    if kind == "lm" or kind == "encoder":
        return {"input_ids": ids}
    if kind == "seq2seq":
        return {"input_ids": ids, "decoder_input_ids": ids}
    if kind == "vision":
        return {"pixel_values": torch.randn(batch, 3, 32, 32, generator=g)}
    if kind == "clip":
        return {"input_ids": ids, "pixel_values": torch.randn(batch, 3, 32, 32, generator=g)}
    if kind == "ctc":
        return {"input_values": torch.randn(batch, 1600, generator=g)}
    if kind == "audio":
        return {"input_features": torch.randn(batch, 16, 64, generator=g),
                "decoder_input_ids": ids}
    raise KeyError(kind)
