"""Built-in reproductions (``initlab reproduce NAME``): a registry of scenarios.

A scenario is a function ``run(ctx: Context) -> Result`` registered with
:func:`scenario`. Each module in this package registers its scenarios on import;
:func:`load_all` imports them all. A result holds checks: the claim tested, what was
measured (with numbers), and whether the claim held.
"""

from __future__ import annotations

import importlib
import pkgutil

from initlab.errors import UnknownNameError, did_you_mean
from initlab.reproductions._base import _REGISTRY, Check, Context, Result, Scenario, scenario

__all__ = ["Check", "Context", "Result", "Scenario", "scenario", "get", "available", "load_all"]


def load_all() -> None:
    """Import every scenario module in this package (each registers itself)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def available() -> list[str]:
    load_all()
    return sorted(_REGISTRY)


def get(name: str) -> Scenario:
    load_all()
    if name not in _REGISTRY:
        hint = did_you_mean(name, _REGISTRY)
        raise UnknownNameError(
            f"Unknown scenario '{name}'.{hint} Available: {sorted(_REGISTRY)}"
        )
    return _REGISTRY[name]
