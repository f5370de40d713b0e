"""The model's own init: find it, run it (seeded), or record it without writing anything.

A model's own initialization is its Hugging Face ``_init_weights`` (the nearest
``PreTrainedModel`` ancestor's, as ``initialize_weights`` dispatches it), else a module's
own ``reset_parameters`` / ``_reset_parameters`` / ``init_weights`` (torch, timm, user code).

* :func:`native_init_fn` and :func:`run_native` run it for real, one module at a time, under
  the global torch RNG forked and seeded from initlab's stable key of (seed, module name).
* :func:`native_specs` runs it under a recorder instead: the ``torch.nn.init`` and
  ``transformers.initialization`` functions are swapped for ones that note their arguments
  and return, and a ``TorchFunctionMode`` drops every in-place op on the model's storage, so
  nothing is written (meta models work too). The notes become initlab specs
  (``"normal(mean=0.0, std=0.02)"``), padding rows, or ``None`` where no spec says it.

The chooser ``"@native"`` (the ``hf`` preset) plans every parameter by its native spec.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from initlab.init import fans, get
from initlab.init.registry import Initializer
from initlab.policy.native_record import Recorder, Write, fold_writes
from initlab.policy.roles import Target
from initlab.policy.rules import Choice, chooser
from initlab.rng import derive

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext

__all__ = ["NativeInit", "native_init_fn", "run_native", "native_specs", "CONSTRUCTOR_VALUES"]

OWN_METHODS = ("reset_parameters", "_reset_parameters", "init_weights")
"""A module's own init methods, first found wins (after Hugging Face's ``_init_weights``)."""

CONSTRUCTOR_VALUES = "_initlab_constructor_values"
"""``model.__dict__`` key of {name: CPU tensor}: small tensors' constructor values, kept by
``initlab.hf.from_config`` when it moves parameters to the meta device."""


@dataclass(frozen=True)
class NativeInit:
    """What the model's own init does to one tensor.

    Attributes:
        spec: an initlab spec string reproducing the distribution, or None (not expressible).
        source: the function that wrote it, e.g. ``"LlamaPreTrainedModel._init_weights"``.
        zero_rows: rows (dim 0) it sets to zero afterwards (an embedding's padding row).
        note: why ``spec`` is None, or other detail.
    """

    spec: str | None
    source: str
    zero_rows: tuple[int, ...] = ()
    note: str = ""


# ----------------------------------------------------------------------------- finding it


def _pretrained_class() -> type | None:
    mod = sys.modules.get("transformers.modeling_utils")  # never import transformers here
    return getattr(mod, "PreTrainedModel", None) if mod is not None else None


def _hf_owners(model: nn.Module) -> dict[str, nn.Module]:
    """{module name: the PreTrainedModel whose _init_weights visits it} (smart_apply's rule)."""
    cls = _pretrained_class()
    if cls is None:
        return {}
    owners: dict[str, nn.Module] = {}

    def walk(prefix: str, module: nn.Module, owner: nn.Module | None) -> None:
        if isinstance(module, cls):
            owner = module
        if owner is not None:
            owners.setdefault(prefix, owner)
        for name, child in module.named_children():
            walk(f"{prefix}.{name}" if prefix else name, child, owner)

    walk("", model, None)
    return owners


def _own_method(module: nn.Module) -> tuple[Callable[[], None], str] | None:
    cls = _pretrained_class()
    if cls is not None and isinstance(module, cls):
        return None  # PreTrainedModel.init_weights is the whole model's init, not this module's
    for meth in OWN_METHODS:
        fn = getattr(module, meth, None)
        if callable(fn):
            func = getattr(type(module), meth, None)
            return fn, getattr(func, "__qualname__", f"{type(module).__name__}.{meth}")
    return None


def _hf_label(owner: nn.Module) -> str:
    """``"LlamaPreTrainedModel._init_weights"``: the model family's class, even if inherited."""
    for cls in type(owner).__mro__:
        if cls.__name__.endswith("PreTrainedModel") and cls.__name__ != "PreTrainedModel":
            return f"{cls.__name__}._init_weights"
    return f"{type(owner).__name__}._init_weights"


def _post_order(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Children before their parent, as constructors and HF's smart_apply run."""
    seen: set[int] = set()

    def walk(prefix: str, module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
        for name, child in module.named_children():
            yield from walk(f"{prefix}.{name}" if prefix else name, child)
        if id(module) not in seen:
            seen.add(id(module))
            yield prefix, module

    yield from walk("", model)


def native_init_fn(model: nn.Module, module_name: str) -> tuple[Callable[[], None], str] | None:
    """The model's own init for one module, as a zero-argument callable, and its label.

    Args:
        model: the whole model (HF models dispatch through their ``PreTrainedModel``).
        module_name: the submodule's qualified name (``""`` for the root).

    Returns:
        ``(fn, label)``, e.g. label ``"LlamaPreTrainedModel._init_weights"``; ``fn`` runs the
        module's own constructor init (if any) and then HF's ``_init_weights`` on it, under
        ``torch.no_grad()``. None when the model has no own init for that module.
    """
    module = model.get_submodule(module_name)
    own = _own_method(module)
    owner = _hf_owners(model).get(module_name)
    steps: list[Callable[[], Any]] = [own[0]] if own is not None else []
    if owner is not None:
        steps.append(_bound_init_weights(owner, module))
        label = _hf_label(owner)
    elif own is not None:
        label = own[1]
    else:
        return None

    def run() -> None:
        with torch.no_grad():
            for step in steps:
                step()

    return run, label


def run_native(model: nn.Module, module_names: Iterable[str], *, seed: int) -> dict[str, str]:
    """Run the model's own init for real on each named module, reproducibly.

    Each module's init runs under a forked global torch RNG seeded from
    ``derive(seed, "native", module_name)``; the caller's RNG state is restored.

    Args:
        model: the model (its tensors must have storage).
        module_names: submodule names, in the order to run them.
        seed: the plan's seed.

    Returns:
        {module name: label} for the modules that have an own init (others are left out).
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    done: dict[str, str] = {}
    for name in module_names:
        found = native_init_fn(model, name)
        if found is None:
            continue
        fn, label = found
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive(seed, "native", name) % 2**63)
            fn()
        done[name] = label
    return done


# ----------------------------------------------------------------------------- recording it


def native_specs(model: nn.Module) -> dict[str, NativeInit]:
    """What the model's own init would do to every parameter and buffer, without writing.

    Runs every module's own constructor init (``reset_parameters`` ...), then HF's
    ``_init_weights`` in ``initialize_weights``'s order, under a recorder; the last full
    write of a tensor decides its spec. Tensors nothing writes keep their constructor
    values: a constant one becomes ``constant(val=...)``.

    Args:
        model: any module, with storage or on the meta device.

    Returns:
        {fully qualified name: NativeInit} for every parameter and buffer (tied tensors
        once, under their first name).
    """
    owners = _hf_owners(model)
    order = list(_post_order(model))
    writes: list[Write] = []
    with Recorder(model, writes) as rec:
        for name, module in order:
            own = _own_method(module)
            if own is not None:
                rec.run(name, own[1], own[0])
        for name, module in order:
            owner = owners.get(name)
            if owner is not None:
                rec.run(name, _hf_label(owner), _bound_init_weights(owner, module))
    return fold_writes(model, writes, rec.failures, NativeInit,
                       model.__dict__.get(CONSTRUCTOR_VALUES, {}))


def _bound_init_weights(owner: nn.Module, module: nn.Module) -> Callable[[], Any]:
    """``owner._init_weights(module)`` as a zero-argument callable."""
    init_weights: Callable[[nn.Module], Any] = cast(Any, owner)._init_weights
    return lambda: init_weights(module)


# ----------------------------------------------------------------------------- the chooser

_FAN_SPECS = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")


def _per_chunk(init: Initializer, param_shape: tuple[int, ...]) -> Initializer | None:
    """A fan-based spec fixed to the whole tensor's torch fans (so each chunk draws alike)."""
    if init.name not in _FAN_SPECS:
        return init if init.elementwise else None
    std = init.expected_std(param_shape, layout=None)
    if std is None:
        return None
    fan_in, _ = fans(param_shape, layout=None)
    if init.name.endswith("uniform"):
        bound = float(std) * 3 ** 0.5
        return get({"name": "uniform", "config": {"a": -bound, "b": bound}})
    return get({"name": "normal", "config": {"mean": 0.0, "std": float(std)}}) if fan_in else None


@chooser("native")
def _native(target: Target, ctx: PlanContext) -> Choice | None:
    """The model's own init for this tensor, as an initlab spec (None: not expressible)."""
    specs = ctx.cached("native_specs", lambda: native_specs(ctx.model))
    found = specs.get(target.name)
    if found is None or found.spec is None:
        return None
    init: Initializer | None = get(found.spec)
    if init is not None and target.chunk is not None:
        init = _per_chunk(init, tuple(target.param_shape))
    if init is None:
        return None
    rows = f"; rows {list(found.zero_rows)} zeroed" if found.zero_rows else ""
    return Choice(init, f"native: {found.source}{rows}", layout=None)
