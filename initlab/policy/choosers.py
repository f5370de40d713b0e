"""The choosers behind the presets: per-parameter decisions that depend on context.

``@auto_weight`` maps the activation after a layer to a scheme (table ``AUTO_SCHEMES``);
``@family_weight`` applies one family (``options["family"]``: xavier, kaiming, lecun,
orthogonal) with the activation's gain; ``@torch_default`` reproduces PyTorch's
constructors explicitly (in torch's own fan convention); ``@prelu`` uses the module's
``init`` value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch.nn.functional as F
from torch import nn

from initlab.errors import ConfigError, InitlabError
from initlab.init import gain, get
from initlab.init.registry import Initializer
from initlab.policy.act_table import ActivationInfo, activation_of_config, activation_of_module
from initlab.policy.roles import Target
from initlab.policy.rules import Choice, chooser

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext

# a scheme: (activation, exact gain?) -> (initializer, gain, note for the reason)
Scheme = Callable[[ActivationInfo, bool], tuple[Initializer, float, str]]

__all__ = ["spec", "activation_gain", "AUTO_SCHEMES"]

# exact gains need the function; torch's calculate_gain knows only some names
_FUNCS: dict[str, Callable[..., Any]] = {"gelu": F.gelu, "silu": F.silu, "mish": F.mish, "softsign": F.softsign,
          "hardswish": F.hardswish, "softplus": F.softplus, "tanh": F.tanh,
          "sigmoid": F.sigmoid, "elu": F.elu, "selu": F.selu, "relu": F.relu}
_TORCH_GAINS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu")


def spec(name: str, **config: Any) -> Initializer:
    """An initializer by registered name and (partial) config."""
    return cast(Initializer, get({"name": name, "config": config}))


def activation_gain(name: str, param: float | None = None, *, exact: bool = False) -> tuple[float, str]:
    """(gain, how it was obtained) for a canonical activation name."""
    if name == "none":
        return 1.0, "linear gain 1"
    if name == "elu":
        name = "relu"
    if not exact and name in _TORCH_GAINS:
        return float(gain(name, param)), "torch.nn.init.calculate_gain"
    try:
        return float(gain(name, param, exact=True)), "exact gain 1/sqrt(E[f(z)^2])"
    except InitlabError:
        return float(gain(_FUNCS[name], exact=True)), "exact gain 1/sqrt(E[f(z)^2])"


def _act(target: Target, ctx: PlanContext) -> ActivationInfo:
    """The activation after a target; fused gate/up halves get the gate's activation on the
    gate rows and none on the up rows (they are multiplied, not activated)."""
    act = ctx.activation(target)
    if target.gate == "up":
        return ActivationInfo("none", via="the up half of a fused gate/up is multiplied, linear")
    if target.gate == "gate" and act.name == "none":
        return _gate_activation(target, ctx) or act
    return act


def _gate_activation(target: Target, ctx: PlanContext) -> ActivationInfo | None:
    """The activation a gated MLP applies to its gate half: its act module, else the config."""
    parent = target.module_name.rpartition(".")[0]
    try:
        block = ctx.model.get_submodule(parent) if parent else ctx.model
    except AttributeError:
        block = None
    for attr in ("act_fn", "activation_fn", "act", "activation", "activation_function"):
        sub = getattr(block, attr, None) if block is not None else None
        if isinstance(sub, nn.Module):
            info = activation_of_module(sub)
            if info is not None:
                return ActivationInfo(info.name, info.param,
                                      f"gate half: {parent}.{attr} ({type(sub).__name__})")
    found = activation_of_config(getattr(ctx.model, "config", None))
    if found is not None:
        return ActivationInfo(found[0], via=f"gate half: config {found[1]}")
    return None


def describe(act: ActivationInfo) -> str:
    name = act.name if act.param is None else f"{act.name}({act.param:g})"
    if act.name == "none":
        return f"no activation follows ({act.via})"
    return f"{name} follows ({act.via})"


def _kaiming(act: ActivationInfo, exact: bool) -> tuple[Initializer, float, str]:
    if act.name in ("relu", "elu"):
        note = ": He normal" if act.name == "relu" else ": ELU, ReLU-family He normal"
        return spec("kaiming_normal", mode="fan_in", nonlinearity="relu"), math.sqrt(2), note
    if act.name == "leaky_relu":
        a = 0.01 if act.param is None else act.param
        g, _ = activation_gain("leaky_relu", a)
        return spec("kaiming_normal", a=a, mode="fan_in", nonlinearity="leaky_relu"), g, ": He normal"
    g, how = activation_gain(act.name, act.param, exact=True)
    return (spec("variance_scaling", scale=g * g, mode="fan_in", distribution="normal"), g,
            f": He-style fan_in normal with the {how}")


def _xavier(act: ActivationInfo, exact: bool) -> tuple[Initializer, float, str]:
    g, how = activation_gain(act.name, act.param, exact=exact)
    return spec("xavier_uniform", gain=g), g, f": Xavier uniform, {how}"


def _lecun(act: ActivationInfo, exact: bool) -> tuple[Initializer, float, str]:
    return spec("lecun_normal"), 1.0, ": LeCun normal (self-normalizing)"


AUTO_SCHEMES: dict[str, Scheme] = {
    "relu": _kaiming, "elu": _kaiming, "leaky_relu": _kaiming, "gelu": _kaiming,
    "silu": _kaiming, "mish": _kaiming, "hardswish": _kaiming, "softplus": _kaiming,
    "tanh": _xavier, "sigmoid": _xavier, "softsign": _xavier, "selu": _lecun, "none": _xavier,
}


@chooser("auto_weight")
def _auto_weight(target: Target, ctx: PlanContext) -> Choice:
    act = _act(target, ctx)
    init, g, note = AUTO_SCHEMES[act.name](act, bool(ctx.options.get("exact_gain", False)))
    return Choice(init, describe(act) + note, g)


def _family_kaiming(act: ActivationInfo, exact: bool) -> tuple[Initializer, float, str]:
    if act.name in ("relu", "leaky_relu", "elu", "none", "tanh", "sigmoid", "selu") and not (
        exact and act.name in ("tanh", "sigmoid")
    ):
        nl = {"elu": "relu", "none": "linear"}.get(act.name, act.name)
        a = act.param if act.name == "leaky_relu" and act.param is not None else 0.0
        g, how = activation_gain(act.name, act.param)
        return spec("kaiming_normal", a=a, mode="fan_in", nonlinearity=nl), g, f": He normal, {how}"
    g, how = activation_gain(act.name, act.param, exact=True)
    return (spec("variance_scaling", scale=g * g, mode="fan_in", distribution="normal"), g,
            f": He-style fan_in normal, {how}")


def _family_orthogonal(act: ActivationInfo, exact: bool) -> tuple[Initializer, float, str]:
    g, how = activation_gain(act.name, act.param, exact=exact or act.name not in _TORCH_GAINS)
    return spec("orthogonal", gain=g), g, f": orthogonal, {how}"


FAMILIES: dict[str, Scheme] = {"xavier": _xavier, "kaiming": _family_kaiming, "lecun": _lecun,
            "orthogonal": _family_orthogonal}


@chooser("family_weight")
def _family_weight(target: Target, ctx: PlanContext) -> Choice:
    family = ctx.options.get("family")
    if family not in FAMILIES:
        raise ConfigError(f"Policy option 'family' must be one of {sorted(FAMILIES)}; got {family!r}.")
    act = _act(target, ctx)
    init, g, note = FAMILIES[family](act, bool(ctx.options.get("exact_gain", False)))
    return Choice(init, describe(act) + note, g)


@chooser("recurrent_family")
def _recurrent_family(target: Target, ctx: PlanContext) -> Choice:
    """Per-gate input weights of LSTM/GRU/RNN for the family presets (orthogonal: orthogonal)."""
    if ctx.options.get("family") == "orthogonal":
        return Choice(spec("orthogonal"), "orthogonal per gate")
    return Choice(spec("xavier_uniform"), "Xavier uniform per gate")


@chooser("prelu")
def _prelu(target: Target, ctx: PlanContext) -> Choice:
    value = float(getattr(target.module, "init", 0.25))
    return Choice(spec("constant", val=value), f"PReLU slope = module.init ({value:g})")


# --------------------------------------------------------------------------- torch_default
def _torch_fan_in(shape: tuple[int, ...]) -> int:
    return shape[1] * math.prod(shape[2:]) if len(shape) >= 2 else 0


def _uniform(bound: float, reason: str) -> Choice:
    return Choice(spec("uniform", a=-bound, b=bound), reason, layout=None)


@chooser("torch_default")
def _torch_default(target: Target, ctx: PlanContext) -> Choice | None:
    """What PyTorch's constructors do, role by role, in torch's own fan convention."""
    m, role = target.module, target.role
    if isinstance(m, nn.RNNBase):
        return _uniform(1 / math.sqrt(m.hidden_size), "RNN default: U(+-1/sqrt(hidden_size))")
    if isinstance(m, nn.MultiheadAttention):
        if target.param_name == "in_proj_weight":
            bound = math.sqrt(6 / (target.param_shape[0] + target.param_shape[1]))
            return _uniform(bound, "MHA default: xavier_uniform over the fused (3E, E) block")
        if role == "attention_in_weight":
            return Choice(spec("xavier_uniform"), "MHA default: xavier_uniform", layout=None)
        if role == "attention_bias_kv":
            return Choice(spec("xavier_normal"), "MHA default: xavier_normal", layout=None)
        return Choice(spec("zeros"), "MHA default: in_proj_bias 0")
    if role == "norm_weight" and target.identity == 0.0:
        return Choice(spec("zeros"), "norm default: 0 (the norm scales by 1 + w)")
    if role in ("norm_weight", "norm_bias"):
        value = "ones" if role == "norm_weight" else "zeros"
        return Choice(spec(value), f"norm default: {value}")
    if role == "tied_embedding":
        return Choice(spec("normal", mean=0.0, std=1.0), "Embedding default: N(0, 1) (tied)")
    if role == "expert_weight":
        return Choice(spec("default"), "MoE expert as a Linear default: U(+-1/sqrt(fan_in))",
                      layout=None)
    if role == "embedding":
        return Choice(spec("normal", mean=0.0, std=1.0), "Embedding default: N(0, 1)")
    if role == "activation_param":
        return _prelu(target, ctx)
    if isinstance(m, nn.Bilinear):
        return _uniform(1 / math.sqrt(m.weight.shape[1]), "Bilinear default: U(+-1/sqrt(in1))")
    if role == "weight":
        return Choice(spec("default"), "Linear/Conv default: kaiming_uniform(a=sqrt(5)) = "
                      "U(+-1/sqrt(fan_in)), torch's fans", layout=None)
    if role == "bias" and ctx.is_out_proj_of_mha(target):
        return Choice(spec("zeros"), "MHA default: out_proj.bias 0")
    if role == "bias" and hasattr(m, "weight") and getattr(m.weight, "dim", lambda: 0)() >= 2:
        fan_in = _torch_fan_in(tuple(cast(Any, m.weight).shape))
        return Choice(spec("default", role="bias", fan_in=fan_in),
                      f"Linear/Conv bias default: U(+-1/sqrt(fan_in={fan_in}))", layout=None)
    return None  # not a torch layer parameter: unmatched, see Policy.on_unmatched
