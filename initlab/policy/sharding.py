"""Filling one plan row into a parameter, whole or sharded (DTensor / FSDP2), bit-identically.

A DTensor parameter's rank-local tensor is the global slice ``region`` (computed by torch
from the mesh and placements, uneven shards included). For an *elementwise* initializer
the local shard is filled on its own from the keyed stream (``KeyedSource(region=...)``):
the initializer runs once on a meta tensor of the global shape (so its fans and std come
from the global shape), its random draws and in-place tensor ops are recorded, then
replayed on the local shard. Initializers that need the whole matrix (orthogonal, eye,
delta-orthogonal, ...) or whose ops cannot be replayed are computed in full and the local
slice is copied. Either way the gathered tensor equals single-process init with the seed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from initlab.errors import ConfigError
from initlab.init.source import Source
from initlab.rng import KeyedSource

if TYPE_CHECKING:
    from initlab.init.registry import Initializer
    from initlab.policy.plan_rows import PlanRow

# one recorded step: ("draw", tensor, method, args) or ("op", func, args, kwargs)
LogEntry = tuple[Any, ...]

__all__ = ["is_sharded", "local_view", "fill_row", "fill_block"]


def is_sharded(param: object) -> bool:
    """A DTensor? (No DTensor can exist unless torch.distributed.tensor was imported: a heavy
    import we avoid for plain models.)"""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(param, module.DTensor)


def local_view(param: torch.Tensor) -> tuple[torch.Tensor, tuple[slice, ...] | None]:
    """(the tensor this process writes, its region in the global parameter or None)."""
    if not is_sharded(param):
        return param.data, None
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    shape, offset = compute_local_shape_and_global_offset(
        param.shape, param.device_mesh, param.placements)  # type: ignore[attr-defined]
    local = param._local_tensor if hasattr(param, "_local_tensor") else param.to_local()  # type: ignore[attr-defined]
    return local, tuple(slice(o, o + s) for o, s in zip(offset, shape))


class _NotReplayable(Exception):
    pass


class _Recorder:
    """A source that records draws instead of making them; ops on the target are recorded
    by :class:`_OpRecorder`."""

    def __init__(self, log: list[LogEntry]) -> None:
        self.log = log

    def normal_(self, t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        self.log.append(("draw", t, "normal_", (mean, std)))
        return t

    def uniform_(self, t: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        self.log.append(("draw", t, "uniform_", (low, high)))
        return t

    def trunc_normal_(self, t: torch.Tensor, mean: float, std: float, a: float,
                      b: float) -> torch.Tensor:
        self.log.append(("draw", t, "trunc_normal_", (mean, std, a, b)))
        return t

    def generator(self, device: torch.device | str) -> torch.Generator | None:
        raise _NotReplayable("needs a generator")


_QUERIES = {"size", "dim", "numel", "__get__", "is_floating_point", "is_complex", "element_size",
            "stride", "is_contiguous", "__len__", "ndimension", "nelement"}


class _OpRecorder(TorchFunctionMode):
    """Records in-place ops on ``target`` whose other arguments are not tensors."""

    def __init__(self, target: torch.Tensor, log: list[LogEntry]) -> None:
        super().__init__()
        self.target, self.log = target, log

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        flat = [*args, *kwargs.values()]
        involves = any(a is self.target for a in flat)
        if not involves or name in _QUERIES:
            if involves or not any(isinstance(a, torch.Tensor) and a.is_meta for a in flat):
                return func(*args, **kwargs)
            raise _NotReplayable(f"{name} on a derived tensor")
        others = [a for a in flat if isinstance(a, torch.Tensor) and a is not self.target]
        out = func(*args, **kwargs)
        if others or out is not self.target or not args or args[0] is not self.target:
            raise _NotReplayable(f"{name} is not an in-place elementwise op on the tensor")
        self.log.append(("op", func, args[1:], kwargs))
        return out


def _record(init: Initializer, shape: tuple[int, ...], dtype: torch.dtype, layout: str | None,
            groups: int) -> list[LogEntry]:
    target = torch.empty(shape, dtype=dtype, device="meta")
    log: list[LogEntry] = []
    with _OpRecorder(target, log):
        init.fill_(target, _Recorder(log), layout=layout, groups=groups)
    if any(entry[0] == "draw" and entry[1] is not target for entry in log):
        raise _NotReplayable("draws into a derived tensor")
    return log


def _replay(log: list[LogEntry], dest: torch.Tensor, source: Source) -> None:
    for entry in log:
        if entry[0] == "draw":
            getattr(source, entry[2])(dest, *entry[3])
        else:
            entry[1](dest, *entry[2], **entry[3])


def fill_row(param: torch.Tensor, rows: slice, shape: tuple[int, ...], init: Initializer, *,
             seed: int, key: str, spec: str, layout: str | None, groups: int,
             threads: int | None = None) -> None:
    """Fill ``param[rows]`` (global coordinates, ``shape`` = that block) with ``init``."""
    local, region = local_view(param)
    if region is None or not region:  # whole tensor (or a replicated scalar)
        dest = local[rows] if rows != slice(0, local.shape[0] if local.dim() else 1) else local
        _fill_whole(dest, init, KeyedSource(seed, key, tuple(shape), spec=spec, threads=threads),
                    layout, groups)
        return
    lo, hi = max(region[0].start, rows.start), min(region[0].stop, rows.stop)
    if lo >= hi or any(r.start >= r.stop for r in region[1:]):
        return  # this rank holds nothing of this block
    sub = (slice(lo - rows.start, hi - rows.start), *region[1:])
    dest = local[lo - region[0].start: hi - region[0].start]
    if getattr(init, "elementwise", False):
        try:
            log = _record(init, tuple(shape), dest.dtype, layout, groups)
        except _NotReplayable:
            log = None  # computed in full below
        if log is not None:
            src = KeyedSource(seed, key, tuple(shape), spec=spec, region=sub, threads=threads)
            tmp = dest if dest.is_contiguous() else torch.empty_like(dest, memory_format=torch.contiguous_format)
            _replay(log, tmp, src)
            if tmp is not dest:
                dest.copy_(tmp)
            return
    full = torch.empty(tuple(shape), dtype=dest.dtype, device=dest.device)
    init.fill_(full, KeyedSource(seed, key, tuple(shape), spec=spec, threads=threads),
               layout=layout, groups=groups)
    dest.copy_(full[sub])


def _fill_whole(dest: torch.Tensor, init: Initializer, source: Source, layout: str | None,
                groups: int) -> None:
    if dest.is_contiguous():
        init.fill_(dest, source, layout=layout, groups=groups)
        return
    tmp = torch.empty(dest.shape, dtype=dest.dtype, device=dest.device)
    init.fill_(tmp, source, layout=layout, groups=groups)
    dest.copy_(tmp)


def fill_block(param: torch.Tensor, dest: torch.Tensor, row: PlanRow, init: Initializer, *,
               seed: int, threads: int | None = None) -> None:
    """Fill a plan row's block (a transposed view, a fused section, one MoE expert) of an
    unsharded parameter: drawn in the block's own (out, in) shape, then copied in."""
    if is_sharded(param):
        raise ConfigError(
            f"'{row.key}' is a block of a sharded parameter (fused, transposed or MoE layout); "
            "expected an unsharded tensor. Hint: initialize before sharding, or shard with "
            "Shard(0) after initlab.materialize on one rank.")
    source = KeyedSource(seed, row.key, tuple(row.shape), spec=row.init, threads=threads)
    _fill_whole(dest, init, source, row.layout, row.groups)
