"""initlab.init: the initializer catalog, functional and as serializable specs.

Functional (drop-in for ``torch.nn.init``, plus ``generator=``, ``layout=``, ``groups=``)::

    initlab.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)

Specs (frozen, validated, JSON round-trip)::

    spec = initlab.init.get("kaiming_normal(mode='fan_out', nonlinearity='relu')")
    spec(w, generator=g)            # the same as the functional call
    initlab.init.get(spec.to_dict()) == spec
"""

from __future__ import annotations

import importlib
import importlib.util

from initlab.init import _orthogonal, basic, identity, scaling, seeded  # noqa: F401  (registration)
from initlab.init._torch_names import (  # noqa: F401  (torch.nn.init's private helpers)
    DEPRECATED,
    _calculate_correct_fan,
    _calculate_fan_in_and_fan_out,
    _no_grad_fill_,
    _no_grad_normal_,
    _no_grad_trunc_normal_,
    _no_grad_uniform_,
    _no_grad_zero_,
)
from initlab.init.fans import LAYOUTS, axis_fans, fans
from initlab.init.functional import *  # noqa: F403
from initlab.init.functional import __all__ as _functional_all
from initlab.init.gains import calculate_gain, gain
from initlab.init.registry import Initializer, aliases, available, get, register, resolve_name
from initlab.init.source import Source, TorchSource

# torch.nn.init's deprecated names (normal, uniform, orthogonal, ...): warn, then delegate
globals().update(DEPRECATED)

__all__ = [
    "Initializer", "register", "get", "available", "aliases", "resolve_name", "fans",
    "axis_fans", "LAYOUTS", "gain", "calculate_gain", "Source", "TorchSource", *_functional_all,
    *DEPRECATED,
]

# Modules written separately that register more initializers / functions when present:
# their public names join this namespace.
_EXTENSIONS = ("spread", "lsuv", "meanfield")
for _name in _EXTENSIONS:
    if importlib.util.find_spec(f"initlab.init.{_name}") is not None:
        _mod = importlib.import_module(f"initlab.init.{_name}")
        for _public in getattr(_mod, "__all__", ()):
            globals()[_public] = getattr(_mod, _public)
            __all__.append(_public)
del _name
