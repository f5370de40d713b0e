"""The seed-cnn experiment the tutorial way vs ``initlab compare``'s path, side by side.

Usage: ``python benchmarks/seed_experiment.py [--repeats N] [--fraction F] [--epochs E]
[--device D] [--no-stack]``

Both sides train the same model (Conv(1,16,3,p1)-ReLU-MaxPool2-Linear) on Fashion-MNIST
with conv1 initialized four ways (xavier_normal, kaiming_normal(fan_out, relu),
normal(std=0.01), zeros), SGD lr 0.01 momentum 0.9, batch 64, the same number of steps,
and evaluate on the test split after each epoch:

- tutorial: a per-sample ``Dataset`` returning normalized tensors (what
  ``ToTensor() + Normalize()`` do), ``DataLoader(batch_size=64, shuffle=True)``, the four
  models trained one after another;
- initlab: the ``initlab compare`` command itself, with the same settings and its own
  defaults (in-memory batches; the four runs of the seed stacked: on CPU two stacked
  pairs trained in parallel, one per core, the second in a forked process
  (``INITLAB_GROUPS=threads``: in a thread); gradient norms of the first 20 steps;
  everything recorded in
  SQLite; the summary table printed; the HTML report with its three plots, CSV and JSON
  written): end to end, data loading included on both sides.

Each side runs in its own fresh Python process (torch imported and one warm-up step made
before its clock starts), so neither inherits the other's heap, threads or settings;
with ``--repeats N`` the order alternates. Prints one JSON line per repeat with the CPU
model and core count, both wall times (seconds), ``ratio`` = tutorial / initlab, the CPU
seconds each side used, forked children included (about 2 x its wall time when it had
both cores), how initlab ran its groups (``groups``: processes or threads), and the
1-minute load average before, between and after the two sides: on a shared machine, other
processes slow torch's intra-op threads (the tutorial's) far more than initlab's
one-thread-per-core groups, so a ratio measured under load overstates the speed-up. With
``--repeats`` > 1 a last line gives the ratios' median, min and max.
``--fraction`` uses the first fraction of both splits (a quick check).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model  # noqa: E402

INITS = {
    "xavier_normal": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    "kaiming_normal(mode='fan_out', nonlinearity='relu')":
        lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu",
                                             generator=g),
    "normal(std=0.01)": lambda w, g: nn.init.normal_(w, std=0.01, generator=g),
    "zeros": lambda w, g: nn.init.zeros_(w),
}


def _idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _files(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{stem}(.gz) not in {folder}")


class FashionDataset(TorchDataset):
    """The tutorial Dataset: uint8 images, converted and normalized one sample at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: float, std: float):
        self.images, self.labels = torch.from_numpy(images.copy()), labels.astype(np.int64)
        self.mean, self.std = mean, std

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].float().div(255.0).unsqueeze(0)
        return (x - self.mean) / self.std, int(self.labels[i])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(F.relu(self.conv1(x))), 1))


def tutorial(folder: Path, n_train: int, n_test: int, epochs: int, device: str) -> dict:
    t0, c0 = time.perf_counter(), _cpu()
    xi = _idx(_files(folder, "train-images-idx3-ubyte"))[:n_train]
    yi = _idx(_files(folder, "train-labels-idx1-ubyte"))[:n_train]
    xt = _idx(_files(folder, "t10k-images-idx3-ubyte"))[:n_test]
    yt = _idx(_files(folder, "t10k-labels-idx1-ubyte"))[:n_test]
    mean, std = float(xi.mean() / 255.0), float(xi.std() / 255.0)
    train_set, test_set = FashionDataset(xi, yi, mean, std), FashionDataset(xt, yt, mean, std)
    accs = {}
    for k, (name, init) in enumerate(INITS.items()):
        torch.manual_seed(k)  # a script emulating tutorials may use the global RNG
        g = torch.Generator().manual_seed(k)
        model = Net().to(device)
        init(model.conv1.weight, g)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=g)
        for _ in range(epochs):
            model.train()
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in DataLoader(test_set, batch_size=1000):
                    correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        accs[name] = correct / len(test_set)
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "test_acc": accs}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (initlab trains all but
    one per-core group in forked processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def initlab_side(n_train: int | None, n_test: int | None, epochs: int, device: str,
                 stack: bool = True) -> dict:
    """``initlab compare ...`` with the tutorial's settings, run in this process through
    the CLI command itself (its defaults included: gradient norms of the first 20 steps,
    the summary table, the store and the whole report). Only the command's own module is
    imported beforehand, as the tutorial side imports torch before its clock starts."""
    from initlab.cli.compare import command

    out = Path(tempfile.mkdtemp(prefix="initlab-bench-"))
    args = ["--model", "seed-cnn", "--dataset", "fashion-mnist", "--policies", ",".join(INITS),
            "--target", "conv1.weight", "--seeds", "1", "--epochs", str(epochs),
            "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9", "--batch-size", "64",
            "--device", device, "--out", str(out), "--stack" if stack else "--no-stack"]
    args += ["--n-train", str(n_train)] if n_train is not None else []
    args += ["--n-test", str(n_test)] if n_test is not None else []
    printed = io.StringIO()
    t0, c0 = time.perf_counter(), _cpu()
    with contextlib.redirect_stdout(printed):
        command.main(args, prog_name="initlab compare", standalone_mode=False)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    report = json.loads((out / "report.json").read_text())
    return {"seconds": seconds, "cpu": cpu, "stacked": report["runs"][0]["stacked"],
            "done": sum(r["status"] == "done" for r in report["runs"]),
            "test_acc": {s["init"]: s["test_acc_mean"] for s in report["summary"]},
            "out": str(out)}


def _warm_up(device: str) -> None:
    """One untimed step (optimizer import, kernel set-up) so neither side pays it alone."""
    g = torch.Generator().manual_seed(0)
    model = Net().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(64, 1, 28, 28, generator=g).to(device, memory_format=fmt)
        F.cross_entropy(model.to(memory_format=fmt)(x), torch.zeros(64, dtype=torch.long,
                                                                     device=device)).backward()
        opt.step()


def _load() -> float | None:
    """The 1-minute load average (other processes compete for the same cores)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _side(args) -> dict:
    """One side, in this (fresh) process: the result as a dict."""
    from initlab.lab.data import locate
    from initlab.lab.train.forked import fork_problem, group_mode

    folder = locate("fashion-mnist")
    if folder is None:
        raise SystemExit("Fashion-MNIST not found: `apt-get install dataset-fashion-mnist` "
                         "or `initlab data --download fashion-mnist`")
    n_train, n_test = int(60000 * args.fraction), int(10000 * args.fraction)
    sub = (None, None) if args.fraction >= 1 else (n_train, n_test)
    _warm_up(args.device)
    if args.side == "tutorial":
        return tutorial(folder, n_train, n_test, args.epochs, args.device)
    out = initlab_side(*sub, args.epochs, args.device, not args.no_stack)
    out["groups"] = ("threads" if fork_problem(args.device) or group_mode() == "threads"
                     else "processes")
    return out


def _run_side(side: str, args) -> dict:
    """``side`` in a fresh Python process: neither side inherits the other's heap, threads
    or settings."""
    cmd = [sys.executable, __file__, "--side", side, "--fraction", str(args.fraction),
           "--epochs", str(args.epochs), "--device", args.device]
    cmd += ["--no-stack"] if args.no_stack else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"Error: the {side} side failed (exit {done.returncode}): {last}", file=sys.stderr)
        raise SystemExit(2)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=1.0,
                    help="use the first fraction of both splits (default 1: all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1,
                    help="measure both sides this many times, alternating which goes first, "
                         "and print a summary line with the spread of the ratio")
    ap.add_argument("--no-stack", action="store_true",
                    help="pass --no-stack to initlab compare (default: stacked, on CUDA all "
                         "four runs as one model, on CPU one stacked pair per core)")
    ap.add_argument("--side", choices=("tutorial", "initlab"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1; got {args.repeats}")
    if args.side:
        print(json.dumps(_side(args)))
        return []
    n_train = int(60000 * args.fraction)
    results = []
    for rep in range(args.repeats):
        order = ("initlab", "tutorial") if rep % 2 == 0 else ("tutorial", "initlab")
        load, sides = [_load()], {}
        for side in order:
            sides[side] = _run_side(side, args)
            load.append(_load())
        fast, slow = sides["initlab"], sides["tutorial"]
        if fast["done"] != len(INITS):
            raise SystemExit(f"initlab compare finished {fast['done']} of {len(INITS)} runs")
        result = {"benchmark": "seed_experiment", "cpu": cpu_model(), "cores": os.cpu_count(),
                  "device": args.device, "stack": not args.no_stack, "order": list(order),
                  "threads": torch.get_num_threads(), "inits": len(INITS),
                  "epochs": args.epochs, "n_train": n_train,
                  "steps_per_model": args.epochs * -(-n_train // 64),
                  "tutorial_s": round(slow["seconds"], 2),
                  "initlab_s": round(fast["seconds"], 2),
                  "ratio": round(slow["seconds"] / fast["seconds"], 2),
                  # CPU seconds of each side: close to 2 x wall when a side had both cores
                  "tutorial_cpu_s": round(slow["cpu"], 2), "initlab_cpu_s": round(fast["cpu"], 2),
                  "initlab_stacked": fast["stacked"], "groups": fast["groups"],
                  "load_avg_1min": load,  # before, between, after: other processes on the cores
                  "test_acc_tutorial": {k: round(v, 4) for k, v in slow["test_acc"].items()},
                  "test_acc_initlab": {k: round(v, 4) for k, v in fast["test_acc"].items()}}
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.repeats > 1:
        ratios = sorted(r["ratio"] for r in results)
        print(json.dumps({"benchmark": "seed_experiment_summary", "cpu": cpu_model(),
                          "cores": os.cpu_count(), "repeats": args.repeats,
                          "ratios": [r["ratio"] for r in results],
                          "ratio_median": statistics.median(ratios), "ratio_min": ratios[0],
                          "ratio_max": ratios[-1],
                          "tutorial_s": [r["tutorial_s"] for r in results],
                          "initlab_s": [r["initlab_s"] for r in results]}))
    return results


if __name__ == "__main__":
    main()
