"""Calling a model on an example input, and finding the tensor in what a module returns.

``call_model(model, x)``: a tuple/list is passed as positional arguments, a dict as keyword
arguments, anything else as the one argument. ``first_tensor(out)``: the tensor a module or
model produced (its ``.logits`` for model outputs that have them, else the first tensor
found depth-first in tuples, lists and dicts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["call_model", "first_tensor"]


def call_model(model: Callable[..., Any], example_input: Any) -> Any:
    """``model(example_input)``; a tuple/list is passed as positional, a dict as keyword args.

    Args:
        model: a module (or any callable).
        example_input: a tensor, a tuple/list of positional arguments, or a dict of keyword
            arguments.

    Returns:
        What the model returns.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> call_model(nn.Bilinear(2, 3, 1), (torch.ones(4, 2), torch.ones(4, 3))).shape
        torch.Size([4, 1])
        >>> call_model(nn.Linear(2, 1), {"input": torch.ones(3, 2)}).shape
        torch.Size([3, 1])
    """
    if isinstance(example_input, tuple | list):
        return model(*example_input)
    if isinstance(example_input, dict):
        return model(**example_input)
    return model(example_input)


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor in ``value``: itself, its ``.logits``, or the first one in a tuple/list/dict.

    Args:
        value: what a module or model returned (or its positional arguments).

    Returns:
        The tensor, or None when there is none.

    Examples:
        >>> import torch
        >>> first_tensor((None, [torch.zeros(2)], torch.ones(3))).shape
        torch.Size([2])
        >>> first_tensor({"hidden": torch.ones(1)}).tolist(), first_tensor("text")
        ([1.0], None)
    """
    if isinstance(value, torch.Tensor):
        return value
    logits = getattr(value, "logits", None)  # model outputs (transformers' ModelOutput ...)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(value, tuple | list):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
        return None
    if isinstance(value, Mapping):
        return first_tensor(list(value.values()))
    return None
