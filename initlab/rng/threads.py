"""The thread count and pool of keyed fills (part of :mod:`initlab.rng`); values never
depend on it."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from initlab.rng.seeding import _bad

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_key = (0, 0)  # (pid, size): a forked child must not reuse the parent's dead threads
_pool_lock = threading.Lock()


def _check_threads(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _bad("invalid thread count", repr(n), "an integer >= 1",
                   "use None for the default (INITLAB_THREADS or cpu_count)")
    return n


def set_num_threads(n: int | None) -> None:
    """Threads used by keyed fills (``None``: back to the default). Values never depend on it."""
    global _threads
    _threads = None if n is None else _check_threads(n)


def get_num_threads() -> int:
    """Threads for keyed fills: set_num_threads, else env INITLAB_THREADS, else os.cpu_count()."""
    if _threads is not None:
        return _threads
    env = os.environ.get("INITLAB_THREADS", "").strip()
    if not env:
        return os.cpu_count() or 1
    if not env.isdigit() or int(env) < 1:
        raise _bad("invalid INITLAB_THREADS", repr(env), "a positive integer", "unset it to use all cores")
    return int(env)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    with _pool_lock:
        pid = os.getpid()
        if _pool is None or _pool_key[0] != pid or _pool_key[1] < n:
            if _pool is not None and _pool_key[0] == pid:
                _pool.shutdown(wait=False)
            _pool, _pool_key = ThreadPoolExecutor(n, thread_name_prefix="initlab-rng"), (pid, n)
        return _pool
