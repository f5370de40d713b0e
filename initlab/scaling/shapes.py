"""Base shapes: which dimensions of each parameter grow with width, and by how much.

A μP parametrization compares every plan row of the target model with the same row of a
*base* model (the width the hyperparameters were tuned at). The base is usually built on the
meta device (no memory) by the user's own ``make_model(base_width)``. What is kept of it is
plain data, ``{row key: {"shape", "fan_in", "fan_out"}}``, so a Policy carrying it
round-trips through JSON.

A row is then one of five classes (Yang et al. 2022, "matrix-like" / "vector-like"):

========  ==========================================  =========================
class     width-scaled dimensions                     examples
========  ==========================================  =========================
hidden    fan_in and fan_out                          hidden Linear, q/k/v/o, MLP
input     fan_out only                                embeddings, the first layer
output    fan_in only                                 the readout / LM head
vector    a 1-d tensor whose length grows             biases, norm gains
fixed     nothing                                     a class-count bias
========  ==========================================  =========================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from initlab.errors import ConfigError

if TYPE_CHECKING:
    from initlab.policy.plan import PlanRow

__all__ = ["base_shapes", "Width", "classify", "CLASSES"]

CLASSES = ("hidden", "input", "output", "vector", "fixed")


def _all_rows(model: nn.Module) -> list[PlanRow]:
    """Every plan row of ``model`` with its logical fans (no activation detection, no init)."""
    from initlab.policy import Policy, Rule, plan

    return plan(model, Policy((Rule("zeros", label="shape"),), "keep", "shapes")).rows


def _build(make_model: Callable[[int], nn.Module], width: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        model = make_model(width)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"make_model({width}) must return an nn.Module; got "
                          f"{type(model).__name__}.")
    return model


def base_shapes(base: nn.Module | Callable[[int], nn.Module] | dict[str, dict],
                width: int | None = None, delta: nn.Module | None = None) -> dict[str, dict]:
    """The base shapes of a model: ``{row key: {"shape", "fan_in", "fan_out", "inf"}}``.

    Which dimensions are width dimensions is read by comparing the base with a *delta* model
    of another width (``make_model(2 * width)`` when ``base`` is a function), so the classes
    are right at the base width itself; ``inf`` is ``[fan_in grows, fan_out grows]`` (vectors:
    ``[size grows]``). Without a delta, the dimensions that differ from the target are used.

    Args:
        base: an ``nn.Module`` (any device, the meta device included), a function
            ``make_model(width)`` (called under ``torch.device("meta")``, so nothing is
            allocated), or a dict this function returned (passed through).
        width: the base width, when ``base`` is a function.
        delta: a model of another width, when ``base`` is a module.

    Returns:
        A JSON-safe dict, one entry per plan row.

    Raises:
        ConfigError: ``make_model`` does not return an ``nn.Module``, or ``base`` is none of
            the above.

    Examples:
        >>> make = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, 2))
        >>> shapes = base_shapes(make, 16)
        >>> shapes["0.weight"], shapes["2.weight"]["inf"]
        ({'shape': [16, 8], 'fan_in': 8, 'fan_out': 16, 'inf': [False, True]}, [True, False])
    """
    if isinstance(base, dict):
        return base
    if isinstance(base, nn.Module):
        model = base
    elif callable(base):
        if width is None:
            raise ConfigError(
                "base_shapes(make_model) needs the base width; got width=None. Hint: "
                "base_shapes(make_model, width=64) builds make_model(64) on the meta device."
            )
        model, delta = _build(base, width), _build(base, 2 * width)
    else:
        raise ConfigError(
            f"base must be an nn.Module, a make_model(width) function or a base-shapes dict; got "
            f"{type(base).__name__}. Hint: initlab.mup.plan(model, base=make_model, base_width=64)."
        )
    other = {r.key: r for r in _all_rows(delta)} if delta is not None else {}
    out = {}
    for r in _all_rows(model):
        entry: dict = {"shape": list(r.shape), "fan_in": r.fan_in, "fan_out": r.fan_out}
        d = other.get(r.key)
        if d is not None:
            entry["inf"] = ([d.fan_in != r.fan_in, d.fan_out != r.fan_out] if r.fan_in is not None
                            else [list(d.shape) != list(r.shape)])
        out[r.key] = entry
    return out


@dataclass(frozen=True)
class Width:
    """How one row scales: its class and width multipliers (target / base)."""

    cls: str
    m_in: float = 1.0     # fan_in multiplier
    m_out: float = 1.0    # fan_out multiplier
    m: float = 1.0        # the multiplier of a vector's length

    def to_dict(self) -> dict:
        return {"class": self.cls, "m_in": self.m_in, "m_out": self.m_out, "m": self.m}


def _ratio(value: int | None, base: int | None, what: str, key: str) -> float:
    if not value or not base:
        return 1.0
    if value < base:
        raise ConfigError(
            f"Parameter '{key}' has {what} {value} below its base {base}; expected the target "
            "model to be at least as wide as the base. Hint: pass the small (tuning) model as base."
        )
    return value / base


def _vector(shape: Sequence[int], base_shape: Sequence[int], key: str,
            inf: Sequence[bool] | None = None) -> Width:
    n, n0 = (int(torch.Size(shape).numel()), int(torch.Size(base_shape).numel()))
    grows = n != n0 if inf is None else bool(inf[0])
    if not grows:
        return Width("fixed")
    return Width("vector", m=_ratio(n, n0, "size", key))


_EMBEDDINGS = ("embedding", "tied_embedding", "position_embedding")


def classify(key: str, shape: Sequence[int], fan_in: int | None, fan_out: int | None,
             base: dict | None, role: str = "") -> Width:
    """The class and multipliers of one row against its base entry (None: the base is itself).

    Embeddings (any layout) are ``input`` when they grow: their one-hot input never does.

    Args:
        key: the row key (for messages).
        shape: the row's shape.
        fan_in: the row's logical fan-in (None for tensors with fewer than 2 dims).
        fan_out: the row's logical fan-out.
        base: the base entry of this row (see :func:`base_shapes`), None for "same as target".
        role: the row's role (embeddings are classified by size).

    Returns:
        A :class:`Width`.
    """
    if base is None:
        return Width("fixed")
    inf = base.get("inf")
    if role in _EMBEDDINGS:
        grows = None if inf is None else [any(inf)]
        w = _vector(shape, base["shape"], key, grows)
        return w if w.cls == "fixed" else Width("input", 1.0, w.m, w.m)
    if fan_in is None or base.get("fan_in") is None:
        return _vector(shape, base["shape"], key, inf)
    m_in = _ratio(fan_in, base["fan_in"], "fan_in", key)
    m_out = _ratio(fan_out, base["fan_out"], "fan_out", key)
    flags = (m_in != 1.0, m_out != 1.0) if inf is None else (bool(inf[0]), bool(inf[1]))
    cls = {(True, True): "hidden", (False, True): "input", (True, False): "output",
           (False, False): "fixed"}[flags]
    return Width(cls, m_in, m_out)


def lookup(base: dict | None, key: str) -> dict | None:
    """The base entry of ``key``; a ConfigError when a base is given but lacks the row."""
    if base is None:
        return None
    if key not in base:
        raise ConfigError(
            f"Parameter '{key}' is not in the base model; expected the base to have the same "
            "parameters, only narrower. Hint: build the base with the same make_model and a "
            "smaller width."
        )
    return base[key]


MakeModel = Callable[[int], nn.Module]
