"""The device and seed checks every entry point runs, in one place.

``check_device("cuda:3")`` turns a device spec into a ``torch.device`` or raises a one-line
:class:`~initlab.errors.ConfigError` (unknown spec, no CUDA, index out of range);
``check_seed(s)`` accepts ints >= 0 (numpy ints too) and refuses bools, floats and negatives.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from initlab.errors import ConfigError

__all__ = ["check_device", "check_seed"]


def check_device(device: torch.device | str | int) -> torch.device:
    """``device`` as a torch.device; a one-line ConfigError when it is unknown or absent here.

    Args:
        device: ``"cpu"``, ``"cuda:0"``, a CUDA index or a ``torch.device``.

    Returns:
        The torch.device.

    Raises:
        ConfigError: the spec is not a device, CUDA is not available, or the CUDA index is
            beyond the visible devices.

    Examples:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("gpu")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        initlab.errors.ConfigError: Unknown device 'gpu' (...); expected e.g. 'cpu' or 'cuda:0'.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"Unknown device {device!r} ({exc}); expected e.g. 'cpu' or 'cuda:0'.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"Device {str(device)!r} requested but CUDA is not available (torch "
                f"{torch.__version__}, {build}); expected a machine with an NVIDIA GPU and a "
                "CUDA build of torch. Hint: use device 'cpu' (--device cpu).")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"Device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist; expected cuda:0 .. cuda:{torch.cuda.device_count() - 1}.")
    return dev


def check_seed(seed: Any) -> int:
    """The seed as an int (numpy ints accepted), or ConfigError.

    Args:
        seed: the seed a user passed.

    Returns:
        The seed as a Python int.

    Raises:
        ConfigError: a bool, a non-integer, or a negative number.

    Examples:
        >>> check_seed(3)
        3
        >>> check_seed(-1)
        Traceback (most recent call last):
        ...
        initlab.errors.ConfigError: seed must be an int >= 0; got -1. Hint: seed=0.
    """
    try:
        value = None if isinstance(seed, bool) else operator.index(seed)
    except TypeError:
        value = None
    if value is None or value < 0:
        raise ConfigError(f"seed must be an int >= 0; got {seed!r}. Hint: seed=0.")
    return value
