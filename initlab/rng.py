"""Keyed, chunked, parallel random streams (the policy path's randomness).

Values depend only on (seed, key, global shape, spec, draw index), never on the number of
threads, on which sub-range or region of the tensor is generated, or on other draws.

* A *stream* is a 63-bit integer, ``derive(seed, key, tuple(global_shape), spec)``;
  draw number ``i`` of a :class:`KeyedSource` uses the sub-stream ``derive(stream, i)``.
* The flat element range of a sub-stream is cut into chunks of :data:`CHUNK` elements;
  chunk ``c`` is drawn by its own ``torch.Generator`` seeded from ``derive(sub, c)``.
* Chunks are independent, so a pool of threads fills them in parallel (torch's CPU
  ``normal_``/``uniform_`` kernels are single-threaded and release the GIL), and a shard
  generates only the chunks its region touches.

Low precision (float16, bfloat16) is generated in float32 and rounded to the target dtype;
float64 is generated natively. On CPU a chunk's first ``k`` values do not depend on how many
of its values are generated (torch's normal kernel works in blocks of 16, so the prefix is
rounded up to 16): small tensors cost little. On CUDA every touched chunk is generated at
full size (CUDA kernels' values depend on the launch size); CUDA values differ from CPU ones.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from initlab.errors import ConfigError

Params = dict[str, float]  # a distribution's parameters, e.g. {"mean": 0.0, "std": 1.0}

__all__ = ["CHUNK", "KeyedSource", "derive", "distributions", "fill_", "get_num_threads", "set_num_threads"]

CHUNK = 2**18
"""Elements per chunk. Part of the contract: changing it changes every keyed value."""

_BLOCK = 16  # torch's CPU normal kernel transforms its uniforms in blocks of 16


def _bad(what: str, got: object, expected: str, hint: str) -> ConfigError:
    return ConfigError(f"{what}: got {got}; expected {expected}; hint: {hint}")


# ----------------------------------------------------------------------------- derivation


def _encode(part: object, out: list[bytes]) -> None:
    """Append an unambiguous, type-tagged byte encoding of ``part``."""
    if isinstance(part, int) and not isinstance(part, bool):
        tag, data = b"i", str(part).encode()
    elif isinstance(part, str):
        tag, data = b"s", part.encode("utf-8")
    elif isinstance(part, bytes):
        tag, data = b"b", part
    elif isinstance(part, (tuple, list, torch.Size)):
        out.append(b"t" + len(part).to_bytes(4, "little"))
        for p in part:
            _encode(p, out)
        return
    else:
        raise _bad(f"cannot derive a stream key from {type(part).__name__}", repr(part),
                   "int, str, bytes or a tuple of them", "convert it to str")
    out.append(tag + len(data).to_bytes(4, "little") + data)


def derive(*parts: object) -> int:
    """A stable 63-bit integer from ``parts`` (ints, strs, bytes, tuples), via blake2b.

    Never Python's ``hash`` (salted per process): same parts, same value on every machine.
    """
    encoded: list[bytes] = []
    _encode(tuple(parts), encoded)
    digest = hashlib.blake2b(b"".join(encoded), digest_size=8, person=b"initlab.rng").digest()
    return int.from_bytes(digest, "little") >> 1


_MT_N = 624  # mt19937 state words
_STATE_BYTES = 5056  # sizeof(at::CPUGeneratorImplState)
_SPLITMIX_STEPS = np.arange(1, _MT_N + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(seed: int) -> np.ndarray:
    """The first 624 outputs of splitmix64 from ``seed`` (Vigna's seeder for large states)."""
    z = _SPLITMIX_STEPS + np.uint64(seed)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pack_state(seed: int, words: np.ndarray) -> torch.Tensor:
    """torch's CPUGeneratorImplState (stable since 1.x): int64 seed, int32 left=1 (the first
    draw twists the state), int32 seeded=1, uint64 next=0, uint64 state[624] (low 32 bits
    used), then the cached-normal fields, all 0 (no cached sample)."""
    buf = bytearray(_STATE_BYTES)
    struct.pack_into("<qiiQ", buf, 0, seed, 1, 1, 0)
    buf[24 : 24 + 8 * _MT_N] = words.astype("<u8").tobytes()
    return torch.frombuffer(buf, dtype=torch.uint8)


def _mt_state(seed: int) -> torch.Tensor:
    """A full 19968-bit mt19937 state from a 63-bit seed.

    ``manual_seed`` keeps only the low 32 bits of a seed on CPU, so chunk seeds would collide
    (birthday bound) in a billion-parameter model; all 624 words come from splitmix64 instead.
    """
    return _pack_state(seed, _splitmix64(seed))


def _seed(g: torch.Generator, seed: int) -> None:
    """Seed a chunk generator: full-state mt19937 on CPU, Philox (64-bit seed) elsewhere."""
    if g.device.type == "cpu":
        g.set_state(_mt_state(seed))
    else:
        g.manual_seed(seed)


# ----------------------------------------------------------------------------- threads

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_key = (0, 0)  # (pid, size): a forked child must not reuse the parent's dead threads
_pool_lock = threading.Lock()


def _check_threads(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _bad("invalid thread count", repr(n), "an integer >= 1",
                   "use None for the default (INITLAB_THREADS or cpu_count)")
    return n


def set_num_threads(n: int | None) -> None:
    """Threads used by keyed fills (``None``: back to the default). Values never depend on it."""
    global _threads
    _threads = None if n is None else _check_threads(n)


def get_num_threads() -> int:
    """Threads for keyed fills: set_num_threads, else env INITLAB_THREADS, else os.cpu_count()."""
    if _threads is not None:
        return _threads
    env = os.environ.get("INITLAB_THREADS", "").strip()
    if not env:
        return os.cpu_count() or 1
    if not env.isdigit() or int(env) < 1:
        raise _bad("invalid INITLAB_THREADS", repr(env), "a positive integer", "unset it to use all cores")
    return int(env)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    with _pool_lock:
        pid = os.getpid()
        if _pool is None or _pool_key[0] != pid or _pool_key[1] < n:
            if _pool is not None and _pool_key[0] == pid:
                _pool.shutdown(wait=False)
            _pool, _pool_key = ThreadPoolExecutor(n, thread_name_prefix="initlab-rng"), (pid, n)
        return _pool


# ----------------------------------------------------------------------------- distributions


@dataclass(frozen=True)
class _Dist:
    defaults: dict[str, float]
    check: Callable[[dict], str | None]  # a problem description, or None
    chunk: Callable[[torch.Tensor, dict, torch.Generator], object]  # fill one chunk
    post: Callable[[torch.Tensor, dict], None] | None = None  # elementwise, on the whole buffer


def _uniform_bounds_for_trunc(p: Params) -> tuple[float, float]:
    cdf = lambda x: (1.0 + math.erf((x - p["mean"]) / p["std"] / math.sqrt(2.0))) / 2.0  # noqa: E731
    return 2 * cdf(p["a"]) - 1, 2 * cdf(p["b"]) - 1


def _trunc_post(buf: torch.Tensor, p: Params) -> None:
    # torch.nn.init.trunc_normal_'s inverse-CDF steps, after the chunked uniforms
    buf.erfinv_()
    buf.mul_(p["std"] * math.sqrt(2.0))
    buf.add_(p["mean"])
    buf.clamp_(min=p["a"], max=p["b"])


_DISTS: dict[str, _Dist] = {
    "normal": _Dist(
        {"mean": 0.0, "std": 1.0},
        lambda p: None if p["std"] >= 0 else f"std must be >= 0, got std={p['std']!r}",
        lambda buf, p, g: buf.normal_(p["mean"], p["std"], generator=g),
    ),
    "uniform": _Dist(
        {"low": 0.0, "high": 1.0},
        lambda p: None if p["low"] <= p["high"] else f"low must be <= high, got low={p['low']!r}, high={p['high']!r}",
        lambda buf, p, g: buf.uniform_(p["low"], p["high"], generator=g),
    ),
    "trunc_normal": _Dist(
        {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
        lambda p: (f"std must be > 0, got std={p['std']!r}" if not p["std"] > 0
                   else None if p["a"] < p["b"] else f"a must be < b, got a={p['a']!r}, b={p['b']!r}"),
        lambda buf, p, g: buf.uniform_(*_uniform_bounds_for_trunc(p), generator=g),
        _trunc_post,
    ),
}


def distributions() -> list[str]:
    """Names accepted by :func:`fill_`."""
    return sorted(_DISTS)


def _did_you_mean(name: object, choices: Iterable[str], fallback: str) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else fallback


def _resolve(dist: str, params: dict) -> tuple[_Dist, dict[str, float]]:
    spec = _DISTS.get(dist) if isinstance(dist, str) else None
    if spec is None:
        raise _bad("unknown distribution", repr(dist), f"one of {', '.join(sorted(_DISTS))}",
                   _did_you_mean(dist, _DISTS, "check the spelling"))
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise _bad(f"unknown parameter for {dist}", repr(unknown[0]), ", ".join(spec.defaults),
                   _did_you_mean(unknown[0], spec.defaults, "remove it"))
    p = dict(spec.defaults)
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(f"invalid {dist} parameter {name}", repr(value), "a finite number", "pass a float")
        p[name] = float(value)
    problem = spec.check(p)
    if problem:
        raise ConfigError(f"invalid {dist} parameters: {problem}; hint: see initlab.rng.fill_")
    return spec, p


# ----------------------------------------------------------------------------- filling

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


# ----------------------------------------------------------------------------- sources


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


class KeyedSource:
    """A :class:`~initlab.init.source.Source` drawing from keyed, chunked, parallel streams.

    The stream id is ``derive(seed, key, tuple(global_shape), spec)``; draw call ``i`` on this
    object (0, 1, 2, ...) uses sub-stream ``derive(stream, i)``. ``region`` (a tuple of slices
    into ``global_shape``) says each tensor passed is ``global[region]`` (a shard): exactly
    those elements of the full draw are produced, generating only the chunks they touch.
    ``region=None``: the tensor is the flat range ``[0, numel)`` of the stream.
    """

    def __init__(self, seed: int, key: str, global_shape: Sequence[int], spec: str = "",
                 region: tuple[slice, ...] | None = None, threads: int | None = None) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _bad("invalid seed", repr(seed), "an int", "pass seed=0")
        if not isinstance(key, str):
            raise _bad("invalid key", repr(key), "a str", "use the parameter's qualified name")
        if not isinstance(spec, str):
            raise _bad("invalid spec", repr(spec), "a str", "pass str(initializer)")
        try:
            shape = tuple(int(s) for s in global_shape)
        except (TypeError, ValueError):
            shape = None
        if shape is None or any(s < 0 for s in shape):
            raise _bad("invalid global_shape", repr(global_shape), "a tuple of ints >= 0",
                       "pass tuple(param.shape)")
        if region is not None and not isinstance(region, tuple):
            raise _bad("invalid region", repr(region), "None or a tuple of slices",
                       "region=(slice(0, 512),) for rows 0..511")
        self.seed, self.key, self.global_shape, self.spec, self.region = seed, key, shape, spec, region
        self.threads = None if threads is None else _check_threads(threads)
        self.stream = derive(seed, key, shape, spec)
        self.draws = 0

    def __repr__(self) -> str:
        return (f"KeyedSource(seed={self.seed}, key={self.key!r}, global_shape={self.global_shape}, "
                f"spec={self.spec!r}, region={self.region!r}, draws={self.draws})")

    def _draw(self, t: torch.Tensor, dist: str, **params: float) -> torch.Tensor:
        spec, p = _resolve(dist, params)
        threads = get_num_threads() if self.threads is None else self.threads
        sub = derive(self.stream, self.draws)
        if self.region is None:
            _fill_run(t, 0, spec, p, sub, threads)
        else:
            ranges = _region_ranges(self.region, self.global_shape, t.shape)
            _fill_region(t, spec, p, sub, threads, self.global_shape, ranges)
        self.draws += 1
        return t

    def normal_(self, t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        """Fill ``t`` with N(mean, std^2) from the keyed stream."""
        return self._draw(t, "normal", mean=mean, std=std)

    def uniform_(self, t: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """Fill ``t`` with U(low, high) from the keyed stream."""
        return self._draw(t, "uniform", low=low, high=high)

    def trunc_normal_(self, t: torch.Tensor, mean: float, std: float, a: float,
                      b: float) -> torch.Tensor:
        """Fill ``t`` with N(mean, std^2) truncated to [a, b] from the keyed stream."""
        return self._draw(t, "trunc_normal", mean=mean, std=std, a=a, b=b)

    def generator(self, device: torch.device | str) -> torch.Generator:
        """A fresh generator seeded from ``derive(stream, "generator")`` (the same every call)."""
        g = torch.Generator(device=torch.device(device))
        _seed(g, derive(self.stream, "generator"))
        return g
