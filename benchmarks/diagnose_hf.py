"""What a diagnose costs next to a plain forward + backward, on Hugging Face models >= 1M params.

Both are measured in the same run, interleaved (load changes hit both alike), ``--repeats``
times each, spectrum off (``auto`` skips it on token inputs anyway). The baseline is the
same model, in the same mode (eval: no dropout), on the same batch, with the same loss
diagnose picked (next-token cross entropy for the LMs, cross entropy for the classifiers),
``loss.backward()``. One JSON line: per model the parameter count, best and median times
(ms), ``ratio`` (best / best) and ``median_ratio``; the machine (CPU model, cores, torch
threads, load average). The issue's target: ratio <= 2.

``--corpus`` instead diagnoses a corpus of tiny configs at their own init and with a tied
embedding / LM head filled with N(0, 1), and prints how many are flagged.

    .venv/bin/python benchmarks/diagnose_hf.py [--threads 1] [--repeats 15] [--corpus]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import initlab

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_model  # noqa: E402

V = 8192  # vocabulary of the timed LMs


def _gpt2():
    import transformers as T
    return T.AutoModelForCausalLM.from_config(T.GPT2Config(
        n_embd=256, n_layer=4, n_head=4, vocab_size=V, n_positions=256))


def _llama():
    import transformers as T
    return T.AutoModelForCausalLM.from_config(T.LlamaConfig(
        hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=V, max_position_embeddings=256))


def _bert_cls():
    import transformers as T
    return T.BertForSequenceClassification(T.BertConfig(
        hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
        vocab_size=V, max_position_embeddings=256, num_labels=5))


def _vit():
    import transformers as T
    return T.ViTForImageClassification(T.ViTConfig(
        hidden_size=192, intermediate_size=768, num_hidden_layers=4, num_attention_heads=3,
        image_size=64, patch_size=8, num_labels=100))


def _tokens(g):
    ids = torch.randint(0, V, (8, 128), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, None


def _lm_loss(out, x, y):
    logits = out.logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                           x["input_ids"][:, 1:].reshape(-1))


def _ce_loss(out, x, y):
    return F.cross_entropy(out.logits, y)


# name -> (build, batch(generator) -> (x, y), the baseline's loss)
MODELS = {
    "gpt2-d256-l4": (_gpt2, _tokens, _lm_loss),
    "llama-d256-l4": (_llama, _tokens, _lm_loss),
    "bert-cls-d256-l4": (_bert_cls, lambda g: (_tokens(g)[0], torch.randint(0, 5, (8,),
                                                                           generator=g)),
                         _ce_loss),
    "vit-d192-l4": (_vit, lambda g: ({"pixel_values": torch.randn(16, 3, 64, 64, generator=g)},
                                     torch.randint(0, 100, (16,), generator=g)), _ce_loss),
}




def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _one(build, make_batch, loss_fn, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build().eval()  # the mode diagnose runs in (no dropout)
    x, y = make_batch(torch.Generator().manual_seed(1))

    def plain():
        model.zero_grad(set_to_none=True)
        loss_fn(model(**x), x, y).backward()

    def diag():
        initlab.diagnose(model, x, y, spectrum="off")

    plain(), diag()  # warm-up
    base, dg = [], []
    for _ in range(repeats):
        base.append(_time(plain))
        dg.append(_time(diag))
    model.zero_grad(set_to_none=True)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "loss": initlab.diagnose(model, x, y, spectrum="off").meta["loss"],
        "plain_ms": round(min(base) * 1e3, 2), "diagnose_ms": round(min(dg) * 1e3, 2),
        "plain_median_ms": round(statistics.median(base) * 1e3, 2),
        "diagnose_median_ms": round(statistics.median(dg) * 1e3, 2),
        "ratio": round(min(dg) / min(base), 3),
        "median_ratio": round(statistics.median(dg) / statistics.median(base), 3),
    }


def bench(repeats: int) -> dict:
    return {name: _one(*spec, repeats) for name, spec in MODELS.items()}


def corpus() -> dict:
    """Tiny tied-embedding LMs: flagged at their own init (want 0) and broken (want all)."""
    import transformers as T

    small = dict(vocab_size=512)
    configs = {
        "gpt2": T.GPT2Config(n_embd=64, n_layer=2, n_head=2, n_positions=64, **small),
        "opt": T.OPTConfig(hidden_size=64, ffn_dim=128, num_hidden_layers=2,
                           num_attention_heads=2, word_embed_proj_dim=64,
                           max_position_embeddings=64, **small),
        "bloom": T.BloomConfig(hidden_size=64, n_layer=2, n_head=2, **small),
        "falcon": T.FalconConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                 **small),
        "gemma": T.GemmaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                               max_position_embeddings=64, **small),
        "llama-tied": T.LlamaConfig(hidden_size=64, intermediate_size=128,
                                    num_hidden_layers=2, num_attention_heads=2,
                                    num_key_value_heads=1, max_position_embeddings=64,
                                    tie_word_embeddings=True, **small),
    }
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(1))
    x = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    rows = {}
    for name, cfg in configs.items():
        torch.manual_seed(0)
        model = T.AutoModelForCausalLM.from_config(cfg)
        healthy = initlab.diagnose(model, x)
        with torch.no_grad():
            torch.nn.init.normal_(model.get_input_embeddings().weight,
                                  generator=torch.Generator().manual_seed(0))
        broken = initlab.diagnose(model, x)
        rows[name] = {"own_init": [v.name for v in healthy.verdicts],
                      "own_loss_over_ln_v": round(healthy.meta["loss_value"] / math.log(512), 3),
                      "tied_n01": [v.name for v in broken.verdicts],
                      "tied_loss_over_ln_v": round(broken.meta["loss_value"] / math.log(512), 3)}
    return {"flagged_at_own_init": sum(bool(r["own_init"]) for r in rows.values()),
            "flagged_tied_n01": sum(bool(r["tied_n01"]) for r in rows.values()),
            "models": len(rows), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: steadier on a shared machine)")
    ap.add_argument("--corpus", action="store_true", help="count verdicts on tiny LMs instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging
    logging.set_verbosity_error()
    result = {"benchmark": "diagnose_hf"}
    if args.corpus:
        result.update(corpus())
    else:
        models = bench(args.repeats)
        result.update({"models": models,
                       "max_ratio": max(m["ratio"] for m in models.values()),
                       "max_median_ratio": max(m["median_ratio"] for m in models.values())})
    result.update({"cpu": cpu_model(), "cores": os.cpu_count(), "threads": args.threads,
                   "loadavg": [round(v, 2) for v in os.getloadavg()],
                   "torch": torch.__version__})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
