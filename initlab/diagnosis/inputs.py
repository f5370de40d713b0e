"""The batch diagnose runs the model on: a tensor, a tuple of positional inputs, or a dict.

:class:`Inputs` holds positional and keyword inputs (``model(*args, **kwargs)``), so one
code path serves ``model(x)``, ``model(a, b)`` and Hugging Face's
``model(input_ids=..., attention_mask=..., pixel_values=...)``. It knows the batch size,
the *primary* tensor (the first floating-point input, else the first tensor: its layout
tells where a layer's units are), the token ids of a language model, and how to cut one
sample out (the Jacobian spectrum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab.errors import ConfigError

__all__ = ["Inputs", "as_inputs", "TOKEN_KEYS"]

TOKEN_KEYS = ("input_ids", "decoder_input_ids")  # keyword inputs that hold token ids


def _tensors(items: Iterable[tuple[Any, Any]]) -> list[tuple[str | int, torch.Tensor]]:
    return [(k, v) for k, v in items if isinstance(v, torch.Tensor)]


@dataclass(frozen=True)
class Inputs:
    """Positional and keyword inputs of one batch (batch on dim 0 of every tensor)."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    def call(self, model: nn.Module) -> Any:
        """``model(*args, **kwargs)``."""
        return model(*self.args, **self.kwargs)

    def tensors(self) -> list[tuple[str | int, torch.Tensor]]:
        """(position or keyword, tensor) of every tensor input, positional first."""
        return _tensors(enumerate(self.args)) + _tensors(self.kwargs.items())

    @property
    def primary(self) -> torch.Tensor:
        """The first floating-point tensor input, else the first tensor input."""
        tensors = [t for _, t in self.tensors()]
        return next((t for t in tensors if t.is_floating_point()), tensors[0])

    @property
    def float_key(self) -> str | int | None:
        """Where the first floating-point input is (a position or a keyword), or None."""
        return next((k for k, t in self.tensors() if t.is_floating_point()), None)

    @property
    def batch_size(self) -> int:
        t = self.primary
        return t.shape[0] if t.dim() else 1

    def token_ids(self) -> torch.Tensor | None:
        """The token ids of a language model: ``input_ids`` (or the first positional
        integer tensor of 2 dims), else None."""
        for key in TOKEN_KEYS:
            t = self.kwargs.get(key)
            if isinstance(t, torch.Tensor) and not t.is_floating_point():
                return t
        first = self.args[0] if self.args else None
        if isinstance(first, torch.Tensor) and first.dim() == 2 and not (
                first.is_floating_point() or first.is_complex() or first.dtype == torch.bool):
            return first
        return None

    @property
    def attention_mask(self) -> torch.Tensor | None:
        mask = self.kwargs.get("attention_mask")
        return mask if isinstance(mask, torch.Tensor) else None

    @property
    def has_labels(self) -> bool:
        return self.kwargs.get("labels") is not None

    def shapes(self) -> list[int] | dict[str, list[int]]:
        """JSON-safe shapes: a list for one tensor, else {position or keyword: shape}."""
        if not self.kwargs and len(self.args) == 1 and isinstance(self.args[0], torch.Tensor):
            return list(self.args[0].shape)
        return {str(k): list(t.shape) for k, t in self.tensors()}

    def describe(self) -> str:
        """The shapes in words, for messages: ``(4, 20)`` or ``input_ids (2, 16), ...``."""
        shapes = self.shapes()
        if isinstance(shapes, list):
            return str(tuple(shapes))
        return ", ".join(f"{k} {tuple(s)}" for k, s in shapes.items())

    # ------------------------------------------------------------------ one sample
    def sample(self, i: int, key: str | int | None,
               value: torch.Tensor | None = None) -> Inputs:
        """Sample ``i`` of every batched tensor (batch dim kept); input ``key`` replaced by
        ``value`` (one sample, no batch dim) when given."""
        n = self.batch_size

        def cut(k: str | int, v: Any) -> Any:
            if k == key and value is not None:
                return value.unsqueeze(0)
            if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == n:
                return v[i:i + 1]
            return v

        return Inputs(tuple(cut(k, v) for k, v in enumerate(self.args)),
                      {k: cut(k, v) for k, v in self.kwargs.items()})

    def replaced(self, i: int, key: str | int, value: torch.Tensor) -> Inputs:
        """The whole batch with sample ``i`` of input ``key`` replaced by ``value``."""
        def put(k: str | int, v: Any) -> Any:
            if k != key:
                return v
            return torch.cat([v[:i], value.unsqueeze(0), v[i + 1:]])

        return Inputs(tuple(put(k, v) for k, v in enumerate(self.args)),
                      {k: put(k, v) for k, v in self.kwargs.items()})

    def get(self, key: str | int) -> torch.Tensor:
        return self.args[key] if isinstance(key, int) else self.kwargs[key]


def as_inputs(x: Any) -> Inputs:
    """``x`` (a tensor, a tuple/list of positional inputs, or a dict of keyword inputs) as
    :class:`Inputs`; a one-line ConfigError for anything else or a batch without tensors."""
    if isinstance(x, Inputs):
        return x
    if isinstance(x, torch.Tensor):
        inputs = Inputs((x,))
    elif isinstance(x, Mapping):
        bad = [k for k in x if not isinstance(k, str)]
        if bad:
            raise ConfigError(
                f"diagnose needs the keys of a dict x to be argument names; got {bad[0]!r}. "
                "Hint: pass {'input_ids': ids, 'attention_mask': mask}")
        inputs = Inputs((), dict(x))
    elif isinstance(x, tuple) and x:
        inputs = Inputs(tuple(x))
    else:
        raise ConfigError(
            f"diagnose needs x as a torch.Tensor, a tuple of positional inputs or a dict of "
            f"keyword inputs; got {type(x).__name__}. Hint: torch.as_tensor(x), with the "
            "batch on dim 0, or a dict such as tokenizer(...) returns")
    if not inputs.tensors():
        raise ConfigError(
            f"diagnose needs at least one tensor in x; got a {type(x).__name__} of "
            f"{', '.join(type(v).__name__ for v in (*inputs.args, *inputs.kwargs.values()))}"
            ". Hint: the batch goes on dim 0 of a torch.Tensor")
    return inputs
