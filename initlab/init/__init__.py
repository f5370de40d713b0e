"""initlab.init: the initializer catalog, functional and as serializable specs.

Functional (drop-in for ``torch.nn.init``, plus ``generator=``, ``layout=``, ``groups=``)::

    initlab.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)

Specs (frozen, validated, JSON round-trip)::

    spec = initlab.init.get("kaiming_normal(mode='fan_out', nonlinearity='relu')")
    spec(w, generator=g)            # the same as the functional call
    initlab.init.get(spec.to_dict()) == spec

Data-dependent calibration (LSUV) lives in :mod:`initlab.calibrate`, the mean-field theory
(edge of chaos, depth scales) in :mod:`initlab.theory`; their old names here warn.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# registration: importing these modules registers their initializers
from initlab.init import _orthogonal, basic, identity, scaling, seeded, spread  # noqa: F401
from initlab.init._torch_names import (  # noqa: F401  (torch.nn.init's private helpers)  # noqa: F401  (torch's deprecated names: warn, delegate)
    DEPRECATED,
    _calculate_correct_fan,
    _calculate_fan_in_and_fan_out,
    _no_grad_fill_,
    _no_grad_normal_,
    _no_grad_trunc_normal_,
    _no_grad_uniform_,
    _no_grad_zero_,
    constant,
    dirac,
    eye,
    kaiming_normal,
    kaiming_uniform,
    normal,
    orthogonal,
    sparse,
    uniform,
    xavier_normal,
    xavier_uniform,
)
from initlab.init.fans import LAYOUTS, axis_fans, fans
from initlab.init.functional import (
    constant_,
    default_,
    delta_orthogonal_,
    dirac_,
    eye_,
    identity_,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    normal_,
    ones_,
    orthogonal_,
    sparse_,
    trunc_normal_,
    trunc_normal_std_,
    uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
    zero_hadamard_,
    zeros_,
)
from initlab.init.gains import calculate_gain, gain
from initlab.init.parse import get
from initlab.init.registry import (
    INITIALIZERS,
    Initializer,
    aliases,
    aliases_by_name,
    available,
    register,
    resolve_name,
)
from initlab.init.source import Source, TorchSource
from initlab.init.spread import Spread, coherence, spread_, spread_frame, welch_bound

__all__ = [
    # specs and the catalog
    "Initializer", "INITIALIZERS", "register", "get", "available", "aliases", "aliases_by_name",
    "resolve_name",
    # fans and gains
    "fans", "axis_fans", "LAYOUTS", "gain", "calculate_gain",
    # random sources
    "Source", "TorchSource",
    # the functional drop-ins for torch.nn.init (and initlab's additions)
    "uniform_", "normal_", "trunc_normal_", "trunc_normal_std_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "identity_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_", "orthogonal_",
    "sparse_", "default_", "delta_orthogonal_", "zero_hadamard_",
    # spread (frame) initializers
    "Spread", "coherence", "spread_", "spread_frame", "welch_bound",
]

# Moved out of init/ (data-dependent calibration and theory): old name -> new module.
_MOVED = {
    "lsuv_": "initlab.calibrate.lsuv", "LSUVRecord": "initlab.calibrate.lsuv",
    "LSUVResult": "initlab.calibrate.lsuv", "LSUVWarning": "initlab.calibrate.lsuv",
    "MeanField": "initlab.theory.meanfield", "critical": "initlab.theory.meanfield",
    "mean_field": "initlab.theory.meanfield",
}


def __getattr__(name: str) -> Any:
    """Deprecated names that moved to :mod:`initlab.calibrate` / :mod:`initlab.theory`."""
    if name in _MOVED:
        target = _MOVED[name]
        warnings.warn(f"initlab.init.{name} moved to {target.rsplit('.', 1)[0]}.{name}; the old "
                      "name goes in the next release.", DeprecationWarning, stacklevel=2)
        # importlib, not an import statement: the deprecated alias must not make init depend
        # on the layers above it
        return getattr(importlib.import_module(target), name)
    raise AttributeError(f"module 'initlab.init' has no attribute '{name}'")
