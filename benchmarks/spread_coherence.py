"""Spread init: coherence / Welch bound and time per layer shape, vs Gaussian rows.

Prints one JSON line: for each (N, m) the coherence ratio to the Welch bound of the spread
frame and of Gaussian rows (same generator seed), their ratio, and the time of spread_.
Run: .venv/bin/python benchmarks/spread_coherence.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import initlab

SHAPES = [(28, 27), (40, 32), (48, 32), (64, 27), (128, 64), (136, 128), (192, 128), (256, 128),
          (512, 128)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    initlab.init.spread_(torch.empty(12, 8), generator=torch.Generator().manual_seed(0))  # warm-up
    rows = []
    for n, m in SHAPES:
        welch = initlab.init.welch_bound(n, m)
        w = torch.empty(n, m)
        start = time.perf_counter()
        initlab.init.spread_(w, generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        gauss = torch.randn(n, m, generator=torch.Generator().manual_seed(0))
        spread_ratio = initlab.init.coherence(w) / welch
        gauss_ratio = initlab.init.coherence(gauss) / welch
        rows.append({"n": n, "m": m, "welch": welch, "spread_over_welch": round(spread_ratio, 4),
                     "gaussian_over_welch": round(gauss_ratio, 3),
                     "gaussian_over_spread": round(gauss_ratio / spread_ratio, 2),
                     "seconds": round(seconds, 3)})
    print(json.dumps({"benchmark": "spread_coherence", "threads": args.threads,
                      "iterations": 500, "shapes": rows}))


if __name__ == "__main__":
    main()
