"""Why two per-core groups of stacked runs slow each other down: the GIL or the hardware?

One stacked pair of seed-cnn runs trains 1 epoch on the first 16384 Fashion-MNIST images
(synthetic data when it is not installed) with 1 intra-op thread, three ways, each timed
after a warm-up: alone; two pairs in two threads of one process (what
``train_stacked(stack="auto")`` does on 2 cores); two pairs in two separate processes (no
shared GIL). Threads slower than processes = GIL contention; processes slower than alone =
the cores sharing caches and memory bandwidth. One JSON line.

    .venv/bin/python benchmarks/stack_contention.py
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time

import torch

from initlab.lab import data as lab_data
from initlab.lab import models
from initlab.lab.train import TrainConfig
from initlab.lab.train.stacked import _engine_for, _train_group

N_TRAIN = 16384
CONFIG = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=64, epochs=1)


def _data():
    if lab_data.locate("fashion-mnist") is not None:
        return lab_data.load("fashion-mnist", progress=False).subset(N_TRAIN, 1000)
    return lab_data.synthetic(N_TRAIN, 1000, (1, 28, 28), 10, seed=0)


def _pair(data):
    """A stacked seed-cnn pair and its engine (built before any thread trains: building
    traces the model with torch.fx, which must not overlap another thread's forward)."""
    pair = [models.build("seed-cnn", (1, 28, 28), 10) for _ in range(2)]
    return pair, _engine_for(pair, data, CONFIG)


def _pair_seconds(data, built=None) -> float:
    pair, engine = built or _pair(data)
    t0 = time.perf_counter()
    _train_group(pair, data, CONFIG, 0, None, engine)
    return time.perf_counter() - t0


def _process(barrier, out) -> None:
    torch.set_num_threads(1)
    data = _data()
    _pair_seconds(data)  # warm-up
    barrier.wait()
    out.put(_pair_seconds(data))


def main() -> None:
    torch.set_num_threads(1)
    data = _data()
    _pair_seconds(data)  # warm-up
    alone = min(_pair_seconds(data) for _ in range(2))
    times: list[float] = []
    built = [_pair(data) for _ in range(2)]

    def work(b):
        times.append(_pair_seconds(data, b))

    threads = [threading.Thread(target=work, args=(b,)) for b in built]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    proc_times = [out.get() for _ in procs]
    for p in procs:
        p.join()
    print(json.dumps({
        "benchmark": "stack_contention", "n_train": N_TRAIN, "data": data.name,
        "pair_alone_s": round(alone, 3),
        "pair_in_threads_s": [round(t, 3) for t in times],
        "pair_in_processes_s": [round(t, 3) for t in proc_times],
        "gil_share": round(1 - max(proc_times) / max(times), 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
