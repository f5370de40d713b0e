"""The table of operations the activation tracers share: activations, transparent ops, names.

An activation is recognized by its torch type (``nn.ReLU``), by its Hugging Face class
(``NewGELUActivation`` is GELU, not the ``torch.tanh`` it calls inside), by a class or
function name (``BloomGelu``, ``bloom_gelu_forward``, timm's ``QuickGELU``) or by a config
string (``hidden_act='gelu_new'``). Canonical names are those of
``initlab.policy.rules.ACTIVATIONS``: every GELU variant is "gelu", swish is "silu",
ReLU-squared is "relu".
"""

from __future__ import annotations

import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = ["ActivationInfo", "NONE", "activation_of_module", "activation_of_name",
           "activation_of_config", "is_transparent_module"]


@dataclass(frozen=True)
class ActivationInfo:
    """The activation after a layer: canonical name, its parameter, and how it was found."""

    name: str                 # relu, leaky_relu, elu, gelu, silu, mish, tanh, sigmoid,
    #                           softsign, selu, hardswish, softplus, none
    param: float | None = None  # negative slope for leaky_relu
    via: str = ""             # how it was found, e.g. "fx: Dropout -> relu"


# ("act", ActivationInfo) | ("pass", None) | ("stop", label)
Classified = tuple[str, Any]

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


def _func_name(fn: Any) -> str:
    if isinstance(fn, str):
        return fn
    if fn in (operator.add, operator.iadd):
        return "add"
    return getattr(fn, "__name__", "")


def _slope(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> float | None:
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


def _classify_call(name: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                   is_const: Callable[[Any], bool] | None = None) -> Classified:
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


def _classify_module(module: nn.Module) -> Classified:
    act = activation_of_module(module)
    if act is not None:
        return "act", act
    if is_transparent_module(module):
        return "pass", None
    return "stop", type(module).__name__


# Hugging Face activation classes (transformers.activations), by class name
_HF_CLASSES: dict[str, str] = {
    "GELUActivation": "gelu", "NewGELUActivation": "gelu", "GELUTanh": "gelu",
    "PytorchGELUTanh": "gelu", "FastGELUActivation": "gelu", "QuickGELUActivation": "gelu",
    "ClippedGELUActivation": "gelu", "AccurateGELUActivation": "gelu", "LaplaceActivation": "gelu",
    "GELUPytorchTanh": "gelu", "SiLUActivation": "silu", "MishActivation": "mish",
    "ReLUSquaredActivation": "relu", "SqrtSoftplusActivation": "softplus",
    "LinearActivation": "none",
}
# A class or function name that says what it computes (BloomGelu, bloom_gelu_forward, timm's
# QuickGELU, Swish): first match wins, so gelu/relu come before the "elu" and "tanh" they contain.
_NAME_PATTERNS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p), name) for p, name in (
        (r"gelu|geglu", "gelu"), (r"hard_?swish", "hardswish"), (r"hard_?sigmoid", "sigmoid"),
        (r"hard_?tanh", "tanh"), (r"leaky_?relu|prelu|rrelu", "leaky_relu"), (r"relu|reglu", "relu"),
        (r"(^|_)selu($|_)", "selu"), (r"(^|_)c?elu($|_)", "elu"), (r"silu|swish|swiglu", "silu"), (r"mish", "mish"),
        (r"softplus", "softplus"), (r"softsign", "softsign"), (r"tanh", "tanh"),
        (r"sigmoid", "sigmoid"),
    )
)
# config strings (ACT2FN keys and T5's feed_forward_proj) that are not canonical as they are
_CONFIG_NAMES: dict[str, str] = {
    "linear": "none", "identity": "none", "swish": "silu", "relu2": "relu", "relu6": "relu",
    "prelu": "leaky_relu", "laplace": "gelu", "sqrtsoftplus": "softplus",
}
# config attributes that name the model's activation, most specific first
CONFIG_KEYS = ("hidden_act", "activation_function", "hidden_activation", "dense_act_fn",
               "feed_forward_proj", "act_fn", "activation", "hidden_act_fn", "ffn_act")
_NORM_NAME = re.compile(r"norm$|norm\d?d$|layernorm|rmsnorm", re.IGNORECASE)


def activation_of_name(name: str, config: bool = False) -> str | None:
    """The canonical activation a class/function name (or a ``config`` string) stands for."""
    low = name.lower()
    if config and low in _CONFIG_NAMES:
        return _CONFIG_NAMES[low]
    for pattern, canonical in _NAME_PATTERNS:
        if pattern.search(low):
            return canonical
    return None


def _hf_types() -> dict[type, str]:
    """transformers' activation classes by type, when transformers is already imported."""
    module = sys.modules.get("transformers.activations")
    if module is None:
        return {}
    return {cls: name for cls_name, name in _HF_CLASSES.items()
            if isinstance(cls := getattr(module, cls_name, None), type)}


def activation_of_module(module: nn.Module) -> ActivationInfo | None:
    """The activation an ``nn.Module`` applies, or None when it is not one.

    Args:
        module: any module.

    Returns:
        The activation (torch type, then Hugging Face type or class name, then a leaf without
        weight matrices whose class name says it, e.g. ``BloomGelu``), or None.
    """
    mro = type(module).__mro__
    for cls in mro:
        if cls in _ACT_MODULES:
            return ActivationInfo(_ACT_MODULES[cls], _module_param(module), cls.__name__)
    hf = _hf_types()
    for cls in mro:
        name = hf.get(cls) or _HF_CLASSES.get(cls.__name__)
        if name is not None:
            return ActivationInfo(name, None, type(module).__name__)
    if next(module.children(), None) is None and not isinstance(module, _TRANSPARENT_MODULES) \
            and all(p.dim() < 2 for p in module.parameters(recurse=False)):  # not a layer
        name = activation_of_name(type(module).__name__)
        if name is not None and not _NORM_NAME.search(type(module).__name__):
            return ActivationInfo(name, None, type(module).__name__)
    return None


def _module_param(module: nn.Module) -> float | None:
    if isinstance(module, nn.LeakyReLU):
        return float(module.negative_slope)
    if isinstance(module, nn.RReLU):
        return (module.lower + module.upper) / 2
    if isinstance(module, nn.PReLU):
        return 0.25 if module.weight.is_meta else float(module.weight.detach().flatten()[0])
    return None


def is_transparent_module(module: nn.Module) -> bool:
    """Dropout, identity, reshaping, pooling, or a norm (any class whose name ends in Norm)."""
    return isinstance(module, _TRANSPARENT_MODULES) or (
        next(module.children(), None) is None and bool(_NORM_NAME.search(type(module).__name__)))


def activation_of_config(config: Any) -> tuple[str, str] | None:
    """(canonical name, "key='value'") from a model config's activation attribute, or None."""
    for key in CONFIG_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, str) and value:
            canonical = activation_of_name(value.removeprefix("gated-"), config=True)
            if canonical is not None:
                return canonical, f"{key}={value!r}"
    return None
