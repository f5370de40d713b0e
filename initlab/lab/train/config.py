"""How to train: :class:`TrainConfig`, the optimizers by name, and the step budget.

``epoch_limits`` / ``total_steps`` are the one place that turns ``epochs`` and ``steps``
into a number of optimizer steps: the training loop stops there and the progress display
counts to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from initlab._core.registry import Registry
from initlab.errors import ConfigError

__all__ = ["OPTIMIZERS", "OptimizerFactory", "TrainConfig", "epoch_limits", "total_steps"]

OptimizerFactory = Callable[[Iterable[torch.Tensor], "TrainConfig"], torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerFactory] = Registry(
    "optimizer", normalize=lambda s: (s.strip().lower(),))
OPTIMIZERS.add("sgd", lambda params, c: torch.optim.SGD(
    params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay))
OPTIMIZERS.add("adam", lambda params, c: torch.optim.Adam(
    params, lr=c.lr, weight_decay=c.weight_decay))
OPTIMIZERS.add("adamw", lambda params, c: torch.optim.AdamW(
    params, lr=c.lr, weight_decay=c.weight_decay))


def _pos_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


@dataclass
class TrainConfig:
    """How to train one run.

    ``epochs`` and ``steps`` both limit the run (whichever comes first); neither given
    means one epoch.

    Args:
        optimizer: a name in :data:`OPTIMIZERS` (``sgd``, ``adam``, ``adamw``).
        lr: learning rate (> 0).
        momentum: SGD momentum in [0, 1).
        weight_decay: L2 penalty (>= 0).
        batch_size: training examples per step.
        epochs: passes over the training split (None: see ``steps``).
        steps: optimizer steps at most (None: whole epochs).
        target_acc: record the step at which the test accuracy first reaches it.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        grad_norm_steps: record per-layer gradient norms for the first N steps.
        eval_batch_size: test examples per forward pass (on CPU at most 4 * batch_size).
        check_every: steps between host syncs (divergence checks, progress).
        channels_last: NHWC for conv models (None: on CPU for models with Conv2d).

    Raises:
        UnknownNameError: an unknown optimizer.
        ConfigError: any other invalid value.

    Examples:
        >>> c = TrainConfig(lr=0.1, steps=30, batch_size=32)
        >>> c.optimizer, total_steps(c, 1000)
        ('sgd', 30)
        >>> TrainConfig.from_dict(c.to_dict()) == c
        True
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int | None = None
    steps: int | None = None
    target_acc: float | None = None
    device: str = "cpu"
    grad_norm_steps: int = 0
    eval_batch_size: int = 1024         # on CPU at most 4 * batch_size (cache-sized chunks)
    check_every: int = 50
    channels_last: bool | None = None   # None: on CPU for models with Conv2d (faster pooling)

    def __post_init__(self) -> None:
        self.optimizer = OPTIMIZERS.resolve(str(self.optimizer))
        checks = (
            ("lr", self.lr, isinstance(self.lr, (int, float)) and self.lr > 0, "lr=0.01"),
            ("momentum", self.momentum, 0 <= self.momentum < 1, "momentum=0.9"),
            ("weight_decay", self.weight_decay, self.weight_decay >= 0, "weight_decay=1e-4"),
            ("batch_size", self.batch_size, _pos_int(self.batch_size), "batch_size=64"),
            ("epochs", self.epochs, self.epochs is None or _pos_int(self.epochs), "epochs=5"),
            ("steps", self.steps, self.steps is None or _pos_int(self.steps), "steps=1000"),
            ("target_acc", self.target_acc,
             self.target_acc is None or 0 < self.target_acc <= 1, "target_acc=0.85"),
            ("grad_norm_steps", self.grad_norm_steps,
             isinstance(self.grad_norm_steps, int) and self.grad_norm_steps >= 0,
             "grad_norm_steps=10"),
            ("eval_batch_size", self.eval_batch_size, _pos_int(self.eval_batch_size),
             "eval_batch_size=1024"),
            ("check_every", self.check_every, _pos_int(self.check_every), "check_every=50"),
        )
        for name, value, ok, example in checks:
            if not ok:
                raise ConfigError(f"TrainConfig.{name} is invalid: got {value!r}; expected "
                                  f"e.g. {example}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"TrainConfig.device is invalid: got {self.device!r}; expected "
                              "'cpu', 'cuda' or 'cuda:N'") from exc

    def make_optimizer(self, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
        """The configured optimizer over ``params``.

        Args:
            params: the tensors to optimize.

        Returns:
            A ``torch.optim.Optimizer``.

        Examples:
            >>> opt = TrainConfig(optimizer="adam", lr=0.001).make_optimizer(
            ...     [torch.zeros(2, requires_grad=True)])
            >>> type(opt).__name__
            'Adam'
        """
        return OPTIMIZERS.get(self.optimizer)(params, self)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready).

        Returns:
            ``{field: value}``.

        Examples:
            >>> TrainConfig().to_dict()["batch_size"]
            64
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """A TrainConfig from :meth:`to_dict`'s output; unknown keys are an error.

        Args:
            d: field values.

        Returns:
            The config.

        Raises:
            ConfigError: an unknown key or an invalid value.

        Examples:
            >>> TrainConfig.from_dict({"lr": 0.5}).lr
            0.5
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown TrainConfig keys {unknown}; expected some of "
                              f"{sorted(known)}")
        return cls(**d)


def epoch_limits(config: TrainConfig, n: int) -> tuple[int, int]:
    """The epochs begun and the optimizer steps taken by one run on ``n`` examples.

    Args:
        config: the training config (``epochs``, ``steps``, ``batch_size``).
        n: training examples.

    Returns:
        ``(epochs, steps)``.

    Examples:
        >>> epoch_limits(TrainConfig(steps=25, batch_size=10), 100)
        (3, 25)
    """
    per_epoch = math.ceil(n / config.batch_size)
    epochs = config.epochs if config.epochs is not None else (
        math.ceil(config.steps / per_epoch) if config.steps is not None else 1)
    total = epochs * per_epoch if config.steps is None else min(config.steps, epochs * per_epoch)
    return epochs, total


def total_steps(config: TrainConfig, n: int) -> int:
    """Optimizer steps of one run on ``n`` training examples (``epochs`` and ``steps``).

    Args:
        config: the training config.
        n: training examples.

    Returns:
        The step count the training loop stops at.

    Examples:
        >>> total_steps(TrainConfig(epochs=2, batch_size=64), 1000)
        32
    """
    return epoch_limits(config, n)[1]
