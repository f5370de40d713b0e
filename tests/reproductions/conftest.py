"""One intra-op thread for the reproductions' fast variants: the suite runs on 2 shared cores
(2 xdist workers), and the small matmuls of these runs crawl when BLAS threads are
oversubscribed. Results are deterministic for a given thread count."""

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
