"""The loss diagnose differentiates, from whatever the model returns.

Outputs may be a tensor, a tuple or list, a dict, or a Hugging Face ``ModelOutput`` (a
dict). The *output tensor* (what the spectrum and the logit statistics read) is the
``logits`` entry when there is one, else the first floating-point tensor. The loss, first
rule that applies (the table :data:`LOSSES`, in order):

* ``loss_fn``: the caller's ``loss_fn(out, y)`` (``loss_fn(out)`` without y);
* ``model_loss``: the ``loss`` the model computed itself (HF models given ``labels``);
* ``cross_entropy``: against ``y`` (class indices; sequence logits ``(N, T, V)`` with
  targets ``(N, T)`` are flattened);
* ``next_token_cross_entropy``: a language model without ``y``: the logits look like LM
  logits (last dim the vocabulary size, leading dims those of ``input_ids``), so token t
  predicts token t+1 (padding, ``attention_mask == 0``, ignored);
* ``sum_of_squares_probe``: the mean over the batch of each sample's sum of squares.

Alongside the loss: the number of classes it is a cross entropy over (``ln C`` is the loss
of a model that knows nothing, the loss a healthy classifier or LM starts near) and the
std of the output logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab.diagnosis.inputs import Inputs
from initlab.errors import ConfigError

__all__ = ["LossResult", "output_tensor", "compute_loss", "LOSSES"]

_IGNORE = -100  # cross_entropy's default ignore_index


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _first_float(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() or value.is_complex() else None
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_float(item)
            if found is not None:
                return found
    return None


def output_tensor(out: Any) -> torch.Tensor:
    """The model's output as one tensor: ``logits`` if present, else the first float tensor
    (in a dict, the first besides a scalar ``loss``: CLIP's ``logits_per_image``, ...)."""
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        out = [v for k, v in out.items() if k != "loss"] or list(out.values())
    found = _first_float(out)
    if found is None:
        raise ConfigError(
            f"The model returned {type(out).__name__} with no floating-point tensor; expected "
            "a tensor, a tuple, a dict or a ModelOutput holding logits. Hint: wrap the model "
            "to return its output tensor")
    return found


@dataclass(frozen=True)
class LossResult:
    """The loss tensor, which rule made it, and what calibrates it."""

    loss: torch.Tensor
    kind: str
    num_classes: int | None = None  # the loss is a cross entropy over this many classes


@dataclass(frozen=True)
class _Case:
    out: object
    logits: torch.Tensor | None
    y: torch.Tensor | None
    inputs: Inputs
    model: nn.Module
    loss_fn: Callable[..., torch.Tensor] | None


def _classes(logits: torch.Tensor | None, y: torch.Tensor | None) -> int | None:
    """Classes of a cross entropy of ``logits`` against integer targets ``y``."""
    if logits is None or y is None or y.is_floating_point() or logits.dim() < 2:
        return None
    dim = -1 if logits.dim() > 2 and tuple(y.shape) == tuple(logits.shape[:-1]) else 1
    c = logits.shape[dim]
    return c if c >= 2 else None


def _by_loss_fn(case: _Case) -> LossResult | None:
    if case.loss_fn is None:
        return None
    loss = case.loss_fn(case.out, case.y) if case.y is not None else case.loss_fn(case.out)
    return LossResult(loss, "loss_fn")


def _by_model(case: _Case) -> LossResult | None:
    out = case.out
    loss = out.get("loss") if isinstance(out, Mapping) else None
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        return None
    labels = case.inputs.kwargs.get("labels")
    return LossResult(loss.reshape(()), "model_loss", _classes(case.logits, labels))


def _by_targets(case: _Case) -> LossResult | None:
    out, y = case.logits, case.y
    if y is None or out is None:  # no logits: loss_fn given (its rule came first)
        return None
    try:
        if out.dim() > 2 and tuple(y.shape) == tuple(out.shape[:-1]):
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        else:
            loss = F.cross_entropy(out, y)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"Targets y do not fit cross entropy on the output: got y {tuple(y.shape)} "
            f"{y.dtype} for output {tuple(out.shape)} ({_one_line(exc)[:120]}); expected class "
            "indices of shape (N,). Hint: pass loss_fn=... for other targets"
        ) from None
    return LossResult(loss, "cross_entropy", _classes(out, y))


def _vocab_sizes(model: nn.Module) -> set[int]:
    sizes = {m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)}
    config = getattr(model, "config", None)
    for key in ("vocab_size", "text_config"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            sizes.add(value)
        elif value is not None and isinstance(getattr(value, "vocab_size", None), int):
            sizes.add(value.vocab_size)
    return sizes


def _by_next_token(case: _Case) -> LossResult | None:
    ids, logits = case.inputs.token_ids(), case.logits
    if ids is None or logits is None or logits.dim() != 3 or ids.dim() != 2:
        return None
    if tuple(logits.shape[:2]) != tuple(ids.shape) or ids.shape[1] < 2:
        return None
    vocab = logits.shape[-1]
    if vocab not in _vocab_sizes(case.model) or int(ids.max()) >= vocab or int(ids.min()) < 0:
        return None
    targets = ids[:, 1:].long()
    mask = case.inputs.attention_mask
    if mask is not None and tuple(mask.shape) == tuple(ids.shape):
        targets = targets.masked_fill(mask[:, 1:] == 0, _IGNORE)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), targets.reshape(-1))
    return LossResult(loss, "next_token_cross_entropy", vocab)


def _by_probe(case: _Case) -> LossResult:
    out = case.logits if case.logits is not None else output_tensor(case.out)
    return LossResult(out.square().sum() / max(out.shape[0] if out.dim() else 1, 1),
                      "sum_of_squares_probe")


# first rule that returns a result wins; the probe always does
LOSSES: tuple[tuple[str, Callable[[_Case], LossResult | None]], ...] = (
    ("loss_fn", _by_loss_fn),
    ("model_loss", _by_model),
    ("cross_entropy", _by_targets),
    ("next_token_cross_entropy", _by_next_token),
    ("sum_of_squares_probe", _by_probe),
)


def compute_loss(out: Any, y: torch.Tensor | None,
                 loss_fn: Callable[..., torch.Tensor] | None, inputs: Inputs,
                 model: nn.Module) -> LossResult:
    """The loss of ``out`` (see the module docstring for the rules and their order)."""
    logits = None if loss_fn is not None else output_tensor(out)
    case = _Case(out, logits, y, inputs, model, loss_fn)
    for _, rule in LOSSES:
        result = rule(case)
        if result is not None:
            return result
    raise AssertionError("unreachable: the probe always applies")  # pragma: no cover


def ln_classes(num_classes: int | None) -> float | None:
    """``ln C``: the cross entropy of a uniform prediction over C classes."""
    return math.log(num_classes) if num_classes and num_classes >= 2 else None
