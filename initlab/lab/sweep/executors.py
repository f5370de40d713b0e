"""Executors: where a sweep's groups train. ``inline`` (this process), ``pool``
(``--workers N`` processes) and Ray (:mod:`initlab.lab.sweep.executor_ray`).

Executors only train and return outcomes; the dispatch loop
(:mod:`initlab.lab.sweep.dispatch`) claims runs and writes the store. :data:`EXECUTORS`
maps the names a :class:`~initlab.lab.sweep.config.Sweep` accepts (``"local"``, ``"ray"``)
to an :class:`ExecutorKind`: ``"local"`` is inline for one worker, the pool for more.

Pool workers are started with ``spawn`` (no forked torch thread pools) and split the
machine's cores between them, so N workers do not oversubscribe the CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from initlab._core.registry import Registry
from initlab.lab.data.cache import load_data
from initlab.lab.data.dataset import Dataset
from initlab.lab.sweep.tasks import Completed, Executor, GroupTask, RunOutcome
from initlab.lab.sweep.worker import run_group
from initlab.lab.train.loop import StepCallback

if TYPE_CHECKING:
    from initlab.lab.sweep.config import Sweep

__all__ = ["EXECUTORS", "ExecutorKind", "InlineExecutor", "PoolExecutor", "LocalPool",
           "pool_task"]

PARENT_POLL_S = 1.0


class InlineExecutor(Executor):
    """Trains each group in this process, while :meth:`submit` runs (one slot, live).

    Examples:
        >>> from initlab.lab.data.dataset import synthetic
        >>> ident = {"model": "mlp", "model_kwargs": {"widths": [8]}, "seed": 0,
        ...          "target": None, "init": "zeros", "train": {"steps": 2}}
        >>> ex = InlineExecutor(synthetic(32, 8, (4,), 2))
        >>> ex.submit(7, GroupTask([ident], stack=True, device="cpu"), None)
        >>> [(c.ticket, c.outcomes[0].result.steps) for c in ex.wait(0)]
        [(7, 2)]
    """

    slots = 1
    live = True

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self._done: list[Completed] = []

    def submit(self, ticket: int, task: GroupTask, on_step: StepCallback | None) -> None:
        """Train ``task`` now (an exception propagates: the loop releases the claims)."""
        self._done.append(Completed(ticket, run_group(task, self.data, on_step)))

    def wait(self, timeout: float) -> list[Completed]:
        """The groups trained since the last call (never waits: they are done)."""
        done, self._done = self._done, []
        return done


def _exit_with_parent(parent: int) -> None:
    """A worker thread: end this process once its parent is gone (killed with -9, the pool
    never says goodbye; an orphan would hold its memory until it finished its run)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="initlab-parent-watch", daemon=True).start()


def _init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["INITLAB_THREADS"] = str(threads)
    if parent is not None:
        _exit_with_parent(parent)


class LocalPool:
    """A ``spawn`` process pool of ``workers`` processes, each with its share of the cores.

    Args:
        workers: processes.
        threads: intra-op threads per process (default: the cores divided by ``workers``).
    """

    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = int(workers)
        cores = os.cpu_count() or 1
        self.threads = threads or max(1, cores // self.workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.threads, os.getpid()))

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker process."""
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, cancel: bool = False) -> None:
        """Wait for the workers to end (dropping queued calls when ``cancel``)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.shutdown(cancel=exc_type is not None)


def pool_task(task: GroupTask, source: dict[str, Any]) -> list[RunOutcome]:
    """Process-pool entry point: load the data (cached per worker) and train one group.

    Args:
        task: the group.
        source: ``load_data``'s arguments (``dataset``, ``data_dir``, ``n_train``,
            ``n_test``).

    Returns:
        One outcome per run.
    """
    data = load_data(source["dataset"], source["data_dir"], source["n_train"],
                     source["n_test"], progress=False)
    return run_group(task, data)


class PoolExecutor(Executor):
    """Trains groups in ``workers`` spawned processes (``--workers N``), N at a time.

    Args:
        sweep: the sweep (its ``workers`` and where its data comes from).
    """

    def __init__(self, sweep: Sweep) -> None:
        self.slots = sweep.workers
        self._source = {"dataset": sweep.dataset, "data_dir": sweep.data_dir,
                        "n_train": sweep.n_train, "n_test": sweep.n_test}
        self._pool = LocalPool(sweep.workers)
        self._inflight: dict[Future[list[RunOutcome]], int] = {}
        self._cancel = False

    def submit(self, ticket: int, task: GroupTask, on_step: StepCallback | None) -> None:
        """Queue ``task`` in the pool."""
        self._inflight[self._pool.submit(pool_task, task, self._source)] = ticket

    def wait(self, timeout: float) -> list[Completed]:
        """The groups finished within ``timeout`` seconds."""
        if not self._inflight:
            return []
        done, _ = wait(list(self._inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            ticket = self._inflight.pop(fut)
            try:
                out.append(Completed(ticket, fut.result()))
            except Exception as exc:  # noqa: BLE001 - a worker crashed or raised
                out.append(Completed(ticket, error=exc))
        return out

    def cancel(self) -> None:
        """Drop queued groups (running ones end with the pool)."""
        self._cancel = True

    def close(self) -> None:
        """Shut the pool down."""
        self._pool.shutdown(cancel=self._cancel)


class ExecutorKind:
    """A name in :data:`EXECUTORS`: checks its options and opens an executor for a sweep."""

    def check(self, options: Any) -> Any:
        """The options as the executor keeps them (``None`` for the local executors).

        Raises:
            ConfigError: options given to an executor that takes none, or invalid ones.
        """
        return options

    def open(self, sweep: Sweep, data: Dataset) -> Executor:
        """The executor that trains ``sweep``'s groups on ``data``."""
        raise NotImplementedError

    def check_driver_device(self) -> bool:
        """Whether the driver must be able to use the training device itself."""
        return True


class _Local(ExecutorKind):
    def check(self, options: Any) -> Any:
        return None

    def open(self, sweep: Sweep, data: Dataset) -> Executor:
        return InlineExecutor(data) if sweep.workers == 1 else PoolExecutor(sweep)


class _Ray(ExecutorKind):
    def check(self, options: Any) -> Any:
        from initlab.lab.sweep.executor_ray import RayOptions, import_ray

        opts = RayOptions.from_any(options)
        import_ray()
        return opts

    def open(self, sweep: Sweep, data: Dataset) -> Executor:
        from initlab.lab.sweep.executor_ray import RayExecutor

        return RayExecutor(sweep, data)

    def check_driver_device(self) -> bool:
        return False  # the workers check it: the driver may have no GPU


EXECUTORS: Registry[ExecutorKind] = Registry("executor")
EXECUTORS.add("local", _Local())
EXECUTORS.add("ray", _Ray())
