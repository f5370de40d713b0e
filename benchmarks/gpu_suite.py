"""The GPU path's figures in one run: fill rate, materialize at 200M and 1B, seed-cnn.

Usage: ``python benchmarks/gpu_suite.py [--quick] [--timeout S]``

On a machine with a CUDA device it runs, each in its own subprocess (so one failure or
its memory does not affect the next), the project's benchmarks with ``--device cuda``:

- ``fill_rate.py``: keyed fill rate (initlab's chunked keyed streams) vs torch ``normal_``
  on the GPU (``ratio_vs_torch``), with ``zero_`` as the memory-bandwidth ceiling;
- ``materialize.py`` twice: a ~200M-parameter transformer (16 blocks, d=1024) and a
  ~1B-parameter one (20 blocks, d=2048), meta-device ``initlab.materialize`` vs
  build-on-GPU-then-re-initialize (``speedup``);
- ``seed_experiment.py --epochs 5``: the seed-cnn comparison (4 inits x 5 epochs on
  Fashion-MNIST) the tutorial way vs initlab's stacked sweep on the same GPU (``ratio``).

Prints one JSON line ``{"benchmark": "gpu_suite", "device_name", "torch", "cuda",
"results": {name: the sub-benchmark's JSON, or {"error"} / {"skipped"}}}``. Without CUDA
it prints ``{"skipped": "no CUDA device"}`` and exits 0 (so ``make bench`` passes on
CPU-only machines). ``--quick`` shrinks every size (a smoke test of the script itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(quick: bool) -> dict[str, list[str]]:
    """Sub-benchmark name -> its command line (all on ``--device cuda``)."""
    if quick:
        return {"fill_rate": ["fill_rate.py", "--numel", str(4 * 2**20), "--repeats", "2"],
                "materialize_small": ["materialize.py", "--layers", "2", "--d-model", "256"],
                "seed_cnn": ["seed_experiment.py", "--epochs", "1", "--fraction", "0.05"]}
    return {"fill_rate": ["fill_rate.py", "--numel", str(256 * 2**20), "--repeats", "5"],
            "materialize_200m": ["materialize.py", "--layers", "16", "--d-model", "1024"],
            "materialize_1b": ["materialize.py", "--layers", "20", "--d-model", "2048"],
            "seed_cnn": ["seed_experiment.py", "--epochs", "5"]}


def run_one(argv: list[str], timeout: float) -> dict:
    """One sub-benchmark: its last stdout line as JSON, or what went wrong."""
    cmd = [sys.executable, str(HERE / argv[0]), *argv[1:], "--device", "cuda"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        if "Fashion-MNIST not found" in res.stderr:
            return {"skipped": "Fashion-MNIST not found (apt-get install dataset-fashion-mnist)"}
        return {"error": f"exit {res.returncode}: {' | '.join(tail)}"}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"not JSON: {lines[-1][:200]}"}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check the script runs")
    ap.add_argument("--timeout", type=float, default=420.0,
                    help="seconds allowed to each sub-benchmark (default 420)")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        result = {"benchmark": "gpu_suite", "skipped": "no CUDA device"}
        print(json.dumps(result))
        return result
    results = {name: run_one(cmd, args.timeout) for name, cmd in plan(args.quick).items()}
    result = {"benchmark": "gpu_suite", "device_name": torch.cuda.get_device_name(0),
              "torch": torch.__version__, "cuda": torch.version.cuda, "quick": args.quick,
              "results": results}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
