"""Suite-wide settings: one torch thread per test.

`make test` runs two xdist workers on a 2-core machine; letting each use every core
oversubscribes the CPU, and the small matmuls of LSUV, the frame optimizer and the
reproductions' fast variants crawl when BLAS threads fight. Results are deterministic for a
given thread count. Tests that are about threads set their own count; each test gets the
previous count back afterwards. ``INITLAB_TEST_THREADS`` overrides the count.
"""

import os

import pytest

from initlab._core.threads import torch_threads

THREADS = int(os.environ.get("INITLAB_TEST_THREADS", "1"))


@pytest.fixture(autouse=True)
def _test_threads():
    with torch_threads(THREADS):
        yield
