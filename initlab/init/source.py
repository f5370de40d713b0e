"""Where random numbers come from: the one interface every initializer draws through.

An initializer never calls ``tensor.normal_`` itself; it asks a *source*. Two sources
exist:

* :class:`TorchSource` wraps an optional ``torch.Generator`` and calls exactly the torch
  ops ``torch.nn.init`` calls, so the functional API is bit-identical to torch's.
* ``initlab.rng.KeyedSource`` draws from keyed, chunked, parallel streams (the policy
  path): values depend only on (seed, parameter name, global shape, spec).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["Source", "TorchSource"]


@runtime_checkable
class Source(Protocol):
    """Fills tensors in place with random draws (what every initializer draws through).

    Examples:
        >>> isinstance(TorchSource(), Source)
        True
    """

    def normal_(self, t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor: ...

    def uniform_(self, t: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor: ...

    def trunc_normal_(
        self, t: torch.Tensor, mean: float, std: float, a: float, b: float
    ) -> torch.Tensor: ...

    def generator(self, device: torch.device | str) -> torch.Generator | None:
        """A torch generator for algorithms that need arbitrary random ops (randperm, ...)."""
        ...


class TorchSource:
    """Draws with torch's own ops and an optional user generator (the functional path).

    Args:
        generator: the torch.Generator to draw from (None: torch's global RNG).

    Examples:
        >>> source = TorchSource(torch.Generator().manual_seed(0))
        >>> w = source.normal_(torch.empty(3), 0.0, 1.0)
        >>> torch.equal(w, torch.empty(3).normal_(generator=torch.Generator().manual_seed(0)))
        True
    """

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self._generator = generator

    def normal_(self, t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        """``t.normal_(mean, std)`` with the generator."""
        return t.normal_(mean, std, generator=self._generator)

    def uniform_(self, t: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """``t.uniform_(low, high)`` with the generator."""
        return t.uniform_(low, high, generator=self._generator)

    def trunc_normal_(self, t: torch.Tensor, mean: float, std: float, a: float,
                      b: float) -> torch.Tensor:
        """``torch.nn.init.trunc_normal_`` with the generator (absolute bounds a, b)."""
        # torch.nn.init's own truncated normal, whatever its algorithm in the installed torch
        # (inverse CDF in older versions, rejection sampling in newer ones), so the functional
        # API stays bit-identical.
        return torch.nn.init.trunc_normal_(t, mean, std, a, b, generator=self._generator)

    def generator(self, device: torch.device | str) -> torch.Generator | None:
        """The user's generator (None: the global RNG), whatever the device."""
        return self._generator
