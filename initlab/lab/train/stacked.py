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

import copy
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from initlab.errors import ConfigError
from initlab.lab.data.dataset import Dataset
from initlab.lab.train.config import TrainConfig
from initlab.lab.train.forked import GROUPS_ENV, ForkedGroup, fork_problem, group_mode
from initlab.lab.train.layers import StackedConv2d, build_stacked, unstack_into
from initlab.lab.train.loop import RunResult, StepCallback, run_loop, train

__all__ = ["LayersEngine", "VmapEngine", "choose_engine", "stack_problem", "train_stacked"]

_STATEFUL = (nn.modules.batchnorm._BatchNorm, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
             nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
# Structural mistakes (channels mixed across members) give O(1) differences; TF32 convs
# on CUDA give ~1e-3 relative ones, which must pass.
_PROBE_RTOL = _PROBE_ATOL = 2e-3


def _signature(model: nn.Module) -> tuple[Any, ...]:
    return (type(model),
            [(n, tuple(p.shape), p.dtype, p.requires_grad) for n, p in model.named_parameters()],
            [(n, tuple(b.shape), b.dtype) for n, b in model.named_buffers()],
            [type(m) for m in model.modules()])


def stack_problem(models: list[nn.Module]) -> str | None:
    """Why these models cannot be trained stacked at all (None when they may be)."""
    if len(models) < 2:
        return "fewer than two models"
    first = _signature(models[0])
    if any(_signature(m) != first for m in models[1:]):
        return "the models differ in architecture or parameter shapes"
    if any(not p.requires_grad for p in models[0].parameters()):
        return "some parameters are frozen (requires_grad=False)"
    stateful = sorted({type(m).__name__ for m in models[0].modules() if isinstance(m, _STATEFUL)
                       and (not isinstance(m, nn.modules.batchnorm._BatchNorm)
                            or m.track_running_stats)})
    if stateful:
        return f"stateful or random modules {stateful}"
    return None


class _Stacked:
    """Shared loss, metrics, gradient norms and divergence handling over K members.

    Subclasses set ``self.params`` ({name: (K, *shape) tensor}) and implement
    ``logits(x) -> (B, K, classes)``, ``set_mode(training)`` and ``finish()``.
    """

    params: dict[str, torch.Tensor]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def set_mode(self, training: bool) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def _setup(self, models: list[nn.Module], config: TrainConfig) -> None:
        self.models, self.members = models, len(models)
        self.opt = config.make_optimizer(list(self.params.values()))
        owners: dict[str, list[str]] = {}
        for name, _ in models[0].named_parameters():
            owners.setdefault(name.rpartition(".")[0] or "<root>", []).append(name)
        self.layer_names, self.layer_params = list(owners), list(owners.values())

    def _losses(self, x: torch.Tensor, y: torch.Tensor,
                reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
        logp = self.logits(x).log_softmax(-1)                          # (B, K, classes)
        picked = logp.gather(2, y.view(-1, 1, 1).expand(-1, self.members, 1)).squeeze(2)
        loss = -(picked.mean(0) if reduction == "mean" else picked.sum(0))   # (K,)
        correct = (logp.detach().argmax(-1) == y.view(-1, 1)).sum(0)       # (K,)
        return loss, correct

    def train_step(self, x: torch.Tensor, y: torch.Tensor, want_norms: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        self.set_mode(True)
        self.opt.zero_grad(set_to_none=True)
        losses, correct = self._losses(x, y, "mean")
        losses.sum().backward()
        norms = None
        if want_norms:
            per = {n: torch.linalg.vector_norm(p.grad.flatten(1), dim=1)
                   for n, p in self.params.items() if p.grad is not None}
            zero = losses.detach().new_zeros(self.members)
            norms = torch.stack([torch.linalg.vector_norm(torch.stack(
                [per.get(n, zero) for n in names], 1), dim=1) for names in self.layer_params], 1)
        self.opt.step()
        return losses.detach(), correct, norms

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor,
                 batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.set_mode(False)
        loss = torch.zeros(self.members, dtype=torch.float64, device=x.device)
        correct = torch.zeros(self.members, dtype=torch.int64, device=x.device)
        step = max(1, batch_size // self.members)  # K activations per example in memory
        for i in range(0, len(y), step):
            l_sum, c = self._losses(x[i:i + step], y[i:i + step], "sum")
            loss += l_sum.double()
            correct += c
        return loss, correct

    def freeze(self, k: int) -> None:
        """Member k diverged: zero its values and optimizer state so NaNs stop flowing."""
        with torch.no_grad():
            for p in self.params.values():
                p[k].zero_()
            for state in self.opt.state.values():
                for v in state.values():
                    if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == self.members:
                        v[k].zero_()

    @torch.no_grad()
    def matches(self, x: torch.Tensor) -> bool:
        """True when the stacked logits equal each model's own on the probe batch ``x``."""
        self.set_mode(False)
        stacked = self.logits(x)
        for k, model in enumerate(self.models):
            model.eval()
            own = model(x)
            atol = _PROBE_ATOL * max(1.0, float(own.abs().max()))
            if not torch.allclose(stacked[:, k], own, rtol=_PROBE_RTOL, atol=atol):
                return False
        return True


class LayersEngine(_Stacked):
    """K models as one network with K-times-wider layers (see stack_layers)."""

    def __init__(self, models: list[nn.Module], config: TrainConfig,
                 stacked: nn.Module) -> None:
        self.net = stacked.to(config.device)
        self.params = dict(self.net.named_parameters())
        self._setup(models, config)
        cl = config.channels_last
        cl = torch.device(config.device).type == "cpu" if cl is None else cl
        for m in self.net.modules():
            if isinstance(m, StackedConv2d):
                m.channels_last = cl

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.view(out.shape[0], self.members, -1)

    def set_mode(self, training: bool) -> None:
        if self.net.training != training:  # .train() walks every module: only on a change
            self.net.train(training)

    def finish(self) -> None:
        unstack_into(self.net, self.models)


class VmapEngine(_Stacked):
    """K models through ``vmap(functional_call)`` over stacked parameters."""

    def __init__(self, models: list[nn.Module], config: TrainConfig) -> None:
        self.base = copy.deepcopy(models[0]).to("meta")
        params, self.buffers = stack_module_state(models)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self._setup(models, config)
        self._forward = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)),
                             in_dims=(0, 0, None))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.params, self.buffers, x).transpose(0, 1)

    def set_mode(self, training: bool) -> None:
        self.base.train(training)

    def finish(self) -> None:
        with torch.no_grad():
            for k, model in enumerate(self.models):
                for name, p in model.named_parameters():
                    p.copy_(self.params[name][k])


def choose_engine(models: list[nn.Module], data: Dataset, config: TrainConfig) -> tuple[_Stacked | None, str]:
    """The engine to use and why (None: train one after another)."""
    problem = stack_problem(models)
    if problem is not None:
        return None, problem
    device = torch.device(config.device)
    models = [m.to(device) for m in models]
    probe = data.train_x[:8].to(device)
    candidates: list[tuple[str, Callable[[], _Stacked | None]]] = [
        ("layers", lambda: _or_none(build_stacked(models), models, config))]
    if device.type == "cuda":
        candidates.append(("vmap", lambda: VmapEngine(models, config)))
    reasons = []
    for name, make in candidates:
        try:
            engine = make()
            if engine is not None and engine.matches(probe):
                return engine, name
            reasons.append(f"{name}: unsupported layers" if engine is None
                           else f"{name}: probe logits differ")
        except Exception as exc:  # noqa: BLE001 - any failure of a fast path means fall back
            reasons.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}")
    return None, "; ".join(reasons) or "no stacking engine for this device"


def _or_none(stacked: nn.Module | None, models: list[nn.Module],
             config: TrainConfig) -> LayersEngine | None:
    return None if stacked is None else LayersEngine(models, config, stacked)


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
