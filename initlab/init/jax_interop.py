"""JAX initializers out: ``spec.to_jax_config()`` and ``spec.to_jax()``.

``to_jax_config()`` names the ``jax.nn.initializers`` function and its arguments, e.g.
``{"name": "variance_scaling", "kwargs": {"scale": 2.0, "mode": "fan_in", "distribution":
"normal"}}``; ``to_jax()`` calls it (JAX must be installed). Xavier, Kaiming, LeCun and
torch's default are written as the variance scaling they are (scale = gain^2). Fans follow
each framework's convention: a spec without axes gets JAX's defaults (in_axis=-2,
out_axis=-1, for (..., in, out) kernels); explicit axes are passed through as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from initlab.errors import ConfigError

__all__ = ["variance_scaling_of", "to_jax_config", "to_jax"]

# (scale, mode, distribution, per-axis arguments)
_Scale = tuple[float, str, str, dict[str, Any]]


def _no_jax(spec: Any, why: str = "") -> ConfigError:
    return ConfigError(
        f"{spec} has no jax.nn.initializers equivalent{why}. Hint: JAX has zeros, ones, "
        "constant, uniform [0, scale), normal (mean 0), truncated_normal, variance_scaling and "
        "its named cases, orthogonal and delta_orthogonal.")


def _square(g: float) -> float:
    """gain^2 without float noise: sqrt(2)^2 is 2.0, not 2.0000000000000004."""
    return float(f"{g * g:.15g}")


def _default_scale(spec: Any, c: dict[str, Any]) -> _Scale:
    if c.get("role", "weight") != "weight" or c.get("fan_in") is not None:
        raise _no_jax(spec, " (only torch's default weight init, U(±1/sqrt(fan_in)), maps)")
    return 1.0 / 3.0, "fan_in", "uniform", {}


def _vs_scale(spec: Any, c: dict[str, Any]) -> _Scale:
    axes: dict[str, Any] = {k: c[k] for k in ("in_axis", "out_axis", "batch_axis")
                            if k in c and c[k] not in (None, ())}
    return c["scale"], c["mode"], c["distribution"], axes


# initlab name -> (spec, config) -> (scale, mode, distribution, per-axis arguments)
_SCALED: dict[str, Callable[[Any, dict], tuple[float, str, str, dict]]] = {
    "variance_scaling": _vs_scale,
    "xavier_uniform": lambda s, c: (_square(c["gain"]), "fan_avg", "uniform", {}),
    "xavier_normal": lambda s, c: (_square(c["gain"]), "fan_avg", "normal", {}),
    "kaiming_uniform": lambda s, c: (_square(s.gain), c["mode"], "uniform", {}),
    "kaiming_normal": lambda s, c: (_square(s.gain), c["mode"], "normal", {}),
    "lecun_uniform": lambda s, c: (1.0, "fan_in", "uniform", {}),
    "lecun_normal": lambda s, c: (1.0, "fan_in", "truncated_normal", {}),
    "default": _default_scale,
}


def variance_scaling_of(spec: Any) -> tuple[float, str, str, dict]:
    """(scale, mode, distribution, axes) of a variance-scaling-family spec.

    Args:
        spec: variance_scaling, xavier_*, kaiming_*, lecun_* or default.

    Returns:
        The scale, mode, distribution ('normal' is untruncated) and the per-axis arguments
        that are set (empty: the framework's convention).
    """
    if spec.name not in _SCALED:
        raise _no_jax(spec)
    return _SCALED[spec.name](spec, spec.get_config())


def _scaled(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    scale, mode, distribution, axes = variance_scaling_of(spec)
    return "variance_scaling", {"scale": scale, "mode": mode, "distribution": distribution,
                                **axes}


def _uniform(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if c["a"] != 0.0:
        raise _no_jax(spec, " (JAX's uniform is U[0, scale))")
    return "uniform", {"scale": c["b"]}


def _normal(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if c["mean"] != 0.0:
        raise _no_jax(spec, " (JAX's normal has mean 0)")
    return "normal", {"stddev": c["std"]}


def _truncated(spec: Any, c: dict[str, Any], lo: float,
               hi: float) -> tuple[str, dict[str, Any]]:
    if c["mean"] != 0.0:
        raise _no_jax(spec, " (JAX's truncated_normal has mean 0)")
    return "truncated_normal", {"stddev": c["std"], "lower": lo, "upper": hi}


def _seeded(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return to_jax_config(spec.init)["name"], to_jax_config(spec.init)["kwargs"]


_WRITERS: dict[str, Callable[[Any, dict], tuple[str, dict]]] = {
    "zeros": lambda s, c: ("zeros", {}),
    "ones": lambda s, c: ("ones", {}),
    "constant": lambda s, c: ("constant", {"value": c["val"]}),
    "uniform": _uniform,
    "normal": _normal,
    "trunc_normal_std": lambda s, c: _truncated(s, c, c["a"], c["b"]),
    "trunc_normal": lambda s, c: _truncated(s, c, c["a"] / c["std"], c["b"] / c["std"]),
    **{n: _scaled for n in _SCALED},
    "orthogonal": lambda s, c: ("orthogonal", {
        "scale": c["gain"], "column_axis": -1 if c.get("column_axis") is None else c["column_axis"]}),
    "delta_orthogonal": lambda s, c: ("delta_orthogonal", {"scale": c["gain"]}),
    "seeded": _seeded,
}


def to_jax_config(spec: Any) -> dict[str, Any]:
    """The ``jax.nn.initializers`` function and arguments equivalent to ``spec``.

    Args:
        spec: an initlab Initializer (a seed is not carried: JAX takes the key per call).

    Returns:
        ``{"name": function name, "kwargs": {...}}``.
    """
    writer = _WRITERS.get(spec.name)
    if writer is None:
        raise _no_jax(spec)
    name, kwargs = writer(spec, spec.get_config())
    if any(isinstance(v, float) and not math.isfinite(v) for v in kwargs.values()):
        raise _no_jax(spec, " (a non-finite argument)")
    return {"name": name, "kwargs": kwargs}


def to_jax(spec: Any) -> Callable[..., Any]:
    """The JAX initializer function equivalent to ``spec`` (needs JAX installed).

    Args:
        spec: an initlab Initializer.

    Returns:
        ``init(key, shape, dtype)`` from ``jax.nn.initializers``.
    """
    try:
        import jax
    except ImportError:
        raise ConfigError(
            f"{spec}.to_jax() needs JAX, which is not installed. Hint: pip install jax, or use "
            "to_jax_config() for the function name and arguments.") from None
    config = to_jax_config(spec)
    return getattr(jax.nn.initializers, config["name"])(**config["kwargs"])
