"""One dataset in memory (:class:`Dataset`) and the synthetic toy dataset.

Every source (the built-ins, your own files, ``synthetic``) gives the same
:class:`Dataset`: normalized float32 inputs and int64 labels for both splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from initlab.errors import ConfigError

__all__ = ["SYNTHETIC", "Dataset", "synthetic"]

SYNTHETIC = "synthetic"


@dataclass
class Dataset:
    """One dataset in memory: normalized float32 images and int64 labels, both splits.

    Examples:
        >>> d = synthetic(100, 20, (1, 4, 4), 3)
        >>> d.subset(10, 5)
        Dataset('synthetic', train=10, test=5, input_shape=(1, 4, 4), classes=3, source='synthetic(seed=0, noise=1.0)')
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    source: str
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train_y)}, test={len(self.test_y)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes}, "
                f"source={self.source!r})")

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` / ``n_test`` examples (views, no copy): fast variants."""
        return replace(self, train_x=self.train_x[:n_train], train_y=self.train_y[:n_train],
                       test_x=self.test_x[:n_test], test_y=self.test_y[:n_test])

    def to(self, device: str | torch.device) -> Dataset:
        """The same dataset on ``device`` (moved once; training slices it there)."""
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return replace(self, train_x=move(self.train_x), train_y=move(self.train_y),
                       test_x=move(self.test_x), test_y=move(self.test_y))


def synthetic(n_train: int, n_test: int, input_shape: Sequence[int], num_classes: int,
              seed: int = 0, *, noise: float = 1.0) -> Dataset:
    """A learnable toy dataset: one Gaussian prototype per class plus Gaussian noise.

    ``x = (prototype[y] + noise * eps) / sqrt(1 + noise**2)`` (unit variance per feature),
    labels uniform; deterministic in ``seed``. Larger ``noise`` makes it harder.
    """
    shape = tuple(int(d) for d in input_shape)
    if n_train < 1 or n_test < 0 or num_classes < 2 or not shape or min(shape) < 1:
        raise ConfigError(f"synthetic() got n_train={n_train}, n_test={n_test}, "
                          f"input_shape={shape}, num_classes={num_classes}; expected "
                          "n_train >= 1, n_test >= 0, num_classes >= 2, positive dims")
    g = torch.Generator().manual_seed(int(seed))
    protos = torch.randn((num_classes, *shape), generator=g)
    scale = 1.0 / float(np.sqrt(1.0 + noise * noise))

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, num_classes, (n,), generator=g)
        x = protos[y] + noise * torch.randn((n, *shape), generator=g)
        return x.mul_(scale), y

    train_x, train_y = split(n_train)
    test_x, test_y = split(n_test)
    return Dataset(SYNTHETIC, train_x, train_y, test_x, test_y, num_classes, shape,
                   f"synthetic(seed={seed}, noise={noise})")
