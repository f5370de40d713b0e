"""The drop-ins for ``torch.nn.init``: same names, arguments, values, RNG use and errors.

Each function runs the torch ops ``torch.nn.init`` runs, in the same order, so with the same
generator (or global seed) the values are bit-identical and the RNG is left in the same
state. Arguments are passed through with their meaning in torch: numpy scalars, 0-d
tensors, bools, ±inf and NaN where torch takes them. Where torch raises, these raise an
initlab error with a one-line message that is also an instance of torch's exception class
(``ValueError``, ``RuntimeError``, ``TypeError``, ...; see
:func:`initlab.errors.compatible_error`).

Extensions (keyword-only, or values torch refuses): ``layout=`` / ``groups=`` on the fan
based functions, modes ``fan_avg`` / ``fan_geo_avg``, more nonlinearity names,
``dirac_`` on any ConvNd rank, ``orthogonal_`` in float16/bfloat16 (float32 QR) and on
tensors that cannot be viewed as a matrix. Intended differences: meta tensors raise
ConfigError (use ``initlab.materialize``); ``sparse_`` draws its zero pattern from
``generator`` when one is given. docs/init-dropin.md lists every difference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from initlab.errors import ConfigError
from initlab.init.dropin_checks import check_tensor as _check_tensor
from initlab.init.dropin_checks import dispatch as _dispatch
from initlab.init.dropin_checks import need_dims as _dims
from initlab.init.dropin_checks import torch_errors as _torch_errors
from initlab.init.dropin_scaled import (
    fan_of_mode,
    kaiming_normal_,
    kaiming_uniform_,
    xavier_normal_,
    xavier_uniform_,
)

_LOW_PRECISION = (torch.float16, torch.bfloat16)

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "fan_of_mode",
]

# --- plain distributions and constants ------------------------------------------------------


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b), in place.

    Args:
        tensor: the tensor to fill.
        a: lower bound.
        b: upper bound.
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = uniform_(torch.empty(2, 3), -1.0, 1.0, generator=seed())
        >>> torch.equal(w, torch.nn.init.uniform_(torch.empty(2, 3), -1.0, 1.0, generator=seed()))
        True
    """
    done, out = _dispatch(uniform_, tensor, a=a, b=b, generator=generator)
    if done:
        return out
    _check_tensor("uniform_", tensor)
    with _torch_errors("uniform_", tensor), torch.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std^2), in place.

    Args:
        tensor: the tensor to fill.
        mean: the mean.
        std: the standard deviation (>= 0).
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = normal_(torch.empty(2, 3), 0.0, 0.02, generator=seed())
        >>> torch.equal(w, torch.nn.init.normal_(torch.empty(2, 3), 0.0, 0.02, generator=seed()))
        True
    """
    done, out = _dispatch(normal_, tensor, mean=mean, std=std, generator=generator)
    if done:
        return out
    _check_tensor("normal_", tensor)
    with _torch_errors("normal_", tensor), torch.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with N(mean, std^2) truncated to the absolute bounds [a, b], in place.

    Drawn by torch's own algorithm (whatever the installed torch uses), so the values are
    torch's. One-sided bounds (``b=math.inf``) and ``a == b`` work as in torch.

    Args:
        tensor: the tensor to fill.
        mean: the mean of the untruncated normal.
        std: its standard deviation.
        a: the lower cutoff (absolute, not in std units; see ``trunc_normal_std_``).
        b: the upper cutoff.
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = trunc_normal_(torch.empty(2, 3), std=0.02, a=-0.04, b=0.04, generator=seed())
        >>> torch.equal(w, torch.nn.init.trunc_normal_(torch.empty(2, 3), std=0.02, a=-0.04, b=0.04, generator=seed()))
        True
    """
    _check_tensor("trunc_normal_", tensor)
    with _torch_errors("trunc_normal_", tensor):
        return torch.nn.init.trunc_normal_(tensor, mean, std, a, b, generator=generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val`` (any value ``Tensor.fill_`` takes), in place.

    Args:
        tensor: the tensor to fill.
        val: the value: a number (inf and NaN included), a bool, a numpy or 0-d tensor scalar.

    Returns:
        ``tensor``.

    Examples:
        >>> constant_(torch.empty(2), 0.5).tolist()
        [0.5, 0.5]
    """
    done, out = _dispatch(constant_, tensor, val=val)
    if done:
        return out
    _check_tensor("constant_", tensor)
    with _torch_errors("constant_", tensor), torch.no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1, in place.

    Args:
        tensor: the tensor to fill.

    Returns:
        ``tensor``.

    Examples:
        >>> ones_(torch.empty(2)).tolist()
        [1.0, 1.0]
    """
    _check_tensor("ones_", tensor)
    with _torch_errors("ones_", tensor), torch.no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0, in place.

    Args:
        tensor: the tensor to fill.

    Returns:
        ``tensor``.

    Examples:
        >>> zeros_(torch.empty(2)).tolist()
        [0.0, 0.0]
    """
    _check_tensor("zeros_", tensor)
    with _torch_errors("zeros_", tensor), torch.no_grad():
        return tensor.zero_()


# --- identities ----------------------------------------------------------------------------


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D ``tensor`` with the (partial) identity matrix, in place.

    Args:
        tensor: a 2-D tensor (out, in).

    Returns:
        ``tensor``.

    Examples:
        >>> eye_(torch.empty(2, 3)).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    _check_tensor("eye_", tensor)
    _dims("eye_", tensor, "exactly 2", tensor.dim() == 2)
    with _torch_errors("eye_", tensor), torch.no_grad():
        torch.eye(*tensor.shape, out=tensor, requires_grad=tensor.requires_grad)
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a ConvNd weight with the Dirac delta (identity per group), in place.

    torch takes 3-, 4- and 5-D weights; this takes any rank >= 3 (a 6-D weight gets its
    delta at the centre of all four kernel dims).

    Args:
        tensor: a weight (out, in/groups, *kernel).
        groups: the convolution's groups; dim 0 must be divisible by it.

    Returns:
        ``tensor``.

    Examples:
        >>> w = dirac_(torch.empty(2, 2, 3))
        >>> w[:, :, 1].tolist(), w.sum().item()
        ([[1.0, 0.0], [0.0, 1.0]], 2.0)
    """
    _check_tensor("dirac_", tensor)
    _dims("dirac_", tensor, "at least 3 (a ConvNd weight)", tensor.dim() >= 3)
    with _torch_errors("dirac_", tensor):
        if tensor.size(0) % groups != 0:
            raise ConfigError(
                f"dirac_: dim 0 of shape {tuple(tensor.shape)} must be divisible by groups; got "
                f"groups={groups!r}. Hint: pass the layer's own groups.")
        per_group = tensor.size(0) // groups
        centre = tuple(k // 2 for k in tensor.shape[2:])
        with torch.no_grad():
            tensor.zero_()
            for g in range(groups):
                for d in range(min(per_group, tensor.size(1))):
                    index = (g * per_group + d, d, *centre)
                    tensor[index] = 1  # one element: expanded ok
    return tensor


# --- random structured ----------------------------------------------------------------------


def orthogonal_(tensor: Tensor, gain: float = 1, generator: torch.Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain``, rows = dim 0, trailing dims flattened.

    torch's algorithm op for op (normal draws, QR, times sign(diag R)). float16/bfloat16
    draw and factorize in float32 (torch has no such QR on CPU).

    Args:
        tensor: a tensor with at least 2 dims.
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = orthogonal_(torch.empty(3, 3), generator=seed())
        >>> torch.equal(w, torch.nn.init.orthogonal_(torch.empty(3, 3), generator=seed()))
        True
    """
    _check_tensor("orthogonal_", tensor)
    _dims("orthogonal_", tensor, "at least 2", tensor.dim() >= 2)
    if tensor.numel() == 0:
        return tensor
    from initlab.init._orthogonal import haar_orthogonal
    from initlab.init.source import TorchSource

    rows = tensor.size(0)
    with _torch_errors("orthogonal_", tensor):
        q = haar_orthogonal(rows, tensor.numel() // rows, TorchSource(generator),
                            dtype=tensor.dtype, device=tensor.device)
        with torch.no_grad():
            if tensor.dtype in _LOW_PRECISION:
                return tensor.copy_(q.mul_(gain).reshape(tensor.shape))
            tensor.copy_(q.reshape(tensor.shape))  # torch's order: copy, then scale
            return tensor.mul_(gain)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01,
            generator: torch.Generator | None = None) -> Tensor:
    """N(0, std^2) with ceil(sparsity·rows) zeros in every column (Martens 2010), in place.

    The zero pattern is one randperm per column as in torch, drawn from ``generator`` when
    one is given (torch draws it from the global RNG); with no generator it is torch's.

    Args:
        tensor: a 2-D tensor.
        sparsity: the fraction of each column set to zero.
        std: the standard deviation of the nonzero entries.
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> w = sparse_(torch.empty(4, 3), sparsity=0.5, generator=torch.Generator().manual_seed(0))
        >>> (w == 0).sum(0).tolist()  # half of each column is zero
        [2, 2, 2]
    """
    _check_tensor("sparse_", tensor)
    _dims("sparse_", tensor, "exactly 2", tensor.dim() == 2)
    rows, cols = tensor.shape
    with _torch_errors("sparse_", tensor):
        num_zeros = math.ceil(sparsity * rows)
        with torch.no_grad():
            tensor.normal_(0, std, generator=generator)
            for col in range(cols):
                order = torch.randperm(rows, generator=generator)  # on the CPU, as torch
                tensor[order[:num_zeros], col] = 0
    return tensor
