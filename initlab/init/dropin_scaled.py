"""The fan-based drop-ins for ``torch.nn.init``: xavier_* and kaiming_* (see dropin.py).

torch's float expressions for the std, torch's order of checks (a zero-element tensor warns
before the mode is read), and the extensions ``layout=`` / ``groups=`` and the modes
``fan_avg`` / ``fan_geo_avg``.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from initlab.errors import ConfigError, did_you_mean, shown
from initlab.init.dropin_checks import check_tensor as _check_tensor
from initlab.init.dropin_checks import dispatch as _dispatch
from initlab.init.dropin_checks import torch_errors as _torch_errors
from initlab.init.fans import MODES, fans, select_fan
from initlab.init.gains import gain as _gain
from initlab.init.gains import is_torch_gain_name, torch_gain

__all__ = ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "fan_of_mode"]


def fan_of_mode(tensor: torch.Tensor, mode: str, *, layout: str | None = None, groups: int = 1, name: str = "kaiming") -> float:
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
                    *, layout: str | None = None, groups: int = 1) -> Tensor:
    """Glorot uniform: U(±gain·sqrt(6 / (fan_in + fan_out))), in place.

    Args:
        tensor: a weight with at least 2 dims.
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = xavier_uniform_(torch.empty(4, 3), generator=seed())
        >>> torch.equal(w, torch.nn.init.xavier_uniform_(torch.empty(4, 3), generator=seed()))
        True
    """
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = fans(tensor, layout=layout, groups=groups)
    with _torch_errors("xavier_uniform_", tensor):
        bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))
        with torch.no_grad():
            return tensor.uniform_(-bound, bound, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None,
                   *, layout: str | None = None, groups: int = 1) -> Tensor:
    """Glorot normal: N(0, gain^2 · 2 / (fan_in + fan_out)), untruncated as in torch, in place.

    Args:
        tensor: a weight with at least 2 dims.
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans (None: torch's convention).
        groups: the layer's groups (used with a layout).

    Returns:
        ``tensor``.

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = xavier_normal_(torch.empty(4, 3), generator=seed())
        >>> torch.equal(w, torch.nn.init.xavier_normal_(torch.empty(4, 3), generator=seed()))
        True
    """
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = fans(tensor, layout=layout, groups=groups)
    with _torch_errors("xavier_normal_", tensor):
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        with torch.no_grad():
            return tensor.normal_(0.0, std, generator=generator)


def _kaiming_std(name: str, tensor: Tensor, a: float, mode: str, nonlinearity: str,
                 layout: str | None, groups: int) -> float:
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
                     *, layout: str | None = None, groups: int = 1) -> Tensor:
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

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = kaiming_uniform_(torch.empty(4, 3), nonlinearity='relu', generator=seed())
        >>> torch.equal(w, torch.nn.init.kaiming_uniform_(torch.empty(4, 3), nonlinearity='relu', generator=seed()))
        True
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
                    *, layout: str | None = None, groups: int = 1) -> Tensor:
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

    Examples:
        >>> seed = lambda: torch.Generator().manual_seed(0)
        >>> w = kaiming_normal_(torch.empty(4, 3), mode='fan_out', generator=seed())
        >>> torch.equal(w, torch.nn.init.kaiming_normal_(torch.empty(4, 3), mode='fan_out', generator=seed()))
        True
    """
    _check_tensor("kaiming_normal_", tensor)
    if _zero_element("kaiming_normal_", tensor):
        return tensor
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity, layout, groups)
    with _torch_errors("kaiming_normal_", tensor), torch.no_grad():
        return tensor.normal_(0, std, generator=generator)


