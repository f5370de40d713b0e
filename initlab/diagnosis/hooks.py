"""Forward and backward hooks on every leaf module: one row of statistics per call.

Rows are plain dicts appended in execution order (``depth`` is the call index). The
forward pre-hook takes the pre-activation statistics of an activation's input before an
in-place activation overwrites it; the forward hook takes the output statistics and
registers a tensor hook on the output for its gradient. :meth:`Recorder.remove` takes
every hook off; the caller calls it in ``finally``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from initlab.diagnosis.stats import (
    activation_kind,
    dead_and_zero,
    duplicate_fraction,
    moments,
    saturated_fraction,
    units_matrix,
)

__all__ = ["Recorder", "leaf_modules", "module_kind"]

_MAX_SYMMETRY_SAMPLES = 4096  # samples (batch x positions) per unit compared for symmetry

# module type -> whether its output has its units last (True) or at dim 1 (False)
_LAYOUT: tuple[tuple[type, bool], ...] = (
    (nn.modules.conv._ConvNd, False),
    (nn.Linear, True),
    (nn.Bilinear, True),
    (nn.Embedding, True),
    (nn.MultiheadAttention, True),
)
_NORMS: tuple[type, ...] = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every module without children; the root is ``model``."""
    return [
        (name or type(model).__name__, m)
        for name, m in model.named_modules()
        if next(m.children(), None) is None
    ]


def module_kind(module: nn.Module) -> str:
    """``activation``, ``norm``, ``weighted`` (a weight of 2+ dims) or ``other``."""
    if activation_kind(module) is not None:
        return "activation"
    if isinstance(module, _NORMS):
        return "norm"
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
        return "weighted"
    return "other"


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


class Recorder:
    """Hooks the given leaf modules; collects rows, the calls in flight, the first call."""

    def __init__(self, leaves: list[tuple[str, nn.Module]], *, channels_last: bool):
        self.leaves = leaves
        self.rows: list[dict] = []
        self.entered: list[str] = []  # names in call order (pre-hook ran)
        self.in_flight: list[str] = []  # calls whose forward has not returned
        self._channels_last = channels_last
        self._names = {id(m): n for n, m in leaves}
        self._calls: dict[str, int] = {}
        self._pre: dict[int, list] = {}
        self._handles: list = []

    # ------------------------------------------------------------------ life cycle
    def attach(self) -> Recorder:
        for _, module in self.leaves:
            self._handles.append(module.register_forward_pre_hook(self._pre_hook))
            self._handles.append(module.register_forward_hook(self._post_hook))
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # ------------------------------------------------------------------ hooks
    def _pre_hook(self, module, args):
        name = self._names[id(module)]
        self.entered.append(name)
        self.in_flight.append(name)
        pre = None
        inp = _first_tensor(args)
        if inp is not None and inp.is_floating_point():
            if activation_kind(module) is not None:
                pre = moments(inp)[:3]
            elif self._zero_weight(module):
                pre = self._input_symmetry(module, inp)
        self._pre.setdefault(id(module), []).append(pre)

    @staticmethod
    def _zero_weight(module) -> bool:
        weight = getattr(module, "weight", None)
        return (isinstance(weight, torch.Tensor) and weight.dim() >= 2
                and not bool(weight.detach().any()))

    def _input_symmetry(self, module, inp) -> float:
        """Fraction of a zero-weight layer's input units identical to another (or zero).

        A zero layer (Fixup, zero-residual, a zero read-out) is identical in every unit, yet
        learns once the layers after it do, as long as what it reads is diverse.
        """
        last = self._channels_last
        for cls, channels_last in _LAYOUT:
            if isinstance(module, cls):
                last = channels_last
                break
        units = units_matrix(inp.detach(), last, _MAX_SYMMETRY_SAMPLES).t()
        dead = (units == 0).all(dim=1)
        dup = duplicate_fraction(units)
        if math.isnan(dup):
            return math.nan
        return max(dup, dead.float().mean().item())

    def _post_hook(self, module, args, output):
        name = self._names[id(module)]
        if self.in_flight and self.in_flight[-1] == name:
            self.in_flight.pop()
        pre = self._pre.get(id(module), [None]).pop()
        count = self._calls[name] = self._calls.get(name, 0) + 1
        kind = module_kind(module)
        for cls, last in _LAYOUT:
            if isinstance(module, cls):
                self._channels_last = last
                break
        row = {
            "layer": name if count == 1 else f"{name}#{count}",
            "module": name,
            "depth": len(self.rows),
            "type": type(module).__name__,
            "kind": kind,
        }
        act = activation_kind(module)
        row["activation"] = act.name if act is not None else ""
        out = _first_tensor(output)
        if out is None or not out.is_floating_point():
            row["shape"] = "" if out is None else "x".join(map(str, out.shape))
            self.rows.append(row)
            return
        self._output_stats(row, module, out, act, pre)
        self.rows.append(row)
        if out.requires_grad:
            out.register_hook(self._grad_hook(row))

    def _output_stats(self, row, module, out, act, pre) -> None:
        d = out.detach()
        row["shape"] = "x".join(map(str, d.shape))
        row["mean"], row["std"], row["rms"], row["nonfinite"] = moments(d)
        if isinstance(pre, tuple):
            row["pre_mean"], row["pre_std"], row["pre_rms"] = pre
        elif pre is not None:
            row["input_dup_units_frac"] = pre
        if row["kind"] not in ("activation", "weighted") or row["nonfinite"]:
            return
        if act is not None and act.can_die:
            row["dead_frac"], row["zero_frac"] = dead_and_zero(d, self._channels_last)
        if act is not None and act.bounds is not None:
            row["saturated_frac"] = saturated_fraction(d, *act.bounds(module))
        if act is not None:  # identical units: after the activation is enough
            units = units_matrix(d, self._channels_last, _MAX_SYMMETRY_SAMPLES)
            row["dup_units_frac"] = duplicate_fraction(units.t(), skip_zero=True)

    def _grad_hook(self, row: dict):
        def hook(grad: torch.Tensor):
            g = grad.detach()
            _, std, rms, row["grad_nonfinite"] = moments(g)
            row["grad_norm"] = rms * math.sqrt(g.numel()) if g.numel() else math.nan
            row["grad_std"] = std

        return hook
