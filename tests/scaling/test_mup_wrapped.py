"""The μP parametrization lives in the Plan, so FSDP2 and torch.compile keep it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

import initlab
from initlab import mup
from initlab.scaling.models import Transformer


def make(width):
    return Transformer(width, depth=1, vocab=16, seq=4)


FSDP2 = textwrap.dedent("""
    import tempfile, torch, torch.distributed as dist
    import initlab
    from initlab import mup
    from initlab.scaling.models import Transformer
    from torch.distributed.fsdp import fully_shard
    dist.init_process_group("gloo", init_method=f"file://{tempfile.mktemp()}", rank=0,
                            world_size=1)
    make = lambda w: Transformer(w, depth=1, vocab=16, seq=4)
    model = make(64)
    plan = mup.plan(model, base=make, base_width=32)
    initlab.apply(model, plan, seed=0)
    mup.attach(model, plan)
    ids = torch.zeros(1, 4, dtype=torch.long)
    ref = model(ids).detach()
    before = {n: g["lr"] for g in mup.param_groups(model, plan, 1e-2) for n in g["names"]}
    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    groups = mup.param_groups(model, plan, 1e-2, weight_decay=0.1, optimizer="adamw")
    after = {n: g["lr"] for g in groups for n in g["names"]}
    assert after == before, (after, before)
    assert type(next(model.parameters())).__name__ == "DTensor"
    out = model(ids)
    assert torch.allclose(out, ref)
    out.sum().backward()
    torch.optim.AdamW(groups).step()
    dist.destroy_process_group()
    print("ok")
""")


def test_fsdp2_keeps_groups_and_forward():
    r = subprocess.run([sys.executable, "-c", FSDP2], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_torch_compile_keeps_the_attached_forward():
    model = make(64)
    plan = mup.plan(model, base=make, base_width=32)
    initlab.apply(model, plan, seed=0)
    mup.attach(model, plan)
    ids = torch.zeros(2, 4, dtype=torch.long)
    compiled = torch.compile(model, backend="eager")
    assert torch.allclose(compiled(ids), model(ids))
    plain = {n: g["lr"] for g in mup.param_groups(model, plan, 1e-2) for n in g["names"]}
    wrapped = {n: g["lr"] for g in mup.param_groups(compiled, plan, 1e-2) for n in g["names"]}
    assert wrapped == plain and min(plain.values()) == 1e-2 / 2   # names unwrapped, m = 2
