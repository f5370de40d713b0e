"""What a diagnose costs next to a plain forward + backward, batch 64, spectrum off.

Both are measured in the same run, interleaved (load changes hit both alike), ``--repeats``
times each; one JSON line with the best and the median times (ms) per model and their
ratios (``ratio``: best / best; ``median_ratio``: median / median). The baseline is a plain
forward + backward of the same model on the same batch with the same loss (cross entropy).
The issue's target: ratio <= ~2. The spectrum is off (``--spectrum auto`` adds the exact
Jacobian spectrum, which ``auto`` computes on these small models).

    .venv/bin/python benchmarks/diagnose_overhead.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import initlab


class SeedCNN(nn.Module):
    """The seed-cnn shape: Conv(1,16,3,p1)-ReLU-MaxPool2-Linear(16*14*14, 10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.act(self.conv1(x)))))


def _mlp(*widths: int) -> nn.Sequential:
    """Flatten, then Linear layers through ``widths`` with a ReLU between each two."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _two_conv() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS = {
    "mlp-784-512-256-10": lambda: _mlp(784, 512, 256, 10),
    "mlp-10x256": lambda: _mlp(784, *[256] * 9, 10),  # 10 Linear layers
    "seed-cnn": SeedCNN,
    "cnn-2conv": _two_conv,
}


def _plain(model, x, y):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: steadier on a shared machine)")
    ap.add_argument("--spectrum", default="off", help="diagnose's spectrum= (default off)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    out = {"benchmark": "diagnose_overhead", "batch": 64, "threads": torch.get_num_threads(),
           "repeats": args.repeats, "spectrum": args.spectrum, "models": {}}
    for name, make in MODELS.items():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = make()

        def diag(model=model):
            initlab.diagnose(model, x, y, spectrum=args.spectrum)

        for _ in range(2):  # warm-up both
            _plain(model, x, y)
            diag()
        plain, diagnose = [], []
        for _ in range(args.repeats):  # interleaved: load changes hit both alike
            plain.append(_time(lambda: _plain(model, x, y)))  # noqa: B023
            diagnose.append(_time(diag))
        p_best, d_best = min(plain), min(diagnose)
        p_med, d_med = statistics.median(plain), statistics.median(diagnose)
        out["models"][name] = {
            "plain_ms": round(p_best * 1e3, 2), "diagnose_ms": round(d_best * 1e3, 2),
            "ratio": round(d_best / p_best, 2),
            "plain_median_ms": round(p_med * 1e3, 2), "diagnose_median_ms": round(d_med * 1e3, 2),
            "median_ratio": round(d_med / p_med, 2),
        }
    out["max_ratio"] = max(m["ratio"] for m in out["models"].values())
    out["max_median_ratio"] = max(m["median_ratio"] for m in out["models"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
