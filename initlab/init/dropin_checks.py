"""Shared checks of the torch.nn.init drop-ins: tensor checks and torch's errors translated.

``torch_errors`` re-raises what a torch op raises as an initlab error whose class is also
torch's (:func:`initlab.errors.compatible_error`), with a one-line message and a hint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from initlab.errors import ConfigError, InitlabError, compatible_error, shown

__all__ = ["torch_errors", "check_tensor", "need_dims", "dispatch"]

# a torch message fragment -> the hint initlab adds
_HINTS: tuple[tuple[str, str], ...] = (
    ("not implemented for", "random fills need a floating-point tensor, e.g. dtype=torch.float32"),
    ("more than one element of the written-to tensor",
     "the tensor is expanded (elements share memory); initialize a .clone() of it"),
    ("[from, to) range", "pass a <= b"),
    ("expects std >= 0", "pass std >= 0"),
    ("division by zero", "the tensor has a zero-sized dimension"),
    ("out of bounds", "a kernel dimension has size 0"),
)


def _hint(message: str) -> str:
    for fragment, hint in _HINTS:
        if fragment in message:
            return hint
    return "torch.nn.init raises the same error class for these arguments"


@contextlib.contextmanager
def torch_errors(name: str, tensor: Tensor | None) -> Iterator[None]:
    """Re-raise what torch's ops raise as an initlab error of a compatible class."""
    try:
        yield
    except InitlabError:
        raise
    except Exception as exc:  # noqa: BLE001  (translated, or re-raised unchanged)
        cls = compatible_error(exc)
        if cls is None:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "" if tensor is None else (
            f" on a tensor of shape {tuple(tensor.shape)} and dtype {tensor.dtype}")
        raise cls(f"{name} failed{where}: {shown(first, 200)}. Hint: {_hint(first)}.") from exc


def check_tensor(name: str, tensor: torch.Tensor) -> None:
    if not isinstance(tensor, Tensor):
        from initlab.errors import ConfigAttributeError

        raise ConfigAttributeError(
            f"{name} needs a torch.Tensor; got {type(tensor).__name__}. Hint: pass the parameter "
            "itself, e.g. layer.weight.")
    if tensor.is_meta:
        raise ConfigError(
            f"Cannot initialize a meta tensor of shape {tuple(tensor.shape)} in place with "
            f"{name}: it has no storage. Hint: use initlab.materialize(model, policy, seed=..., "
            "device=...) to allocate and initialize a meta model.")


def need_dims(name: str, tensor: Tensor, allowed: str, ok: bool) -> None:
    if not ok:
        raise ConfigError(
            f"{name} needs a tensor with {allowed} dimensions; got shape {tuple(tensor.shape)}. "
            f"Hint: use {name} on weights; biases take zeros_ or constant_.")


def dispatch(fn: Callable[..., Any], tensor: torch.Tensor,
             **kwargs: Any) -> tuple[bool, Any]:
    """torch's ``__torch_function__`` protocol, for tensor subclasses that override it."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return True, torch.overrides.handle_torch_function(fn, (tensor,), tensor=tensor, **kwargs)
    return False, None


