"""What the model-taking commands (``plan``, ``diagnose``, ``audit``, ``compare``) share:
``--input-shape`` and ``--model-arg`` parsing, and building ``--model`` (a zoo name,
``hf:MODEL_TYPE``, ``timm:NAME``, ``torchvision:NAME`` or ``MODULE:FACTORY`` from the current
folder).

``--input-shape`` is the shape of ONE example (no batch) in every command; the batch size, where
a command makes a batch, is ``--batch-size``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from initlab.errors import ConfigError


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,28,28"`` (or ``1x28x28``) -> ``(1, 28, 28)``: one example's shape, no batch."""
    try:  # every part an integer: "64,x" is an error, not (64,)
        shape = tuple(int(part) for part in re.split(r"[,x]", text.strip()))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ConfigError(f"--input-shape must be positive integers separated by commas, without "
                          f"the batch; got {text!r}; expected e.g. 1,28,28 or 784")
    return shape


def parse_model_args(pairs: Iterable[str]) -> dict[str, Any]:
    """``("hidden_size=64", "act=relu")`` -> ``{"hidden_size": 64, "act": "relu"}``: values
    parsed as JSON when they are JSON (numbers, lists, true/false/null), else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"--model-arg expects KEY=VALUE; got {pair!r}; expected e.g. "
                              "--model-arg hidden_size=256 or --model-arg widths=[256,128]")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0, *,
                meta: bool = False, **kwargs: Any) -> nn.Module:
    """``initlab.lab.models.build`` under a forked RNG seeded with ``seed`` (the same weights
    every time), with the current folder importable for ``MODULE:FACTORY``; ``meta=True``
    builds on the meta device (no memory: a full-size HF config can be planned)."""
    from initlab.lab import models

    if ":" in name and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    device: Any = torch.device("meta") if meta else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), device:
        torch.manual_seed(seed)
        model: nn.Module = models.build(name, input_shape, num_classes, **kwargs)
        return model
