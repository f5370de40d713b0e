"""Reliability suite: one torch thread (and one initlab fill thread) per process.

The suite starts subprocesses (killed sweeps, concurrent drivers); they inherit
``INITLAB_THREADS`` and ``OMP_NUM_THREADS`` so that several of them never oversubscribe
the 2-core CI machine. Restored after each test (other suites keep their settings).
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("INITLAB_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)
