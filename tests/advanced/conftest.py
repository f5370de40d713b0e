"""One intra-op thread for these tests: `make test` runs 2 xdist workers on 2 cores, and the
small matmuls of the frame optimizer and LSUV crawl when BLAS threads are oversubscribed."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
