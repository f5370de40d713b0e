"""The scenario types and registry: Check, Context, Result, Scenario and ``@scenario``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Check", "Context", "Result", "Scenario", "scenario"]


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
