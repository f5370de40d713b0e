"""Folding recorded writes into initlab specs, per tensor.

:func:`fold_writes` replays the :class:`~initlab.policy.native_writes.Write` notes of each
parameter and buffer (last full write wins, affine ops fold into the distribution, zeroed rows
are kept, writes through a second alias of a tied tensor are dropped) and turns the result into
an initlab spec string.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from initlab.init import get
from initlab.policy.native_writes import INIT_FUNCTIONS, Write

__all__ = ["fold_writes"]

T = TypeVar("T")

# Tensor methods that draw or set: name -> (spec, (positional names), {keyword: spec arg})
_METHODS: dict[str, tuple[str, tuple[str, ...], dict[str, float]]] = {
    "normal_": ("normal", ("mean", "std"), {"mean": 0.0, "std": 1.0}),
    "uniform_": ("uniform", ("a", "b"), {"a": 0.0, "b": 1.0}),
    "fill_": ("constant", ("val",), {}),
    "zero_": ("zeros", (), {}),
}
_KWARG_NAMES = {"from": "a", "to": "b", "value": "val", "mean": "mean", "std": "std"}

# what a tensor holds so far: (initializer name, config), or None (not a named distribution)
State = tuple[str, dict[str, Any]] | None


def _scalar(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_meta:
        return float(x.reshape(()).item())
    return None


def _constant_of(t: Any) -> State:
    if isinstance(t, int | float) and not isinstance(t, bool):
        t = torch.tensor(float(t))
    if not isinstance(t, torch.Tensor) or t.is_meta or t.numel() == 0 or t.numel() > 2**22:
        return None
    flat = t.detach().reshape(-1)
    first = flat[0]
    if not bool((flat == first).all()):
        return None
    val = float(first)
    return {0.0: ("zeros", {}), 1.0: ("ones", {})}.get(val, ("constant", {"val": val}))


def _method_state(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[State, str]:
    spec, positional, defaults = _METHODS[op]
    cfg = dict(defaults)
    for key, value in zip(positional, args, strict=False):
        cfg[key] = value
    for key, value in kwargs.items():
        if key in _KWARG_NAMES:
            cfg[_KWARG_NAMES[key]] = value
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        v = _scalar(value)
        if v is None:
            return None, f"{op} with a non-scalar {key}"
        out[key] = v
    if spec == "constant":
        return {0.0: ("zeros", {}), 1.0: ("ones", {})}.get(out["val"], ("constant", out)), ""
    return (spec, out), ""


def _affine(state: tuple[str, dict[str, Any]], mul: float, add: float) -> State:
    name, cfg = state
    c: dict[str, Any] = dict(cfg)
    if name in ("normal", "trunc_normal"):
        c["mean"], c["std"] = c["mean"] * mul + add, c["std"] * abs(mul)
    if name in ("uniform", "trunc_normal"):
        c["a"], c["b"] = sorted((c["a"] * mul + add, c["b"] * mul + add))
    if name in ("zeros", "ones", "constant"):
        val = float({"zeros": 0.0, "ones": 1.0}.get(name, c.get("val", 0.0))) * mul + add
        return {0.0: ("zeros", {}), 1.0: ("ones", {})}.get(val, ("constant", {"val": val}))
    return (name, c) if name in ("normal", "trunc_normal", "uniform") else None


def _transform(state: State, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> State:
    """A state after an in-place op on it, or None (not a distribution initlab names)."""
    if state is None:
        return None
    if op in ("mul_", "div_", "add_", "sub_", "__imul__", "__itruediv__", "__iadd__", "__isub__"):
        c = _scalar(args[0] if args else kwargs.get("other"))
        alpha = _scalar(kwargs.get("alpha", 1.0))
        if c is None or alpha is None or (op in ("div_", "__itruediv__") and c == 0):
            return None
        base = op.strip("_").replace("i", "", 1) if op.startswith("__") else op.rstrip("_")
        if base in ("div", "truediv"):
            mul, add = 1 / c, 0.0
        else:
            mul, add = {"mul": (c, 0.0), "add": (1.0, c * alpha), "sub": (1.0, -c * alpha)}[base]
        return _affine(state, mul, add)
    if op == "erfinv_" and state[0] == "uniform" and -1 <= state[1]["a"] < state[1]["b"] <= 1:
        lo, hi = torch.special.erfinv(torch.tensor([state[1]["a"], state[1]["b"]], dtype=torch.float64))
        return "trunc_normal", {"mean": 0.0, "std": 1 / math.sqrt(2), "a": float(lo), "b": float(hi)}
    if op == "clamp_" and state[0] in ("trunc_normal", "uniform"):
        lo = _scalar(args[0] if args else kwargs.get("min", -math.inf))
        hi = _scalar(args[1] if len(args) > 1 else kwargs.get("max", math.inf))
        if lo is None or hi is None:
            return None
        cfg = dict(state[1])
        a, b = cfg["a"], cfg["b"]
        tol = 1e-6 * max([1.0, *(abs(x) for x in (a, b) if math.isfinite(x))])
        std, mean = cfg.get("std", 0.0), cfg.get("mean", 0.0)
        # a clamp that cuts only rounding error, or (normal) mass beyond 6 std, is a truncation
        if (lo <= a + tol or (std and (mean - lo) / std >= 6)) and \
                (hi >= b - tol or (std and (hi - mean) / std >= 6)):
            cfg["a"], cfg["b"] = max(a, lo), min(b, hi)
            return state[0], cfg
    return None


def _step(state: State, w: Write) -> tuple[State, str]:
    """(new state for a full write, note) from one write."""
    if w.kind == "call":
        if w.op == "copy_":
            const = _constant_of(w.args.get("other"))
            return const, "" if const else "copy_ of a computed tensor"
        spec, keep = INIT_FUNCTIONS[w.op]
        if w.op == "dirac_" and w.args.get("groups", 1) != 1:
            return None, "dirac_ with groups"
        cfg = {k: w.args[k] for k in keep if k in w.args}
        if w.op == "constant_":
            v = _scalar(cfg.get("val"))
            return (None, "constant_ with a tensor value") if v is None else \
                _method_state("fill_", (v,), {})
        return (spec, {k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                       for k, v in cfg.items()}), ""
    args, kwargs = w.args.get("args", ()), w.args.get("kwargs", {})
    if w.op in _METHODS:
        return _method_state(w.op, args, kwargs)
    if w.op in ("copy_", "__set__"):
        const = _constant_of(args[0] if args else None)
        return const, "" if const else "copy_ of a computed tensor"
    if w.op == "__setitem__":
        const = _constant_of(args[1] if len(args) > 1 else None)
        return const, "" if const else "item assignment"
    new = _transform(state, w.op, args, kwargs)
    return new, "" if new else f"in-place {w.op} after {state[0] if state else 'nothing'}"


def _spec_string(state: State) -> tuple[str | None, str]:
    if state is None:
        return None, ""
    try:
        return str(get({"name": state[0], "config": state[1]})), ""
    except Exception as exc:  # an argument initlab's spec does not take
        return None, f"{state[0]}{state[1]} not expressible: {exc}"[:200]


def _dropped(model: nn.Module, writes: list[Write]) -> set[int]:
    """Writes to a tied tensor through a non-first alias, when its first alias is written too."""
    owners: dict[int, dict[str, str]] = {}
    for mname, m in model.named_modules(remove_duplicate=False):
        for store in (m._parameters, m._buffers):
            for k, t in store.items():
                if t is not None:
                    owners.setdefault(id(t), {})[f"{mname}.{k}" if mname else k] = mname
    first = {name: id(t) for name, t in [*model.named_parameters(), *model.named_buffers()]}
    drop: set[int] = set()
    by_name: dict[str, list[int]] = {}
    for i, w in enumerate(writes):
        by_name.setdefault(w.name, []).append(i)
    for name, idx in by_name.items():
        aliases = owners.get(first.get(name, -1), {})
        if len(aliases) < 2:
            continue
        main = aliases.get(name)
        others = {mod for alias, mod in aliases.items() if alias != name and mod != main}
        if any(writes[i].visitor == main for i in idx):
            drop.update(i for i in idx if writes[i].visitor in others)
    return drop


def fold_writes(model: nn.Module, writes: list[Write], failures: dict[str, str],
                make: Callable[[str | None, str, tuple[int, ...], str], T],
                constructor_values: dict[str, Any]) -> dict[str, T]:
    """{name: make(spec, source, zero_rows, note)} for every parameter and buffer."""
    drop = _dropped(model, writes)
    per: dict[str, list[Write]] = {}
    for i, w in enumerate(writes):
        if i not in drop:
            per.setdefault(w.name, []).append(w)
    out: dict[str, T] = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        state: State = None
        source, note = "", ""
        rows: set[int] = set()
        for w in per.get(name, ()):
            new, why = _step(state if w.rows is None else None, w)
            if w.rows is None:
                state, source, rows, note = new, w.source, set(), why
            elif isinstance(w.rows, tuple) and new is not None and new[0] == "zeros":
                rows.update(w.rows)
            else:
                state, note = None, f"{w.op} on part of the tensor ({w.source})"
        if not source:
            value = constructor_values.get(name, t)
            state, source = _constant_of(value), "constructor"
            module = name.rpartition(".")[0]
            note = failures.get(module, "") or (
                "" if state else "no init writes it: keep the constructor's values")
        spec, why = _spec_string(state)
        out[name] = make(spec, source, tuple(sorted(rows)), note or why)
    return out
