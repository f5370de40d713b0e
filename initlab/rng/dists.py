"""The distributions keyed fills draw from, and their parameter checks (part of
:mod:`initlab.rng`)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from initlab.errors import ConfigError
from initlab.rng.seeding import _bad

Params = dict[str, float]  # a distribution's parameters, e.g. {"mean": 0.0, "std": 1.0}


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
