"""KeyedSource: an init Source drawing from keyed, chunked, parallel streams (part of
:mod:`initlab.rng`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from initlab.rng.dists import _resolve
from initlab.rng.fill import _fill_region, _fill_run, _region_ranges
from initlab.rng.seeding import _bad, _seed, derive
from initlab.rng.threads import _check_threads, get_num_threads


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
