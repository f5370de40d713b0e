"""Keeping freed memory for reuse while the lab trains on CPU (glibc's ``mallopt``).

A training step on CPU allocates the same few-megabyte activations and gradients and
frees them again. By default glibc serves such blocks with ``mmap`` or trims them off the
top of the heap when freed, so every step hands them back to the kernel and takes them
again page by page: on a seed-cnn step (a 6.4 MB activation, K = 2 stacked, one core)
the page faults measured a third to a half of the step (10-19 ms against 6.3-9.0 ms
with the settings below), more when the host was busy: ``aten::fill_`` of a fresh
max-pool gradient took 0.1-0.5 ms a call.
:func:`keep_freed_memory` sets three glibc options once per process:

- ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's maximum): smaller blocks come from the heap;
- ``M_TRIM_THRESHOLD`` = 1 GiB: freed heap memory is kept, not returned, below that;
- ``M_TOP_PAD`` = 64 MiB: the heap grows in large steps.

The cost: the process keeps its peak heap (resident memory does not shrink after a step
frees its buffers; it is reused by the next). The settings are process-wide and stay for
the life of the process; ``$INITLAB_MALLOC=default`` leaves glibc as it is. Where the C
library is not glibc (musl, macOS, Windows) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

from initlab.errors import ConfigError

__all__ = ["MALLOC_ENV", "keep_freed_memory"]

MALLOC_ENV = "INITLAB_MALLOC"
_MODES = ("keep", "default")
# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))

_lock = threading.Lock()
_done: bool | None = None   # None: not tried yet; True: set; False: not available


def malloc_mode() -> str:
    """``$INITLAB_MALLOC``: ``keep`` (default) or ``default`` (leave glibc alone)."""
    mode = os.environ.get(MALLOC_ENV, "").strip().lower() or "keep"
    if mode not in _MODES:
        raise ConfigError(f"Invalid ${MALLOC_ENV}: got {mode!r}; expected one of "
                          f"{list(_MODES)}; hint: unset it for the default (keep)")
    return mode


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (see the module docstring), once.

    Returns True when the settings are in effect, False where they are not (turned off by
    ``$INITLAB_MALLOC=default``, or no glibc).

    Examples:
        >>> keep_freed_memory() in (True, False)
        True
    """
    global _done
    if malloc_mode() == "default":
        return False
    with _lock:
        if _done is None:
            _done = _set_options()
        return _done


def _set_options() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
