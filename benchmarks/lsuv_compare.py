"""LSUV: initlab.calibrate.lsuv_ vs the `lsuv` package (PyPI) on the same model and batch.

Both start from the same weights, both must bring every conv/linear output to unit variance
(initlab: |Var - 1| < 0.1; lsuv: |std - 1| < 0.04, which implies it); one timed run each.
Prints one JSON line. Run: .venv/bin/python benchmarks/lsuv_compare.py [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
from torch import nn

import initlab.calibrate

TOL = 0.1


def build(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU()]
    for i in range(6):
        layers += [nn.Conv2d(32, 32, 3, padding=1, stride=2 if i in (1, 3) else 1), nn.ReLU()]
    layers += [nn.Flatten(), nn.Linear(32 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def output_variances(model: nn.Module, x: torch.Tensor) -> list[float]:
    out: list[float] = []
    hooks = [m.register_forward_hook(lambda mod, a, y: out.append(float(y.var(unbiased=False))))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    base = build()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    result: dict = {"benchmark": "lsuv_compare", "model": "8 conv + 2 linear, ReLU, 32x32",
                    "batch": args.batch, "threads": args.threads, "tol_var": TOL}

    start = time.perf_counter()
    record = initlab.calibrate.lsuv_(ours, x, tol=TOL, max_iter=10, seed=0)
    result["initlab_s"] = time.perf_counter() - start
    result["initlab_iterations"] = sum(r.iterations for r in record)
    dev = [abs(v - 1) for v in output_variances(ours, x)]
    result["initlab_max_dev"] = max(dev)

    try:
        from lsuv import lsuv_with_singlebatch
    except ImportError:
        result["lsuv_pkg"] = "not installed (pip install lsuv --no-deps)"
    else:
        torch.manual_seed(0)  # the package draws its orthonormal init from the global RNG
        start = time.perf_counter()
        lsuv_with_singlebatch(theirs, x, std_tol=0.04, max_attempts=10, verbose=False)
        result["lsuv_pkg_s"] = time.perf_counter() - start
        dev_pkg = [abs(v - 1) for v in output_variances(theirs, x)]
        result["lsuv_pkg_max_dev"] = max(dev_pkg)
        result["both_within_tol"] = max(dev) < TOL and max(dev_pkg) < TOL
        result["ratio_pkg_over_initlab"] = result["lsuv_pkg_s"] / result["initlab_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
