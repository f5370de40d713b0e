"""Meta-device materialize vs. the usual build-then-re-initialize, on a ~300M-parameter model.

Baseline (what people do): construct the model on the device (PyTorch runs its default
init for every layer), then re-initialize with ``model.apply`` + ``torch.nn.init``
(weights N(0, 0.02), biases 0, LayerNorm 1/0). initlab: construct it under
``torch.device("meta")`` (no storage, no init) and ``initlab.materialize`` it with the same
scheme (the spec policy ``"normal(std=0.02)"``: weights N(0, 0.02), biases 0, norms 1/0).

Each side runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own; one
JSON line with wall times, peak memory and the ratios. The issue's target on the 2-core
dev machine: >= 4x faster, peak memory no higher.

    .venv/bin/python benchmarks/materialize.py                 # 24 blocks, d=1024, 4x MLP
    .venv/bin/python benchmarks/materialize.py --layers 2 --d-model 256   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.proj(torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v)
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, layers: int, d: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x)


def _reinit(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def child(mode: str, layers: int, d: int, device: str) -> dict:
    import initlab

    _sync(device)
    t0 = time.perf_counter()
    if mode == "baseline":
        with torch.device(device):
            model = Transformer(layers, d)
        _sync(device)
        t_build = time.perf_counter() - t0
        with torch.no_grad():
            model.apply(_reinit)
    else:
        with torch.device("meta"):
            model = Transformer(layers, d)
        t_build = time.perf_counter() - t0
        initlab.materialize(model, "normal(std=0.02)", seed=0, device=device)
    _sync(device)
    total = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    std = model.blocks[0].fc1.weight.float().std().item()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    gpu_peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
    return {"mode": mode, "seconds": total, "build_seconds": t_build, "params": params,
            "peak_rss_bytes": peak, "gpu_peak_bytes": gpu_peak, "fc1_std": std}


def run(mode: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--layers",
           str(args.layers), "--d-model", str(args.d_model), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--d-model", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", choices=("baseline", "initlab"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.layers, args.d_model, args.device)))
        return
    base, ours = run("baseline", args), run("initlab", args)
    print(json.dumps({
        "benchmark": "materialize", "device": args.device, "layers": args.layers,
        "d_model": args.d_model, "params": ours["params"], "threads": os.cpu_count(),
        "baseline_s": round(base["seconds"], 3), "baseline_build_s": round(base["build_seconds"], 3),
        "initlab_s": round(ours["seconds"], 3),
        "speedup": round(base["seconds"] / ours["seconds"], 2),
        "baseline_peak_rss_mib": round(base["peak_rss_bytes"] / 2**20, 1),
        "initlab_peak_rss_mib": round(ours["peak_rss_bytes"] / 2**20, 1),
        "rss_ratio": round(ours["peak_rss_bytes"] / base["peak_rss_bytes"], 3),
        "std_baseline": round(base["fc1_std"], 5), "std_initlab": round(ours["fc1_std"], 5),
    }))


if __name__ == "__main__":
    main()
