"""Which activation follows each weighted layer (the input of the ``auto`` rules).

Three ways, tried in order, never an error for want of an example input:

* ``torch.fx`` (no input needed) walks the graph forward from each layer;
* when fx cannot trace the model (data-dependent control flow, every HF model, ...) and an
  ``example_input`` is given (meta tensors too), a forward pass under a
  ``TorchFunctionMode`` follows the data: every tensor a layer outputs is tagged with the
  layer's name, transparent operations pass tags on, and an activation that consumes a
  tagged tensor is that layer's activation;
* otherwise the module structure (:mod:`initlab.policy.act_structure`): each forward is read
  from its source, with activation classes and the model config's ``hidden_act``.

Activation modules are atomic in all three: ``NewGELUActivation`` is GELU, whatever it calls
inside (``torch.tanh``). Layers in ``names`` and norm modules are atomic too.

Whatever the way, when a layer's output reaches several consumers, an activation among them
wins over "none" (so ``if h.sum() > 0`` next to ``tanh(h)`` still makes the layer a tanh
layer).

What counts as transparent (the activation after it still counts): dropout, reshaping
(view, reshape, flatten, permute, transpose, squeeze, contiguous, ...), pooling, normalization
layers (so Conv -> BatchNorm -> ReLU is a ReLU layer) and additions (a residual sum, so the
last conv of a ResNet block feeds the ReLU after the sum). Any other operation (another
layer, a matmul, softmax, a multiplication, the output) ends the walk: "none", i.e. linear.
Functional activations (``F.relu``, ``torch.tanh``, ``x.relu()``) count like modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from initlab._core.calls import call_model
from initlab.policy.act_structure import structure_detect
from initlab.policy.act_table import (
    _SIZE_FUNCS,
    _WEIGHT_FUNCS,
    NONE,
    ActivationInfo,
    _classify_call,
    _classify_module,
    _func_name,
    activation_of_module,
    is_transparent_module,
)

__all__ = ["ActivationInfo", "NONE", "detect_activations", "activation_of_module", "call_with"]


def call_with(model: nn.Module, example_input: Any) -> Any:
    """Deprecated alias of ``initlab._core.calls.call_model`` (the same call; warns)."""
    warnings.warn("initlab.policy.activations.call_with is deprecated; it goes in the next "
                  "release (initlab calls models through initlab._core.calls.call_model).",
                  DeprecationWarning, stacklevel=2)
    return call_model(model, example_input)


def _atomic(module: nn.Module, qual: str, names: set[str]) -> bool:
    """Modules whose inside the tracers do not look at: layers, activations, norms."""
    leaf = next(module.children(), None) is None
    return (qual in names and leaf) or activation_of_module(module) is not None or (
        leaf and is_transparent_module(module))


def _fx_const(arg: Any) -> bool:
    """An fx argument that is not data: a literal or a module attribute (parameter)."""
    import torch.fx

    return not isinstance(arg, torch.fx.Node) or arg.op == "get_attr"


def _runtime_const(arg: Any) -> bool:
    """A runtime argument that is not data: a number, a parameter or a one-element tensor."""
    if not isinstance(arg, torch.Tensor):
        return True
    return isinstance(arg, nn.Parameter) or (arg.numel() == 1 and not getattr(arg, _TAG, None))


# ----------------------------------------------------------------------------- fx tracer
def _fx_label(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return type(modules[str(node.target)]).__name__
    return _func_name(node.target)


def _walk(start: torch.fx.Node, modules: dict[str, nn.Module]) -> ActivationInfo:
    """Breadth-first from ``start`` through transparent nodes to the nearest activation."""
    frontier: list[tuple[torch.fx.Node, tuple[str, ...]]] = [(user, ()) for user in start.users]
    seen: set[torch.fx.Node] = set()
    stops: list[str] = []
    while frontier:
        nxt: list[tuple[torch.fx.Node, tuple[str, ...]]] = []
        for node, path in frontier:
            if node in seen:
                continue
            seen.add(node)
            if node.op == "call_module":
                kind, info = _classify_module(modules[str(node.target)])
            elif node.op in ("call_function", "call_method"):
                kind, info = _classify_call(_func_name(node.target), node.args, node.kwargs,
                                            _fx_const)
            else:
                kind, info = "stop", node.op
            label = _fx_label(node, modules) if node.op != "output" else "output"
            if kind == "act":
                via = " -> ".join((*path, info.via if node.op != "call_module" else label))
                return ActivationInfo(info.name, info.param, f"fx: {via}")
            if kind == "pass":
                nxt.extend((user, (*path, label)) for user in node.users)
            else:
                stops.append(label)
        frontier = nxt
    return ActivationInfo("none", via=f"fx: next is {stops[0] if stops else 'nothing'}")


def _takes_proxy_flag() -> bool:
    import inspect

    import torch.fx

    return "proxy_buffer_attributes" in inspect.signature(torch.fx.Tracer.__init__).parameters


def _fx_detect(model: nn.Module, names: set[str]) -> dict[str, ActivationInfo]:
    import torch.fx

    class _Leaves(torch.fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return _atomic(m, qualname, names) or super().is_leaf_module(m, qualname)

    # Tracing runs the forwards of non-leaf modules: with buffers as concrete tensors, code
    # like timm's BatchNormAct2d `num_batches_tracked.add_(1)` would write to the model.
    # Buffers are proxied, and restored afterwards in case some code writes them anyway.
    saved = [(b, b.detach().clone()) for b in model.buffers() if not b.is_meta]
    try:
        # torch versions whose Tracer takes the flag proxy buffers; the stubs do not list it
        tracer = (_Leaves(proxy_buffer_attributes=True)  # type: ignore[call-arg]
                  if _takes_proxy_flag() else _Leaves())
        graph = tracer.trace(model)
    finally:
        with torch.no_grad():
            for b, value in saved:
                if not torch.equal(b, value):
                    b.copy_(value)
    modules = dict(model.named_modules())
    out: dict[str, ActivationInfo] = {}
    for node in graph.nodes:
        owner: str | None = None
        if node.op == "call_module" and node.target in names:
            owner = str(node.target)
        elif node.op == "call_function" and _func_name(node.target) in _WEIGHT_FUNCS:
            weight = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
            if isinstance(weight, torch.fx.Node) and weight.op == "get_attr":
                owner = str(weight.target).rpartition(".")[0]
        if owner is not None and owner not in out:
            out[owner] = _walk(node, modules)
    return out


# ------------------------------------------------------------------------ hook tracer
_TAG = "_initlab_layers"


def _tags_of(values: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    tags: dict[str, tuple[str, ...]] = {}
    for a in values:
        for t in a if isinstance(a, list | tuple) else (a,):
            if isinstance(t, torch.Tensor):
                tags.update(getattr(t, _TAG, None) or {})
    return tags


def _tensors(out: Any) -> list[torch.Tensor]:
    return [t for t in (out if isinstance(out, list | tuple) else (out,))
            if isinstance(t, torch.Tensor)]


class _Tracer(TorchFunctionMode):
    """Follows tagged tensors through the forward pass (outermost torch calls only)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, ActivationInfo] = {}
        self.depth = 0  # > 0 inside an atomic module: its torch calls are not looked at

    def record(self, tags: dict[str, tuple[str, ...]], info: ActivationInfo | None,
               stop: str = "") -> None:
        """Tagged inputs reach an activation ``info`` (an activation beats "none") or a stop."""
        for layer, path in tags.items():
            if layer in self.found and (info is None or self.found[layer].name != "none"):
                continue
            if info is not None:
                via = " -> ".join((*path, info.via))
                self.found[layer] = ActivationInfo(info.name, info.param, f"hooks: {via}")
            else:
                self.found[layer] = ActivationInfo("none", via=f"hooks: next is {stop}")

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _func_name(func)
        if self.depth or name in _SIZE_FUNCS:
            return out
        tags = _tags_of((*args, *kwargs.values()))
        if not tags:
            return out
        kind, info = _classify_call(name, args, kwargs, _runtime_const)
        if kind == "pass":
            passed = {layer: (*path, name) for layer, path in tags.items()}
            for t in _tensors(out):
                setattr(t, _TAG, passed)
            return out
        self.record(tags, info if kind == "act" else None, info if kind == "stop" else "")
        for t in _tensors(out):  # an in-place activation returns its (tagged) input: untag it
            if getattr(t, _TAG, None):
                setattr(t, _TAG, None)
        return out


def _atomic_hooks(tracer: _Tracer, module: nn.Module, qual: str, names: set[str],
                  called: list[str]) -> tuple[RemovableHandle, RemovableHandle]:
    """Pre/post hooks that make ``module`` one step of the trace (its inside is not seen)."""
    kind = type(module).__name__
    act = activation_of_module(module)
    stack: list[dict[str, tuple[str, ...]]] = []

    def pre(mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        tags = {} if tracer.depth else _tags_of((*args, *kwargs.values()))
        stack.append(tags)
        if act is not None and act.name != "none":
            tracer.record(tags, ActivationInfo(act.name, act.param, f"{qual} ({kind})"))
        elif act is not None or qual in names:
            tracer.record(tags, None, kind)
        tracer.depth += 1

    def post(mod: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        tracer.depth -= 1
        tags = stack.pop()
        if tracer.depth:
            return
        outs = _tensors(output)
        new: dict[str, tuple[str, ...]] | None
        if qual in names:
            called.append(qual)
            new = {qual: ()}
        elif act is None:  # a norm: transparent
            new = {layer: (*path, kind) for layer, path in tags.items()}
        else:
            new = None
        for t in outs:
            setattr(t, _TAG, new)

    return (module.register_forward_pre_hook(pre, with_kwargs=True),
            module.register_forward_hook(post))


def _hook_detect(model: nn.Module, names: set[str], example_input: Any) -> dict[str, ActivationInfo]:
    tracer = _Tracer()
    handles: list[RemovableHandle] = []
    called: list[str] = []

    def tag(mname: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            called.append(mname)
            if isinstance(output, torch.Tensor) and not tracer.depth:
                setattr(output, _TAG, {mname: ()})

        return hook

    for mname, module in model.named_modules():
        if _atomic(module, mname, names):
            handles.extend(_atomic_hooks(tracer, module, mname, names, called))
        elif mname in names:
            handles.append(module.register_forward_hook(tag(mname)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), tracer:
            call_model(model, example_input)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for name in called:
        tracer.found.setdefault(name, ActivationInfo("none", via="hooks: next is the output"))
    return tracer.found


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160]


def detect_activations(
    model: nn.Module, names: set[str], example_input: Any = None
) -> tuple[dict[str, ActivationInfo], str]:
    """The activation after each module in ``names``, and the method that found them.

    Args:
        model: any module (CPU, GPU or meta).
        names: qualified names of the weighted modules to answer for.
        example_input: optional batch (tensor, tuple or dict; meta tensors for a meta model)
            for forward tracing when fx cannot trace the model.

    Returns:
        ``({name: ActivationInfo}, method)``; method is "fx", "hooks", "structure" or
        "structure+config" (with why fx/hooks were not used), and each ``via`` says how.
        Never raises for want of an example input: the module structure answers then.
    """
    if not names:
        return {}, "none"
    try:
        return _fx_detect(model, names), "fx"
    except Exception:  # fx raises many kinds (TraceError, TypeError, ...): read the structure
        pass
    if example_input is not None:
        try:
            return _hook_detect(model, names, example_input), "hooks"
        except Exception as exc:  # model code that cannot run here (meta .item(), ...)
            warnings.warn(
                f"Finding activations by a forward pass failed ({_first_line(exc)}); they come "
                "from the module structure instead. Hint: check example_input, or pass a Plan.",
                UserWarning, stacklevel=3)
    return structure_detect(model, names)
