"""Worker for the distributed tests (spawned processes import this module)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

POLICIES = ("auto", "orthogonal")  # elementwise draws (replayed per shard) and whole-matrix ones
SIZES = (1, 2, 4)


def build() -> nn.Module:
    # odd sizes: uneven shards; LSTM: fused chunks that straddle shard borders
    return nn.Sequential(nn.Linear(10, 7), nn.ReLU(), nn.Linear(7, 5), nn.Tanh(),
                         nn.LSTM(5, 3), nn.Embedding(9, 6, padding_idx=4))


def shard_params(model: nn.Module, mesh) -> None:
    """DTensor parameters, alternating Shard(0) and Shard(1)."""
    from torch.distributed.tensor import Shard, distribute_tensor

    for i, (name, p) in enumerate(list(model.named_parameters())):
        owner, _, attr = name.rpartition(".")
        module = model.get_submodule(owner)
        placement = Shard(i % 2) if p.dim() > 1 else Shard(0)
        setattr(module, attr, nn.Parameter(distribute_tensor(p.data, mesh, [placement])))


def _gather(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.full_tensor().detach().clone() for n, p in model.named_parameters()}


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """One process of a 4-process gloo group; meshes of 1, 2 and 4 ranks are slices of it."""
    import initlab

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from torch.distributed.fsdp import fully_shard
        from torch.distributed.tensor import init_device_mesh

        results = {}
        for size in SIZES:
            mesh = init_device_mesh("cpu", (world // size, size), mesh_dim_names=("rep", "shard"))
            mesh = mesh["shard"]
            for policy in POLICIES:
                model = build()
                shard_params(model, mesh)
                initlab.apply(model, policy, seed=5)
                results[f"dtensor-{policy}-{size}"] = _gather(model)
            # FSDP2: plan on the meta model, shard it, then materialize the local shards
            with torch.device("meta"):
                model = build()
            plan = initlab.plan(model, "auto")
            fully_shard(model[0], mesh=mesh)
            fully_shard(model, mesh=mesh)
            initlab.materialize(model, plan, seed=5, check_memory=False)
            results[f"fsdp2-auto-{size}"] = _gather(model)
        if rank == 0:
            torch.save(results, os.path.join(out_dir, "results.pt"))
    finally:
        dist.destroy_process_group()
