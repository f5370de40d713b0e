"""The scenario types and registry: Status, Check, Context, Result, Scenario, ``@scenario``.

A scenario is a function ``run(ctx: Context) -> Result``. A :class:`Result` holds
:class:`Check` objects, one per claim: its text, a human summary of what was measured, a
:class:`Status` (PASS / FAIL / INCONCLUSIVE) and the measured numbers as data (``values``:
means, 95% CIs, p-values, seed counts, per-seed figures), so callers and tests compare
numbers and verdicts, never prose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from initlab._core.registry import Registry

__all__ = ["Status", "Check", "Context", "Result", "Scenario", "ScenarioFn", "SCENARIOS",
           "scenario"]


class Status(str, Enum):
    """The verdict on one claim (a ``str``: ``Status.PASS == "PASS"``).

    PASS: the claim held (a test over seeds decided it, or a property held on every seed);
    FAIL: the measurement contradicts it; INCONCLUSIVE: neither (too few seeds, a CI that
    straddles the bound, a difference that is not significant).

    Examples:
        >>> from initlab.reproductions import Status
        >>> Status("FAIL") is Status.FAIL, Status.PASS == "PASS", str(Status.INCONCLUSIVE)
        (True, True, 'INCONCLUSIVE')
    """

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    """One claim, what was measured about it, and the verdict.

    Args:
        claim: the claim tested, as a sentence.
        measured: what was measured, for people (numbers included).
        passed: whether the claim held (``status`` is PASS).
        status: PASS, FAIL or INCONCLUSIVE; from ``passed`` when not given.
        values: the measured numbers as data (JSON-safe): e.g. ``mean``, ``ci95``,
            ``p_value``, ``n``, ``per_seed``, ``bound``.

    Examples:
        >>> from initlab.reproductions import Check, Status
        >>> c = Check("rank stays <= 64", "rank 64 on 3/3 seeds", True, values={"n": 3})
        >>> c.status is Status.PASS, c.values["n"]
        (True, 3)
        >>> Check("beats", "p = 0.2, n = 3", False, "INCONCLUSIVE").to_dict()["status"]
        'INCONCLUSIVE'
    """

    claim: str
    measured: str
    passed: bool
    status: Status | str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        status = Status(self.status) if self.status else (
            Status.PASS if self.passed else Status.FAIL)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "passed", status is Status.PASS)
        object.__setattr__(self, "values", dict(self.values))

    @property
    def verdict(self) -> Status:
        """The status as a :class:`Status`."""
        return Status(self.status)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ``{claim, measured, passed, status, values}``."""
        return {"claim": self.claim, "measured": self.measured, "passed": self.passed,
                "status": str(self.status), "values": dict(self.values)}


@dataclass
class Context:
    """What a scenario run is given: fast or full, where to write, data and device.

    Attributes:
        fast: run the fast variant (the one the test suite runs) instead of the full one.
        out: a folder for the scenario's files (``result.json``, reports), or None.
        dataset: the dataset name (default: Fashion-MNIST when installed).
        data_dir: where to look for the dataset.
        device: the torch device to train on.
        seeds: the number of seeds (``--seeds``), for scenarios that take it.
        progress: show progress bars.

    Examples:
        >>> from initlab.reproductions import Context
        >>> ctx = Context(fast=True, seeds=3)
        >>> ctx.fast, ctx.seeds, ctx.device
        (True, 3, 'cpu')
    """

    fast: bool = False
    out: Path | None = None
    dataset: str | None = None
    data_dir: str | None = None
    device: str = "cpu"
    seeds: int | None = None
    progress: bool = True


@dataclass
class Result:
    """What a scenario measured: checks plus free-form details (JSON-safe).

    Attributes:
        name: the scenario's name.
        checks: one :class:`Check` per claim.
        details: the measurements behind the checks (configuration, per-seed runs, ...).

    Examples:
        >>> from initlab.reproductions import Check, Result
        >>> r = Result("demo", [Check("a holds", "held", True),
        ...                     Check("b holds", "n = 2: too few seeds", False, "INCONCLUSIVE")])
        >>> str(r.status), r.passed, r.check("b").status.value
        ('INCONCLUSIVE', False, 'INCONCLUSIVE')
    """

    name: str
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every claim passed."""
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> Status:
        """FAIL if a claim failed, else INCONCLUSIVE if one was, else PASS."""
        states = {Status(c.status) for c in self.checks}
        return next((s for s in (Status.FAIL, Status.INCONCLUSIVE) if s in states),
                    Status.PASS)

    def check(self, prefix: str) -> Check:
        """The one check whose claim starts with ``prefix``.

        Raises:
            KeyError: no check, or more than one, starts with ``prefix``.
        """
        hits = [c for c in self.checks if c.claim.startswith(prefix)]
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} checks of {self.name!r} start with {prefix!r}; "
                           f"claims: {[c.claim for c in self.checks]}")
        return hits[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ``{name, passed, status, checks, details}``."""
        return {
            "name": self.name,
            "passed": self.passed,
            "status": str(self.status),
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        }


ScenarioFn = Callable[[Context], Result]
"""A scenario's ``run(ctx) -> Result``."""


@dataclass(frozen=True)
class Scenario:
    """A registered reproduction: its name, summary, source and ``run(ctx) -> Result``.

    Attributes:
        name: the name ``initlab reproduce NAME`` takes.
        summary: one line: what is reproduced.
        source: the paper or practice it reproduces.
        run: the function ``run(ctx) -> Result``.
        full_runtime: the documented cost of the full variant.

    Examples:
        >>> from initlab.reproductions import get
        >>> sc = get("depth-scale")
        >>> sc.name, sc.source.startswith("Schoenholz"), callable(sc.run)
        ('depth-scale', True, True)
    """

    name: str
    summary: str
    source: str  # the paper or practice it reproduces
    run: ScenarioFn
    full_runtime: str = ""  # e.g. "~6 min on 2 CPU cores"


SCENARIOS: Registry[Scenario] = Registry("scenario")
"""The registered scenarios by name (filled as the scenario modules are imported:
:func:`initlab.reproductions.load_all`)."""


def scenario(name: str, *, summary: str, source: str,
             full_runtime: str = "") -> Callable[[ScenarioFn], ScenarioFn]:
    """Decorator registering ``run(ctx) -> Result`` as scenario ``name`` in :data:`SCENARIOS`.

    Args:
        name: the name ``initlab reproduce NAME`` takes.
        summary: one line: what is reproduced.
        source: the paper or practice it reproduces.
        full_runtime: the documented cost of the full variant.

    Returns:
        A decorator returning the function unchanged.

    Raises:
        ConfigError: ``name`` is already registered.

    Examples:
        >>> from initlab.reproductions import SCENARIOS, Check, Context, Result, scenario
        >>> @scenario("doc-example", summary="1 + 1 = 2", source="arithmetic")
        ... def run(ctx: Context) -> Result:
        ...     return Result("doc-example", [Check("1 + 1 = 2", f"{1 + 1}", 1 + 1 == 2)])
        >>> str(SCENARIOS.get("doc-example").run(Context()).status)
        'PASS'
        >>> _ = SCENARIOS.remove("doc-example")  # keep the registry as it was
    """

    def deco(fn: ScenarioFn) -> ScenarioFn:
        SCENARIOS.add(name, Scenario(name, summary, source, fn, full_runtime))
        return fn

    return deco
