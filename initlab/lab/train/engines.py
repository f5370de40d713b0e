"""Stacking engines: K models of one architecture as one computation (see :mod:`.stacked`).

:class:`LayersEngine` (K-times-wider layers, :mod:`initlab.lab.train.layers`) and
:class:`VmapEngine` (``vmap(functional_call)``, CUDA) share the loss, metrics, gradient norms
and divergence handling of ``_Stacked``; :func:`choose_engine` picks the first whose logits
match each model's own on a probe batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from initlab.lab.data.dataset import Dataset
from initlab.lab.train.config import TrainConfig
from initlab.lab.train.layers import StackedConv2d, build_stacked, unstack_into

__all__ = ["LayersEngine", "VmapEngine", "choose_engine", "stack_problem"]

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
