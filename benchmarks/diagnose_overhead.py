"""What a diagnose costs next to a plain forward + backward, batch 64, spectrum off.

Both are measured in the same run, interleaved, best of ``--repeats``; one JSON line with
the times (ms) and the ratio per model. The issue's target: ratio <= ~2.

    .venv/bin/python benchmarks/diagnose_overhead.py [--threads 1] [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
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


def _mlp(depth: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(784, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _two_conv() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS = {
    "mlp-784-512-256-10": lambda: _mlp(3, 512),
    "mlp-10x256": lambda: _mlp(10, 256),
    "seed-cnn": SeedCNN,
    "cnn-2conv": _two_conv,
}


def _plain(model, x, y):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    out = {"benchmark": "diagnose_overhead", "batch": 64, "threads": torch.get_num_threads(),
           "models": {}}
    for name, make in MODELS.items():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = make()
        plain, diag = float("inf"), float("inf")
        for _ in range(2):  # warm-up both
            _plain(model, x, y)
            initlab.diagnose(model, x, y, spectrum="off")
        for _ in range(args.repeats):  # interleaved: load changes hit both alike
            plain = min(plain, _best(lambda: _plain(model, x, y), 1))  # noqa: B023
            diag = min(diag, _best(lambda: initlab.diagnose(model, x, y, spectrum="off"), 1))  # noqa: B023
        out["models"][name] = {"plain_ms": round(plain * 1e3, 2), "diagnose_ms": round(diag * 1e3, 2),
                               "ratio": round(diag / plain, 2)}
    out["max_ratio"] = max(m["ratio"] for m in out["models"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
