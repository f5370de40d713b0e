"""Activations from the module tree, when torch.fx cannot trace and no example input is given.

Nothing is run. Each module's ``forward`` (and the methods it calls on ``self``) is read from
its source (:mod:`initlab.policy.act_source`) and followed like the hook tracer follows
tensors. Calls to child modules use the child's summary: what
its forward does with its first argument (``entry``) and which tags it returns, so
``self.mlp(x)`` and ``for layer in self.layers: h = layer(h)`` are followed across modules.

Where a module's source cannot be read, or an activation child is never called in any read
forward, the activation goes to its parent's first weighted child registered before it
(else the first weighted child): the ``fc1 -> act -> fc2`` convention.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from torch import nn

from initlab.policy.act_source import Frame, Mods, Summary, Val, extend, method_ast, union
from initlab.policy.act_table import (
    ActivationInfo,
    activation_of_config,
    activation_of_module,
    is_transparent_module,
)

__all__ = ["structure_detect"]


class _Structure:
    """The shared state of one structure detection."""

    def __init__(self, model: nn.Module, names: set[str]):
        self.model, self.names = model, names
        self.modules = dict(model.named_modules())
        self.found: dict[str, ActivationInfo] = {}
        self.summaries: dict[tuple[str, str], Summary | None] = {}
        self.called_acts: set[str] = set()
        self.config_used = False

    def record(self, layer: str, info: ActivationInfo) -> None:
        if layer not in self.names:
            return
        old = self.found.get(layer)
        if old is None or (old.name == "none" and info.name != "none"):
            _, config, key = info.via.partition("config: ")
            via = f"config: {key}" if config else f"structure: {info.via}"
            self.found[layer] = ActivationInfo(info.name, info.param, via)

    def config_act(self, qual: str) -> ActivationInfo | None:
        """The activation named by the config of the nearest module above ``qual`` with one."""
        parts = qual.split(".") if qual else []
        for i in range(len(parts), -1, -1):
            config = getattr(self.modules.get(".".join(parts[:i])), "config", None)
            found = activation_of_config(config) if config is not None else None
            if found is not None:
                self.config_used = True
                return ActivationInfo(found[0], None, f"config: {found[1]}")
        return None

    def summary(self, qual: str, method: str = "forward") -> Summary | None:
        key = (qual, method)
        if key not in self.summaries:
            self.summaries[key] = None  # recursion guard
            module = self.modules[qual]
            fn = method_ast(type(module), method)
            if fn is not None:
                try:
                    self.summaries[key] = Frame(self, qual, module, fn).summary
                except Exception:  # code this reader does not follow: no summary
                    self.summaries[key] = None
        return self.summaries[key]

    def call_module(self, frame: Frame, qual: str, args: Sequence[Val],
                    kwargs: dict[str, Val]) -> Val:
        module = self.modules.get(qual)
        vals = (*args, *kwargs.values())
        if module is None:
            return Val(data=True)
        kind = type(module).__name__
        act = activation_of_module(module)
        if act is not None:
            self.called_acts.add(qual)
            via = f"{qual} ({kind})"
            if act.name == "none":
                frame.consume(vals, None, via)
                return Val(data=True)
            return frame.apply_act(ActivationInfo(act.name, act.param, via), args, kwargs, via)
        if qual in self.names:
            frame.consume(vals, None, kind)
            summary = self.summary(qual) if next(module.children(), None) is not None else None
            return Val({qual: (), **(summary.returned if summary else {})}, True)
        if is_transparent_module(module):
            return extend(union(vals), kind)
        if isinstance(module, nn.Sequential):
            return frame.call_mods(Mods(tuple(f"{qual}.{k}" for k in module._modules), True),
                                   args, kwargs)
        return self.apply_summary(frame, self.summary(qual), kind, args, kwargs)

    def apply_summary(self, frame: Frame, summary: Summary | None, label: str,
                      args: Sequence[Val], kwargs: dict[str, Val]) -> Val:
        """A call to a module or method: its entry applies to the first argument."""
        vals = list(args) or list(kwargs.values())[:1]
        first, rest = (vals[0] if vals else Val()), [*args[1:], *kwargs.values()][:]
        frame.consume(rest, None, label)
        if summary is None:
            frame.consume((first,), None, label)
            return Val(data=True)
        if summary.entry_act is not None:
            frame.consume((first,), summary.entry_act, label)
        elif summary.entry_stop is not None:
            frame.consume((first,), None, summary.entry_stop)
        out = Val(dict(summary.returned), True)
        if summary.entry_pass is not None:
            out = union((out, Val({k: (*p, *summary.entry_pass) for k, p in first.tags.items()},
                                    True)))
        return out

    def run(self) -> None:
        for qual, module in reversed(self.modules.items()):
            if isinstance(module, nn.Sequential):
                self.sequential(qual, module)
            elif next(module.children(), None) is not None or (
                    qual in self.names and not type(module).__module__.startswith("torch.")):
                self.summary(qual)
                for name in _own_methods(type(module)):  # ALBERT's ff_chunk, passed as a value
                    self.summary(qual, name)

    def sequential(self, qual: str, module: nn.Sequential) -> None:
        Frame(self, qual, module, None).call_mods(Mods(tuple(f"{qual}.{k}" for k in module._modules), True), [Val()], {})

    def by_order(self) -> None:
        """Activation children never seen called: the parent's first weighted child before."""
        for qual, module in self.modules.items():
            if qual in self.called_acts or qual == "":
                continue
            act = activation_of_module(module)
            parent_name, _, _ = qual.rpartition(".")
            parent = self.modules.get(parent_name)
            if act is None or act.name == "none" or parent is None or \
                    self.summaries.get((parent_name, "forward"), 0) is not None:
                continue  # only where the parent's forward could not be read
            siblings = [f"{parent_name}.{k}" if parent_name else k for k in parent._modules]
            weighted = [s for s in siblings[: siblings.index(qual)] if s in self.names]
            weighted = weighted or [s for s in siblings if s in self.names]
            if weighted:
                via = f"{qual} ({type(module).__name__}) registered after {weighted[0]}"
                self.record(weighted[0], ActivationInfo(act.name, act.param, via))


_NOT_FORWARD = {"extra_repr", "reset_parameters", "init_weights", "_init_weights", "forward"}


def _own_methods(cls: type) -> list[str]:
    """The methods ``cls`` itself defines besides forward (helpers it may call indirectly)."""
    if cls.__module__.startswith("torch."):
        return []
    return [name for name, value in vars(cls).items() if inspect.isfunction(value)
            and not name.startswith("__") and name not in _NOT_FORWARD]


def structure_detect(model: nn.Module, names: set[str]) -> tuple[dict[str, ActivationInfo], str]:
    """The activation after each module in ``names``, from the module tree and the config.

    Args:
        model: the model (on any device, meta included: nothing is run).
        names: qualified names of the weighted modules to answer for.

    Returns:
        ``({name: ActivationInfo}, method)`` with every name answered (layers followed by
        nothing known are "none") and method "structure" or "structure+config".
    """
    ctx = _Structure(model, names)
    ctx.run()
    ctx.by_order()
    for name in names:
        ctx.found.setdefault(name, ActivationInfo("none", via="structure: next is nothing known"))
    return ctx.found, "structure+config" if ctx.config_used else "structure"
