"""What a sweep compares: :class:`Sweep` (inits x axes x seeds on one model and dataset)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from initlab.errors import ConfigError
from initlab.lab.inits import split_inits
from initlab.lab.sweep.axes import check_size, parse_axis, parse_seeds
from initlab.lab.sweep.executors import EXECUTORS
from initlab.lab.train.config import TrainConfig

__all__ = ["Sweep"]


@dataclass
class Sweep:
    """What to compare: inits x axes x seeds on one model and dataset.

    Args:
        inits: initializer specs or policy names (a list, a comma string, or
            ``{label: spec}``).
        model: a built-in model, ``MODULE:FACTORY`` or ``hf:``/``timm:``/``torchvision:``.
        dataset: a built-in dataset, ``synthetic`` or your own (``.npz``, ``.pt``, folder).
        seeds: a count N (seeds 0..N-1), ``"0,4,7"`` or explicit seeds.
        train: how each run trains.
        target: apply the inits only to parameters matching this glob.
        model_kwargs: fixed model arguments.
        data_dir: the folder holding the dataset (it must hold it).
        n_train: use only the first N training examples.
        n_test: use only the first N test examples.
        stack: ``True``/``"auto"`` (stacked where it is faster), ``"always"``,
            ``False``/``"never"`` (one by one).
        workers: local worker processes (``--workers``).
        executor: a name in :data:`~initlab.lab.sweep.executors.EXECUTORS`
            (``"local"``: in process or the ``--workers`` pool; ``"ray"``).
        executor_options: for ``"ray"``: :class:`~initlab.lab.sweep.executor_ray.RayOptions`
            or a dict of its fields.
        axes: ``{"lr": [0.01, 0.1], "model.width": [64, 128]}``.

    Raises:
        ConfigError: an invalid value (empty inits, a seed twice, too many runs, ...).

    Examples:
        >>> s = Sweep(inits="zeros,xavier_normal", seeds=3, axes={"lr": [0.1, 0.01]})
        >>> s.inits, s.seeds, s.executor
        (['zeros', 'xavier_normal'], [0, 1, 2], 'local')
    """

    inits: list[str] | dict[str, str] | str
    model: str = "seed-cnn"
    dataset: str = "fashion-mnist"
    seeds: int | str | list[int] = 1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1))
    target: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    stack: bool | str = True
    workers: int = 1
    executor: str = "local"
    executor_options: Any = None
    axes: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.inits, str):
            self.inits = split_inits(self.inits)
        if not self.inits:
            raise ConfigError("No inits to compare: got an empty list; expected at least one, "
                              "e.g. inits=['xavier_normal', 'kaiming_normal']")
        if isinstance(self.seeds, (int, str)) and not isinstance(self.seeds, bool):
            self.seeds = parse_seeds(self.seeds)
        self.seeds = [int(s) for s in self.seeds]  # type: ignore[union-attr]
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds lists a seed twice: got {self.seeds}; expected distinct")
        axes = {}
        for key, values in dict(self.axes).items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"axis {key!r} needs a non-empty list of values; got "
                                  f"{values!r}; expected e.g. axes={{'lr': [0.01, 0.1]}}")
            axes[parse_axis(f"{key}=0")[0]] = list(values)
        self.axes = axes
        check_size(len(self.inits), len(self.seeds), self.axes)
        if self.stack not in (True, False, "auto", "always", "never"):
            raise ConfigError(f"stack must be True, False, 'auto', 'always' or 'never'; got "
                              f"{self.stack!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1; got {self.workers!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {EXECUTORS.names()}; got "
                              f"{self.executor!r}")
        self.executor_options = EXECUTORS.get(self.executor).check(self.executor_options)
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive integer or None; got {v!r}")

    @property
    def seed_list(self) -> list[int]:
        """The seeds, as the list ``__post_init__`` made of ``seeds``."""
        return list(self.seeds)  # type: ignore[arg-type]

    @property
    def init_labels(self) -> list[str]:
        """The inits' labels, in order (the specs themselves for a list)."""
        return list(self.inits)

    @property
    def stacks(self) -> bool:
        """Whether the runs of a group go to ``train_stacked`` together (its ``auto`` policy
        stacks them on CUDA and trains one group per core, stacked, on CPU)."""
        return self.stack not in (False, "never")
