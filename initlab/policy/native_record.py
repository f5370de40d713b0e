"""Recording a model's own init without letting it write: the recorder and the fold to specs.

:class:`Recorder` swaps every ``torch.nn.init`` / ``transformers.initialization`` function
(wherever a module holds it) for one that notes its arguments and returns the tensor, and
runs a ``TorchFunctionMode`` that drops every in-place op on the model's storage (``normal_``,
``zero_``, ``fill_``, ``copy_``, ``mul_``, ``__setitem__`` ...). A write is located by its
storage: the whole tensor, some rows of it (``weight[padding_idx]``), or a partial region.
:func:`fold_writes` replays the notes per tensor (last full write wins, affine ops fold into
the distribution, zeroed rows are kept) and turns them into initlab specs.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initlab.init import get

__all__ = ["Recorder", "Write", "fold_writes", "INIT_FUNCTIONS"]

T = TypeVar("T")

# torch / transformers init function -> (initlab spec name, the arguments it keeps)
INIT_FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "normal_": ("normal", ("mean", "std")),
    "uniform_": ("uniform", ("a", "b")),
    "trunc_normal_": ("trunc_normal", ("mean", "std", "a", "b")),
    "constant_": ("constant", ("val",)),
    "ones_": ("ones", ()),
    "zeros_": ("zeros", ()),
    "eye_": ("eye", ()),
    "dirac_": ("dirac", ()),
    "xavier_uniform_": ("xavier_uniform", ("gain",)),
    "xavier_normal_": ("xavier_normal", ("gain",)),
    "kaiming_uniform_": ("kaiming_uniform", ("a", "mode", "nonlinearity")),
    "kaiming_normal_": ("kaiming_normal", ("a", "mode", "nonlinearity")),
    "orthogonal_": ("orthogonal", ("gain",)),
    "sparse_": ("sparse", ("sparsity", "std")),
}
_HF_ONLY = ("copy_",)
# Tensor methods that draw or set: name -> (spec, (positional names), {keyword: spec arg})
_METHODS: dict[str, tuple[str, tuple[str, ...], dict[str, float]]] = {
    "normal_": ("normal", ("mean", "std"), {"mean": 0.0, "std": 1.0}),
    "uniform_": ("uniform", ("a", "b"), {"a": 0.0, "b": 1.0}),
    "fill_": ("constant", ("val",), {}),
    "zero_": ("zeros", (), {}),
}
_KWARG_NAMES = {"from": "a", "to": "b", "value": "val", "mean": "mean", "std": "std"}
_NOT_WRITES = {"requires_grad_", "share_memory_", "retain_grad", "detach_", "record_stream"}
_DUNDER_WRITES = {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__set__"}


# what a tensor holds so far: (initializer name, config), or None (not a named distribution)
State = tuple[str, dict[str, Any]] | None


@dataclass
class Write:
    """One recorded write: which tensor, which part, what, by which init function."""

    name: str
    rows: Any                      # None (whole), tuple of row indices, or "partial"
    kind: str                      # "call" (an init function) or "method" (a Tensor method)
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    visitor: str = ""


def _storage_key(t: torch.Tensor) -> Any:
    try:
        return t.untyped_storage()._cdata
    except Exception:  # tensors without storage (sparse, some subclasses)
        return None


def _rows(t: torch.Tensor, root: torch.Tensor) -> tuple[int, ...] | None:
    if root.dim() < 1 or root.stride(0) <= 0:
        return None
    s0, off = root.stride(0), t.storage_offset() - root.storage_offset()
    if off % s0:
        return None
    r = off // s0
    if t.dim() == root.dim() - 1 and t.shape == root.shape[1:] and t.stride() == root.stride()[1:]:
        return (r,)
    if t.dim() == root.dim() and t.shape[1:] == root.shape[1:] and t.stride() == root.stride():
        return tuple(range(r, r + t.shape[0]))
    return None


class _DropWrites(TorchFunctionMode):
    def __init__(self, rec: Recorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        writes = (name.endswith("_") and not name.startswith("_") and name not in _NOT_WRITES) \
            or name in _DUNDER_WRITES
        if writes and args and isinstance(args[0], torch.Tensor):
            target = args[0]
            if name == "__setitem__":
                target = args[0][args[1]]
            where = self.rec.locate(target)
            if where is not None:
                self.rec.note(where, "method", name, {"args": args[1:], "kwargs": kwargs})
                return None if name in ("__setitem__", "__set__") else args[0]
        return func(*args, **kwargs)


class Recorder:
    """Context manager: within it, :meth:`run` executes init code that writes nothing."""

    def __init__(self, model: nn.Module, writes: list[Write]) -> None:
        self.model, self.writes = model, writes
        self.failures: dict[str, str] = {}
        self._storages: dict[Any, list[tuple[str, torch.Tensor]]] = {}
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            key = _storage_key(t)
            if key is not None:
                self._storages.setdefault(key, []).append((name, t))
        self._visitor, self._source = "", ""
        self._patched: list[tuple[dict[str, Any], str, Any]] = []
        self._snapshot: list[tuple[dict[str, Any], str, Any]] = []
        self._mode = _DropWrites(self)

    # --- locating and noting writes ---------------------------------------------------
    def locate(self, t: torch.Tensor) -> tuple[str, Any] | None:
        roots = self._storages.get(_storage_key(t))
        if not roots:
            return None
        for name, root in roots:
            if t.shape == root.shape and t.stride() == root.stride() and \
                    t.storage_offset() == root.storage_offset():
                return name, None
        for name, root in roots:
            rows = _rows(t, root)
            if rows is not None:
                return name, rows
        return roots[0][0], "partial"

    def note(self, where: tuple[str, Any], kind: str, op: str, args: dict[str, Any]) -> None:
        self.writes.append(Write(where[0], where[1], kind, op, args, self._source, self._visitor))

    def run(self, visitor: str, source: str, fn: Callable[[], Any]) -> None:
        self._visitor, self._source = visitor, source
        try:
            with torch.no_grad():
                fn()
        except Exception as exc:  # the model's own code failed (e.g. .item() on meta)
            self.failures[visitor] = f"{source} failed: {type(exc).__name__}: {exc}"[:240]

    # --- patching ----------------------------------------------------------------------
    def _wrapper(self, op: str, orig: Callable[..., Any]) -> Callable[..., Any]:
        try:
            sig = inspect.signature(orig)
        except (TypeError, ValueError):
            sig = None

        def recorded(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = sig.bind(*args, **kwargs)  # type: ignore[union-attr]  # None: caught
                bound.apply_defaults()
                values = dict(bound.arguments)
            except (AttributeError, TypeError):
                values = {}
            tensor = args[0] if args else next(iter(kwargs.values()), None)
            where = self.locate(tensor) if isinstance(tensor, torch.Tensor) else None
            if where is None:
                return orig(*args, **kwargs)  # a temporary of the init code: let it write
            values.pop("generator", None)
            values.pop(next(iter(sig.parameters)) if sig else "tensor", None)
            self.note(where, "call", op, values)
            return tensor

        return recorded

    def _patch(self) -> None:
        originals: dict[int, tuple[str, Callable[..., Any]]] = {}
        sources = [sys.modules.get("torch.nn.init"), sys.modules.get("transformers.initialization")]
        for mod in sources:
            for op in (*INIT_FUNCTIONS, *_HF_ONLY):
                fn = getattr(mod, op, None) if mod is not None else None
                if callable(fn):
                    originals[id(fn)] = (op, fn)
        wrappers = {key: self._wrapper(op, fn) for key, (op, fn) in originals.items()}
        names = set(INIT_FUNCTIONS) | set(_HF_ONLY)
        tables = [vars(m) for m in list(sys.modules.values()) if isinstance(getattr(m, "__dict__", None), dict)]
        hf = sys.modules.get("transformers.initialization")
        if hf is not None and isinstance(getattr(hf, "TORCH_INIT_FUNCTIONS", None), dict):
            tables.append(hf.TORCH_INIT_FUNCTIONS)
        for table in tables:
            for op in names:
                value = table.get(op)
                if value is not None and id(value) in wrappers and table.get(op) is originals[id(value)][1]:
                    self._patched.append((table, op, value))
                    table[op] = wrappers[id(value)]

    def __enter__(self) -> Recorder:
        for m in self.model.modules():
            for store in (m._parameters, m._buffers):
                self._snapshot.extend((store, k, v) for k, v in store.items())
        self._patch()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)
        for table, op, value in reversed(self._patched):
            table[op] = value
        for store, k, v in self._snapshot:  # an init that reassigned a tensor: undo it
            if store.get(k) is not v:
                store[k] = v


# ----------------------------------------------------------------------------- folding


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
