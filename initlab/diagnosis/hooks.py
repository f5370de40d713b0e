"""Forward and backward hooks on every leaf module: one row of statistics per call.

Rows are plain dicts appended in execution order (``depth`` is the call index). The
forward pre-hook takes the pre-activation statistics of an activation's input before an
in-place activation overwrites it; the forward hook takes the output statistics and
registers a tensor hook on the output for its gradient. :meth:`Recorder.remove` takes
every hook off; the caller calls it in ``finally``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from initlab._core.calls import first_tensor as _first_tensor
from initlab._core.torch_types import NORM_TYPES
from initlab.diagnosis.stats import (
    ActivationKind,
    activation_kind,
    dead_zero_finish,
    dead_zero_parts,
    moment_parts,
    moments,
    moments_finish,
    saturated_part,
    units_matrix,
)
from initlab.diagnosis.symmetry import duplicate_fraction, duplicate_fractions

__all__ = ["Recorder", "leaf_modules", "module_kind"]

# what the pre-hook leaves for the post-hook: an activation's input (mean, std, rms), a
# zero-weight layer's input symmetry, or nothing
_Pre = tuple[float, float, float] | float | None

_MAX_SYMMETRY_SAMPLES = 4096  # samples (batch x positions) per unit compared for symmetry

# module type -> whether its output has its units last (True) or at dim 1 (False)
_LAYOUT: tuple[tuple[type, bool], ...] = (
    (nn.modules.conv._ConvNd, False),
    (nn.Linear, True),
    (nn.Bilinear, True),
    (nn.Embedding, True),
    (nn.MultiheadAttention, True),
)
_NORMS = NORM_TYPES


_NORM_NAME = re.compile(r"norm", re.I)  # LlamaRMSNorm, T5LayerNorm, ...: a norm by its name


_LAYOUT_CACHE: dict[type, bool | None] = {}  # per module class (a few dozen)


def _layout(cls: type) -> bool | None:
    """Whether a module type's output has its units last (True), at dim 1 (False), or None."""
    if cls not in _LAYOUT_CACHE:
        _LAYOUT_CACHE[cls] = _find_layout(cls)
    return _LAYOUT_CACHE[cls]


def _find_layout(cls: type) -> bool | None:
    for base, last in _LAYOUT:
        if issubclass(cls, base):
            return last
    return None


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every module without children; the root is ``model``."""
    return [
        (name or type(model).__name__, m)
        for name, m in model.named_modules()
        if next(m.children(), None) is None
    ]


def module_kind(module: nn.Module) -> str:
    """``activation``, ``norm``, ``embedding`` (a table lookup), ``weighted`` (a weight of
    2+ dims) or ``other``. A norm is a torch norm class, or a module named like one
    (``LlamaRMSNorm``, ``T5LayerNorm``) whose parameters are at most vectors."""
    if activation_kind(module) is not None:
        return "activation"
    weight = getattr(module, "weight", None)
    matrix = isinstance(weight, torch.Tensor) and weight.dim() >= 2
    if isinstance(module, _NORMS) or (not matrix and _NORM_NAME.search(type(module).__name__)):
        return "norm"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    return "weighted" if matrix else "other"


class Recorder:
    """Hooks the given leaf modules; collects rows, the calls in flight, the first call."""

    def __init__(self, leaves: list[tuple[str, nn.Module]], *, channels_last: bool,
                 norms: dict[int, float] | None = None) -> None:
        self.leaves = leaves
        self._norms = norms or {}  # id(parameter) -> its 2-norm, measured before the forward
        self.rows: list[dict[str, Any]] = []
        self.entered: list[str] = []  # names in call order (pre-hook ran)
        self.in_flight: list[str] = []  # calls whose forward has not returned
        self._channels_last = channels_last
        self._names = {id(m): n for n, m in leaves}
        self._calls: dict[str, int] = {}
        self._pre: dict[int, list[_Pre]] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._units: list[tuple[dict[str, Any], torch.Tensor]] = []  # (row, units matrix) to screen

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
    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        name = self._names[id(module)]
        self.entered.append(name)
        self.in_flight.append(name)
        pre: _Pre = None
        inp = _first_tensor(args)
        if inp is not None and inp.is_floating_point():
            if activation_kind(module) is not None:
                pre = moments(inp)[:3]
            elif self._zero_weight(module):
                pre = self._input_symmetry(module, inp)
        self._pre.setdefault(id(module), []).append(pre)

    def _zero_weight(self, module: nn.Module) -> bool:
        """A weight of 2+ dims with every element 0 (a norm first: ``any`` is slow on CPU)."""
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
            return False
        w = weight.detach()
        norm = self._norms.get(id(weight))
        if norm is None and w.is_floating_point():
            norm = torch.linalg.vector_norm(w).item()
        if norm is not None and norm != 0:  # NaN too: not all zero
            return False
        return not bool(w.any())  # confirms a zero norm (tiny squares underflow to 0)

    def _input_symmetry(self, module: nn.Module, inp: torch.Tensor) -> float:
        """Fraction of a zero-weight layer's input units identical to another (or zero).

        A zero layer (Fixup, zero-residual, a zero read-out) is identical in every unit, yet
        learns once the layers after it do, as long as what it reads is diverse.
        """
        last = _layout(type(module))
        last = self._channels_last if last is None else last
        units = units_matrix(inp.detach(), last, _MAX_SYMMETRY_SAMPLES).t()
        dead = (units == 0).all(dim=1)
        dup = duplicate_fraction(units)
        if math.isnan(dup):
            return math.nan
        return max(dup, dead.float().mean().item())

    def _post_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name = self._names[id(module)]
        if self.in_flight and self.in_flight[-1] == name:
            self.in_flight.pop()
        pre = self._pre.get(id(module), [None]).pop()
        count = self._calls[name] = self._calls.get(name, 0) + 1
        kind = module_kind(module)
        last = _layout(type(module))
        if last is not None:
            self._channels_last = last
        row: dict[str, Any] = {
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

    def _output_stats(self, row: dict[str, Any], module: nn.Module, out: torch.Tensor,
                      act: ActivationKind | None, pre: _Pre) -> None:
        """Moments, dead / zero / saturated counts in one host sync; then identical units."""
        d = out.detach()
        row["shape"] = "x".join(map(str, d.shape))
        parts = moment_parts(d)
        units = act is not None and row["kind"] in ("activation", "weighted") and d.numel() > 0
        if units and act is not None and act.can_die:
            parts += dead_zero_parts(d, self._channels_last)
        if units and act is not None and act.bounds is not None:
            parts.append(saturated_part(d, *act.bounds(module)))
        values = torch.stack(parts).tolist()
        row["mean"], row["std"], row["rms"], row["nonfinite"] = moments_finish(d, *values[:2])
        if isinstance(pre, tuple):
            row["pre_mean"], row["pre_std"], row["pre_rms"] = pre
        elif pre is not None:
            row["input_dup_units_frac"] = pre
        if row["kind"] not in ("activation", "weighted") or row["nonfinite"] or act is None:
            return
        rest = values[2:]
        if not units:  # no elements
            if act.can_die:
                row["dead_frac"], row["zero_frac"] = math.nan, math.nan
            if act.bounds is not None:
                row["saturated_frac"] = math.nan
        else:
            if act.can_die:
                row["dead_frac"], row["zero_frac"] = dead_zero_finish(
                    d, self._channels_last, rest.pop(0), rest.pop(0))
            if act.bounds is not None:
                row["saturated_frac"] = rest.pop(0) / d.numel()
        # identical units: after the activation is enough; all layers at once in finish(),
        # on a (units, samples) copy taken now (a later in-place op may change the output)
        row["dup_units_frac"] = math.nan
        matrix = units_matrix(d, self._channels_last, _MAX_SYMMETRY_SAMPLES).t()
        self._units.append(
            (row, matrix.clone() if matrix.is_contiguous() else matrix.contiguous()))

    def finish(self) -> None:
        """Identical units of every activation output, screened together (after forward)."""
        rows = [row for row, _ in self._units]
        fracs = duplicate_fractions([u for _, u in self._units], skip_zero=True, finite=True)
        for row, frac in zip(rows, fracs):
            row["dup_units_frac"] = frac
        self._units.clear()

    def _grad_hook(self, row: dict[str, Any]) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            g = grad.detach()
            _, std, rms, row["grad_nonfinite"] = moments(g)
            row["grad_norm"] = rms * math.sqrt(g.numel()) if g.numel() else math.nan
            row["grad_std"] = std

        return hook
