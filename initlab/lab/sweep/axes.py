"""Sweep axes: ``--sweep KEY=V1,V2,...`` over training settings and model arguments.

An axis key is a :class:`~initlab.lab.train.config.TrainConfig` field (``lr``, ``momentum``,
``weight_decay``, ``batch_size``, ``optimizer``, ``epochs``, ``steps``, ...) or
``model.NAME`` for a model keyword argument (``model.width=64,128,256``). Values are JSON
where they parse as JSON (numbers, lists, true/false/null), else text; commas inside
brackets belong to one value (``model.widths=[64,64],[128,128]``). The grid is the product
of the axes, in the order given, the last axis varying fastest. Seeds are ``N`` (0..N-1) or
an explicit list ``0,4,7``.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import fields
from typing import Any

from initlab.errors import ConfigError, did_you_mean
from initlab.lab.train.config import TrainConfig

__all__ = ["MAX_RUNS", "axis_keys", "parse_axis", "parse_seeds", "grid", "apply_point",
           "check_size"]

MAX_RUNS = 100_000
_NOT_AXES = ("device",)


def axis_keys() -> list[str]:
    """The training settings an axis may vary (``model.NAME`` is always accepted too)."""
    return [f.name for f in fields(TrainConfig) if f.name not in _NOT_AXES]


def _split(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_axis(text: str) -> tuple[str, list]:
    """``"lr=0.01,0.1"`` -> ``("lr", [0.01, 0.1])``; ``"model.width=64,128"`` likewise.

    Args:
        text: one ``--sweep`` value.

    Returns:
        The key and its values (duplicates removed, order kept).
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    keys = axis_keys()
    model_key = key.startswith("model.") and key[len("model."):].isidentifier()
    if not sep or not (key in keys or model_key):
        hint = did_you_mean(key, keys) if key else ""
        raise ConfigError(f"--sweep expects KEY=V1,V2,... with KEY a training setting or "
                          f"model.NAME; got {text!r}.{hint} Settings: {keys}; e.g. "
                          "--sweep lr=0.01,0.1 --sweep model.width=64,128")
    parts = _split(values)
    if not all(parts):
        raise ConfigError(f"--sweep {key} has an empty value: got {text!r}; expected "
                          f"comma-separated values, e.g. {key}=0.01,0.1")
    out = []
    for v in map(_value, parts):
        if v not in out:
            out.append(v)
    return key, out


def parse_seeds(text: str | int) -> list[int]:
    """``3`` -> ``[0, 1, 2]``; ``"0,4,7"`` -> ``[0, 4, 7]`` (explicit seeds, order kept)."""
    text = str(text).strip()
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if not parts or any(p < 0 for p in parts):
        raise ConfigError(f"--seeds must be a count N (seeds 0..N-1) or comma-separated seeds; "
                          f"got {text!r}; expected e.g. 3 or 0,4,7")
    if "," not in text:
        if parts[0] < 1:
            raise ConfigError(f"--seeds must be >= 1; got {text}; expected e.g. 3")
        if parts[0] > MAX_RUNS:
            raise ConfigError(f"--seeds {parts[0]} is too many: at most {MAX_RUNS} runs per "
                              "sweep; hint: a CI over 5-10 seeds is usually tight enough")
        return list(range(parts[0]))
    if len(set(parts)) != len(parts):
        raise ConfigError(f"--seeds lists a seed twice: got {text!r}; expected distinct seeds")
    return parts


def grid(axes: dict[str, list]) -> list[dict]:
    """Every combination of the axes (``[{}]`` without axes), last axis fastest."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def apply_point(train: dict, model_kwargs: dict, point: dict) -> tuple[dict, dict]:
    """The training config and model kwargs of one grid point (copies)."""
    train, model_kwargs = dict(train), dict(model_kwargs)
    for key, value in point.items():
        if key.startswith("model."):
            model_kwargs[key[len("model."):]] = value
        else:
            train[key] = value
    return train, model_kwargs


def check_size(n_inits: int, n_seeds: int, axes: dict[str, list]) -> int:
    """The run count, refused up front when it exceeds :data:`MAX_RUNS`."""
    total = n_inits * n_seeds * math.prod(len(v) for v in axes.values())
    if total > MAX_RUNS:
        sizes = " x ".join([f"{n_inits} inits", f"{n_seeds} seeds"] +
                           [f"{len(v)} {k}" for k, v in axes.items()])
        raise ConfigError(f"The sweep has {total} runs ({sizes}); expected at most {MAX_RUNS}; "
                          "hint: fewer seeds or axis values")
    return total
