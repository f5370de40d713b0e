"""The lab's training loop vs the tutorial loop, seed-cnn on Fashion-MNIST, in one run.

Baseline: the way tutorials write it: a per-sample ``Dataset`` that normalizes each image
in ``__getitem__``, ``DataLoader(batch_size=64, shuffle=True)``, ``model(x)``, loss,
``backward``, ``step``, ``loss.item()`` every step, models one after another.
initlab: ``initlab.lab.train.train`` (in-memory batches, channels-last on CPU), the same
loop without channels-last, and ``train_stacked(..., stack="always")``.
Same models (same init), optimizer (SGD lr 0.01 momentum 0.9), batch size and number of
steps. Prints one JSON line with seconds per model-epoch and the speed-up ratios.

    .venv/bin/python benchmarks/train_loop.py --steps 150 --models 4 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from initlab.lab import data, models
from initlab.lab.train import TrainConfig, train, train_stacked


class _PerSample(TorchDataset):
    def __init__(self, images_uint8, labels, mean, std):
        self.x, self.y, self.mean, self.std = images_uint8, labels, mean, std

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i].float().div(255.0).sub(self.mean).div(self.std)
        return img, int(self.y[i])


def tutorial(model, ds_raw, steps, seed):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(ds_raw, batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    done, running = 0, 0.0
    while done < steps:
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            running += loss.item()
            done += 1
            if done >= steps:
                break
    return running / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best kept)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = data.load("fashion-mnist", download=False)
    raw = (ds.train_x * ds.std[0] + ds.mean[0]).mul(255).round().to(torch.uint8)
    ds_raw = _PerSample(raw, ds.train_y, ds.mean[0], ds.std[0])
    nets = []
    for seed in range(args.models):
        torch.manual_seed(seed)
        nets.append(models.build("seed-cnn", ds.input_shape, ds.num_classes))
    cfg = TrainConfig(lr=0.01, momentum=0.9, batch_size=64, steps=args.steps,
                      eval_batch_size=4096)
    sub = ds.subset(None, 0)  # no test evaluation: time the training only
    no_cl = TrainConfig(**{**cfg.to_dict(), "channels_last": False})
    variants = {
        "tutorial": lambda: [tutorial(copy.deepcopy(n), ds_raw, args.steps, 0) for n in nets],
        "initlab": lambda: [train(copy.deepcopy(n), sub, cfg, data_seed=0) for n in nets],
        "initlab_contiguous": lambda: [train(copy.deepcopy(n), sub, no_cl, data_seed=0)
                                       for n in nets],
        "initlab_stacked": lambda: train_stacked([copy.deepcopy(n) for n in nets], sub, cfg,
                                                 data_seed=0, stack="always"),
    }
    timings = {name: float("inf") for name in variants}
    for _ in range(args.repeats):  # interleaved rounds, best of each: robust to a busy machine
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            timings[name] = min(timings[name], time.perf_counter() - start)
    steps_per_epoch = -(-len(ds.train_y) // 64)
    per_epoch = {k: round(v / args.models * steps_per_epoch / args.steps, 2)
                 for k, v in timings.items()}
    print(json.dumps({
        "benchmark": "train_loop", "model": "seed-cnn", "dataset": "fashion-mnist",
        "models": args.models, "steps": args.steps, "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "seconds_per_model_epoch": per_epoch,
        "ratio_initlab_vs_tutorial": round(timings["tutorial"] / timings["initlab"], 2),
        "ratio_stacked_vs_tutorial": round(timings["tutorial"] / timings["initlab_stacked"], 2),
        "ratio_channels_last_vs_contiguous":
            round(timings["initlab_contiguous"] / timings["initlab"], 2),
    }))


if __name__ == "__main__":
    main()
