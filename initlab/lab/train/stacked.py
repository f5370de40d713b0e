"""Training K models of one architecture at once, on the same batches.

Two ways to stack, tried in this order:

1. **layers** (:mod:`initlab.lab.train.layers`): the K models become one network with
   K-times-wider layers: one conv with ``K*out`` channels on the shared input, grouped
   convs (``groups=K``) and batched matmuls after it, every activation and pooling layer
   unchanged (on CPU in channels-last layout, a ReLU feeding a max-pool moved after it).
   Used for models made of Linear, Conv2d and parameter-free layers.
2. **vmap** (CUDA only; on CPU it measured slower than one model after another): the
   parameters stacked with ``torch.func.stack_module_state`` and the forward pass
   ``vmap(functional_call)`` with the batch shared (``in_dims=None``).

Either way the summed loss is backpropagated once and member k's gradient is exactly the
gradient of its own loss; one optimizer over the stacked ``(K, ...)`` tensors equals K
separate optimizers because SGD (momentum, weight decay), Adam and AdamW update
elementwise (the step count is shared). Before training, the stacked network's logits on
a probe batch are compared with each model's own; any difference or error means the
models are trained one after another with :func:`initlab.lab.train.loop.train` instead.

On CPU, ``auto`` splits the K models into one group per core and trains the groups in
parallel, one intra-op thread each (see :func:`train_stacked`): a stacked step of a few
models stays in cache, and no thread waits on another after every kernel. The first group
runs in the calling thread, the others in forked processes (:mod:`initlab.lab.train.forked`; no
shared GIL) where that is safe, else in threads.

A member whose loss becomes non-finite is marked diverged at that step and its values are
zeroed (every op is per member, so nothing leaks into the others); the rest go on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.lab.data.dataset import Dataset
from initlab.lab.train.config import TrainConfig
from initlab.lab.train.engines import _Stacked, choose_engine
from initlab.lab.train.forked import GROUPS_ENV, ForkedGroup, fork_problem, group_mode
from initlab.lab.train.loop import RunResult, StepCallback, run_loop, train

__all__ = ["STACK_MODES", "cpu_groups", "train_stacked"]


STACK_MODES = ("auto", "always", "never")


def cpu_groups(n_models: int, threads: int | None = None) -> list[int]:
    """How ``auto`` splits ``n_models`` runs on CPU: one group per core, sizes as even as
    possible (4 runs on 2 cores: ``[2, 2]``)."""
    workers = max(1, min(n_models, threads or torch.get_num_threads()))
    base, extra = divmod(n_models, workers)
    return [base + (i < extra) for i in range(workers)]


def train_stacked(models: Iterable[nn.Module], data: Dataset, config: TrainConfig | None = None, *, data_seed: int = 0,
                  progress: StepCallback | None = None, stack: str = "auto") -> list[RunResult]:
    """Train ``models`` on the same batches; stacked when possible, else one by one.

    ``stack="auto"``: on CUDA, all models as one stacked network. On CPU, one group of
    models per core (:func:`cpu_groups`), each group trained on its own core (the first in
    the calling thread, the others in forked processes or, where fork is unsafe or
    ``$INITLAB_GROUPS=threads``, in threads) with one intra-op thread, stacked when it has
    two or more models: the groups never wait for each other, where torch's intra-op
    threads synchronize after every small kernel (on a shared 2-core machine that was up
    to 10x slower). ``"always"``: all models as one
    stacked network whenever they allow it. ``"never"``: one after another. Each result's
    ``stacked`` field says how many models were trained together (1: alone). The models
    are trained in place, like :func:`train`; results equal training them one by one.
    """
    config = config or TrainConfig()
    if stack not in STACK_MODES:
        raise ConfigError(f"train_stacked(stack=...) got {stack!r}; expected one of "
                          f"{list(STACK_MODES)}")
    models = list(models)
    if stack == "never" or len(models) < 2:
        return _sequential(models, data, config, data_seed, progress)
    if stack == "always" or torch.device(config.device).type == "cuda":
        return _train_group(models, data, config, data_seed, progress)
    sizes = cpu_groups(len(models))
    if len(sizes) == 1:
        return _train_group(models, data, config, data_seed, progress)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    groups = [models[a:a + n] for a, n in zip(starts, sizes)]
    return [r for rs in _in_parallel(groups, data, config, data_seed, progress) for r in rs]


def _sequential(models: list[nn.Module], data: Dataset, config: TrainConfig, data_seed: int,
                progress: StepCallback | None) -> list[RunResult]:
    return [train(m, data, config, data_seed=data_seed, progress=progress) for m in models]


def _engine_for(models: list[nn.Module], data: Dataset,
                config: TrainConfig) -> _Stacked | None:
    """The stacked engine for a group (None: train its models one after another)."""
    return choose_engine(models, data, config)[0] if len(models) > 1 else None


_BUILD = object()


def _train_group(models: list[nn.Module], data: Dataset, config: TrainConfig, data_seed: int,
                 progress: StepCallback | None, engine: Any = _BUILD) -> list[RunResult]:
    if engine is _BUILD:
        engine = _engine_for(models, data, config)
    if engine is None:
        return _sequential(models, data, config, data_seed, progress)
    return run_loop(engine, data, config, data_seed=data_seed, progress=progress)


def _in_parallel(groups: list[list[nn.Module]], data: Dataset, config: TrainConfig,
                 data_seed: int, progress: StepCallback | None) -> list[list[RunResult]]:
    """Train each group on its own core: group 0 in the calling thread (it alone reports
    ``progress``: its callback may touch objects bound to this thread, such as the store's
    SQLite connection), the others in forked processes where that is safe
    (:mod:`initlab.lab.train.forked`: no shared GIL), else in threads (torch ops release the
    GIL). One intra-op thread each.

    Every group's engine is built first, here: building one traces the model with torch.fx,
    which patches ``nn.Module.__call__`` while it runs, so no other thread may be calling a
    model meanwhile."""
    mode = group_mode()
    problem = fork_problem(config.device) if mode != "threads" else "threads requested"
    if mode == "processes" and problem is not None:
        raise ConfigError(f"${GROUPS_ENV}=processes, but {problem}; hint: unset {GROUPS_ENV} "
                          "or set it to threads")
    engines = [_engine_for(g, data, config) for g in groups]
    results: list = [None] * len(groups)
    errors: list[BaseException] = []
    stop = threading.Event()

    def quiet(epoch: int, step: int, loss: float) -> None:  # lets the workers stop early when group 0 fails
        if stop.is_set():
            raise _Stopped()

    def work(i: int) -> None:
        try:
            torch.set_num_threads(1)
            results[i] = _train_group(groups[i], data, config, data_seed, quiet, engines[i])
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
            stop.set()

    def child_work(i: int) -> Callable[[Callable[[], bool]], tuple[Any, list[nn.Module]]]:
        def orphaned_check(orphaned: Callable[[], bool]) -> tuple[Any, list[nn.Module]]:
            def report(epoch: int, step: int, loss: float) -> None:
                if orphaned():
                    os._exit(1)
            return _train_group(groups[i], data, config, data_seed, report, engines[i]), groups[i]
        return orphaned_check

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    workers: list = []
    forked: list[tuple[int, ForkedGroup]] = []
    try:
        for i in range(1, len(groups)):
            if problem is None:
                try:
                    forked.append((i, ForkedGroup(child_work(i), groups[i], stop.set)))
                    continue
                except OSError:  # no fork now (process limit, memory): this group in a thread
                    pass
            workers.append(threading.Thread(target=work, args=(i,), daemon=True,
                                            name=f"initlab-train-{i}"))
            workers[-1].start()

        def report(epoch: int, step: int, loss: float) -> None:
            if stop.is_set():
                raise _Stopped()
            if progress is not None:
                progress(epoch, step, loss)

        results[0] = _train_group(groups[0], data, config, data_seed, report, engines[0])
    except _Stopped:
        pass
    except BaseException:
        stop.set()
        for _, child in forked:
            child.kill()
        raise
    finally:
        for t in workers:
            t.join()
        for _, child in forked:
            child.wait()
        torch.set_num_threads(before)
    for i, child in forked:
        try:
            results[i] = child.collect()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, first error first
            errors.append(exc)
    if errors:
        raise errors[0]
    return results


class _Stopped(Exception):
    """Another group failed: this one stops at its next progress report."""
