"""initlab: initialize neural networks correctly, diagnose them at init, compare inits.

The public API is re-exported here explicitly; see README.md and DESIGN.md.
"""

from initlab.errors import ConfigError, DataError, InitlabError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "InitlabError", "UnknownNameError", "__version__"]

# --- init (catalog, fans, gains, specs) ---
from initlab import init  # noqa: E402  (the functional namespace: initlab.init.kaiming_normal_)
from initlab.init import Initializer, available, fans, gain, get, register  # noqa: E402

__all__ += ["init", "Initializer", "available", "fans", "gain", "get", "register"]

# --- policy (plan, apply, materialize) ---
from initlab.policy import (  # noqa: E402
    Plan,
    PlanRow,
    Policy,
    Rule,
    apply,
    materialize,
    plan,
    policies,
    register_policy,
)

__all__ += ["Plan", "PlanRow", "Policy", "Rule", "apply", "materialize", "plan", "policies",
            "register_policy"]

from initlab.policy import AuditReport, audit, build_meta  # noqa: E402

__all__ += ["audit", "AuditReport", "build_meta"]

# --- diagnose ---
from initlab.diagnosis import Report, diagnose  # noqa: E402

__all__ += ["diagnose", "Report"]

# --- scaling (mup, completep, LLM recipes, coordinate check) ---
from initlab.scaling import mup  # noqa: E402  (registers the presets; initlab.mup.plan, ...)
from initlab.scaling.coord_check import CoordCheck, coord_check  # noqa: E402

__all__ += ["mup", "coord_check", "CoordCheck"]

# --- advanced (lsuv, mean field) ---
from initlab.init.lsuv import LSUVResult, lsuv_  # noqa: E402
from initlab.init.meanfield import MeanField, critical, mean_field  # noqa: E402
from initlab.init.spread import coherence, welch_bound  # noqa: E402

__all__ += ["lsuv_", "LSUVResult", "mean_field", "critical", "MeanField", "coherence",
            "welch_bound"]


def __getattr__(name: str):
    """``initlab.hf``: the Hugging Face integration, imported on first use."""
    if name == "hf":
        from initlab.integrations import hf

        return hf
    raise AttributeError(f"module 'initlab' has no attribute {name!r}")
