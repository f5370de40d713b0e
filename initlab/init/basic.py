"""Plain distributions and constants: uniform, normal, truncated normal, constant, ones, zeros."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from initlab.errors import ConfigError, shown
from initlab.init.registry import Initializer, Shape, register, set_float
from initlab.init.source import Source

__all__ = ["Uniform", "Normal", "TruncNormal", "TruncNormalStd", "Constant", "Ones", "Zeros",
           "truncated_std"]


def truncated_std(alpha: float, beta: float) -> float:
    """Std of N(0, 1) truncated to [alpha, beta] (0.8796256610342398 for [-2, 2])."""

    def pdf(x: float) -> float:
        return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    z = cdf(beta) - cdf(alpha)
    if z <= 0:
        return 0.0
    ta = 0.0 if math.isinf(alpha) else alpha * pdf(alpha)
    tb = 0.0 if math.isinf(beta) else beta * pdf(beta)
    var = 1.0 + (ta - tb) / z - ((pdf(alpha) - pdf(beta)) / z) ** 2
    return math.sqrt(max(var, 0.0))


@register("uniform", torch_equivalent="uniform_")
@dataclass(frozen=True)
class Uniform(Initializer):
    """U(a, b): every entry uniform between a and b."""

    a: float = 0.0
    b: float = 1.0

    def __post_init__(self) -> None:
        set_float(self, "a")
        set_float(self, "b")
        if self.b < self.a:
            raise ConfigError(
                f"Invalid bounds for initializer 'uniform': a={self.a!r} > b={self.b!r}; "
                "expected a <= b."
            )

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        return source.uniform_(tensor, self.a, self.b)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return (self.b - self.a) / math.sqrt(12.0)


@register("normal", aliases=("gaussian",), torch_equivalent="normal_")
@dataclass(frozen=True)
class Normal(Initializer):
    """N(mean, std^2)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        set_float(self, "mean")
        set_float(self, "std", low=0.0)

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        return source.normal_(tensor, self.mean, self.std)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return self.std


@register("trunc_normal", torch_equivalent="trunc_normal_")
@dataclass(frozen=True)
class TruncNormal(Initializer):
    """N(mean, std^2) truncated to the absolute bounds [a, b] (torch's trunc_normal_)."""

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0

    def __post_init__(self) -> None:
        set_float(self, "mean")
        set_float(self, "std", low=0.0, low_open=True)
        set_float(self, "a")
        set_float(self, "b")
        if self.b <= self.a:
            raise ConfigError(
                f"Invalid bounds for initializer '{self.name}': a={self.a!r} >= b={self.b!r}; "
                "expected a < b."
            )

    def _bounds(self) -> tuple[float, float]:
        return self.a, self.b

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        lo, hi = self._bounds()
        return source.trunc_normal_(tensor, self.mean, self.std, lo, hi)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        lo, hi = self._bounds()
        return self.std * truncated_std((lo - self.mean) / self.std, (hi - self.mean) / self.std)


@register("trunc_normal_std")
@dataclass(frozen=True)
class TruncNormalStd(TruncNormal):
    """N(mean, std^2) truncated to [mean + a·std, mean + b·std] (bounds in std units)."""

    def _bounds(self) -> tuple[float, float]:
        return self.mean + self.a * self.std, self.mean + self.b * self.std


def _nested_tuple(value: Any) -> Any:
    return tuple(_nested_tuple(v) for v in value) if isinstance(value, list) else value


def _nested_list(value: Any) -> Any:
    return [_nested_list(v) for v in value] if isinstance(value, tuple) else value


@register("constant", aliases=("const",), torch_equivalent="constant_")
@dataclass(frozen=True)
class Constant(Initializer):
    """Every entry equal to val: a number, or an array broadcast to the tensor (Keras/JAX)."""

    val: float | tuple = 0.0
    random = False

    def __post_init__(self) -> None:
        value = self.val
        if isinstance(value, list | tuple) or (isinstance(value, torch.Tensor) and value.dim()) or (
                hasattr(value, "__array__") and bool(getattr(value, "ndim", 0))):
            try:
                array = torch.as_tensor(value if not isinstance(value, tuple) else _nested_list(value),
                                        dtype=torch.float64)
            except (TypeError, ValueError, RuntimeError):
                raise ConfigError(
                    f"Invalid val={shown(repr(value))} for initializer 'constant'; expected a "
                    "number or a rectangular array of numbers, e.g. [[1.0, 0.0], [0.0, 1.0]]."
                ) from None
            object.__setattr__(self, "val", _nested_tuple(array.tolist()))
            return
        set_float(self, "val")

    @property
    def elementwise(self) -> bool:  # type: ignore[override]  # an array is placed by position: shards cannot fill alone
        return not isinstance(self.val, tuple)

    def get_config(self) -> dict[str, Any]:
        return {"val": _nested_list(self.val)}

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        if not isinstance(self.val, tuple):
            return tensor.fill_(self.val)
        array = torch.tensor(_nested_list(self.val), dtype=torch.float64)
        try:
            wide = torch.broadcast_to(array, tensor.shape)
        except RuntimeError:
            raise ConfigError(
                f"constant: the array of shape {tuple(array.shape)} does not broadcast to the "
                f"tensor's shape {tuple(tensor.shape)}; expected a shape that broadcasts "
                "(numpy rules). Hint: give one value per output unit, or a full array."
            ) from None
        return tensor.copy_(wide.to(dtype=tensor.dtype, device=tensor.device))

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if not isinstance(self.val, tuple):
            return 0.0
        array = torch.tensor(_nested_list(self.val), dtype=torch.float64)
        try:
            return float(torch.broadcast_to(array, tuple(shape)).std(correction=0))
        except RuntimeError:
            return None


@register("ones", torch_equivalent="ones_")
@dataclass(frozen=True)
class Ones(Initializer):
    """Every entry 1."""

    random = False

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        return tensor.fill_(1.0)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return 0.0


@register("zeros", torch_equivalent="zeros_")
@dataclass(frozen=True)
class Zeros(Initializer):
    """Every entry 0."""

    random = False

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        return tensor.zero_()

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return 0.0
