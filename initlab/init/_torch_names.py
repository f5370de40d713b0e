"""torch.nn.init's private helpers and deprecated aliases, for code that imports them.

The helpers (``_calculate_fan_in_and_fan_out``, ``_calculate_correct_fan``,
``_no_grad_uniform_`` ...) behave like torch's; mup and other libraries import several.
The aliases without the trailing underscore (``normal``, ``uniform``, ...) warn with a
FutureWarning whose text says "deprecated", as torch's do.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

import initlab.init.dropin as dropin
from initlab.init.fans import fans

__all__ = [
    "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_fill_",
    "_no_grad_normal_", "_no_grad_uniform_", "_no_grad_trunc_normal_", "_no_grad_zero_",
    "DEPRECATED",
]


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """torch's (fan_in, fan_out): (size(1)·rf, size(0)·rf); ValueError below 2 dims.

    Args:
        tensor: a weight.

    Returns:
        (fan_in, fan_out).
    """
    return fans(tensor)


def _calculate_correct_fan(tensor: Tensor, mode: str) -> float:
    """The fan ``mode`` selects (fan_in, fan_out; initlab also fan_avg, fan_geo_avg).

    Args:
        tensor: a weight.
        mode: the mode, any case.

    Returns:
        The fan.
    """
    return dropin.fan_of_mode(tensor, mode, name="calculate_correct_fan")


def _no_grad_uniform_(tensor: Tensor, a: float, b: float,
                      generator: torch.Generator | None = None) -> Tensor:
    """``tensor.uniform_(a, b)`` under no_grad (see :func:`initlab.init.uniform_`)."""
    return dropin.uniform_(tensor, a, b, generator)


def _no_grad_normal_(tensor: Tensor, mean: float, std: float,
                     generator: torch.Generator | None = None) -> Tensor:
    """``tensor.normal_(mean, std)`` under no_grad (see :func:`initlab.init.normal_`)."""
    return dropin.normal_(tensor, mean, std, generator)


def _no_grad_trunc_normal_(tensor: Tensor, mean: float, std: float, a: float, b: float,
                           generator: torch.Generator | None = None) -> Tensor:
    """torch's truncated normal under no_grad (see :func:`initlab.init.trunc_normal_`)."""
    return dropin.trunc_normal_(tensor, mean, std, a, b, generator)


def _no_grad_fill_(tensor: Tensor, val: float) -> Tensor:
    """``tensor.fill_(val)`` under no_grad."""
    return dropin.constant_(tensor, val)


def _no_grad_zero_(tensor: Tensor) -> Tensor:
    """``tensor.zero_()`` under no_grad."""
    return dropin.zeros_(tensor)


def _deprecated(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    new = fn.__name__
    old = new[:-1]

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(f"initlab.init.{old} is now deprecated in favor of initlab.init.{new} "
                      f"(as torch.nn.init.{old} is).", FutureWarning, stacklevel=2)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated alias of :func:`initlab.init.{new}` (warns, as torch's does)."
    return alias


# torch.nn.init's deprecated names (warn, then delegate)
uniform = _deprecated(dropin.uniform_)
normal = _deprecated(dropin.normal_)
constant = _deprecated(dropin.constant_)
eye = _deprecated(dropin.eye_)
dirac = _deprecated(dropin.dirac_)
xavier_uniform = _deprecated(dropin.xavier_uniform_)
xavier_normal = _deprecated(dropin.xavier_normal_)
kaiming_uniform = _deprecated(dropin.kaiming_uniform_)
kaiming_normal = _deprecated(dropin.kaiming_normal_)
orthogonal = _deprecated(dropin.orthogonal_)
sparse = _deprecated(dropin.sparse_)

#: torch.nn.init's deprecated name -> the alias
DEPRECATED: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (uniform, normal, constant, eye, dirac, xavier_uniform, xavier_normal,
               kaiming_uniform, kaiming_normal, orthogonal, sparse)
}
