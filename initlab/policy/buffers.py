"""Buffer values for meta-device models: equal to a normal CPU build, with no forward pass.

A buffer of a meta model has no values; ``materialize`` needs the ones the model's
constructor would have given it (rotary ``inv_freq``, ``position_ids``, BatchNorm
statistics, relative position indices, ...). :data:`BUFFER_INITS` is the table of ways to
recompute them, tried in order for every module that owns a meta buffer; the first one that
fills a buffer gives its value:

1. ``reset_running_stats()`` (BatchNorm / InstanceNorm);
2. the module's own ``reset_buffers()`` or ``_init_buffers()``;
3. the model's own init for that module (HF ``_init_weights``, which in transformers 5
   recomputes rope frequencies and position ids; see :func:`native_init_fn`);
4. recomputation rules for known Hugging Face buffers (:data:`KNOWN_BUFFERS`);
5. ``reset_parameters()`` of a module that owns no parameters.

Every strategy runs *before* anything is allocated, on CPU stand-ins for the module's meta
buffers (the module's parameters stay on meta, so writes to them cost nothing), twice, with
two different prefills: a buffer counts as filled only when both runs give the same values.
A strategy that raises or leaves a buffer unfilled is tried once more with CPU stand-ins
for the parameters as well (one element broadcast to each shape, prefilled the same two
ways: for a buffer that takes its device from a parameter, such as timm's SwinV2-CR); a
buffer computed from parameter values then differs between the runs and is not taken.
A strategy that still fails simply does not apply to it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from initlab.policy.native import native_init_fn, run_native
from initlab.rng import derive

__all__ = ["BUFFER_INITS", "KNOWN_BUFFERS", "BufferValues", "buffer_values", "native_init_fn",
           "run_native"]

Finder = Callable[[nn.Module, str, nn.Module], "Callable[[], Any] | None"]


# ------------------------------------------------------------------ the model's own init
# ``native_init_fn`` and ``run_native`` live in :mod:`initlab.policy.native` (imported above and
# re-exported here for the callers that import them from this module).


def _forked(seed: int, key: str, fn: Callable[[], None]) -> None:
    """Run ``fn`` under the global torch RNG forked and seeded from (seed, key)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive(seed, "native", key))
        fn()


# ------------------------------------------------------------- recomputing known buffers


def _rope(module: nn.Module, attr: str, buf: torch.Tensor) -> torch.Tensor | None:
    config = getattr(module, "config", None)
    if config is None:
        return None
    fn = getattr(module, "rope_init_fn", None)
    if not callable(fn):
        rope_type = getattr(module, "rope_type", "default")
        fn = getattr(module, f"compute_{rope_type}_rope_parameters", None)
        if not callable(fn):
            try:
                from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
            except ImportError:
                return None
            fn = ROPE_INIT_FUNCTIONS.get(rope_type)
    if not callable(fn):
        return None
    out = fn(config)
    return cast(torch.Tensor, out[0] if isinstance(out, tuple) else out)


def _position_ids(module: nn.Module, attr: str, buf: torch.Tensor) -> torch.Tensor:
    return torch.arange(buf.shape[-1], dtype=buf.dtype).expand(buf.shape)


def _zeros(module: nn.Module, attr: str, buf: torch.Tensor) -> torch.Tensor:
    return torch.zeros(buf.shape, dtype=buf.dtype)


KNOWN_BUFFERS: dict[str, Callable[[nn.Module, str, torch.Tensor], torch.Tensor | None]] = {
    "inv_freq": _rope,
    "original_inv_freq": _rope,
    "position_ids": _position_ids,
    "token_type_ids": _zeros,
}
"""Buffer attribute name -> ``rule(module, attr, buffer) -> value or None`` (HF conventions)."""


# --------------------------------------------------------------------------- strategies


def _running_stats(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
    if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
        return m.reset_running_stats
    return None


def _own_method(name: str) -> Finder:
    def find(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
        fn = getattr(m, name, None)
        return fn if callable(fn) else None

    return find


def _native(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
    found = native_init_fn(model, mname)
    return None if found is None else found[0]


def _known(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
    attrs = [a for a, b in m._buffers.items() if b is not None and a in KNOWN_BUFFERS]
    if not attrs:
        return None

    def fill() -> None:
        for a in attrs:
            buf = m._buffers[a]
            value = KNOWN_BUFFERS[a](m, a, buf) if buf is not None else None
            if buf is not None and value is not None:
                buf.copy_(value)

    return fill


_DEFINERS = ("define_", "_define_", "build_buffers", "_build_buffers", "make_buffers")


def _definers(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
    """Zero-argument methods that (re)define buffers, e.g. torchvision Swin's
    ``define_relative_position_index``; any parameter they (re)create is discarded."""
    names: list[str] = []
    for n in sorted(dir(type(m))):
        fn = getattr(type(m), n, None)
        if not (n.startswith(_DEFINERS) and callable(fn)):
            continue
        try:
            params = list(inspect.signature(fn).parameters.values())[1:]
        except (TypeError, ValueError):
            continue
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params):
            names.append(n)
    if not names:
        return None

    def fill() -> None:
        kept = dict(m._parameters)
        try:
            for n in names:
                getattr(m, n)()
        finally:
            m._parameters.clear()
            m._parameters.update(kept)

    return fill


def _param_free_reset(model: nn.Module, mname: str, m: nn.Module) -> Callable[[], Any] | None:
    if any(True for _ in m.parameters(recurse=False)):
        return None
    fn = getattr(m, "reset_parameters", None)
    return fn if callable(fn) else None


def _native_label(model: nn.Module, mname: str, m: nn.Module) -> str:
    found = native_init_fn(model, mname)
    return "native" if found is None else f"native: {found[1]}"


@dataclass(frozen=True)
class BufferInit:
    """One way to fill a module's buffers: ``finder(model, module_name, module)`` returns a
    zero-argument callable, or None when the way does not apply to the module."""

    label: str
    finder: Finder
    describe: Callable[[nn.Module, str, nn.Module], str] | None = None

    def name_for(self, model: nn.Module, mname: str, m: nn.Module) -> str:
        """The label this strategy gives a buffer of module ``m``."""
        return self.describe(model, mname, m) if self.describe else self.label


BUFFER_INITS: tuple[BufferInit, ...] = (
    BufferInit("reset_running_stats", _running_stats),
    BufferInit("reset_buffers", _own_method("reset_buffers")),
    BufferInit("_init_buffers", _own_method("_init_buffers")),
    BufferInit("native", _native, _native_label),
    BufferInit("recomputed (known HF buffer)", _known),
    BufferInit("define_* methods (parameters they create are discarded)", _definers),
    BufferInit("reset_parameters (module owns no parameters)", _param_free_reset),
)


# ------------------------------------------------------------------------ computing them


@dataclass
class BufferValues:
    """What :func:`buffer_values` found: CPU values and the strategy of each filled buffer,
    and the buffers no strategy could fill (with the errors strategies raised)."""

    values: dict[str, torch.Tensor] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _prefill(t: torch.Tensor, high: bool) -> None:
    if t.dtype == torch.bool:
        t.fill_(high)
    elif t.is_floating_point() or t.is_complex():
        t.fill_(torch.finfo(t.dtype).max if high else float("nan"))
    else:
        info = torch.iinfo(t.dtype)
        t.fill_(info.max if high else info.min)


Saved = list[tuple[dict[str, Any], str, torch.Tensor, torch.Tensor]]


def _snapshot(m: nn.Module) -> Saved:
    """Tensors of ``m``'s subtree that have storage (constructor values a strategy must not
    overwrite), with clones to restore."""
    saved: Saved = []
    for sub in m.modules():
        stores: tuple[dict[str, Any], ...] = (sub._parameters, sub._buffers)
        for store in stores:
            for k, t in store.items():
                if t is not None and not t.is_meta:
                    saved.append((store, k, t, t.detach().clone()))
    return saved


def _restore(saved: Saved) -> None:
    with torch.no_grad():
        for store, k, t, clone in saved:
            store[k] = t
            t.copy_(clone)


def _try(fn: Callable[[], Any], seed: int, key: str, m: nn.Module, stand_ins: dict[str, torch.Tensor],
         high: bool, cpu_params: bool = False
         ) -> tuple[dict[str, torch.Tensor | None] | None, str | None]:
    """Run one strategy on fresh stand-ins; the module's buffers afterwards, or an error text.
    ``cpu_params``: the subtree's meta parameters get CPU stand-ins too (see
    :func:`_param_stand_ins`)."""
    saved = _snapshot(m)  # before the stand-ins go in: their writes are what we want
    for a, t in stand_ins.items():
        m._buffers[a] = t
        _prefill(t, high)
    metas = _param_stand_ins(m, high) if cpu_params else []
    try:
        with torch.no_grad(), torch.device("cpu"):
            _forked(seed, key, fn)
        return {a: m._buffers[a] for a in stand_ins}, None
    except Exception as exc:  # a strategy that fails does not apply
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    finally:
        for store, k, p in metas:
            store[k] = p
        _restore(saved)


def _param_stand_ins(m: nn.Module, high: bool) -> list[tuple[dict[str, Any], str, torch.Tensor]]:
    """Give the meta parameters of ``m``'s subtree CPU stand-ins while a strategy runs; the
    originals, to put back.

    A buffer init may take its device from a parameter (timm's SwinV2-CR computes its
    relative coordinates on ``self.logit_scale.device`` and its mask on
    ``self.norm1.weight.device``): on meta its result would have no data. Each stand-in is
    one element broadcast to the parameter's shape (no memory, whatever the model's size),
    prefilled like the buffer stand-ins (NaN / low, then the maximum / high), so a buffer
    computed from parameter *values* differs between the two runs, or is NaN, and is not
    taken."""
    out: list[tuple[dict[str, Any], str, torch.Tensor]] = []
    for sub in m.modules():
        for k, p in sub._parameters.items():
            if p is not None and p.is_meta:
                one = torch.empty((), dtype=p.dtype)
                _prefill(one, high)
                out.append((sub._parameters, k, p))
                sub._parameters[k] = nn.Parameter(one.expand(p.shape), requires_grad=False)
    return out


def _filled(a: torch.Tensor | None, b: torch.Tensor | None, like: torch.Tensor) -> bool:
    if a is None or b is None or a.is_meta or b.is_meta:
        return False
    if tuple(a.shape) != tuple(like.shape) or tuple(b.shape) != tuple(like.shape):
        return False
    if (a.is_floating_point() or a.is_complex()) and torch.isnan(a).any():
        return False
    return torch.equal(a, b)


def _module_values(model: nn.Module, mname: str, m: nn.Module, attrs: list[str], seed: int,
                   out: BufferValues) -> None:
    metas = {a: cast(torch.Tensor, m._buffers[a]) for a in attrs}
    pending = list(attrs)
    try:
        for strategy in BUFFER_INITS:
            fn = strategy.finder(model, mname, m)
            if fn is None:
                continue
            label = strategy.name_for(model, mname, m)
            # parameters on meta first (writes to them cost nothing, and inits that write
            # parameters, like HF's _init_weights, cannot write a broadcast stand-in); then,
            # for what is left, with CPU stand-ins for them
            for cpu_params in (False, True):
                runs: list[dict[str, torch.Tensor | None]] = []
                for high in (False, True):
                    stand_ins = {a: torch.empty(metas[a].shape, dtype=metas[a].dtype)
                                 for a in pending}
                    got, err = _try(fn, seed, mname, m, stand_ins, high, cpu_params)
                    if got is None:
                        for a in pending:
                            out.errors.setdefault(_qual(mname, a), f"{label}: {err}")
                        break
                    runs.append(got)
                if len(runs) == 2:
                    for a in list(pending):
                        first = runs[0][a]
                        if first is not None and _filled(first, runs[1][a], metas[a]):
                            out.values[_qual(mname, a)] = first.detach().clone()
                            out.labels[_qual(mname, a)] = label
                            pending.remove(a)
                if not pending:
                    break
            if not pending:
                break
    finally:
        for a, t in metas.items():
            m._buffers[a] = t
    out.left.extend(_qual(mname, a) for a in pending)


def _qual(mname: str, attr: str) -> str:
    return f"{mname}.{attr}" if mname else attr


def buffer_values(model: nn.Module, names: set[str], *, seed: int = 0) -> BufferValues:
    """CPU values for the meta buffers ``names`` of ``model``, by the first strategy of
    :data:`BUFFER_INITS` that fills each; nothing of the model is changed.

    Args:
        model: a model whose buffers ``names`` are on the meta device.
        names: fully qualified buffer names to compute.
        seed: seeds the RNG a strategy may draw from (forked; the caller's RNG is kept).

    Returns:
        A :class:`BufferValues` with the values, the strategy labels, and what is left.
    """
    out = BufferValues()
    for mname, m in model.named_modules():
        attrs = [a for a, b in m._buffers.items()
                 if b is not None and b.is_meta and _qual(mname, a) in names]
        if attrs:
            _module_values(model, mname, m, attrs, seed, out)
    return out
