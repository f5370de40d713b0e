"""Recording a model's own init without letting it write: the recorder and the fold to specs.

:class:`Recorder` swaps every ``torch.nn.init`` / ``transformers.initialization`` function
(wherever a module holds it) for one that notes its arguments and returns the tensor, and
runs a ``TorchFunctionMode`` that drops every in-place op on the model's storage (``normal_``,
``zero_``, ``fill_``, ``copy_``, ``mul_``, ``__setitem__`` ...). A write is located by its
storage: the whole tensor, some rows of it (``weight[padding_idx]``), or a partial region.
:func:`fold_writes` replays the notes per tensor (last full write wins, affine ops fold into
the distribution, zeroed rows are kept) and turns them into initlab specs.

The vocabulary (:data:`INIT_FUNCTIONS`, :class:`Write`) lives in
:mod:`initlab.policy.native_writes`, the fold in :mod:`initlab.policy.native_fold`; both are
re-exported here.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initlab.policy.native_fold import fold_writes
from initlab.policy.native_writes import INIT_FUNCTIONS, Write

__all__ = ["Recorder", "Write", "fold_writes", "INIT_FUNCTIONS"]

_HF_ONLY = ("copy_",)
_NOT_WRITES = {"requires_grad_", "share_memory_", "retain_grad", "detach_", "record_stream"}
_DUNDER_WRITES = {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__set__"}


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

