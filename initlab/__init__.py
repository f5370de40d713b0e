"""initlab: initialize neural networks correctly, diagnose them at init, compare inits.

The everyday API, re-exported explicitly (``__all__``): the initializer catalog (``get``,
``register``, ``gain``, ``fans``, ``init``), policies (``Policy``, ``Rule``, ``plan``,
``apply``, ``materialize``, ``audit``), the diagnosis (``diagnose``), width scaling
(``mup``, ``coord_check``) and Hugging Face models (``hf``). Specialist tools live in their
packages: ``initlab.calibrate`` (LSUV), ``initlab.theory`` (mean field), ``initlab.lab``
(training comparisons), ``initlab.reproductions``.

Examples:
    >>> import torch
    >>> import initlab
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> plan = initlab.apply(model, "auto", seed=0)
    >>> [row.name for row in plan.rows][:2]
    ['0.weight', '0.bias']
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from initlab import init  # the functional namespace: initlab.init.kaiming_normal_
from initlab._version import __version__
from initlab.diagnosis import DiagnosisReport, compare_reports, diagnose
from initlab.errors import ConfigError, DataError, InitlabError, UnknownNameError
from initlab.init import available, fans, gain, get, register
from initlab.integrations import hf  # imports transformers only when a function is called
from initlab.policy import (
    Plan,
    Policy,
    Rule,
    apply,
    audit,
    build_meta,
    materialize,
    plan,
    policies,
    register_policy,
)
from initlab.scaling import mup  # registers the mup/completep presets; initlab.mup.plan, ...
from initlab.scaling.coord_check import coord_check

__all__ = [
    "__version__",
    # errors
    "InitlabError", "ConfigError", "UnknownNameError", "DataError",
    # initializers
    "init", "get", "register", "available", "gain", "fans",
    # policies
    "Policy", "Rule", "Plan", "plan", "apply", "materialize", "policies", "register_policy",
    "audit", "build_meta",
    # diagnosis
    "diagnose", "DiagnosisReport", "compare_reports",
    # scaling
    "mup", "coord_check",
    # integrations
    "hf",
]

# Names that left the root: old name -> (module, attribute). Reachable for one release
# with a DeprecationWarning that names the new home.
_MOVED: dict[str, tuple[str, str]] = {
    "Report": ("initlab.diagnosis", "DiagnosisReport"),
    "Initializer": ("initlab.init", "Initializer"),
    "AuditReport": ("initlab.policy", "AuditReport"),
    "PlanRow": ("initlab.policy", "PlanRow"),
    "CoordCheck": ("initlab.scaling.coord_check", "CoordCheck"),
    "lsuv_": ("initlab.calibrate.lsuv", "lsuv_"),
    "LSUVResult": ("initlab.calibrate.lsuv", "LSUVResult"),
    "mean_field": ("initlab.theory.meanfield", "mean_field"),
    "critical": ("initlab.theory.meanfield", "critical"),
    "MeanField": ("initlab.theory.meanfield", "MeanField"),
    "coherence": ("initlab.init.spread", "coherence"),
    "welch_bound": ("initlab.init.spread", "welch_bound"),
}


def __getattr__(name: str) -> Any:
    """Old root names, still reachable for one release: each access warns.

    Args:
        name: The attribute looked up on ``initlab``.

    Returns:
        The object from its new home (see ``initlab._MOVED``).

    Raises:
        AttributeError: ``name`` is not a moved name either.

    Examples:
        >>> import warnings
        >>> import initlab
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     cls = initlab.CoordCheck
        >>> cls.__name__, caught[0].category.__name__
        ('CoordCheck', 'DeprecationWarning')
    """
    if name in _MOVED:
        module, attr = _MOVED[name]
        new = attr if name == attr else f"{attr} (was {name})"
        warnings.warn(f"initlab.{name} is deprecated and will be removed in the next release; "
                      f"use {module}.{new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'initlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``__all__``) and the module's own attributes; moved names are hidden.

    Examples:
        >>> import initlab
        >>> "plan" in dir(initlab), "lsuv_" in dir(initlab)
        (True, False)
    """
    return sorted(set(globals()) | set(__all__))
