"""Built-in reproductions (``initlab reproduce NAME``): a registry of scenarios.

A scenario is a function ``run(ctx: Context) -> Result`` registered with
:func:`scenario`. Each module in this package registers its scenarios on import;
:func:`load_all` imports them all. A result holds checks: the claim tested, what was
measured (with numbers), and whether the claim held.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.errors import UnknownNameError, did_you_mean

__all__ = ["Check", "Context", "Result", "Scenario", "scenario", "get", "available", "load_all"]


@dataclass(frozen=True)
class Check:
    """One claim and what was measured about it: PASS, FAIL or INCONCLUSIVE (``status``;
    from ``passed`` when not given; statistical claims: :mod:`._claims`)."""

    claim: str
    measured: str
    passed: bool
    status: str = ""

    def __post_init__(self):
        if not self.status:
            object.__setattr__(self, "status", "PASS" if self.passed else "FAIL")

    def to_dict(self) -> dict:
        return {"claim": self.claim, "measured": self.measured, "passed": self.passed,
                "status": self.status}


@dataclass
class Context:
    """What a scenario run is given: fast or full, where to write, data and device."""

    fast: bool = False
    out: Path | None = None
    dataset: str | None = None
    data_dir: str | None = None
    device: str = "cpu"
    seeds: int | None = None
    progress: bool = True


@dataclass
class Result:
    """What a scenario measured: checks plus free-form details (JSON-safe)."""

    name: str
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        """FAIL if a claim failed, else INCONCLUSIVE if one was, else PASS."""
        states = {c.status for c in self.checks}
        return next((s for s in ("FAIL", "INCONCLUSIVE") if s in states), "PASS")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        }


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    source: str  # the paper or practice it reproduces
    run: Callable[[Context], Result]
    full_runtime: str = ""  # e.g. "~6 min on 2 CPU cores"


_REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, *, summary: str, source: str, full_runtime: str = ""):
    """Decorator registering ``run(ctx) -> Result`` as scenario ``name``."""

    def deco(fn):
        _REGISTRY[name] = Scenario(name, summary, source, fn, full_runtime)
        return fn

    return deco


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
