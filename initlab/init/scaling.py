"""Variance scaling and its named specializations: Xavier/Glorot, Kaiming/He, LeCun, default.

One implementation: a spec gives a standard deviation from the fans (``_std``), and a
distribution turns it into draws::

    normal            N(0, std^2)
    uniform           U(-sqrt(3)·std, sqrt(3)·std)
    truncated_normal  N(0, s^2) cut at ±2s, s = std / 0.87962566103423978 (Keras/JAX)

``variance_scaling`` computes ``std = sqrt(scale / fan)``. Xavier and Kaiming keep torch's
exact float expressions for ``std`` (``gain * sqrt(2 / (fan_in + fan_out))`` and
``gain / sqrt(fan)``) so that, with ``layout=None``, they are bit-identical to
``torch.nn.init``; mathematically they are variance scaling with scale gain^2 and modes
fan_avg / fan_in|fan_out|fan_avg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from initlab.errors import ConfigError
from initlab.init.fans import MODES, axis_fans, fans, normalize_axes, select_fan
from initlab.init.gains import _FUNCS
from initlab.init.gains import gain as _gain
from initlab.init.registry import Initializer, Shape, register, set_choice, set_float
from initlab.init.source import Source

__all__ = ["VarianceScaling", "XavierUniform", "XavierNormal", "KaimingUniform", "KaimingNormal",
           "LecunUniform", "LecunNormal", "Default", "TRUNC_STD", "DISTRIBUTIONS"]

# std of N(0, 1) truncated to [-2, 2]
TRUNC_STD = 0.87962566103423978


def _normal(tensor: torch.Tensor, source: Source, std: float) -> torch.Tensor:
    return source.normal_(tensor, 0.0, std)


def _uniform(tensor: torch.Tensor, source: Source, std: float) -> torch.Tensor:
    bound = math.sqrt(3.0) * std
    return source.uniform_(tensor, -bound, bound)


def _truncated(tensor: torch.Tensor, source: Source, std: float) -> torch.Tensor:
    s = std / TRUNC_STD
    return source.trunc_normal_(tensor, 0.0, s, -2.0 * s, 2.0 * s)


DRAW = {"normal": _normal, "uniform": _uniform, "truncated_normal": _truncated}
# JAX / Keras 3 spell the untruncated normal 'untruncated_normal'; it is stored as 'normal'
DISTRIBUTION_ALIASES = {"untruncated_normal": "normal"}
DISTRIBUTIONS = (*DRAW, *DISTRIBUTION_ALIASES)


class _Scaled(Initializer):
    """Shared machinery: std from the fans, then a draw from ``distribution``."""

    mode: str = "fan_in"
    distribution: str = "normal"

    def _std(self, fan_in: float, fan_out: float) -> float:
        raise NotImplementedError

    def _fan(self, fan_in: float, fan_out: float) -> float:
        return select_fan(fan_in, fan_out, self.mode)

    def _fans(self, shape: Shape, layout: str | None, groups: int) -> tuple[int, int]:
        return fans(shape, layout=layout, groups=groups)

    def std_for(self, shape: Shape, *, layout: str | None = None, groups: int = 1) -> float:
        fan_in, fan_out = self._fans(shape, layout, groups)
        if self._fan(fan_in, fan_out) <= 0:
            raise ConfigError(
                f"{self.name}: {self.mode} of shape {tuple(shape)} is 0; expected a weight "
                "with no zero-sized dimension."
            )
        return self._std(fan_in, fan_out)

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        if tensor.numel() == 0:
            return tensor
        return DRAW[self.distribution](tensor, source, self.std_for(tensor.shape, layout=layout,
                                                                     groups=groups))

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if math.prod(shape) == 0:
            return None
        return self.std_for(shape, layout=layout, groups=groups)


@register("variance_scaling")
@dataclass(frozen=True)
class VarianceScaling(_Scaled):
    """std = sqrt(scale / fan), fan by mode, drawn from distribution (Keras/JAX semantics).

    ``in_axis`` / ``out_axis`` / ``batch_axis`` (JAX's arguments) name the tensor's axes
    for the fans; left None, the fans follow torch's convention or the given layout.
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"
    in_axis: int | tuple[int, ...] | None = None
    out_axis: int | tuple[int, ...] | None = None
    batch_axis: int | tuple[int, ...] = ()
    quiet_defaults = ("in_axis", "out_axis", "batch_axis")

    def __post_init__(self) -> None:
        set_float(self, "scale", low=0.0, low_open=True)
        set_choice(self, "mode", MODES)
        set_choice(self, "distribution", DISTRIBUTIONS)
        object.__setattr__(self, "distribution",
                           DISTRIBUTION_ALIASES.get(self.distribution, self.distribution))
        for name in ("in_axis", "out_axis", "batch_axis"):
            object.__setattr__(self, name, normalize_axes(getattr(self, name), name))
        if (self.in_axis is None) != (self.out_axis is None) or (
                self.in_axis is None and self.batch_axis not in ((), None)):
            raise ConfigError(
                f"variance_scaling: in_axis={self.in_axis!r}, out_axis={self.out_axis!r}, "
                f"batch_axis={self.batch_axis!r}; expected in_axis and out_axis both given (JAX's "
                "per-axis fans) or both None (torch's fans). Hint: in_axis=-2, out_axis=-1 for a "
                "Flax (..., in, out) kernel; in_axis=1, out_axis=0 for a torch weight.")
        if self.batch_axis is None:
            object.__setattr__(self, "batch_axis", ())

    def _fans(self, shape: Shape, layout: str | None, groups: int) -> tuple[int, int]:
        if self.in_axis is None or self.out_axis is None:  # both or neither (__post_init__)
            return fans(shape, layout=layout, groups=groups)
        return axis_fans(shape, self.in_axis, self.out_axis, self.batch_axis)

    def _std(self, fan_in: float, fan_out: float) -> float:
        return math.sqrt(self.scale / self._fan(fan_in, fan_out))


class _Xavier(_Scaled):
    gain: float  # a field of each subclass
    mode = "fan_avg"

    def __post_init__(self) -> None:
        set_float(self, "gain", low=0.0)

    def _std(self, fan_in: float, fan_out: float) -> float:
        return self.gain * math.sqrt(2.0 / float(fan_in + fan_out))  # torch's expression


@register("xavier_uniform", aliases=("glorot_uniform",), torch_equivalent="xavier_uniform_")
@dataclass(frozen=True)
class XavierUniform(_Xavier):
    """Glorot uniform: U(±gain·sqrt(6 / (fan_in + fan_out)))."""

    gain: float = 1.0
    distribution = "uniform"


@register("xavier_normal", aliases=("glorot_normal",), torch_equivalent="xavier_normal_")
@dataclass(frozen=True)
class XavierNormal(_Xavier):
    """Glorot normal: N(0, gain^2 · 2 / (fan_in + fan_out))."""

    gain: float = 1.0
    distribution = "normal"


class _Kaiming(_Scaled):
    a: float  # fields of each subclass
    nonlinearity: str

    def __post_init__(self) -> None:
        set_float(self, "a")
        set_choice(self, "mode", MODES)
        set_choice(self, "nonlinearity", tuple(_FUNCS))
        if self.nonlinearity == "leaky_relu" and self.a < 0:
            raise ConfigError(
                f"Invalid a={self.a!r} for initializer '{self.name}'; expected the leaky_relu "
                "negative slope >= 0."
            )

    @property
    def gain(self) -> float:
        # torch passes ``a`` to calculate_gain; only leaky_relu reads it
        return _gain(self.nonlinearity, self.a if self.nonlinearity == "leaky_relu" else None)

    def _std(self, fan_in: float, fan_out: float) -> float:
        return self.gain / math.sqrt(self._fan(fan_in, fan_out))  # torch's expression


@register("kaiming_uniform", aliases=("he_uniform",), torch_equivalent="kaiming_uniform_")
@dataclass(frozen=True)
class KaimingUniform(_Kaiming):
    """He uniform: U(±gain·sqrt(3 / fan)), fan by mode (fan_in, fan_out or fan_avg)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"
    distribution = "uniform"


@register("kaiming_normal", aliases=("he_normal",), torch_equivalent="kaiming_normal_")
@dataclass(frozen=True)
class KaimingNormal(_Kaiming):
    """He normal: N(0, gain^2 / fan), fan by mode (fan_in, fan_out or fan_avg)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"
    distribution = "normal"


class _Lecun(_Scaled):
    mode = "fan_in"

    def _std(self, fan_in: float, fan_out: float) -> float:
        return math.sqrt(1.0 / fan_in)


@register("lecun_uniform")
@dataclass(frozen=True)
class LecunUniform(_Lecun):
    """LeCun uniform: U(±sqrt(3 / fan_in)) (variance scaling 1, fan_in)."""

    distribution = "uniform"


@register("lecun_normal")
@dataclass(frozen=True)
class LecunNormal(_Lecun):
    """LeCun normal: truncated normal with std sqrt(1 / fan_in), as in Keras and JAX."""

    distribution = "truncated_normal"


_ROLES = ("weight", "bias")


@register("default", aliases=("torch_default",))
@dataclass(frozen=True)
class Default(_Scaled):
    """torch's Linear/Conv reset_parameters: weight U(±1/sqrt(fan_in)), bias likewise.

    ``role='weight'`` is ``kaiming_uniform(a=sqrt(5))`` (torch's exact float expression).
    ``role='bias'`` is U(±1/sqrt(fan_in)) where ``fan_in`` is the *weight's* fan-in, which a
    bias cannot know: pass it (``default(role='bias', fan_in=784)``). ``fan_in`` given with
    role 'weight' overrides the fan computed from the shape.
    """

    role: str = "weight"
    fan_in: int | None = None
    distribution = "uniform"

    def __post_init__(self) -> None:
        set_choice(self, "role", _ROLES)
        f = self.fan_in
        if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 0):
            raise ConfigError(
                f"Invalid fan_in={f!r} for initializer 'default'; expected a non-negative int "
                "(the weight's fan-in) or None."
            )

    def std_for(self, shape: Shape, *, layout: str | None = None, groups: int = 1) -> float:
        fan_in = self.fan_in
        if self.role == "bias":
            if fan_in is None:
                raise ConfigError(
                    "default(role='bias') needs the weight's fan-in; got fan_in=None. Hint: "
                    "default(role='bias', fan_in=<weight fan_in>), or default_(weight, bias)."
                )
            return (1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0) / math.sqrt(3.0)
        if fan_in is None:
            fan_in = fans(shape, layout=layout, groups=groups)[0]
        if fan_in <= 0:
            raise ConfigError(f"default: fan_in of shape {tuple(shape)} is 0.")
        return math.sqrt(2.0 / (1 + math.sqrt(5) ** 2)) / math.sqrt(fan_in)

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        if tensor.numel() == 0:
            return tensor
        if self.role == "bias":
            self.std_for(tensor.shape)  # validates fan_in
            fan_in = self.fan_in
            assert fan_in is not None  # std_for raised otherwise
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            return source.uniform_(tensor, -bound, bound)  # torch's expression
        return _uniform(tensor, source, self.std_for(tensor.shape, layout=layout, groups=groups))
