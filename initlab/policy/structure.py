"""What a model's structure says about its tensors, whatever their classes are called.

* **Norms by behaviour**: a leaf module whose parameters are per-feature vectors is a norm
  if its output does not change when its input is scaled (probed on a CPU copy of the
  module, so meta models work too). The probe also tells which value of the scale makes
  the norm an identity-scale: ``x * w`` (1) or ``x * (1 + w)`` (0, Gemma's RMSNorm).
* **Transposed storage**: HF's ``Conv1D`` (and any module whose bias matches the weight's
  second dim) stores ``(in, out)``; its plan rows describe the logical ``(out, in)`` view.
* **Fused projections**: ``c_attn`` / ``query_key_value`` / ``qkv_proj`` / ``qkv`` (q, k, v,
  with GQA head counts from the module or the config) and ``gate_up_proj`` (gate, up) are
  split into their logical matrices, so each chunk has its own fans.
* **MoE experts**: 3-D ``(experts, out, in)`` tensors are planned per expert (and per
  gate/up section).
* **Named tensors**: class/mask/register tokens, position embeddings, relative-position
  tables, layer-scale vectors and SSM parameters get roles from their names and shapes.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["norm_identity", "is_transposed_linear", "fused_sections", "expert_layout",
           "named_role", "Section"]

_NORM_PARAMS = {"weight", "bias", "scale", "shift", "gamma", "beta", "g", "b", "offset"}
_SCALE_PARAMS = ("weight", "scale", "gamma", "g")
_PROBE_CACHE: dict[tuple, float | None] = {}


def _vector_params(module: nn.Module) -> dict[str, torch.Tensor] | None:
    params: dict[str, torch.Tensor] = dict(module.named_parameters(recurse=False))
    if not params or any(True for _ in module.children()):
        return None
    if set(params) - _NORM_PARAMS:
        return None
    sizes = {tuple(p.shape) for p in params.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        return None
    return params


def _probe(module: nn.Module, params: dict[str, torch.Tensor], size: int) -> float | None:
    scale_name = next((n for n in _SCALE_PARAMS if n in params), None)
    if scale_name is None:
        return None
    try:
        clone = copy.deepcopy(module)
        if any(p.is_meta for p in clone.parameters()) or any(b.is_meta for b in clone.buffers()):
            clone = clone.to_empty(device="cpu")
        clone = clone.float().cpu().eval()
        g = torch.Generator().manual_seed(0)
        probes = (torch.randn(3, 5, size, generator=g), torch.randn(2, size, 3, 3, generator=g))
        for x in probes:
            with torch.no_grad():
                for n, p in clone.named_parameters(recurse=False):
                    p.fill_(1.0 if n == scale_name else 0.0)
                for bname, b in clone.named_buffers():
                    if b.is_floating_point():
                        b.fill_(1.0 if "var" in bname else 0.0)
                try:
                    out1, out3 = clone(x), clone(3.0 * x)
                except Exception:
                    continue
                if not isinstance(out1, torch.Tensor) or out1.shape != x.shape:
                    continue
                if not torch.isfinite(out1).all() or out1.abs().max() < 1e-3:
                    continue
                if not torch.allclose(out1, out3, rtol=1e-3, atol=1e-3):
                    return None  # not scale-invariant: not a norm
                getattr(clone, scale_name).fill_(0.0)
                out0 = clone(x)
                return 1.0 if out0.abs().max() < 1e-6 else 0.0
    except Exception:
        return None
    return None


def norm_identity(module: nn.Module) -> tuple[float, str] | None:
    """(the scale value that makes ``module`` an identity-scale norm, how it was found), or
    None when the module is not a norm.

    Torch's own norm classes are norms by type; other leaf modules with per-feature vector
    parameters are probed: scale-invariant output means a norm. ``x * (1 + w)`` norms
    (Gemma) need ``w = 0``; ``x * w`` norms need ``w = 1``.
    """
    params = _vector_params(module)
    if params is None:
        return None
    size = next(iter(params.values())).shape[0]
    key = (type(module), size, tuple(sorted(params)))
    if key not in _PROBE_CACHE:
        _PROBE_CACHE[key] = _probe(module, params, size)
    value = _PROBE_CACHE[key]
    if value is not None:
        return value, "probed: output invariant to input scale"
    if "norm" in type(module).__name__.lower():
        return 1.0, "by class name"
    return None


# ------------------------------------------------------------------------- layouts
def is_transposed_linear(module: nn.Module) -> bool:
    """A 2-D ``weight`` stored (in, out): HF ``Conv1D`` or a bias sized like dim 1."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() != 2 or isinstance(module, nn.Linear):
        return False
    if type(module).__name__ == "Conv1D" and getattr(module, "nf", None) == w.shape[1]:
        return True
    b = getattr(module, "bias", None)
    return (isinstance(b, torch.Tensor) and b.dim() == 1 and b.shape[0] == w.shape[1]
            and w.shape[0] != w.shape[1] and not isinstance(module, nn.modules.conv._ConvNd))


@dataclass(frozen=True)
class Section:
    """One logical matrix inside a fused projection: rows [start, stop) of the (out, in) view."""

    label: str
    start: int
    stop: int


_QKV_NAMES = ("c_attn", "query_key_value", "qkv_proj", "qkv", "Wqkv", "to_qkv", "qkv_linear",
              "in_proj_qkv", "W_pack")
_GATE_UP_NAMES = ("gate_up_proj", "gate_up", "w13", "fc1_gate_up")


def _heads(parent: nn.Module | None, config: Any) -> tuple[int | None, int | None, int | None]:
    def first(obj: Any, names: tuple[str, ...]) -> int | None:
        for n in names:
            v = getattr(obj, n, None)
            if isinstance(v, int) and v > 0:
                return v
        return None

    q_names = ("num_heads", "num_attention_heads", "n_head", "n_heads")
    kv_names = ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "n_head_kv",
                "multi_query_group_num")
    hd_names = ("head_dim", "head_size", "attention_head_size")
    nq = nkv = hd = None
    for obj in (parent, config):
        if obj is None:
            continue
        nq = nq or first(obj, q_names)
        nkv = nkv or first(obj, kv_names)
        hd = hd or first(obj, hd_names)
    if config is not None and getattr(config, "multi_query", False) and not nkv:
        nkv = 1
    return nq, nkv, hd


def fused_sections(local_name: str, out_dim: int, in_dim: int, parent: nn.Module | None,
                   config: Any) -> tuple[list[Section], str] | None:
    """How a fused projection's ``out_dim`` rows split into logical matrices, or None."""
    if local_name in _GATE_UP_NAMES and out_dim % 2 == 0:
        half = out_dim // 2
        return [Section("gate", 0, half), Section("up", half, out_dim)], "fused gate/up: 2 halves"
    if local_name not in _QKV_NAMES:
        return None
    nq, nkv, hd = _heads(parent, config)
    if out_dim == 3 * in_dim and (nkv is None or nkv == nq):
        third = in_dim
        return ([Section("q", 0, third), Section("k", third, 2 * third),
                 Section("v", 2 * third, out_dim)], "fused q/k/v: 3 equal blocks")
    if nq and nkv and hd and out_dim == (nq + 2 * nkv) * hd:
        q, kv = nq * hd, nkv * hd
        return ([Section("q", 0, q), Section("k", q, q + kv), Section("v", q + kv, out_dim)],
                f"fused q/k/v with {nq} query and {nkv} key/value heads of {hd}")
    if out_dim == 2 * in_dim:
        return ([Section("k", 0, in_dim), Section("v", in_dim, out_dim)],
                "fused k/v: 2 equal blocks")
    if out_dim % 3 == 0 and not nkv:
        third = out_dim // 3
        return ([Section("q", 0, third), Section("k", third, 2 * third),
                 Section("v", 2 * third, out_dim)], "fused q/k/v: 3 equal blocks")
    return None


def expert_layout(module: nn.Module, pname: str, shape: tuple[int, ...],
                  config: Any) -> str | None:
    """"out_in" or "in_out" for a 3-D (experts, a, b) tensor of an MoE experts module."""
    if len(shape) != 3 or not re.search(r"expert", type(module).__name__, re.I) and \
            "expert" not in pname:
        return None
    hidden = getattr(config, "hidden_size", None) if config is not None else None
    ref = dict(module.named_parameters(recurse=False))
    gate_up = ref.get("gate_up_proj")
    if hidden is None:
        return "out_in"
    if gate_up is not None and gate_up.dim() == 3:
        return "out_in" if gate_up.shape[2] == hidden else "in_out"
    if shape[2] == hidden:
        return "out_in"
    if shape[1] == hidden:
        return "out_in" if pname.startswith("down") else "in_out"
    return "out_in"


# --------------------------------------------------------------------- named tensors
_NAMED_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("token", ("*cls_token*", "*class_token*", "class_embedding", "*mask_token*",
               "*dist_token*", "*reg_token*", "*register_token*", "*_token", "*_tokens",
               "query_tokens", "latents", "*prompt*")),
    ("position_embedding", ("*pos_embed*", "*position_embedding*", "*pos_emb*",
                            "absolute_pos_embed", "*positional_embedding*")),
    ("relative_position", ("*relative_position*", "*rel_pos*", "*relative_attention_bias*")),
    ("layer_scale", ("*layer_scale*", "ls", "ls[0-9]*", "gamma", "gamma_[0-9]*",
                     "*layerscale*", "lambda_*", "*_lambda")),
    ("ssm", ("A_log", "A", "D", "dt_bias", "A_logs", "Ds")),
)


def named_role(pname: str, shape: tuple[int, ...]) -> str | None:
    """The role a parameter's name and shape give it, or None."""
    lower = pname.lower()
    for role, patterns in _NAMED_ROLES:
        for pat in patterns:
            if fnmatch.fnmatchcase(pname, pat) or (role != "ssm" and fnmatch.fnmatchcase(lower, pat)):
                if role == "layer_scale" and len(shape) > 1 and max(shape) != int(
                        torch.tensor(shape).prod()):
                    continue  # a layer scale is a vector (or broadcastable to one)
                return role
    return None
