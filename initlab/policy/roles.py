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
``bias1a``, ``scale``, ``gate``/``alpha``), ``tied_embedding`` (one tensor used as an
embedding and as an output layer), ``token`` (class/mask/register tokens),
``position_embedding``, ``relative_position`` (bias tables), ``layer_scale``, ``ssm``
(state-space constants such as ``A_log``, ``D``), ``expert_weight`` (one expert of a 3-D
MoE tensor), ``other``.

Structure the class names do not tell (custom norms, ``(in, out)`` storage, fused q/k/v and
gate/up projections, MoE experts) comes from :mod:`initlab.policy.structure`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab._core.torch_types import NORM_TYPES
from initlab.policy.parametrized import originals, parametrized_tensors
from initlab.policy.structure import (
    Section,
    expert_layout,
    fused_sections,
    is_transposed_linear,
    named_role,
    norm_identity,
)

__all__ = ["ROLES", "Target", "iter_targets", "module_layout"]

ROLES = (
    "weight", "bias", "norm_weight", "norm_bias", "embedding", "rnn_input_weight",
    "rnn_recurrent_weight", "rnn_bias", "rnn_forget_bias", "attention_in_weight",
    "attention_bias_kv", "activation_param", "scalar_bias", "scalar_scale", "scalar_gate",
    "tied_embedding", "token", "position_embedding", "relative_position", "layer_scale", "ssm",
    "expert_weight", "other",
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
    view: str | None = None        # "T": the parameter stores the transpose of `shape`'s layout
    block: tuple | None = None     # index into the (viewed) parameter: ints and (start, stop)
    suffix: str | None = None      # the stream-key suffix of a block, e.g. "[q]", "[3][gate]"
    identity: float | None = None  # norms: the scale value that makes them identity-scale
    note: str = ""                 # how the structure was found (shown in the plan's reason)
    uses: tuple[str, ...] = ()     # tied tensors: every "module.param" that uses the tensor
    is_meta: bool = False

    @property
    def key(self) -> str:
        """The key of this unit's random stream."""
        if self.suffix is not None:
            return self.name + self.suffix
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


_NORMS = NORM_TYPES
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


# a classifier: (module, parameter name, parameter) -> (role, layout)
Classify = Callable[[nn.Module, str, torch.Tensor], tuple[str, str | None]]


def _generic(module: nn.Module, pname: str, p: torch.Tensor) -> tuple[str, str | None]:
    """Custom modules: named tensors (tokens, position tables, layer scales, SSM constants),
    ``weight``/``bias`` by name, one-element parameters by name, else other."""
    shape = tuple(p.shape)
    named = named_role(pname, shape)
    if named is not None:
        return named, None
    if len(shape) >= 2 and pname.endswith("weight"):
        return "weight", None
    if len(shape) == 1 and pname.endswith("bias") and p.numel() > 1:
        return "bias", None
    if p.numel() == 1:
        for role, patterns in _SCALAR_PATTERNS:
            if any(fnmatch.fnmatchcase(pname.lower(), pat) for pat in patterns):
                return role, None
    return "other", None


def _weight_bias(layout: str | None) -> Classify:
    def classify(module: nn.Module, pname: str, p: torch.Tensor) -> tuple[str, str | None]:
        if pname == "weight":
            return "weight", layout
        if pname == "bias":
            return "bias", None
        return _generic(module, pname, p)

    return classify


def _norm(module: nn.Module, pname: str, p: torch.Tensor) -> tuple[str, str | None]:
    return {"weight": "norm_weight", "bias": "norm_bias"}.get(pname, "other"), None


def _embedding(module: nn.Module, pname: str, p: torch.Tensor) -> tuple[str, str | None]:
    return ("embedding", "embedding") if pname == "weight" else _generic(module, pname, p)


def _prelu(module: nn.Module, pname: str, p: torch.Tensor) -> tuple[str, str | None]:
    return "activation_param", None


_CLASSIFIERS: tuple[tuple[tuple[type, ...], Classify], ...] = (
    ((nn.modules.conv._ConvTransposeNd,), _weight_bias("conv_transpose")),
    (_CONV, _weight_bias("conv")),
    ((nn.Linear,), _weight_bias("linear")),
    ((nn.Bilinear,), _weight_bias(None)),
    (_NORMS, _norm),
    ((nn.Embedding, nn.EmbeddingBag), _embedding),
    ((nn.PReLU,), _prelu),
)


def _rnn_targets(module: nn.RNNBase, mname: str, pname: str, p: torch.Tensor,
                 shape: tuple[int, ...]) -> list[Target]:
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
    out: list[Target] = []
    for i, gate in enumerate(gates):
        r = "rnn_forget_bias" if (base == "bias_ih" and module.mode == "LSTM" and gate == "f") else role
        out.append(Target(full, mname, module, pname, r, (size, *shape[1:]), shape, layout,
                          chunk=(i, len(gates)), gate=gate))
    return out


def _mha_targets(module: nn.MultiheadAttention, mname: str, pname: str, p: torch.Tensor,
                 shape: tuple[int, ...]) -> list[Target]:
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


def _sectioned(base: Target, sections: list[Section], how: str, prefix: tuple[Any, ...] = (),
               key: str = "") -> list[Target]:
    out: list[Target] = []
    for sec in sections:
        t = Target(base.name, base.module_name, base.module, base.param_name, base.role,
                   (sec.stop - sec.start, *base.shape[1:]), base.param_shape, base.layout,
                   base.groups, gate=sec.label, view=base.view,
                   block=(*prefix, (sec.start, sec.stop)), suffix=f"{key}[{sec.label}]",
                   note=how)
        out.append(t)
    return out


def _linear_like(module: nn.Module, mname: str, pname: str, p: torch.Tensor,
                 shape: tuple[int, ...], parent: nn.Module | None,
                 config: Any) -> list[Target] | None:
    """Linear and transposed-storage (Conv1D) weights, split when fused."""
    full = f"{mname}.{pname}" if mname else pname
    transposed = pname == "weight" and is_transposed_linear(module)
    if transposed:
        logical = (shape[1], shape[0])
        base = Target(full, mname, module, pname, "weight", logical, shape, "linear", view="T",
                      note="stored (in, out) like HF Conv1D: planned on the (out, in) view")
    elif isinstance(module, nn.Linear) and pname == "weight":
        base = Target(full, mname, module, pname, "weight", shape, shape, "linear")
    else:
        return None
    local = mname.rpartition(".")[2]
    split = fused_sections(local, base.shape[0], base.shape[1], parent, config)
    if split is None:
        return [base]
    sections, how = split
    if base.view == "T":
        how = f"{how}; {base.note}"
    return _sectioned(base, sections, how)


def _expert_targets(module: nn.Module, mname: str, pname: str, p: torch.Tensor,
                    shape: tuple[int, ...], config: Any) -> list[Target] | None:
    layout = expert_layout(module, pname, shape, config)
    if layout is None:
        return None
    full = f"{mname}.{pname}" if mname else pname
    n, a, b = shape
    logical = (a, b) if layout == "out_in" else (b, a)
    view = None if layout == "out_in" else "E"   # "E": experts stored (in, out)
    fused = pname.startswith("gate_up") and logical[0] % 2 == 0
    out: list[Target] = []
    for e in range(n):
        base = Target(full, mname, module, pname, "expert_weight", logical, shape, "linear",
                      view=view, block=(e,), suffix=f"[{e}]",
                      note=f"expert {e} of {n}, stored ({'out, in' if view is None else 'in, out'})")
        if fused:
            half = logical[0] // 2
            out.extend(_sectioned(base, [Section("gate", 0, half), Section("up", half, logical[0])],
                                  base.note + "; fused gate/up", prefix=(e,), key=f"[{e}]"))
        else:
            out.append(base)
    return out


def _module_targets(module: nn.Module, mname: str, pname: str, p: torch.Tensor,
                    shape: tuple[int, ...], parent: nn.Module | None = None,
                    config: Any = None) -> list[Target]:
    if isinstance(module, nn.RNNBase):
        return _rnn_targets(module, mname, pname, p, shape)
    if isinstance(module, nn.MultiheadAttention):
        return _mha_targets(module, mname, pname, p, shape)
    full = f"{mname}.{pname}" if mname else pname
    linear = _linear_like(module, mname, pname, p, shape, parent, config)
    if linear is not None:
        return linear
    if len(shape) == 3:
        experts = _expert_targets(module, mname, pname, p, shape, config)
        if experts is not None:
            return experts
    for types, classify in _CLASSIFIERS:
        if isinstance(module, types):
            role, layout = classify(module, pname, p)
            break
    else:
        found = norm_identity(module)
        if found is not None and pname in ("weight", "bias", "scale", "shift", "gamma", "beta",
                                           "g", "b", "offset"):
            value, how = found
            role = "norm_bias" if pname in ("bias", "shift", "beta", "b", "offset") else "norm_weight"
            return [Target(full, mname, module, pname, role, shape, shape, None,
                           identity=value if role == "norm_weight" else None,
                           note=f"{type(module).__name__} is a norm ({how})")]
        role, layout = _generic(module, pname, p)
    groups = int(getattr(module, "groups", 1) or 1) if layout in ("conv", "conv_transpose") else 1
    return [Target(full, mname, module, pname, role, shape, shape, layout, groups=groups)]


def _tied_role(targets: list[Target], uses: list[tuple[str, nn.Module, str]]) -> list[Target]:
    """One decision for a tensor several modules use: an embedding that is also an output
    layer (a tied LM head) is a ``tied_embedding`` planned as that layer's (out, in) weight."""
    kinds = {type(m).__name__ for _, m, _ in uses}
    embeds = [m for _, m, _ in uses if isinstance(m, nn.Embedding | nn.EmbeddingBag)]
    outputs = [m for _, m, _ in uses if not isinstance(m, nn.Embedding | nn.EmbeddingBag)]
    names = tuple(f"{n}.{a}" if n else a for n, _, a in uses)
    if embeds and outputs and len(targets) == 1:
        t = targets[0]
        t.role, t.layout, t.uses = "tied_embedding", "linear", names
        t.module, t.module_name = embeds[0], next(n for n, m, _ in uses if m is embeds[0])
        t.note = f"one tensor for {', '.join(names)} ({', '.join(sorted(kinds))})"
        return targets
    for t in targets:
        t.uses = names
    return targets


def iter_targets(model: nn.Module, *, unshaped: list[str] | None = None) -> Iterator[Target]:
    """Every unit to initialize, in ``model.named_parameters()`` order (shared ones once).

    A tensor used by several modules (tied weights) is decided once, from all its uses.
    Parameters without a shape yet (lazy modules' ``UninitializedParameter``) are skipped
    and their names appended to ``unshaped`` when given.
    """
    config = getattr(model, "config", None)
    uses: dict[int, list[tuple[str, nn.Module, str]]] = {}
    first: dict[int, tuple[str, nn.Module, str, nn.Module | None]] = {}
    order: list[int] = []
    parents: dict[str, nn.Module] = {}
    for mname, module in model.named_modules(remove_duplicate=False):
        parents.setdefault(mname, module)
        parent = parents.get(mname.rpartition(".")[0]) if mname else None
        for pname, p in module.named_parameters(recurse=False):
            if p is None:
                continue
            uses.setdefault(id(p), []).append((mname, module, pname))
            if id(p) not in first:
                first[id(p)] = (mname, module, pname, parent)
                order.append(id(p))
    skip: set[int] = set()
    effective: dict[int, list[Target]] = {}
    for mname, module in model.named_modules():
        behind = originals(module)
        if not behind:
            continue
        local = dict(module.named_parameters())
        skip |= {id(local[n]) for n in behind if n in local}
        parent = parents.get(mname.rpartition(".")[0]) if mname else None
        for tname, eff in parametrized_tensors(module).items():
            fake = torch.empty(eff.shape, device="meta")
            targets = _module_targets(module, mname, tname, fake, eff.shape, parent, config)
            for t in targets:
                t.is_meta = eff.is_meta
                t.note = (t.note + "; " if t.note else "") + (
                    f"effective weight of {eff.kind}" + (
                        ": W / sigma_max(W), not the planned std" if eff.kind == "spectral_norm"
                        else ""))
            first_orig = next(local[n] for n in sorted(behind) if n in local)
            effective.setdefault(id(first_orig), []).extend(targets)
    params = {id(p): p for p in model.parameters()}
    for pid in order:
        if pid in skip:
            yield from effective.pop(pid, [])
            continue
        mname, module, pname, parent = first[pid]
        p = params.get(pid, getattr(module, pname))
        shape = _shape(p)
        if shape is None:
            if unshaped is not None:
                unshaped.append(f"{mname}.{pname}" if mname else pname)
            continue
        targets = _module_targets(module, mname, pname, p, shape, parent, config)
        for t in targets:
            t.is_meta = bool(p.is_meta)
        if len(uses[pid]) > 1:
            targets = _tied_role(targets, uses[pid])
        yield from targets
