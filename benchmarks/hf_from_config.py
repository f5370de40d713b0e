"""A ~1B-parameter Llama from its config: transformers' ``from_config`` vs ``initlab.hf.from_config``.

Usage: ``python benchmarks/hf_from_config.py [--repeats 3] [--layers 16] [--hidden 2048]
[--intermediate 5632] [--vocab 32000] [--policy hf]``

- ``hf``: ``AutoModelForCausalLM.from_config(cfg)`` (fp32, on the CPU: every tensor
  allocated, then the constructors' and ``_init_weights``' single-threaded fills);
- ``initlab``: ``initlab.hf.from_config(cfg, policy="hf")`` (parameters on meta, buffers on
  the CPU, then one allocation and one parallel keyed fill per tensor, then the audit).

Each build runs in a fresh subprocess (so peak RSS is per build, from ``getrusage``),
alternating which goes first, ``--repeats`` times. The time is the build only (imports done
before the clock starts). Prints one JSON line: both lists of seconds, the ratio hf/initlab
per repeat (median, min, max), each build's peak RSS (MiB), the CPU model, core count,
torch threads and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_model  # noqa: E402


def _config(args):
    import transformers as tf

    return tf.LlamaConfig(hidden_size=args.hidden, intermediate_size=args.intermediate,
                          num_hidden_layers=args.layers, num_attention_heads=args.heads,
                          num_key_value_heads=args.heads, vocab_size=args.vocab,
                          max_position_embeddings=2048, tie_word_embeddings=False)


def child(args) -> None:
    import torch
    import transformers as tf

    import initlab
    from initlab.integrations import hf as _hf  # noqa: F401  (import before the clock)

    cfg = _config(args)
    _ = tf.LlamaForCausalLM  # transformers' lazy import of the modeling file, for both
    start = time.perf_counter()
    if args.child == "hf":
        model = tf.AutoModelForCausalLM.from_config(cfg)
    else:
        model = initlab.hf.from_config(cfg, policy=args.policy, seed=0, audit=not args.no_audit)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    assert not any(p.is_meta for p in model.parameters())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "params": params, "rss_mib": rss,
                      "threads": torch.get_num_threads()}))


def _run(which: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", which, *_forward(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{which} build failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _forward(args) -> list[str]:
    return [f"--{k}={getattr(args, k)}" for k in
            ("layers", "hidden", "intermediate", "vocab", "heads", "policy")] + \
        (["--no-audit"] if args.no_audit else [])




def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=5632)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--policy", default="hf")
    p.add_argument("--no-audit", action="store_true",
                   help="initlab without its closing audit (materialize(audit=False))")
    p.add_argument("--child", choices=("hf", "initlab"), default=None)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"hf": [], "initlab": []}
    for r in range(args.repeats):
        for which in (("hf", "initlab") if r % 2 == 0 else ("initlab", "hf")):
            runs[which].append(_run(which, args))
    hf_s = [x["seconds"] for x in runs["hf"]]
    il_s = [x["seconds"] for x in runs["initlab"]]
    ratios = [a / b for a, b in zip(hf_s, il_s, strict=True)]
    print(json.dumps({
        "benchmark": "hf_from_config", "params": runs["hf"][0]["params"],
        "policy": args.policy, "audit": not args.no_audit, "hf_s": [round(x, 3) for x in hf_s],
        "initlab_s": [round(x, 3) for x in il_s],
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "hf_rss_mib": [round(x["rss_mib"]) for x in runs["hf"]],
        "initlab_rss_mib": [round(x["rss_mib"]) for x in runs["initlab"]],
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "torch_threads": runs["hf"][0]["threads"],
        "initlab_threads": os.environ.get("INITLAB_THREADS", "default"),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
