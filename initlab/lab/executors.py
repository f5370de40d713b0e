"""Executors for sweeps: a local process pool (``initlab compare --workers N``).

Workers only train and return results; the parent process claims runs and writes the
store. Workers are started with ``spawn`` (no forked torch thread pools) and split the
machine's cores between them, so N workers do not oversubscribe the CPU.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from initlab.errors import InitlabError
from initlab.lab.store import environment
from initlab.lab.sweep import HEARTBEAT_S, error_text, execute_group, load_data, record_results

__all__ = ["LocalPool", "run_pool", "execute_group_task"]


PARENT_POLL_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """A worker thread: end this process once its parent is gone (killed with -9, the pool
    never says goodbye; an orphan would hold its memory until it finished its run)."""
    import threading
    import time

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
    """A ``spawn`` process pool of ``workers`` processes, each with its share of the cores."""

    def __init__(self, workers: int, threads: int | None = None):
        self.workers = int(workers)
        cores = os.cpu_count() or 1
        self.threads = threads or max(1, cores // self.workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.threads, os.getpid()))

    def submit(self, fn, *args, **kwargs) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.shutdown(cancel=exc_type is not None)


def execute_group_task(task: dict) -> list[dict]:
    """Process-pool entry point: load the data (cached per worker) and train one group."""
    data = load_data(task["dataset"], task["data_dir"], task["n_train"], task["n_test"],
                     progress=False)
    return execute_group(task["identities"], data, stack=task["stack"], device=task["device"])


def run_pool(sweep, store, groups, data, progress, outcome) -> None:
    """Train the groups in ``workers`` processes; claims and writes stay in this process."""
    env = environment(sweep.train.device)
    pending = list(groups)
    inflight: dict = {}
    with LocalPool(sweep.workers) as pool:
        try:
            while pending or inflight:
                while pending and len(inflight) < sweep.workers:
                    group = pending.pop(0)
                    ids = set(store.claim([r.id for r in group]))
                    mine = [r for r in group if r.id in ids]
                    outcome.busy += len(group) - len(mine)
                    if not mine:
                        continue
                    progress.run_started([r.init_label for r in mine], mine[0].seed, None)
                    task = {"identities": [r.identity for r in mine], "dataset": sweep.dataset,
                            "data_dir": sweep.data_dir, "n_train": sweep.n_train,
                            "n_test": sweep.n_test, "stack": sweep.stack,
                            "device": sweep.train.device}
                    inflight[pool.submit(execute_group_task, task)] = mine
                if not inflight:
                    break
                done, _ = wait(list(inflight), timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED)
                store.heartbeat([r.id for specs in inflight.values() for r in specs])
                for fut in done:
                    mine = inflight.pop(fut)
                    try:
                        results = fut.result()
                    except InitlabError:
                        store.release([r.id for r in mine])
                        raise
                    except Exception as exc:  # noqa: BLE001 - a worker crashed
                        results = [{"error": error_text(exc)}] * len(mine)
                    record_results(store, mine, results, env, outcome, progress)
        except BaseException:
            store.release([r.id for specs in inflight.values() for r in specs])
            raise

