"""What the model-taking commands (``plan``, ``diagnose``, ``audit``) share: ``--input-shape``
and ``--model-arg`` parsing, and building ``--model`` (a zoo name, ``hf:MODEL_TYPE``,
``timm:NAME``, ``torchvision:NAME`` or ``MODULE:FACTORY`` from the current folder)."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import torch

from initlab.errors import ConfigError


def parse_shape(text: str, *, batch: bool) -> tuple[int, ...]:
    """``"64,1,28,28"`` (or ``64x1x28x28``) -> a tuple of positive ints. ``batch=True``: the
    shape starts with the batch size, so it needs at least two dims."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if len(shape) < (2 if batch else 1) or min(shape) < 1:
        if batch:
            raise ConfigError(f"--input-shape must be positive integers separated by commas, "
                              f"batch first; got {text!r}; expected e.g. 64,1,28,28 or 64,784")
        raise ConfigError(f"--input-shape must be positive integers separated by commas, without "
                          f"the batch; got {text!r}; expected e.g. 1,28,28 or 784")
    return shape


def parse_model_args(pairs) -> dict:
    """``("hidden_size=64", "act=relu")`` -> ``{"hidden_size": 64, "act": "relu"}``: values
    parsed as JSON when they are JSON (numbers, lists, true/false/null), else kept as text."""
    out = {}
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


def build_model(name: str, input_shape, num_classes: int, seed: int = 0, *, meta: bool = False,
                **kwargs):
    """``initlab.lab.models.build`` under a forked RNG seeded with ``seed`` (the same weights
    every time), with the current folder importable for ``MODULE:FACTORY``; ``meta=True``
    builds on the meta device (no memory: a full-size HF config can be planned)."""
    from initlab.lab import models

    if ":" in name and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    device = torch.device("meta") if meta else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), device:
        torch.manual_seed(seed)
        return models.build(name, input_shape, num_classes, **kwargs)
