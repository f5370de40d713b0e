"""Parametrized weights: plan the effective tensor, then set what it is computed from.

Three mechanisms in torch make a module's ``weight`` a function of other parameters:

* ``torch.nn.utils.parametrize`` (``parametrizations.weight_norm``, ``spectral_norm``,
  ``orthogonal``, user parametrizations): ``module.parametrizations.weight.original*``;
* the older ``torch.nn.utils.weight_norm``: ``weight_g`` and ``weight_v``;
* the older ``torch.nn.utils.spectral_norm``: ``weight_orig`` (plus ``u``/``v`` buffers).

The plan has one row named ``module.weight`` (the effective tensor, with the module's
role and layout). Executing it draws W from the row's keyed stream and sets the
originals so the effective weight is W: through the parametrization's ``right_inverse``
(``module.weight = W``), or ``v = W, g = ||W||`` for the old weight norm. Spectral norm
divides by the largest singular value by construction, so its effective weight is
W / sigma_max(W) (its std is not the planned one; the plan row says so). ``salimans=True``
in :func:`weight_norm_data_init` gives Salimans & Kingma's (2016) data-dependent init.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.rng import KeyedSource

if TYPE_CHECKING:
    from initlab.init.registry import Initializer
    from initlab.policy.plan_rows import PlanRow

__all__ = ["EffectiveWeight", "effective_target", "parametrized_tensors", "fill_effective",
           "weight_norm_data_init"]


@dataclass
class EffectiveWeight:
    """Where a parametrized tensor lives and how to set it."""

    module: nn.Module
    tensor_name: str
    kind: str            # "parametrize", "weight_norm", "spectral_norm"
    shape: tuple[int, ...]
    dim: int = 0         # weight_norm's dim
    is_meta: bool = False


def _old_hook(module: nn.Module, tensor_name: str) -> Any:
    for hook in module._forward_pre_hooks.values():
        cls = type(hook).__name__
        if cls in ("WeightNorm", "SpectralNorm") and getattr(hook, "name", None) == tensor_name:
            return hook
    return None


def parametrized_tensors(module: nn.Module) -> dict[str, EffectiveWeight]:
    """The parametrized tensors of one module, keyed by tensor name (e.g. ``weight``)."""
    from torch.nn.utils import parametrize

    out: dict[str, EffectiveWeight] = {}
    if parametrize.is_parametrized(module):
        for tname, plist in _plists(module).items():
            originals = [p for n, p in plist.named_parameters(recurse=False)]
            meta = any(p.is_meta for p in originals)
            shape = tuple(getattr(module, tname).shape) if not meta else _meta_shape(module, tname)
            out[tname] = EffectiveWeight(module, tname, "parametrize", shape, is_meta=meta)
    for hook in module._forward_pre_hooks.values():
        cls = type(hook).__name__
        tname = str(getattr(hook, "name", ""))
        if cls == "WeightNorm":
            v = getattr(module, f"{tname}_v")
            out[tname] = EffectiveWeight(module, tname, "weight_norm", tuple(v.shape),
                                         int(getattr(hook, "dim", 0)), v.is_meta)
        elif cls == "SpectralNorm":
            w = getattr(module, f"{tname}_orig")
            out[tname] = EffectiveWeight(module, tname, "spectral_norm", tuple(w.shape),
                                         int(getattr(hook, "dim", 0)), w.is_meta)
    return out


def _plists(module: nn.Module) -> nn.ModuleDict:
    """``module.parametrizations`` (torch types it as a Tensor | Module attribute)."""
    return cast(nn.ModuleDict, module.parametrizations)


def _meta_shape(module: nn.Module, tname: str) -> tuple[int, ...]:
    try:
        return tuple(getattr(module, tname).shape)
    except Exception:  # a parametrization that cannot run on meta: the first original's shape
        plist = _plists(module)[tname]
        return tuple(next(iter(plist.parameters())).shape)


def originals(module: nn.Module) -> set[str]:
    """Local names (relative to ``module``) of the parameters behind its parametrized tensors."""
    names: set[str] = set()
    for tname, eff in parametrized_tensors(module).items():
        if eff.kind == "parametrize":
            for n, _ in _plists(module)[tname].named_parameters(recurse=False):
                names.add(f"parametrizations.{tname}.{n}")
        elif eff.kind == "weight_norm":
            names |= {f"{tname}_g", f"{tname}_v"}
        else:
            names.add(f"{tname}_orig")
    return names


def effective_target(model: nn.Module, name: str) -> EffectiveWeight | None:
    """The parametrized tensor called ``name`` ("module.weight"), or None."""
    mname, _, tname = name.rpartition(".")
    try:
        module = model.get_submodule(mname) if mname else model
    except AttributeError:
        return None
    return parametrized_tensors(module).get(tname)


def fill_effective(eff: EffectiveWeight, row: PlanRow, init: Initializer, *, seed: int,
                   threads: int | None = None) -> None:
    """Draw the row's W from its keyed stream and set the originals so the effective tensor is W."""
    ref = _reference(eff)
    w = torch.empty(tuple(row.shape), dtype=ref.dtype, device=ref.device)
    init.fill_(w, KeyedSource(seed, row.key, tuple(row.shape), spec=row.init, threads=threads),
               layout=row.layout, groups=row.groups)
    m, tname = eff.module, eff.tensor_name
    with torch.no_grad():
        if eff.kind == "parametrize":
            setattr(m, tname, w)   # right_inverse sets the originals
            _check_represented(m, tname, w, row)
        elif eff.kind == "weight_norm":
            getattr(m, f"{tname}_v").copy_(w)
            getattr(m, f"{tname}_g").copy_(_norm_except(w, eff.dim))
            setattr(m, tname, w.clone())
        else:
            getattr(m, f"{tname}_orig").copy_(w)


def _check_represented(m: nn.Module, tname: str, w: torch.Tensor, row: PlanRow) -> None:
    """Warn when a parametrization cannot represent the planned tensor (orthogonal: any gain)."""
    import warnings

    got = getattr(m, tname)
    if got.shape == w.shape and torch.allclose(got, w, rtol=1e-3, atol=1e-5):
        return
    want, have = float(w.std()), float(got.std())
    warnings.warn(f"'{row.name}': its parametrization cannot represent the planned {row.init} "
                  f"(effective std {have:.4g}, planned {want:.4g}); the effective tensor is the "
                  "parametrization's image of it.", UserWarning, stacklevel=4)


def _norm_except(w: torch.Tensor, dim: int) -> torch.Tensor:
    if dim == -1:
        return w.norm()
    dims = [d for d in range(w.dim()) if d != dim % w.dim()]
    return w.norm(dim=dims, keepdim=True)


def _reference(eff: EffectiveWeight) -> torch.Tensor:
    m, tname = eff.module, eff.tensor_name
    if eff.kind == "parametrize":
        return next(iter(_plists(m)[tname].parameters()))
    return cast(torch.Tensor, getattr(m, f"{tname}_v" if eff.kind == "weight_norm" else f"{tname}_orig"))


def weight_norm_data_init(module: nn.Module, x: torch.Tensor, *, tensor_name: str = "weight",
                          init_scale: float = 1.0) -> torch.Tensor:
    """Salimans & Kingma (2016): set g (and the bias) so the pre-activations of ``x`` have
    zero mean and std ``init_scale`` per output unit. Returns the module's output after.

    Args:
        module: a Linear or Conv with a weight norm (either torch API) on ``tensor_name``.
        x: a batch of inputs to ``module``.
        tensor_name: the normalized tensor.
        init_scale: the target std of each output unit.

    Example:
        >>> layer = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(8, 4))
        >>> out = weight_norm_data_init(layer, torch.randn(256, 8))
        >>> bool(abs(out.std(0) - 1).max() < 1e-3)
        True
    """
    eff = parametrized_tensors(module).get(tensor_name)
    if eff is None or eff.kind == "spectral_norm" or (eff.kind == "parametrize" and not hasattr(
            _plists(module)[tensor_name], "original0")):
        raise ConfigError(f"weight_norm_data_init needs a weight-normalized {tensor_name!r}; "
                          f"got {type(module).__name__} without one. Hint: wrap it with "
                          "torch.nn.utils.parametrizations.weight_norm first.")
    with torch.no_grad():
        bias = getattr(module, "bias", None)
        if bias is not None:
            bias.zero_()
        out = module(x)
        feat = 1 if out.dim() > 1 else 0
        dims = [d for d in range(out.dim()) if d != feat]
        mean, std = out.mean(dims), out.std(dims).clamp_min(1e-12)
        scale = init_scale / std
        if eff.kind == "parametrize":
            g = cast(torch.Tensor, _plists(module)[tensor_name].original0)
        else:
            g = getattr(module, f"{tensor_name}_g")
        g.mul_(scale.view(g.shape))
        if bias is not None:
            bias.copy_(-mean * scale)
        return cast(torch.Tensor, module(x))
