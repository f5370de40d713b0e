"""Sharded init: DTensor Shard(0)/Shard(1) and FSDP2 on CPU/gloo, 1 vs 2 vs 4 ranks.

Each rank fills only its local shard from the keyed streams; the gathered parameters must
equal single-process init with the same seed, bit for bit. One spawn of 4 processes
covers the mesh sizes 1, 2 and 4 (slices of a 2-D mesh) to keep the test fast.
"""

import multiprocessing
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _policy_dist import POLICIES, SIZES, build, worker

import initlab
from initlab.policy.sharding import _NotReplayable, _record

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # forkserver with torch and initlab preloaded: one import instead of one per rank
    multiprocessing.set_forkserver_preload(
        ["torch", "torch.distributed.tensor", "torch.distributed.fsdp", "initlab", "_policy_dist"])
    mp.start_processes(worker, args=(4, _free_port(), str(out)), nprocs=4, join=True,
                       start_method="forkserver")
    return torch.load(out / "results.pt")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", [f"dtensor-{p}" for p in POLICIES] + ["fsdp2-auto"])
def test_gathered_shards_equal_single_process_init(results, kind, size):
    policy = kind.split("-")[1]
    ref = build()
    initlab.apply(ref, policy, seed=5)
    got = results[f"{kind}-{size}"]
    for name, p in ref.named_parameters():
        assert torch.equal(got[name], p.detach()), (kind, size, name)
    assert torch.equal(got["5.weight"][4], torch.zeros(6))  # padding row, whichever rank has it


def test_elementwise_inits_are_replayed_per_shard():
    """An elementwise init records its draws on a meta tensor of the global shape."""
    from initlab.init import get

    log = _record(get("kaiming_normal(nonlinearity='relu')"), (6, 4), torch.float32, "linear", 1)
    assert [e[0] for e in log] == ["draw"] and log[0][2] == "normal_"
    assert log[0][3][1] == pytest.approx(2**0.5 / 2)  # std from the global fan_in = 4
    with pytest.raises(_NotReplayable):
        _record(get("orthogonal"), (6, 4), torch.float32, "linear", 1)
