"""Deterministic structured initializers: eye, dirac, identity, zero_hadamard (ZerO).

They draw nothing: every seed gives the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from initlab.errors import ConfigError
from initlab.init._orthogonal import _need_dims
from initlab.init.registry import Initializer, Shape, register, set_float
from initlab.init.source import Source

__all__ = ["Eye", "Dirac", "Identity", "ZeroHadamard", "hadamard", "zero_matrix"]


def _rms(total_sq: float, shape: Shape) -> float | None:
    n = math.prod(shape)
    return math.sqrt(total_sq / n) if n else None


def _groups_of(spec: Any, shape: Shape, groups: int) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or shape[0] % groups:
        raise ConfigError(
            f"{spec.name}: dim 0 of shape {tuple(shape)} must be divisible by groups; got "
            f"groups={groups!r}."
        )
    return shape[0] // groups


def _place_centre(tensor: torch.Tensor, blocks: list[torch.Tensor], groups: int,
                  transpose: bool = False) -> torch.Tensor:
    """Zero ``tensor`` and put ``blocks[g]`` (rows x cols per group) at the kernel centre."""
    tensor.zero_()
    per = tensor.shape[0] // groups
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g, block in enumerate(blocks):
        b = block.t() if transpose else block
        index: tuple[int | slice, ...] = (slice(g * per, (g + 1) * per), slice(None), *centre)
        tensor[index] = b.to(tensor.dtype)
    return tensor


@register("eye", torch_equivalent="eye_")
@dataclass(frozen=True)
class Eye(Initializer):
    """2-D identity (partial identity when not square), as torch's eye_."""

    random = False
    elementwise = False

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 2, 2, " (a Linear weight)")
        tensor.zero_()
        return tensor.fill_diagonal_(1.0)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return _rms(min(shape), shape) if len(shape) == 2 else None


@register("dirac", torch_equivalent="dirac_")
@dataclass(frozen=True)
class Dirac(Initializer):
    """ConvNd Dirac delta: channel i -> i at the kernel centre, per group (torch's dirac_)."""

    random = False
    elementwise = False
    example_shape = (16, 8, 3, 3)

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 3, None, " (a ConvNd weight)")
        per = _groups_of(self, tensor.shape, groups)
        eye = torch.eye(per, tensor.shape[1], dtype=tensor.dtype, device=tensor.device)
        return _place_centre(tensor, [eye] * groups, groups)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if len(shape) < 3:
            return None
        return _rms(groups * min(shape[0] // groups, shape[1]), shape)


@register("identity")
@dataclass(frozen=True)
class Identity(Initializer):
    """Linear: partial identity (eye); Conv/ConvTranspose: Dirac per group; times gain."""

    gain: float = 1.0
    random = False
    elementwise = False
    quiet_defaults = ("gain",)

    def __post_init__(self) -> None:
        set_float(self, "gain")

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 2, None, " (a Linear or ConvNd weight)")
        if tensor.dim() == 2:
            Eye().fill_(tensor, source)
        else:
            Dirac().fill_(tensor, source, groups=groups)
        return tensor if self.gain == 1.0 else tensor.mul_(self.gain)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        base = _rms(min(shape), shape) if len(shape) == 2 else Dirac().expected_std(
            shape, groups=groups)
        return None if base is None else abs(self.gain) * base


def hadamard(rows: int, cols: int, *, dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> torch.Tensor:
    """The top-left (rows x cols) block of a Sylvester Hadamard matrix: (-1)^popcount(i & j)."""
    i = torch.arange(rows, device=device).unsqueeze(1)
    j = torch.arange(cols, device=device).unsqueeze(0)
    x = i & j
    parity = torch.zeros_like(x)
    while bool(x.any()):
        parity ^= x & 1
        x = x >> 1
    return (1 - 2 * parity).to(dtype)


def zero_matrix(m: int, n: int, *, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """ZerO's (m x n) matrix (out m, in n): eye(m, n) if m <= n, else H_p[:m, :n]·2^(-k/2)."""
    if m <= n:
        return torch.eye(m, n, dtype=dtype, device=device)
    k = math.ceil(math.log2(m))
    h = hadamard(m, n, dtype=torch.float64, device=device)
    return (h * 2.0 ** (-k / 2)).to(dtype)


@register("zero_hadamard")
@dataclass(frozen=True)
class ZeroHadamard(Initializer):
    """ZerO (Zhao 2022): partial identity if out <= in, else scaled Hadamard; same every seed.

    Linear (out, in) gets the matrix itself; ConvNd gets it at the kernel centre per group;
    ConvTransposeNd (stored in, out/groups, k...) gets its transpose there.
    """

    random = False
    elementwise = False

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 2, None, " (a Linear or ConvNd weight)")
        dev, dt = tensor.device, tensor.dtype

        def matrix(m: int, n: int) -> torch.Tensor:
            z = zero_matrix(m, n, dtype=torch.float64, device=dev)
            if not (dt.is_floating_point or dt.is_complex) and not torch.equal(z, z.round()):
                raise ConfigError(
                    f"zero_hadamard on a {m} x {n} block (more outputs than inputs) gives "
                    f"non-integer values (Hadamard / 2^(k/2)), but the tensor has dtype {dt}; "
                    "expected a floating-point tensor. Hint: create it with dtype=torch.float32.")
            return z.to(dt)

        if tensor.dim() == 2:
            if layout not in (None, "linear"):
                raise ConfigError(f"zero_hadamard on a 2-D weight needs layout 'linear'; got {layout!r}.")
            return tensor.copy_(matrix(*tensor.shape))
        per = _groups_of(self, tensor.shape, groups)
        if layout == "conv_transpose":
            block = matrix(tensor.shape[1], per)
            return _place_centre(tensor, [block] * groups, groups, transpose=True)
        block = matrix(per, tensor.shape[1])
        return _place_centre(tensor, [block] * groups, groups)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if len(shape) < 2:
            return None
        per = shape[0] // groups if len(shape) > 2 else shape[0]
        other = shape[1]
        m, n = (other, per) if layout == "conv_transpose" and len(shape) > 2 else (per, other)
        sq: float = m
        if m > n:
            sq = m * n * 2.0 ** (-math.ceil(math.log2(m)))
        return _rms((groups if len(shape) > 2 else 1) * sq, shape)
