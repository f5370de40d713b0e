"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2016).

``lsuv_(model, batch)`` pre-initializes every weight with an orthonormal matrix (drawn from
a generator seeded with ``seed``, on the CPU, so the values do not depend on the device),
then walks the layers in the order the forward pass calls them and divides each weight by
the standard deviation of the layer's output (before the activation) until its variance is
1 within ``tol``.

Which parameters are units:

* every module with a ``weight`` of two or more dimensions (Linear, Bilinear, ConvNd,
  ConvTransposeNd, Embedding, custom modules), except normalization layers;
* ``nn.MultiheadAttention`` as four units: the q, k and v chunks of the fused
  ``in_proj_weight`` (or the separate ``q/k/v_proj_weight``), each scaled so that its own
  projection has unit variance (measured on the inputs the module receives), then
  ``out_proj.weight``, scaled on the module's output (``out_proj`` is applied functionally
  inside attention, so hooks on it never fire). The fused fast path is disabled meanwhile.

The forward passes run in eval mode under ``torch.no_grad()`` (no dropout draws from the
global RNG, no BatchNorm running-statistics updates, no autograd history); each module's
own train/eval flag is restored and every hook removed in ``finally``. A measuring pass
stops as soon as the layer being scaled has produced its output.

A layer whose output variance is 0 or not finite is never divided by: it is left as it is,
recorded with status ``zero_variance`` / ``non_finite`` and named in a warning
(``strict=True`` raises :class:`~initlab.errors.ConfigError` instead). Layers that do not
reach the tolerance in ``max_iter`` scalings are recorded as ``not_converged`` and named in
one warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from initlab._core.calls import call_model, first_tensor
from initlab._core.torch_types import NORM_TYPES
from initlab.errors import ConfigError
from initlab.init._orthogonal import haar_orthogonal
from initlab.init.source import TorchSource

__all__ = ["LSUVRecord", "LSUVResult", "LSUVWarning", "lsuv_"]

# Normalization layers are never scaled (their weight is an affine gain, not a projection).
_NORM_TYPES = NORM_TYPES

# Output dimension holding the channels a layer's bias adds to (for center_bias).
_CHANNEL_DIM: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.modules.conv._ConvNd, 1),
)


class LSUVWarning(UserWarning):
    """A layer LSUV could not bring to unit variance (named in the message).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", LSUVWarning)  # make it an error
    """


class _Stop(BaseException):
    """Ends a measuring forward pass early (a BaseException: `except Exception` cannot eat it)."""


@dataclass(frozen=True)
class LSUVRecord:
    """What LSUV did to one unit (a weight, or one chunk of a fused weight).

    Attributes:
        name: the parameter name; chunk i of a fused weight is ``f"{name}[{i}]"``.
        iterations: the number of rescalings applied.
        variance: the output variance last measured (after the last rescaling).
        converged: whether the variance is within ``tol`` of 1.
        status: ``converged``, ``not_converged``, ``zero_variance``, ``non_finite`` or
            ``not_called``.
        scale: the product of the factors applied to the weight.

    Examples:
        >>> LSUVRecord("0.weight", 2, 1.01, True, "converged", 0.5).status
        'converged'
    """

    name: str  # parameter name, chunk i of a fused weight as f"{name}[{i}]"
    iterations: int  # number of rescalings applied
    variance: float  # output variance last measured (after the last rescaling)
    converged: bool
    status: str  # converged | not_converged | zero_variance | non_finite | not_called
    scale: float = 1.0  # product of the factors applied to the weight


@dataclass
class LSUVResult:
    """Per-unit records, in execution order (units never called come last).

    Attributes:
        layers: the :class:`LSUVRecord` of every unit; ``result["0.weight"]`` finds one by
            name, ``result.converged`` says whether every called unit converged.

    Examples:
        >>> result = LSUVResult([LSUVRecord("0.weight", 1, 1.0, True, "converged")])
        >>> result.converged, len(result), result["0.weight"].iterations
        (True, 1, 1)
    """

    layers: list[LSUVRecord] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether every unit the forward pass called reached unit variance."""
        return all(r.converged for r in self.layers if r.status != "not_called")

    def __iter__(self) -> Iterator[LSUVRecord]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LSUVRecord:
        if isinstance(key, str):
            for r in self.layers:
                if r.name == key:
                    return r
            raise KeyError(key)
        return self.layers[key]

    def to_dict(self) -> dict[str, Any]:
        """``{"converged": ..., "layers": [record as dict, ...]}``, JSON-safe."""
        return {"converged": self.converged, "layers": [asdict(r) for r in self.layers]}

    def __str__(self) -> str:
        w = max([len("layer")] + [len(r.name) for r in self.layers])
        lines = [f"{'layer':<{w}}  iters  variance  status"]
        lines += [
            f"{r.name:<{w}}  {r.iterations:>5}  {r.variance:>8.4f}  {r.status}" for r in self.layers
        ]
        return "\n".join(lines)


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


# ---------------------------------------------------------------- the algorithm


def _scale_unit(model: nn.Module, batch: Any, unit: _Unit, tol: float, max_iter: int,
                center_bias: bool) -> LSUVRecord:
    if center_bias and unit.bias is not None:
        out = _measure(model, batch, unit)
        if out is None:
            return LSUVRecord(unit.name, 0, float("nan"), False, "not_called")
        mean = _channel_mean(out, unit.channel_dim, unit.bias.numel())
        if mean is not None and torch.isfinite(mean).all():
            unit.bias.sub_(mean.to(unit.bias))
    scale = 1.0
    for it in range(max_iter + 1):
        out = _measure(model, batch, unit)
        if out is None:
            return LSUVRecord(unit.name, it, float("nan"), False, "not_called", scale)
        var = _variance(out)
        if not math.isfinite(var):
            return LSUVRecord(unit.name, it, var, False, "non_finite", scale)
        if var == 0.0:
            return LSUVRecord(unit.name, it, var, False, "zero_variance", scale)
        if abs(var - 1.0) < tol:
            return LSUVRecord(unit.name, it, var, True, "converged", scale)
        if it == max_iter:
            break
        factor = 1.0 / math.sqrt(var)
        unit.weight.mul_(factor)
        if center_bias and unit.bias is not None:
            unit.bias.mul_(factor)
        scale *= factor
    return LSUVRecord(unit.name, max_iter, var, False, "not_converged", scale)


def _validate(model: object, tol: object, max_iter: object) -> None:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"lsuv_ needs a torch.nn.Module; got {type(model).__name__}; "
            "hint: call initlab.calibrate.lsuv_(model, batch)."
        )
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ConfigError(
            f"lsuv_ tol must be a number in (0, 1); got {tol!r}; hint: the paper uses tol=0.1."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(
            f"lsuv_ max_iter must be an integer >= 1; got {max_iter!r}; "
            "hint: the paper uses max_iter=10."
        )
    if any(p.is_meta for p in model.parameters()):
        raise ConfigError(
            "lsuv_ got a model with parameters on the meta device; expected real tensors; "
            "hint: initlab.materialize(model, ...) first, then lsuv_."
        )


def lsuv_(
    model: nn.Module,
    batch: Any,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    orthonormal: bool = True,
    center_bias: bool = False,
    seed: int = 0,
    strict: bool = False,
) -> LSUVResult:
    """Initialize ``model`` in place by LSUV on ``batch``; return the per-unit records.

    ``batch`` is what the model is called with: a tensor (``model(batch)``), a tuple or list
    (``model(*batch)``) or a dict (``model(**batch)``). ``orthonormal=True`` first sets every
    unit's weight orthonormal (seeded by ``seed``) and its bias to zero. ``center_bias=True``
    also shifts each bias so the layer's output has zero mean per channel.

    Args:
        model: the model, initialized in place.
        batch: what the model is called with (a tensor, a tuple/list, or a dict).
        tol: stop scaling a layer when its output variance is within ``tol`` of 1.
        max_iter: at most this many scalings per layer.
        orthonormal: first set every weight orthonormal and every bias to zero.
        center_bias: also shift each bias so the layer's output has zero mean per channel.
        seed: the seed of the orthonormal pre-initialization (drawn on the CPU).
        strict: raise instead of warning when a layer's output variance is 0 or not finite.

    Returns:
        An :class:`LSUVResult`: one :class:`LSUVRecord` per unit, in execution order.

    Raises:
        ConfigError: not a module, a meta model, no layer to scale, invalid options, or
            (``strict``) a dead layer.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
        >>> x = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
        >>> result = lsuv_(model, x, tol=0.05)
        >>> result.converged, [r.name for r in result]
        (True, ['0.weight', '2.weight'])
        >>> abs(model(x).var().item() - 1) < 0.1
        True
    """
    _validate(model, tol, max_iter)
    units = _find_units(model)
    if not units:
        raise ConfigError(
            f"lsuv_ found no layer to scale in {type(model).__name__}; expected modules with a "
            "weight of >= 2 dims (Linear, Conv, ConvTranspose, MultiheadAttention, ...); "
            "hint: normalization layers are skipped on purpose."
        )
    modes = {m: m.training for m in model.modules()}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    records: list[LSUVRecord] = []
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        model.eval()
        with torch.no_grad():
            if orthonormal:
                generator = torch.Generator().manual_seed(int(seed))
                for u in units:
                    _orthonormal_(u.weight, generator)
                    if u.bias is not None:
                        u.bias.zero_()
            for unit in _execution_order(model, batch, units):
                records.append(_scale_unit(model, batch, unit, tol, max_iter, center_bias))
                if strict and records[-1].status in ("zero_variance", "non_finite"):
                    r = records[-1]
                    raise ConfigError(
                        f"LSUV: layer '{r.name}' has output variance {r.variance}; expected a "
                        "finite, non-zero variance; hint: check the batch and the layers "
                        "before it (dead ReLUs, zero weights, NaN inputs)."
                    )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, mode in modes.items():
            m.training = mode
    _warn(records)
    return LSUVResult(records)


def _warn(records: list[LSUVRecord]) -> None:
    bad = [r for r in records if r.status in ("zero_variance", "non_finite")]
    if bad:
        names = ", ".join(f"'{r.name}' ({r.status}: {r.variance})" for r in bad)
        warnings.warn(
            f"LSUV left {len(bad)} layer(s) unscaled because their output variance is 0 or "
            f"not finite: {names}; check the batch and the layers before them.",
            LSUVWarning,
            stacklevel=3,
        )
    slow = [r.name for r in records if r.status == "not_converged"]
    if slow:
        warnings.warn(
            f"LSUV did not reach the tolerance for {len(slow)} layer(s): {slow}; "
            "raise max_iter or tol, or check the biases.",
            LSUVWarning,
            stacklevel=3,
        )
