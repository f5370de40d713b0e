"""Fashion-MNIST loading: ``initlab.lab.data.load`` vs the float path it replaced, one run.

Usage: ``python benchmarks/data_loading.py [--repeats N]``

- ``float_path``: both splits read one after the other, converted to float32 ``/ 255``,
  mean and std by ``torch.var_mean`` over the training floats, then normalized in place
  (four passes over the images, the loader before the histogram change);
- ``load``: :func:`initlab.lab.data.load` (splits read in parallel threads, statistics
  from 256-bin pixel histograms, one table-lookup pass).

Prints one JSON line: the best of ``--repeats`` wall times of each (seconds), their ratio,
the largest difference between the two normalized tensors (0 when the statistics agree to
float32) and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from initlab.lab.data import builtin as data
from initlab.lab.data.formats import read_idx_pair


def float_path(folder) -> tuple[torch.Tensor, torch.Tensor]:
    spec = data.spec("fashion-mnist")
    files = data._files_in(spec, folder)
    train_x, _, test_x, _ = (*read_idx_pair(files[0], files[1]),
                             *read_idx_pair(files[2], files[3]))
    train = torch.from_numpy(train_x.copy()).to(torch.float32).div_(255.0)
    test = torch.from_numpy(test_x.copy()).to(torch.float32).div_(255.0)
    var, mean = torch.var_mean(train, dim=(0, 2, 3), correction=0)
    m, s = mean.view(1, -1, 1, 1), var.sqrt().view(1, -1, 1, 1)
    return train.sub_(m).div_(s), test.sub_(m).div_(s)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    folder = data.locate("fashion-mnist")
    if folder is None:
        raise SystemExit("Fashion-MNIST not found: `apt-get install dataset-fashion-mnist`")
    best = {"float_path": float("inf"), "load": float("inf")}
    for _ in range(args.repeats):
        t = time.perf_counter()
        old = float_path(folder)
        best["float_path"] = min(best["float_path"], time.perf_counter() - t)
        t = time.perf_counter()
        new = data.load("fashion-mnist", folder, download=False)
        best["load"] = min(best["load"], time.perf_counter() - t)
    diff = max(float((old[0] - new.train_x).abs().max()), float((old[1] - new.test_x).abs().max()))
    result = {"benchmark": "data_loading", "dataset": "fashion-mnist",
              "float_path_s": round(best["float_path"], 3), "load_s": round(best["load"], 3),
              "ratio": round(best["float_path"] / best["load"], 2), "max_abs_diff": diff,
              "load_avg_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
