"""LSUV's units and measurements: which weights are scaled, and their output on a batch.

A unit is a weight of two or more dimensions (or one q/k/v chunk of a
``nn.MultiheadAttention`` in-projection); :func:`_find_units` lists them,
:func:`_orthonormal_` pre-initializes one, :func:`_measure` runs the model until the unit's
output appears, :func:`_execution_order` sorts the units in forward order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from initlab._core.calls import call_model, first_tensor
from initlab._core.torch_types import NORM_TYPES
from initlab.errors import ConfigError
from initlab.init._orthogonal import haar_orthogonal
from initlab.init.source import TorchSource

# Normalization layers are never scaled (their weight is an affine gain, not a projection).
_NORM_TYPES = NORM_TYPES

# Output dimension holding the channels a layer's bias adds to (for center_bias).
_CHANNEL_DIM: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.modules.conv._ConvNd, 1),
)


class _Stop(BaseException):
    """Ends a measuring forward pass early (a BaseException: `except Exception` cannot eat it)."""



@dataclass
class _Unit:
    """One scalable weight (or chunk) and how to see its output."""

    name: str
    module: nn.Module  # the module whose call produces the output
    weight: torch.Tensor  # the weight or a view of one chunk of it
    bias: torch.Tensor | None
    channel_dim: int
    # MHA in-projection chunks: (args, kwargs) of the module call -> the chunk's output
    project: Callable[[tuple[Any, ...], dict[str, Any]], torch.Tensor] | None = None


# ---------------------------------------------------------------- finding the units


def _channel_dim(module: nn.Module) -> int:
    for cls, dim in _CHANNEL_DIM:
        if isinstance(module, cls):
            return dim
    return -1


_MHA_INPUTS = ("query", "key", "value")


def _mha_input(args: tuple[Any, ...], kwargs: dict[str, Any], i: int) -> torch.Tensor:
    return args[i] if len(args) > i else kwargs[_MHA_INPUTS[i]]


def _mha_units(name: str, m: nn.MultiheadAttention) -> list[_Unit]:
    prefix = f"{name}." if name else ""
    units = []
    e = m.embed_dim
    for i in range(3):
        if m.in_proj_weight is not None:
            w, pname = m.in_proj_weight[i * e : (i + 1) * e], f"{prefix}in_proj_weight[{i}]"
        else:
            w = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)[i]
            pname = f"{prefix}{('q', 'k', 'v')[i]}_proj_weight"
        b = None if m.in_proj_bias is None else m.in_proj_bias[i * e : (i + 1) * e]

        def project(args: tuple[Any, ...], kwargs: dict[str, Any], *, _i: int = i,
                    _w: torch.Tensor = w, _b: torch.Tensor | None = b) -> torch.Tensor:
            return F.linear(_mha_input(args, kwargs, _i), _w, _b)

        units.append(_Unit(pname, m, w, b, -1, project))
    units.append(_Unit(f"{prefix}out_proj.weight", m, m.out_proj.weight, m.out_proj.bias, -1))
    return units


def _find_units(model: nn.Module) -> list[_Unit]:
    units: list[_Unit] = []
    inside_mha: set[int] = set()
    for name, m in model.named_modules():
        if isinstance(m, nn.MultiheadAttention):
            units += _mha_units(name, m)
            inside_mha.add(id(m.out_proj))
            continue
        if id(m) in inside_mha or isinstance(m, _NORM_TYPES):
            continue
        w = getattr(m, "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() < 2 or w.numel() == 0:
            continue
        b = getattr(m, "bias", None)
        b = b if isinstance(b, torch.Tensor) else None
        units.append(_Unit(f"{name}.weight" if name else "weight", m, w, b, _channel_dim(m)))
    return units


# ---------------------------------------------------------------- orthonormal pre-init


def _orthonormal_(w: torch.Tensor, generator: torch.Generator) -> None:
    """Rows (dim 0 vs the rest) orthonormal, drawn in fp32 on the CPU, copied into ``w``."""
    q = haar_orthogonal(w.shape[0], w[0].numel(), TorchSource(generator),
                        dtype=torch.float32, device="cpu")
    w.copy_(q.reshape(w.shape).to(device=w.device, dtype=w.dtype))


# ---------------------------------------------------------------- measuring


def _measure(model: nn.Module, batch: Any, unit: _Unit) -> torch.Tensor | None:
    """The unit's output on ``batch`` (None if the module is never called)."""
    seen: list[torch.Tensor] = []

    project = unit.project
    if project is not None:

        def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            seen.append(project(args, kwargs))
            raise _Stop

        handle = unit.module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            out = first_tensor(output)
            if out is None:
                raise ConfigError(
                    f"LSUV cannot measure layer '{unit.name}': got output of type "
                    f"{type(output).__name__}, expected a tensor or a tuple starting with one; "
                    "hint: exclude it or wrap it so it returns a tensor."
                )
            seen.append(out)
            raise _Stop

        handle = unit.module.register_forward_hook(hook)
    try:
        call_model(model, batch)
    except _Stop:
        pass
    finally:
        handle.remove()
    return seen[0] if seen else None


def _execution_order(model: nn.Module, batch: Any, units: list[_Unit]) -> list[_Unit]:
    modules = {id(u.module): u.module for u in units}
    order: dict[int, int] = {}
    handles = []

    def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        order.setdefault(id(module), len(order))

    try:
        for m in modules.values():
            handles.append(m.register_forward_pre_hook(pre_hook))
        call_model(model, batch)
    finally:
        for h in handles:
            h.remove()
    called = [u for u in units if id(u.module) in order]
    called.sort(key=lambda u: order[id(u.module)])  # stable: MHA chunks keep q, k, v, out
    return called + [u for u in units if id(u.module) not in order]


def _variance(out: torch.Tensor) -> float:
    return float(out.detach().float().var(unbiased=False))


def _channel_mean(out: torch.Tensor, dim: int, n: int) -> torch.Tensor | None:
    dim = dim % out.dim() if out.dim() else 0
    if out.dim() == 0 or out.shape[dim] != n:
        return None
    other = [d for d in range(out.dim()) if d != dim]
    return out.detach().float().mean(dim=other) if other else out.detach().float()
