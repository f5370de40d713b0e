"""Fill rate of the keyed parallel RNG vs torch's ``normal_`` and ``zero_``, in one run.

Usage: ``python benchmarks/fill_rate.py [--numel N] [--repeats R] [--device cpu|cuda]``

Prints one JSON line: elements/s (millions) for keyed normal with 1 thread and with all
threads, torch ``Tensor.normal_``, and ``Tensor.zero_`` (the memory-bandwidth ceiling),
each the best of ``--repeats`` runs taken round-robin (so load from other processes hits
every method alike), plus ``ratio_vs_torch`` (keyed, all threads / torch) and
``scaling`` (keyed all threads / keyed 1 thread).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from initlab import rng


def _timer(device: torch.device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run(fn) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    return run


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numel", type=int, default=64 * 2**20, help="elements (default 64M)")
    ap.add_argument("--repeats", type=int, default=5, help="best of this many runs (default 5)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    threads = rng.get_num_threads()
    out = torch.empty(args.numel, dtype=torch.float32, device=device)
    stream = rng.derive(0, "benchmark", (args.numel,), "")
    gen = torch.Generator(device=device).manual_seed(0)
    methods = {
        "keyed_1thread": lambda: rng.fill_(out, "normal", stream=stream, threads=1),
        "keyed": lambda: rng.fill_(out, "normal", stream=stream, threads=threads),
        "torch_normal": lambda: out.normal_(generator=gen),
        "zero": lambda: out.zero_(),
    }
    timed = _timer(device)
    for fn in methods.values():  # warm-up: page faults, thread pool, lazy init
        fn()
    best = {name: float("inf") for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            best[name] = min(best[name], timed(fn))
    rate = {name: args.numel / t / 1e6 for name, t in best.items()}
    result = {
        "benchmark": "fill_rate",
        "device": str(device),
        "numel": args.numel,
        "dtype": "float32",
        "chunk": rng.CHUNK,
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        **{f"{name}_melem_s": round(r, 1) for name, r in rate.items()},
        "ratio_vs_torch": round(rate["keyed"] / rate["torch_normal"], 3),
        "ratio_1thread_vs_torch": round(rate["keyed_1thread"] / rate["torch_normal"], 3),
        "scaling": round(rate["keyed"] / rate["keyed_1thread"], 3),
        "fraction_of_zero": round(rate["keyed"] / rate["zero"], 3),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
