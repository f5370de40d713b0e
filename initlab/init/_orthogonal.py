"""Random structured initializers: orthogonal, delta-orthogonal, sparse."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from initlab.errors import ConfigError
from initlab.init.registry import Initializer, Shape, register, set_float
from initlab.init.source import Source

__all__ = ["Orthogonal", "DeltaOrthogonal", "Sparse", "haar_orthogonal"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _need_dims(spec: Any, shape: Shape, low: int, high: int | None = None,
               what: str = "") -> None:
    n = len(shape)
    if n < low or (high is not None and n > high):
        want = f"exactly {low}" if high == low else f"at least {low}"
        raise ConfigError(
            f"{spec.name} needs a tensor with {want} dimensions{what}; got shape {tuple(shape)}."
            f" Hint: use {spec.name} on weights; biases take zeros or constant."
        )


def haar_orthogonal(rows: int, cols: int, source: Source, *, dtype: torch.dtype,
                    device: torch.device | str | None) -> torch.Tensor:
    """A (rows, cols) matrix with orthonormal rows or columns, Haar-distributed.

    torch.nn.init.orthogonal_'s algorithm op for op (normal draws in ``dtype``, QR, times
    sign(diag R)); float16/bfloat16 draw and factorize in float32 (QR has no such kernels).
    """
    work = torch.float32 if dtype in _LOW_PRECISION else dtype
    flat = torch.empty((rows, cols), dtype=work, device=device)
    source.normal_(flat, 0.0, 1.0)
    if rows < cols:
        flat.t_()
    q, r = torch.linalg.qr(flat)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q.t_()
    return q


@register("orthogonal", torch_equivalent="orthogonal_")
@dataclass(frozen=True)
class Orthogonal(Initializer):
    """(Semi-)orthogonal matrix times gain, rows = dim 0, trailing dims flattened (Saxe 2013).

    ``column_axis`` (JAX's argument) names the axis whose slices are orthonormal instead of
    dim 0: the tensor is filled as if that axis came first. None or 0: torch's convention.
    """

    gain: float = 1.0
    column_axis: int | None = None
    elementwise = False
    quiet_defaults = ("column_axis",)

    def __post_init__(self) -> None:
        set_float(self, "gain")
        k = self.column_axis
        if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
            raise ConfigError(
                f"Invalid column_axis={k!r} for initializer 'orthogonal'; expected an int (JAX's "
                "convention, e.g. -1) or None (torch's: dim 0).")

    def _axis(self, shape: Shape) -> int:
        k = self.column_axis
        if k is None:
            return 0
        if not -len(shape) <= k < len(shape):
            raise ConfigError(
                f"orthogonal: column_axis={k} is out of range for shape {tuple(shape)}; expected "
                f"an axis in [-{len(shape)}, {len(shape) - 1}].")
        return k % len(shape)

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 2)
        if tensor.numel() == 0:
            return tensor
        axis = self._axis(tensor.shape)
        if axis != 0:
            moved = torch.empty_like(tensor.movedim(axis, 0), memory_format=torch.contiguous_format)
            Orthogonal(self.gain).fill_(moved, source)
            return tensor.copy_(moved.movedim(0, axis))
        rows = tensor.size(0)
        q = haar_orthogonal(rows, tensor.numel() // rows, source, dtype=tensor.dtype,
                            device=tensor.device)
        if tensor.dtype in _LOW_PRECISION:
            q.mul_(self.gain)
            return tensor.copy_(q.reshape(tensor.shape))
        tensor.copy_(q.reshape(tensor.shape))  # torch's order: copy, then scale
        return tensor.mul_(self.gain)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if len(shape) < 2 or math.prod(shape) == 0:
            return None
        rows = shape[self._axis(shape)]
        return abs(self.gain) / math.sqrt(max(rows, math.prod(shape) // rows))


@register("delta_orthogonal", aliases=("orthogonal_delta",))
@dataclass(frozen=True)
class DeltaOrthogonal(Initializer):
    """ConvNd: orthogonal channel matrix at the kernel centre, zeros elsewhere (Xiao 2018)."""

    gain: float = 1.0
    elementwise = False
    example_shape = (16, 8, 3, 3)

    def __post_init__(self) -> None:
        set_float(self, "gain")

    def _check(self, shape: Shape, layout: str | None, groups: int) -> tuple[int, int]:
        _need_dims(self, shape, 3, None, " (a ConvNd weight: out, in/groups, *kernel)")
        if layout not in (None, "conv"):
            raise ConfigError(
                f"delta_orthogonal is for ConvNd weights (layout 'conv'); got layout {layout!r}."
            )
        out, cin = shape[0], shape[1]
        if groups < 1 or out % groups:
            raise ConfigError(f"delta_orthogonal: out channels {out} not divisible by groups={groups}.")
        if out // groups < cin:
            raise ConfigError(
                f"delta_orthogonal needs out_channels >= in_channels (per group); got shape "
                f"{tuple(shape)} with groups={groups} ({out // groups} < {cin}). Hint: use "
                "orthogonal for layers that reduce channels."
            )
        return out // groups, cin

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        cout, cin = self._check(tuple(tensor.shape), layout, groups)
        tensor.zero_()
        centre = tuple(k // 2 for k in tensor.shape[2:])
        for g in range(groups):
            q = haar_orthogonal(cout, cout, source, dtype=tensor.dtype, device=tensor.device)
            # H = gain·Q[:cin, :] (cin x cout); the centre tap is H^T (cout x cin)
            block = (self.gain * q[:cin, :]).t()
            index: tuple[int | slice, ...] = (slice(g * cout, (g + 1) * cout), slice(None),
                                              *centre)
            tensor[index] = block.to(tensor.dtype)
        return tensor

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        cout, cin = self._check(tuple(shape), layout, groups)
        # each (cout x cin) centre block has orthonormal columns: sum of squares gain^2·cin
        return abs(self.gain) * math.sqrt(groups * cin / math.prod(shape))


@register("sparse", torch_equivalent="sparse_")
@dataclass(frozen=True)
class Sparse(Initializer):
    """N(0, std^2) with ceil(sparsity·rows) entries of every column set to 0 (Martens 2010).

    Unlike torch's sparse_, the zero pattern (one randperm per column, as in torch) is drawn
    from the given generator; torch's draws it from the global RNG. With no generator the
    two are bit-identical; with one, the nonzero values are still exactly torch's.
    """

    sparsity: float = 0.9
    std: float = 0.01
    elementwise = False

    def __post_init__(self) -> None:
        set_float(self, "sparsity", low=0.0)
        set_float(self, "std", low=0.0)
        if self.sparsity > 1.0:
            raise ConfigError(
                f"Invalid sparsity={self.sparsity!r} for initializer 'sparse'; expected a "
                "fraction in [0, 1]."
            )

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        _need_dims(self, tensor.shape, 2, 2, " (rows, cols)")
        rows, cols = tensor.shape
        num_zeros = math.ceil(self.sparsity * rows)
        source.normal_(tensor, 0.0, self.std)
        if num_zeros == 0 or tensor.numel() == 0:
            return tensor
        # torch's algorithm (a random permutation per column), but with the generator
        generator = source.generator(tensor.device)
        for col in range(cols):
            rows_perm = torch.randperm(rows, generator=generator, device=tensor.device)
            tensor[rows_perm[:num_zeros], col] = 0
        return tensor

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        if len(shape) != 2 or shape[0] == 0:
            return None
        keep = 1.0 - math.ceil(self.sparsity * shape[0]) / shape[0]
        return self.std * math.sqrt(keep)
