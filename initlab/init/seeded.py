"""``seeded``: an initializer with its own seed, as Keras' ``seed=`` argument gives.

``seeded(init=..., seed=42)`` called without a generator draws from a fresh
``torch.Generator`` seeded with ``seed`` each time, so every call gives the same values
(Keras 3's rule for an int seed). A generator passed in wins. In the policy path
(``initlab.apply``) the run's keyed streams decide the values and ``seed`` is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from initlab.errors import ConfigError
from initlab.init.basic import Normal
from initlab.init.registry import Initializer, Shape, register
from initlab.init.source import Source

__all__ = ["Seeded"]


@register("seeded")
@dataclass(frozen=True)
class Seeded(Initializer):
    """Another initializer with a fixed seed: the same values every call (Keras' seed=)."""

    init: Initializer = Normal()
    seed: int = 0
    elementwise = False

    def __post_init__(self) -> None:
        from initlab.init.parse import get

        inner = get(self.init)
        if inner is None or isinstance(inner, Seeded):
            raise ConfigError(
                f"seeded: init={self.init!r}; expected an initializer spec that is not itself "
                "seeded, e.g. seeded(init='xavier_uniform', seed=3).")
        object.__setattr__(self, "init", inner)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(
                f"Invalid seed={self.seed!r} for initializer 'seeded'; expected an int, e.g. 42.")

    @property
    def random(self) -> bool:  # type: ignore[override]  # a ClassVar on the base class
        return self.init.random

    def get_config(self) -> dict[str, Any]:
        return {"init": self.init.to_dict(), "seed": self.seed}

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        return self.init.fill_(tensor, source, layout=layout, groups=groups)

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        return self.init.expected_std(shape, layout=layout, groups=groups)

    def __call__(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None,
                 layout: str | None = None, groups: int = 1) -> torch.Tensor:
        if generator is None and isinstance(tensor, torch.Tensor) and not tensor.is_meta:
            generator = torch.Generator(device=tensor.device).manual_seed(self.seed)
        return super().__call__(tensor, generator=generator, layout=layout, groups=groups)
