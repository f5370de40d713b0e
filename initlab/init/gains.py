"""Gains: the factor that keeps the signal's scale through a nonlinearity.

``gain(name, param=None, *, exact=False, centered=False)``

* The names ``torch.nn.init.calculate_gain`` knows give torch's constants (linear, conv*,
  conv_transpose*, sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2/(1+a^2)), selu 3/4).
* Every other name (gelu, silu/swish, mish, elu, celu, softplus, hardswish, ...) gives the
  *exact second-moment gain* 1/sqrt(E[f(z)^2]), z ~ N(0, 1): the gain that keeps
  E[x^2] of the pre-activations at 1 from layer to layer.
* ``exact=True`` (or a callable instead of a name) computes that exact gain for any name;
  ``centered=True`` uses the variance instead, 1/sqrt(Var f(z)) (the normalizer-free
  networks' constant).

The expectations are computed by quadrature: Gauss–Legendre panels on [-12, 12] split at
the kinks of the common activations (0, ±1, ±3, ±6), weighted by the normal density. A kink
inside a panel would cost accuracy; at a panel edge it costs nothing, so ReLU gives sqrt(2)
to ~1e-15 (a single Gauss–Hermite rule reaches only ~1e-4 even with hundreds of nodes).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from initlab.errors import ConfigError, UnknownNonlinearityError, shown

__all__ = ["gain", "calculate_gain", "GAINS", "second_moment", "TORCH_GAIN_NAMES",
           "is_torch_gain_name", "torch_gain"]


def _slope(param: object, default: float = 0.01, what: str = "negative_slope") -> float:
    """The activation's parameter: torch's rule, an int (not a bool) or a float, inf/NaN too."""
    if param is None:
        return default
    if isinstance(param, bool) or not isinstance(param, int | float):
        raise ConfigError(
            f"Invalid {what} {shown(repr(param))} for the gain; expected a number (an int or "
            "a float, not a bool), e.g. 0.2."
        )
    return param


# torch.nn.init.calculate_gain, value for value (param -> gain)
_TORCH: dict[str, Callable] = {
    **{n: (lambda p: 1) for n in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                  "conv_transpose2d", "conv_transpose3d", "sigmoid")},
    "tanh": lambda p: 5.0 / 3,
    "relu": lambda p: math.sqrt(2.0),
    "leaky_relu": lambda p: math.sqrt(2.0 / (1 + _slope(p) ** 2)),
    "selu": lambda p: 3.0 / 4,
    "identity": lambda p: 1,
}
TORCH_GAIN_NAMES = tuple(n for n in _TORCH if n != "identity")
_TAKES_PARAM = ("leaky_relu", "elu", "celu", "softplus")


def is_torch_gain_name(nonlinearity: object) -> bool:
    """Whether ``nonlinearity`` is spelled as a name torch's calculate_gain knows (or identity).

    Args:
        nonlinearity: anything.

    Returns:
        True for the exact strings in torch's table (no case folding, as in torch).
    """
    return isinstance(nonlinearity, str) and nonlinearity in _TORCH


def torch_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch's calculate_gain for one of its own names (``param`` read by leaky_relu only).

    Args:
        nonlinearity: a name for which :func:`is_torch_gain_name` is true.
        param: the leaky_relu negative slope (None: 0.01); other names ignore it.

    Returns:
        torch's gain, value for value.
    """
    return _TORCH[nonlinearity](param)


def _ident(p: object) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: x


# name -> param -> f (a function on float64 tensors) for the exact gains
_FUNCS: dict[str, Callable] = {
    **{n: _ident for n in TORCH_GAIN_NAMES if n not in ("sigmoid", "tanh", "relu", "leaky_relu",
                                                         "selu")},
    "identity": _ident,
    "sigmoid": lambda p: torch.sigmoid,
    "tanh": lambda p: torch.tanh,
    "relu": lambda p: F.relu,
    "leaky_relu": lambda p: functools.partial(F.leaky_relu, negative_slope=_slope(p)),
    "selu": lambda p: F.selu,
    "gelu": lambda p: F.gelu,
    "gelu_tanh": lambda p: functools.partial(F.gelu, approximate="tanh"),
    "silu": lambda p: F.silu,
    "swish": lambda p: F.silu,
    "mish": lambda p: F.mish,
    "elu": lambda p: functools.partial(F.elu, alpha=_slope(p, 1.0, "alpha")),
    "celu": lambda p: functools.partial(F.celu, alpha=_slope(p, 1.0, "alpha")),
    "softplus": lambda p: functools.partial(F.softplus, beta=_slope(p, 1.0, "beta")),
    "hardswish": lambda p: F.hardswish,
    "hardsigmoid": lambda p: F.hardsigmoid,
    "hardtanh": lambda p: F.hardtanh,
    "relu6": lambda p: F.relu6,
    "softsign": lambda p: F.softsign,
}

# name -> which convention gain(name) uses by default (documented in the README)
GAINS: dict[str, str] = {n: ("torch" if n in _TORCH else "exact") for n in _FUNCS}


@functools.cache
def _rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a composite Gauss–Legendre rule for E[g(z)], z ~ N(0, 1)."""
    breaks = (-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0)
    x, w = np.polynomial.legendre.leggauss(64)
    nodes, weights = [], []
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        z = half * x + mid
        nodes.append(z)
        weights.append(half * w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return np.concatenate(nodes), np.concatenate(weights)


def _evaluate(f: Callable, z: np.ndarray) -> np.ndarray:
    if isinstance(f, np.ufunc):
        y = f(z)
    else:
        try:
            with warnings.catch_warnings():  # numpy functions applied to tensors warn
                warnings.simplefilter("ignore", DeprecationWarning)
                y = f(torch.from_numpy(z))
        except Exception:  # a function that only takes numpy arrays
            y = f(z)
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().double().numpy()
    y = np.asarray(y, dtype=np.float64)
    if y.shape != z.shape:
        raise ConfigError(
            f"gain(callable): the function must be elementwise; it mapped {z.shape} inputs to "
            f"{y.shape}. Hint: pass e.g. torch.tanh or lambda x: x * torch.sigmoid(x)."
        )
    return y


def second_moment(f: Callable) -> tuple[float, float]:
    """(E[f(z)], E[f(z)^2]) for z ~ N(0, 1), by quadrature."""
    z, w = _rule()
    y = _evaluate(f, z)
    return float(np.dot(w, y)), float(np.dot(w, y * y))


def _exact(f: Callable, centered: bool, label: str) -> float:
    m1, m2 = second_moment(f)
    value = m2 - m1 * m1 if centered else m2
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"The exact gain of {label} is undefined: E[f(z)^2]{' - E[f(z)]^2' if centered else ''}"
            f" = {value:g}; expected a positive finite number."
        )
    return 1.0 / math.sqrt(value)


@functools.lru_cache(maxsize=256)
def _named_exact(name: str, param: float | None, centered: bool) -> float:
    return _exact(_FUNCS[name](param), centered, f"'{name}'")


def gain(nonlinearity: str | Callable[[torch.Tensor], torch.Tensor], param: float | None = None,
         *, exact: bool = False, centered: bool = False) -> float:
    """The recommended gain for ``nonlinearity`` (a name or an elementwise callable).

    Args:
        nonlinearity: an activation name (torch's names give torch's constants) or a callable.
        param: the activation's parameter (leaky_relu slope, elu/celu alpha, softplus beta);
            names without one ignore it, as torch does.
        exact: the exact second-moment gain even for torch's names.
        centered: use the variance instead of the second moment.

    Returns:
        The gain.

    Raises:
        UnknownNonlinearityError: an unknown name (a ValueError, as torch raises).

    Examples:
        >>> gain("relu"), gain("tanh")  # torch's constants
        (1.4142135623730951, 1.6666666666666667)
        >>> round(gain("tanh", exact=True), 4), round(gain(torch.nn.functional.gelu), 4)
        (1.5925, 1.5335)
    """
    if callable(nonlinearity) and not isinstance(nonlinearity, str):
        label = getattr(nonlinearity, "__name__", type(nonlinearity).__name__)
        return _exact(nonlinearity, centered, label)
    if not isinstance(nonlinearity, str):
        raise ConfigError(
            f"gain() needs an activation name or a callable; got {type(nonlinearity).__name__}."
        )
    name = nonlinearity.strip().lower()
    if name not in _FUNCS:
        from initlab.errors import did_you_mean

        raise UnknownNonlinearityError(
            f"Unknown nonlinearity '{nonlinearity}'.{did_you_mean(name, list(_FUNCS))} "
            f"Known: {sorted(_FUNCS)}. Hint: pass the function itself for an exact gain."
        )
    if name not in _TAKES_PARAM:
        param = None  # as torch: a name without a parameter ignores it
    if name in _TORCH and not (exact or centered):
        return _TORCH[name](param)
    _FUNCS[name](param)  # validates param
    return _named_exact(name, param, centered)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Drop-in for ``torch.nn.init.calculate_gain`` (same values), knowing more names.

    Args:
        nonlinearity: the activation name.
        param: the leaky_relu negative slope (an int or float; default 0.01).

    Returns:
        The gain; unknown names raise UnknownNonlinearityError, a ValueError as in torch.

    Examples:
        >>> calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
        True
    """
    return gain(nonlinearity, param)
