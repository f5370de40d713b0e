"""What each parameter of a model *is*: its role, layout, groups and fused chunks.

A policy matches rules against these facts, so they are computed once, here, from a
table keyed by module type (first matching entry wins, subclasses included). A fused
parameter (LSTM/GRU gates, MultiheadAttention q/k/v) becomes one :class:`Target` per
chunk along dim 0, keyed ``f"{name}[{i}]"`` for the random streams.

Roles: ``weight``, ``bias`` (Linear, Conv, ConvTranspose, custom modules' ``weight`` /
``bias``), ``norm_weight``, ``norm_bias``, ``embedding``, ``rnn_input_weight``,
``rnn_recurrent_weight``, ``rnn_bias``, ``rnn_forget_bias`` (LSTM ``bias_ih`` forget
chunk), ``attention_in_weight``, ``attention_bias_kv``, ``activation_param`` (PReLU),
``scalar_bias``, ``scalar_scale``, ``scalar_gate`` (one-element parameters named like
``bias1a``, ``scale``, ``gate``/``alpha``), ``other``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ROLES", "Target", "iter_targets", "module_layout"]

ROLES = (
    "weight", "bias", "norm_weight", "norm_bias", "embedding", "rnn_input_weight",
    "rnn_recurrent_weight", "rnn_bias", "rnn_forget_bias", "attention_in_weight",
    "attention_bias_kv", "activation_param", "scalar_bias", "scalar_scale", "scalar_gate",
    "other",
)


@dataclass
class Target:
    """One unit a policy initializes: a parameter, or one chunk of a fused parameter."""

    name: str                      # fully qualified parameter name
    module_name: str
    module: nn.Module = field(repr=False)
    param_name: str                # attribute name on the module
    role: str
    shape: tuple[int, ...]         # shape of this unit (the chunk for fused parameters)
    param_shape: tuple[int, ...]   # shape of the whole parameter
    layout: str | None = None
    groups: int = 1
    chunk: tuple[int, int] | None = None   # (index, count) along dim 0
    gate: str | None = None        # "i", "f", "g", "o" (LSTM), "r", "z", "n" (GRU), "q", "k", "v"
    activation: Any = None         # ActivationInfo, filled by the planner

    @property
    def key(self) -> str:
        """The key of this unit's random stream."""
        return self.name if self.chunk is None else f"{self.name}[{self.chunk[0]}]"

    @property
    def rows(self) -> slice:
        """The rows of the whole parameter this unit covers (all rows when not fused)."""
        if self.chunk is None:
            return slice(0, self.param_shape[0] if self.param_shape else 1)
        size = self.param_shape[0] // self.chunk[1]
        return slice(self.chunk[0] * size, (self.chunk[0] + 1) * size)

    @property
    def module_type(self) -> str:
        return type(self.module).__name__


_NORMS = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)
_CONV = (nn.modules.conv._ConvNd,)
_SCALAR_PATTERNS = (
    ("scalar_bias", ("*bias*", "*shift*", "*offset*")),
    ("scalar_scale", ("*scale*", "*multiplier*", "*gain*", "*weight*")),
    ("scalar_gate", ("*gate*", "*alpha*", "*rezero*", "*resweight*", "*skip*")),
)
_GATES = {"LSTM": "ifgo", "GRU": "rzn"}
_RNN_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l\d+(_reverse)?$")


def module_layout(module: nn.Module) -> str | None:
    """The fan layout of a module's ``weight``: linear, conv, conv_transpose, embedding."""
    for types, layout in _LAYOUTS:
        if isinstance(module, types):
            return layout
    return None


_LAYOUTS: tuple[tuple[tuple[type, ...], str], ...] = (
    ((nn.modules.conv._ConvTransposeNd,), "conv_transpose"),
    (_CONV, "conv"),
    ((nn.Linear,), "linear"),
    ((nn.Embedding, nn.EmbeddingBag), "embedding"),
)


def _shape(p: torch.Tensor) -> tuple[int, ...] | None:
    if isinstance(p, nn.parameter.UninitializedParameter):
        return None
    return tuple(p.shape)


def _generic(module, pname, p):
    """Custom modules: ``weight``/``bias`` by name, one-element parameters by name, else other."""
    shape = tuple(p.shape)
    if len(shape) >= 2 and pname.endswith("weight"):
        return "weight", None
    if len(shape) == 1 and pname.endswith("bias") and p.numel() > 1:
        return "bias", None
    if p.numel() == 1:
        for role, patterns in _SCALAR_PATTERNS:
            if any(fnmatch.fnmatchcase(pname.lower(), pat) for pat in patterns):
                return role, None
    return "other", None


def _weight_bias(layout):
    def classify(module, pname, p):
        if pname == "weight":
            return "weight", layout
        if pname == "bias":
            return "bias", None
        return _generic(module, pname, p)

    return classify


def _norm(module, pname, p):
    return {"weight": "norm_weight", "bias": "norm_bias"}.get(pname, "other"), None


def _embedding(module, pname, p):
    return ("embedding", "embedding") if pname == "weight" else _generic(module, pname, p)


def _prelu(module, pname, p):
    return "activation_param", None


_CLASSIFIERS: tuple[tuple[tuple[type, ...], Callable], ...] = (
    ((nn.modules.conv._ConvTransposeNd,), _weight_bias("conv_transpose")),
    (_CONV, _weight_bias("conv")),
    ((nn.Linear,), _weight_bias("linear")),
    ((nn.Bilinear,), _weight_bias(None)),
    (_NORMS, _norm),
    ((nn.Embedding, nn.EmbeddingBag), _embedding),
    ((nn.PReLU,), _prelu),
)


def _rnn_targets(module, mname, pname, p, shape) -> list[Target]:
    kind = _RNN_NAME.match(pname)
    full = f"{mname}.{pname}" if mname else pname
    if kind is None:
        role, layout = _generic(module, pname, p)
        return [Target(full, mname, module, pname, role, shape, shape, layout)]
    base = kind.group(1)
    if base == "weight_hr":
        return [Target(full, mname, module, pname, "weight", shape, shape, "linear")]
    gates = _GATES.get(module.mode, "")
    role = {"weight_ih": "rnn_input_weight", "weight_hh": "rnn_recurrent_weight"}.get(
        base, "rnn_bias"
    )
    layout = "linear" if base.startswith("weight") else None
    if len(gates) <= 1:
        return [Target(full, mname, module, pname, role, shape, shape, layout)]
    size = shape[0] // len(gates)
    out = []
    for i, gate in enumerate(gates):
        r = "rnn_forget_bias" if (base == "bias_ih" and module.mode == "LSTM" and gate == "f") else role
        out.append(Target(full, mname, module, pname, r, (size, *shape[1:]), shape, layout,
                          chunk=(i, len(gates)), gate=gate))
    return out


def _mha_targets(module, mname, pname, p, shape) -> list[Target]:
    full = f"{mname}.{pname}" if mname else pname
    if pname == "in_proj_weight":
        size = shape[0] // 3
        return [Target(full, mname, module, pname, "attention_in_weight", (size, *shape[1:]),
                       shape, "linear", chunk=(i, 3), gate=g) for i, g in enumerate("qkv")]
    if pname in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
        return [Target(full, mname, module, pname, "attention_in_weight", shape, shape, "linear",
                       gate=pname[0])]
    if pname == "in_proj_bias":
        return [Target(full, mname, module, pname, "bias", shape, shape)]
    if pname in ("bias_k", "bias_v"):
        return [Target(full, mname, module, pname, "attention_bias_kv", shape, shape)]
    role, layout = _generic(module, pname, p)
    return [Target(full, mname, module, pname, role, shape, shape, layout)]


def _module_targets(module: nn.Module, mname: str, pname: str, p, shape) -> list[Target]:
    if isinstance(module, nn.RNNBase):
        return _rnn_targets(module, mname, pname, p, shape)
    if isinstance(module, nn.MultiheadAttention):
        return _mha_targets(module, mname, pname, p, shape)
    full = f"{mname}.{pname}" if mname else pname
    for types, classify in _CLASSIFIERS:
        if isinstance(module, types):
            role, layout = classify(module, pname, p)
            break
    else:
        role, layout = _generic(module, pname, p)
    groups = int(getattr(module, "groups", 1) or 1) if layout in ("conv", "conv_transpose") else 1
    return [Target(full, mname, module, pname, role, shape, shape, layout, groups=groups)]


def iter_targets(model: nn.Module, *, unshaped: list[str] | None = None) -> Iterator[Target]:
    """Every unit to initialize, in ``model.named_parameters()`` order (shared ones once).

    Parameters without a shape yet (lazy modules' ``UninitializedParameter``) are skipped
    and their names appended to ``unshaped`` when given.
    """
    seen: set[int] = set()
    for mname, module in model.named_modules(remove_duplicate=False):
        for pname, p in module.named_parameters(recurse=False):
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            shape = _shape(p)
            if shape is None:
                if unshaped is not None:
                    unshaped.append(f"{mname}.{pname}" if mname else pname)
                continue
            yield from _module_targets(module, mname, pname, p, shape)
