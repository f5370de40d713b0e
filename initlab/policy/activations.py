"""Which activation follows each weighted layer (the input of the ``auto`` rules).

Two tracers share one table of operations:

* ``torch.fx.symbolic_trace`` (no input needed) walks the graph forward from each layer;
* when fx cannot trace the model (data-dependent control flow, ...), a forward pass on
  ``example_input`` under a ``TorchFunctionMode`` follows the data: every tensor a layer
  outputs is tagged with the layer's name, transparent operations pass tags on, and an
  activation that consumes a tagged tensor is that layer's activation.

Either way, when a layer's output reaches several consumers, an activation among them wins
over "none" (so ``if h.sum() > 0`` next to ``tanh(h)`` still makes the layer a tanh layer).

What counts as transparent (the activation after it still counts): dropout, reshaping
(view, reshape, flatten, permute, transpose, squeeze, contiguous, ...), pooling, normalization
layers (so Conv -> BatchNorm -> ReLU is a ReLU layer) and additions (a residual sum, so the
last conv of a ResNet block feeds the ReLU after the sum). Any other operation (another
layer, a matmul, softmax, a multiplication, the output) ends the walk: "none", i.e. linear.
Functional activations (``F.relu``, ``torch.tanh``, ``x.relu()``) count like modules.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initlab.errors import ConfigError


def call_with(model: nn.Module, example_input):
    """``model(example_input)``; a tuple/list is passed as positional, a dict as keyword args."""
    if isinstance(example_input, tuple | list):
        return model(*example_input)
    if isinstance(example_input, dict):
        return model(**example_input)
    return model(example_input)

__all__ = ["ActivationInfo", "NONE", "detect_activations", "activation_of_module"]


@dataclass(frozen=True)
class ActivationInfo:
    """The activation after a layer: canonical name, its parameter, and how it was found."""

    name: str                 # relu, leaky_relu, elu, gelu, silu, mish, tanh, sigmoid,
    #                           softsign, selu, hardswish, softplus, none
    param: float | None = None  # negative slope for leaky_relu
    via: str = ""             # how it was found, e.g. "fx: Dropout -> relu"


NONE = ActivationInfo("none", via="the layer is not called on its own in the traced forward")

# canonical name, parameter (from args/kwargs/module) -- keyed by function/method name
_ACT_FUNCS: dict[str, str] = {
    "relu": "relu", "relu_": "relu", "relu6": "relu", "elu": "elu", "elu_": "elu",
    "celu": "elu", "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu", "rrelu": "leaky_relu",
    "prelu": "leaky_relu", "gelu": "gelu", "silu": "silu", "mish": "mish", "tanh": "tanh",
    "tanh_": "tanh", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "softsign": "softsign",
    "selu": "selu", "selu_": "selu", "hardswish": "hardswish", "softplus": "softplus",
    "hardtanh": "tanh", "hardsigmoid": "sigmoid",
}
_ACT_MODULES: dict[type, str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu", nn.ELU: "elu", nn.CELU: "elu", nn.LeakyReLU: "leaky_relu",
    nn.RReLU: "leaky_relu", nn.PReLU: "leaky_relu", nn.GELU: "gelu", nn.SiLU: "silu",
    nn.Mish: "mish", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Softsign: "softsign",
    nn.SELU: "selu", nn.Hardswish: "hardswish", nn.Softplus: "softplus", nn.Hardtanh: "tanh",
    nn.Hardsigmoid: "sigmoid",
}
_TRANSPARENT_FUNCS = {
    "dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "view", "reshape", "flatten", "unflatten", "permute", "transpose",
    "contiguous", "squeeze", "unsqueeze", "clone", "to", "float", "type_as",
    "max_pool1d", "max_pool2d", "max_pool3d", "_max_pool1d", "_max_pool2d", "_max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "_adaptive_max_pool1d", "_adaptive_max_pool2d", "_adaptive_max_pool3d", "mean",
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm",
    "add", "add_", "__add__", "__radd__", "__iadd__", "pad",
}
_TRANSPARENT_MODULES: tuple[type, ...] = (
    nn.modules.dropout._DropoutNd, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)
_WEIGHT_FUNCS = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "bilinear"}
_SIZE_FUNCS = {"size", "dim", "numel", "shape", "__get__"}
_SCALING_FUNCS = {"mul", "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_", "truediv", "__truediv__",
                  "__itruediv__"}


def _func_name(fn) -> str:
    if isinstance(fn, str):
        return fn
    if fn in (operator.add, operator.iadd):
        return "add"
    return getattr(fn, "__name__", "")


def _slope(name: str, args, kwargs) -> float | None:
    """The negative slope of a functional leaky ReLU call (torch's defaults otherwise)."""
    if name.startswith("leaky_relu"):
        value = kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
        return float(value) if isinstance(value, int | float) else 0.01
    if name == "prelu":
        return 0.25
    if name == "rrelu":
        lower = kwargs.get("lower", args[1] if len(args) > 1 else 1 / 8)
        upper = kwargs.get("upper", args[2] if len(args) > 2 else 1 / 3)
        return (float(lower) + float(upper)) / 2
    return None


def activation_of_module(module: nn.Module) -> ActivationInfo | None:
    """The activation an ``nn.Module`` applies, or None when it is not one."""
    for cls in type(module).__mro__:
        if cls in _ACT_MODULES:
            name = _ACT_MODULES[cls]
            param = None
            if isinstance(module, nn.LeakyReLU):
                param = float(module.negative_slope)
            elif isinstance(module, nn.RReLU):
                param = (module.lower + module.upper) / 2
            elif isinstance(module, nn.PReLU):
                param = 0.25 if module.weight.is_meta else float(module.weight.detach().flatten()[0])
            return ActivationInfo(name, param, type(module).__name__)
    return None


def _classify_call(name: str, args, kwargs, is_const=None):
    """("act", ActivationInfo) | ("pass", None) | ("stop", label) for a function/method.

    ``is_const(arg)``: whether an argument is a constant or a parameter (not data), so that
    ``h * self.scale`` (Fixup, ReZero, LayerScale) is transparent but ``a * b`` (gating) is not.
    """
    if name in _ACT_FUNCS:
        return "act", ActivationInfo(_ACT_FUNCS[name], _slope(name, args, kwargs), name)
    if name in _TRANSPARENT_FUNCS:
        return "pass", None
    if name in _SCALING_FUNCS and is_const is not None:
        if sum(not is_const(a) for a in (*args, *kwargs.values())) <= 1:
            return "pass", None
    return "stop", name


def _classify_module(module: nn.Module):
    act = activation_of_module(module)
    if act is not None:
        return "act", act
    if isinstance(module, _TRANSPARENT_MODULES):
        return "pass", None
    return "stop", type(module).__name__


def _fx_const(arg) -> bool:
    """An fx argument that is not data: a literal or a module attribute (parameter)."""
    import torch.fx

    return not isinstance(arg, torch.fx.Node) or arg.op == "get_attr"


def _runtime_const(arg) -> bool:
    """A runtime argument that is not data: a number, a parameter or a one-element tensor."""
    if not isinstance(arg, torch.Tensor):
        return True
    return isinstance(arg, nn.Parameter) or (arg.numel() == 1 and not getattr(arg, _TAG, None))


# ----------------------------------------------------------------------------- fx tracer
def _fx_label(node, modules) -> str:
    if node.op == "call_module":
        return type(modules[node.target]).__name__
    return _func_name(node.target)


def _walk(start, modules) -> ActivationInfo:
    """Breadth-first from ``start`` through transparent nodes to the nearest activation."""
    frontier = [(user, ()) for user in start.users]
    seen, stops = set(), []
    while frontier:
        nxt = []
        for node, path in frontier:
            if node in seen:
                continue
            seen.add(node)
            if node.op == "call_module":
                kind, info = _classify_module(modules[node.target])
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


def _fx_detect(model: nn.Module, names: set[str]) -> dict[str, ActivationInfo]:
    import torch.fx

    gm = torch.fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    out: dict[str, ActivationInfo] = {}
    for node in gm.graph.nodes:
        owner = None
        if node.op == "call_module" and node.target in names:
            owner = node.target
        elif node.op == "call_function" and _func_name(node.target) in _WEIGHT_FUNCS:
            weight = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
            if getattr(weight, "op", None) == "get_attr":
                owner = weight.target.rpartition(".")[0]
        if owner is not None and owner not in out:
            out[owner] = _walk(node, modules)
    return out


# ------------------------------------------------------------------------ hook tracer
_TAG = "_initlab_layers"


class _Tracer(TorchFunctionMode):
    """Follows tagged tensors through the forward pass (outermost torch calls only)."""

    def __init__(self):
        super().__init__()
        self.found: dict[str, ActivationInfo] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _func_name(func)
        if name in _SIZE_FUNCS:
            return out
        tags: dict[str, tuple[str, ...]] = {}
        for a in (*args, *kwargs.values()):
            for t in a if isinstance(a, list | tuple) else (a,):
                if isinstance(t, torch.Tensor):
                    tags.update(getattr(t, _TAG, None) or {})
        if not tags:
            return out
        outputs = [t for t in (out if isinstance(out, list | tuple) else (out,))
                   if isinstance(t, torch.Tensor)]
        kind, info = _classify_call(name, args, kwargs, _runtime_const)
        if kind == "pass":
            passed = {layer: (*path, name) for layer, path in tags.items()}
            for t in outputs:
                setattr(t, _TAG, passed)
            return out
        for layer, path in tags.items():  # an activation anywhere beats "none"
            if layer in self.found and (kind != "act" or self.found[layer].name != "none"):
                continue
            if kind == "act":
                via = " -> ".join((*path, name))
                self.found[layer] = ActivationInfo(info.name, info.param, f"hooks: {via}")
            else:
                self.found[layer] = ActivationInfo("none", via=f"hooks: next is {info}")
        for t in outputs:  # an in-place activation returns its (tagged) input: untag it
            if getattr(t, _TAG, None):
                setattr(t, _TAG, None)
        return out


def _hook_detect(model: nn.Module, names: set[str], example_input) -> dict[str, ActivationInfo]:
    tracer = _Tracer()
    handles, called = [], []

    def tag(mname):
        def hook(module, inputs, output):
            called.append(mname)
            if isinstance(output, torch.Tensor):
                setattr(output, _TAG, {mname: ()})

        return hook

    for mname, module in model.named_modules():
        if mname in names:
            handles.append(module.register_forward_hook(tag(mname)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), tracer:
            call_with(model, example_input)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for name in called:
        tracer.found.setdefault(name, ActivationInfo("none", via="hooks: next is the output"))
    return tracer.found


def detect_activations(
    model: nn.Module, names: set[str], example_input=None
) -> tuple[dict[str, ActivationInfo], str]:
    """The activation after each module in ``names``, and the method used ("fx" or "hooks").

    fx first; when it fails, forward-hook tracing on ``example_input``; when that is
    missing, ConfigError saying to pass one.
    """
    if not names:
        return {}, "none"
    try:
        return _fx_detect(model, names), "fx"
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError, ...)
        fx_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if example_input is None:
        raise ConfigError(
            f"Cannot find the activations of {type(model).__name__}: torch.fx cannot trace it "
            f"({fx_error[:160]}); expected an example input. Hint: pass example_input=<a batch> "
            "(a tensor, tuple or dict of model inputs), plan the model before wrapping it (FSDP2, "
            "compile) and pass the Plan, or use an initializer spec (e.g. 'kaiming_normal')."
        )
    return _hook_detect(model, names, example_input), "hooks"

