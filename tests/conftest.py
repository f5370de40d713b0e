"""Suite-wide settings: one torch thread per test worker.

`make test` runs two xdist workers on a 2-core machine; letting each use every core
oversubscribes the CPU and makes the suite several times slower.
"""

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("INITLAB_TEST_THREADS"):
    torch.set_num_threads(int(os.environ.get("INITLAB_TEST_THREADS", "1")))
