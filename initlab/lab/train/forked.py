"""Training groups of models in forked child processes (Linux, CPU), one core each.

Threads of one process share the GIL: two per-core training groups in threads measured
5-17% slower than the same groups in separate processes
(``benchmarks/stack_contention.py``), because every torch op is dispatched from Python.
A forked child shares the parent's data copy-on-write, needs no import or pickling of
the models, and sends back only what it computed: the RunResults and the trained
parameters, which are loaded into the caller's models (so, as with threads, the models
are trained in place).

Used where it is safe, see :func:`fork_problem`: Linux, CPU training, CUDA not
initialized in the process, Ray not running in it (a Ray worker trains its groups in
threads); ``$INITLAB_GROUPS=threads`` turns it off (``processes`` insists, failing where
fork is unsafe); a fork that fails (process limit, memory) falls back to a thread. A child ignores Ctrl-C (the
parent stops it), dies with its parent (``PR_SET_PDEATHSIG``, and a parent-pid check at
every progress report), and an exception in it reaches the caller with its message; a
child killed by a signal is reported as such.
"""

from __future__ import annotations

import ctypes
import io
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from initlab.errors import ConfigError, error_text

__all__ = ["GROUPS_ENV", "fork_problem", "group_mode", "ForkedGroup"]

GROUPS_ENV = "INITLAB_GROUPS"
_MODES = ("auto", "processes", "threads")
_HEADER = struct.Struct("<Q")


def group_mode() -> str:
    """``$INITLAB_GROUPS``: ``auto`` (default), ``processes`` or ``threads``."""
    mode = os.environ.get(GROUPS_ENV, "").strip().lower() or "auto"
    if mode not in _MODES:
        raise ConfigError(f"Invalid ${GROUPS_ENV}: got {mode!r}; expected one of "
                          f"{list(_MODES)}; hint: unset it for the default (auto)")
    return mode


def fork_problem(device: str) -> str | None:
    """Why training groups must not run in forked processes here (None: they may)."""
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return "forked training processes are only used on Linux"
    if torch.device(device).type != "cpu":
        return "only CPU training runs in forked processes"
    if torch.cuda.is_initialized():
        return "CUDA is initialized in this process (a forked child cannot use it)"
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: True)():
        return "Ray is running in this process (its threads do not survive a fork)"
    return None


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _payload(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class ForkedGroup:
    """One group trained by ``work()`` in a forked child.

    ``work`` runs in the child and returns ``(results, models)``; the parent receives the
    results and copies the models' trained state into its own copies of them
    (``collect``).
    """

    def __init__(self, work: Callable[[Callable[[], bool]], tuple[Any, list[nn.Module]]],
                 models: list[nn.Module], on_error: Callable[[], None]) -> None:
        self.models, self._on_error = models, on_error
        self._outcome: tuple | None = None
        parent = os.getpid()
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:   # the child: train, send, and leave without running the parent's exit code
            code = 1
            try:
                os.close(read)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                _die_with_parent()
                torch.set_num_threads(1)
                try:
                    results, trained = work(lambda: os.getppid() != parent)
                    blob = _payload(("ok", results, [m.state_dict() for m in trained]))
                except BaseException as exc:  # noqa: BLE001 - sent to the parent
                    blob = _payload(("error", _portable(exc)))
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(_HEADER.pack(len(blob)))
                    pipe.write(blob)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self._read = pid, read
        self._reader = threading.Thread(target=self._receive, daemon=True,
                                        name=f"initlab-forked-{pid}")
        self._reader.start()

    def _receive(self) -> None:
        with os.fdopen(self._read, "rb") as pipe:
            raw = pipe.read()
        outcome = None
        if len(raw) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(raw)
            if len(raw) == _HEADER.size + size:
                outcome = torch.load(io.BytesIO(raw[_HEADER.size:]), weights_only=False)
        self._outcome = outcome
        if outcome is None or outcome[0] == "error":
            self._on_error()

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self) -> None:
        """Reap the child (its result has been read once the pipe closed)."""
        self._reader.join()
        _, status = os.waitpid(self.pid, 0)
        self._status = status

    def collect(self) -> Any:
        """The group's results, its trained state loaded into ``self.models``; raises the
        child's exception, or a RuntimeError saying how the child died."""
        if self._outcome is None:
            how = (f"was killed by signal {os.WTERMSIG(self._status)}"
                   if os.WIFSIGNALED(self._status)
                   else f"exited with status {os.WEXITSTATUS(self._status)}")
            raise RuntimeError(f"The training process of a group (pid {self.pid}) {how} before "
                               "sending its results; hint: out of memory? set "
                               f"{GROUPS_ENV}=threads to train groups in threads")
        if self._outcome[0] == "error":
            raise self._outcome[1]
        _, results, states = self._outcome
        for model, state in zip(self.models, states):
            model.load_state_dict(state)
        return results


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception becomes text
        return RuntimeError(error_text(exc))
