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

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from initlab.errors import ConfigError, InitlabError, compatible_error, did_you_mean, shown
from initlab.init.fans import MODES, fans, select_fan
from initlab.init.gains import gain as _gain
from initlab.init.gains import is_torch_gain_name, torch_gain

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_", "fan_of_mode",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)

# a torch message fragment -> the hint initlab adds
_HINTS: tuple[tuple[str, str], ...] = (
    ("not implemented for", "random fills need a floating-point tensor, e.g. dtype=torch.float32"),
    ("more than one element of the written-to tensor",
     "the tensor is expanded (elements share memory); initialize a .clone() of it"),
    ("[from, to) range", "pass a <= b"),
    ("expects std >= 0", "pass std >= 0"),
    ("division by zero", "the tensor has a zero-sized dimension"),
    ("out of bounds", "a kernel dimension has size 0"),
)


def _hint(message: str) -> str:
    for fragment, hint in _HINTS:
        if fragment in message:
            return hint
    return "torch.nn.init raises the same error class for these arguments"


@contextlib.contextmanager
def _torch_errors(name: str, tensor: Tensor | None) -> Iterator[None]:
    """Re-raise what torch's ops raise as an initlab error of a compatible class."""
    try:
        yield
    except InitlabError:
        raise
    except Exception as exc:  # noqa: BLE001  (translated, or re-raised unchanged)
        cls = compatible_error(exc)
        if cls is None:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "" if tensor is None else (
            f" on a tensor of shape {tuple(tensor.shape)} and dtype {tensor.dtype}")
        raise cls(f"{name} failed{where}: {shown(first, 200)}. Hint: {_hint(first)}.") from exc


def _check_tensor(name: str, tensor) -> None:
    if not isinstance(tensor, Tensor):
        from initlab.errors import ConfigAttributeError

        raise ConfigAttributeError(
            f"{name} needs a torch.Tensor; got {type(tensor).__name__}. Hint: pass the parameter "
            "itself, e.g. layer.weight.")
    if tensor.is_meta:
        raise ConfigError(
            f"Cannot initialize a meta tensor of shape {tuple(tensor.shape)} in place with "
            f"{name}: it has no storage. Hint: use initlab.materialize(model, policy, seed=..., "
            "device=...) to allocate and initialize a meta model.")


def _dims(name: str, tensor: Tensor, allowed: str, ok: bool) -> None:
    if not ok:
        raise ConfigError(
            f"{name} needs a tensor with {allowed} dimensions; got shape {tuple(tensor.shape)}. "
            f"Hint: use {name} on weights; biases take zeros_ or constant_.")


def _dispatch(fn: Callable, tensor, **kwargs):
    """torch's ``__torch_function__`` protocol, for tensor subclasses that override it."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return True, torch.overrides.handle_torch_function(fn, (tensor,), tensor=tensor, **kwargs)
    return False, None


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
                    tensor[(g * per_group + d, d, *centre)] = 1  # one element: expanded ok
    return tensor


# --- fans and the fan-based schemes ---------------------------------------------------------


def fan_of_mode(tensor, mode: str, *, layout=None, groups: int = 1, name: str = "kaiming") -> float:
    """The fan ``mode`` selects for ``tensor``: fan_in, fan_out, fan_avg or fan_geo_avg.

    Args:
        tensor: a weight (or its shape).
        mode: the mode name, any case (torch lower-cases it).
        layout: the weight's layout (None: torch's convention).
        groups: the layer's groups.
        name: the initializer named in the error message.

    Returns:
        The fan: an int for fan_in / fan_out, else a float.
    """
    low = mode.lower()  # a non-string raises AttributeError, as in torch
    if low not in MODES:
        raise ConfigError(
            f"Invalid mode={shown(repr(mode))} for initializer '{name}'."
            f"{did_you_mean(shown(low), MODES)} Allowed: {list(MODES)}.")
    fan_in, fan_out = fans(tensor, layout=layout, groups=groups)
    return select_fan(fan_in, fan_out, low)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None,
                    *, layout=None, groups: int = 1) -> Tensor:
    """Glorot uniform: U(±gain·sqrt(6 / (fan_in + fan_out))), in place.

    Args:
        tensor: a weight with at least 2 dims.
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.
    """
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = fans(tensor, layout=layout, groups=groups)
    with _torch_errors("xavier_uniform_", tensor):
        bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))
        with torch.no_grad():
            return tensor.uniform_(-bound, bound, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None,
                   *, layout=None, groups: int = 1) -> Tensor:
    """Glorot normal: N(0, gain^2 · 2 / (fan_in + fan_out)), untruncated as in torch, in place.

    Args:
        tensor: a weight with at least 2 dims.
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.
    """
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = fans(tensor, layout=layout, groups=groups)
    with _torch_errors("xavier_normal_", tensor):
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        with torch.no_grad():
            return tensor.normal_(0.0, std, generator=generator)


def _kaiming_std(name: str, tensor: Tensor, a, mode, nonlinearity, layout, groups) -> float:
    with _torch_errors(name, tensor):
        fan = fan_of_mode(tensor, mode, layout=layout, groups=groups, name=name.rstrip("_"))
        # torch hands ``a`` to calculate_gain (only leaky_relu reads it); other names: exact gain
        g = torch_gain(nonlinearity, a) if is_torch_gain_name(nonlinearity) else _gain(nonlinearity)
        return g / math.sqrt(fan)


def _zero_element(name: str, tensor: Tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn(f"Initializing zero-element tensors is a no-op (shape {tuple(tensor.shape)}, "
                      f"{name}).", UserWarning, stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: torch.Generator | None = None,
                     *, layout=None, groups: int = 1) -> Tensor:
    """He uniform: U(±gain·sqrt(3 / fan)), in place; a zero-element tensor warns and is kept.

    Args:
        tensor: a weight with at least 2 dims.
        a: the leaky_relu negative slope (ignored by other nonlinearities).
        mode: fan_in, fan_out (torch's), fan_avg or fan_geo_avg.
        nonlinearity: a torch.nn.functional name; more names give the exact gain.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.
    """
    done, out = _dispatch(kaiming_uniform_, tensor, a=a, mode=mode, nonlinearity=nonlinearity,
                          generator=generator)
    if done:
        return out
    _check_tensor("kaiming_uniform_", tensor)
    if _zero_element("kaiming_uniform_", tensor):
        return tensor
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity, layout, groups)
    bound = math.sqrt(3.0) * std
    with _torch_errors("kaiming_uniform_", tensor), torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: torch.Generator | None = None,
                    *, layout=None, groups: int = 1) -> Tensor:
    """He normal: N(0, gain^2 / fan), in place; a zero-element tensor warns and is kept.

    Args:
        tensor: a weight with at least 2 dims.
        a: the leaky_relu negative slope (ignored by other nonlinearities).
        mode: fan_in, fan_out (torch's), fan_avg or fan_geo_avg.
        nonlinearity: a torch.nn.functional name; more names give the exact gain.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.
    """
    _check_tensor("kaiming_normal_", tensor)
    if _zero_element("kaiming_normal_", tensor):
        return tensor
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity, layout, groups)
    with _torch_errors("kaiming_normal_", tensor), torch.no_grad():
        return tensor.normal_(0, std, generator=generator)


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
