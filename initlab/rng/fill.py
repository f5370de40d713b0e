"""Chunked, parallel filling of flat ranges and regions of a keyed stream (part of
:mod:`initlab.rng`)."""

from __future__ import annotations

import math
import threading

import torch

from initlab.rng.dists import Params, _Dist, _resolve
from initlab.rng.seeding import _bad, _seed, derive
from initlab.rng.threads import _check_threads, _get_pool, get_num_threads

CHUNK = 2**18
"""Elements per chunk. Part of the contract: changing it changes every keyed value."""

_BLOCK = 16  # torch's CPU normal kernel transforms its uniforms in blocks of 16

_local = threading.local()  # per worker thread: one CPU generator, one scratch chunk per dtype


def _cpu_task(buf: torch.Tensor, start: int, chunks: range, spec: _Dist, p: Params,
              stream: int) -> None:
    """Fill chunks ``chunks`` of flat range ``[start, start+buf.numel())`` into ``buf``."""
    if not hasattr(_local, "gen"):
        _local.gen, _local.scratch = torch.Generator(), {}
    g, end = _local.gen, start + buf.numel()
    for c in chunks:
        c0 = c * CHUNK
        lo, hi = max(start, c0), min(end, c0 + CHUNK)
        _seed(g, derive(stream, c))
        if hi - lo == CHUNK:
            spec.chunk(buf[lo - start : hi - start], p, g)
            continue
        need = min(CHUNK, -(-(hi - c0) // _BLOCK) * _BLOCK)  # the prefix, rounded up to 16
        scratch = _local.scratch.get(buf.dtype)
        if scratch is None:
            scratch = _local.scratch[buf.dtype] = torch.empty(CHUNK, dtype=buf.dtype)
        spec.chunk(scratch[:need], p, g)
        buf[lo - start : hi - start].copy_(scratch[lo - c0 : hi - c0])


def _device_task(buf: torch.Tensor, start: int, spec: _Dist, p: Params, stream: int) -> None:
    """CUDA (and other devices): whole chunks, one fresh generator each, launched in order."""
    end, scratch = start + buf.numel(), None
    for c in range(start // CHUNK, -(-end // CHUNK)):
        c0 = c * CHUNK
        lo, hi = max(start, c0), min(end, c0 + CHUNK)
        g = torch.Generator(device=buf.device)
        _seed(g, derive(stream, c))
        if hi - lo == CHUNK:
            spec.chunk(buf[lo - start : hi - start], p, g)
            continue
        if scratch is None:
            scratch = torch.empty(CHUNK, dtype=buf.dtype, device=buf.device)
        spec.chunk(scratch, p, g)
        buf[lo - start : hi - start].copy_(scratch[lo - c0 : hi - c0])


def _fill_flat(buf: torch.Tensor, start: int, spec: _Dist, p: Params, stream: int,
               threads: int) -> None:
    """Fill contiguous 1-D ``buf`` (generation dtype) with flat positions ``[start, ...)``."""
    n = buf.numel()
    if n == 0:
        return
    if buf.device.type != "cpu":
        _device_task(buf, start, spec, p, stream)
    else:
        first, count = start // CHUNK, (start + n - 1) // CHUNK - start // CHUNK + 1
        workers = min(threads, count)
        if workers <= 1:
            _cpu_task(buf, start, range(first, first + count), spec, p, stream)
        else:  # one contiguous, balanced run of chunks per worker: no per-chunk dispatch
            cut = [first + count * k // workers for k in range(workers + 1)]
            pool = _get_pool(workers)
            jobs = [pool.submit(_cpu_task, buf, start, range(cut[k], cut[k + 1]), spec, p, stream)
                    for k in range(workers)]
            for job in jobs:
                job.result()
    if spec.post is not None:  # elementwise, so torch's own intra-op threads may split it
        spec.post(buf, p)


def _gen_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype in (torch.float32, torch.float16, torch.bfloat16):
        return torch.float32
    if dtype == torch.float64:
        return torch.float64
    raise _bad(f"cannot fill a {dtype} tensor with random values", f"dtype {dtype}",
               "float16, bfloat16, float32 or float64", "fill a float tensor and convert it")


def _fill_run(out: torch.Tensor, start: int, spec: _Dist, p: Params, stream: int,
              threads: int) -> None:
    """Fill ``out`` (any layout, row-major order) with flat positions ``[start, ...)``."""
    gdtype = _gen_dtype(out.dtype)
    direct = out.is_contiguous() and out.dtype == gdtype
    buf = out.view(-1) if direct else torch.empty(out.numel(), dtype=gdtype, device=out.device)
    _fill_flat(buf, start, spec, p, stream, threads)
    if not direct:
        out.copy_(buf.view(out.shape))


def fill_(out: torch.Tensor, dist: str, *, stream: int, start: int = 0, threads: int | None = None,
          **params: float) -> torch.Tensor:
    """Fill ``out`` in place with flat positions ``[start, start+numel)`` of keyed ``stream``.

    ``dist``: ``"normal"`` (mean=0, std=1), ``"uniform"`` (low=0, high=1) or ``"trunc_normal"``
    (mean=0, std=1, a=-2, b=2: absolute bounds, torch's inverse-CDF algorithm). Elements are
    taken in ``out``'s row-major order (a non-contiguous ``out`` goes through a buffer).
    ``threads`` (default :func:`get_num_threads`) never changes the values.
    """
    spec, p = _resolve(dist, params)
    if isinstance(stream, bool) or not isinstance(stream, int) or not 0 <= stream < 2**63:
        raise _bad("invalid stream", repr(stream), "an int in [0, 2**63)",
                   "make one with initlab.rng.derive(seed, key, ...)")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise _bad("invalid start", repr(start), "an int >= 0", "start is a flat element index")
    threads = get_num_threads() if threads is None else _check_threads(threads)
    _fill_run(out, start, spec, p, stream, threads)
    return out


def _region_ranges(region: tuple[slice, ...], shape: tuple[int, ...],
                   t_shape: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    if len(region) > len(shape):
        raise _bad("region has too many dims", f"{len(region)} slices", f"at most {len(shape)} "
                   f"for global shape {tuple(shape)}", "one slice per leading dim")
    ranges = []
    for d, size in enumerate(shape):
        s = region[d] if d < len(region) else slice(None)
        if not isinstance(s, slice):
            raise _bad(f"invalid region entry for dim {d}", repr(s), "a slice",
                       "use slice(start, stop) (an int index would drop the dim)")
        lo, hi, step = s.indices(size)
        if step < 1:
            raise _bad(f"invalid region step for dim {d}", step, "a positive step",
                       "flip the tensor after filling instead")
        ranges.append((lo, max(lo, hi), step))
    r_shape = tuple(len(range(*r)) for r in ranges)
    if r_shape != tuple(t_shape):
        raise _bad("tensor shape does not match its region", f"tensor {tuple(t_shape)}, region "
                   f"{r_shape} of global {tuple(shape)}", "equal shapes",
                   "pass the shard tensor global[region]")
    return tuple(ranges)


def _fill_region(out: torch.Tensor, spec: _Dist, p: Params, stream: int, threads: int,
                 shape: tuple[int, ...], ranges: tuple[tuple[int, int, int], ...]) -> None:
    """Fill ``out`` = ``global[region]``, generating only the chunks the region touches."""
    if out.numel() == 0:
        return
    row = math.prod(shape[1:])
    lo0, _, step0 = ranges[0]
    if step0 == 1 and all(r == (0, n, 1) for r, n in zip(ranges[1:], shape[1:])):
        return _fill_run(out, lo0 * row, spec, p, stream, threads)  # contiguous: Shard(0)
    # dim-0 rows in blocks of a few chunks: generate the flat range they cover, then slice
    gdtype = _gen_dtype(out.dtype)
    per_block = max(1, 2 * threads * CHUNK // max(row, 1))
    inner = (slice(None),) + tuple(slice(*r) for r in ranges[1:])
    for j in range(0, out.shape[0], per_block):
        k = min(out.shape[0], j + per_block)
        first, rows = lo0 + j * step0, (k - 1 - j) * step0 + 1
        tmp = torch.empty(rows * row, dtype=gdtype, device=out.device)
        _fill_flat(tmp, first * row, spec, p, stream, threads)
        out[j:k].copy_(tmp.view((rows, *shape[1:]))[::step0][inner])
