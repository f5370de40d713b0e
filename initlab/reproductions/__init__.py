"""Built-in reproductions (``initlab reproduce NAME``): paper and tutorial experiments.

A scenario is a function ``run(ctx: Context) -> Result`` registered with
:func:`scenario` in :data:`SCENARIOS` (the project's one :class:`~initlab._core.registry.Registry`
type). Each module in this package registers its scenarios on import; :func:`load_all`
imports them all. A result holds checks: the claim tested, the verdict (PASS / FAIL /
INCONCLUSIVE, decided by tests over seeds: :mod:`initlab.reproductions._claims`) and the
measured numbers.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from initlab.reproductions._base import (
    SCENARIOS,
    Check,
    Context,
    Result,
    Scenario,
    ScenarioFn,
    Status,
    scenario,
)

__all__ = ["Check", "Context", "Result", "Scenario", "ScenarioFn", "Status", "SCENARIOS",
           "scenario", "get", "available", "load_all", "run_scenario"]


def load_all() -> None:
    """Import every scenario module in this package (each registers itself in
    :data:`SCENARIOS`); importing one twice registers nothing twice.

    Examples:
        >>> from initlab.reproductions import SCENARIOS, load_all
        >>> load_all()
        >>> "fixup-deep" in SCENARIOS.names()
        True
    """
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def available() -> list[str]:
    """The names of the built-in scenarios, sorted.

    Returns:
        A new list of names, as ``initlab reproduce NAME`` takes them.

    Examples:
        >>> from initlab.reproductions import available
        >>> {"glorot", "matmul-chain", "seed-cnn"} <= set(available())
        True
    """
    load_all()
    return SCENARIOS.names()


def get(name: str) -> Scenario:
    """The scenario registered as ``name``.

    Args:
        name: a scenario name (see :func:`available`).

    Returns:
        The :class:`Scenario` (name, summary, source, ``run``).

    Raises:
        UnknownNameError: no such scenario (with the closest name and the list).

    Examples:
        >>> from initlab.reproductions import get
        >>> get("matmul-chain").source.split(",")[0]
        'Dellinger 2019'
        >>> get("matmul-chian")
        Traceback (most recent call last):
        ...
        initlab.errors.UnknownNameError: Unknown scenario 'matmul-chian'. Did you mean 'matmul-chain'? ...
    """
    load_all()
    return SCENARIOS.get(name)


def run_scenario(name: str, *, fast: bool = True, seeds: int | None = None,
                 out: Path | None = None, dataset: str | None = None,
                 data_dir: str | None = None, device: str = "cpu",
                 progress: bool = False) -> Result:
    """Run scenario ``name`` and return its :class:`Result` (what ``initlab reproduce`` does).

    Args:
        name: a scenario name (see :func:`available`).
        fast: the fast variant (the one the test suite runs) or the full one.
        seeds: the number of seeds, for scenarios that take ``--seeds``.
        out: a folder for the scenario's files (result.json, reports), or None.
        dataset: the dataset for scenarios that train (default Fashion-MNIST when
            installed, else synthetic data in the fast variant).
        data_dir: where to look for the dataset.
        device: the torch device to train on.
        progress: show progress bars.

    Returns:
        The result: ``status`` and one :class:`Check` per claim, with its numbers.

    Raises:
        UnknownNameError: no such scenario.

    Examples:
        >>> from initlab.reproductions import run_scenario
        >>> r = run_scenario("matmul-chain", seeds=1)  # a claim on every seed: 1 is too few
        >>> str(r.status), len(r.checks), r.checks[1].values["held"], r.checks[1].values["n"]
        ('INCONCLUSIVE', 7, 1, 1)
    """
    ctx = Context(fast=fast, out=out, dataset=dataset, data_dir=data_dir, device=device,
                  seeds=seeds, progress=progress)
    return get(name).run(ctx)
