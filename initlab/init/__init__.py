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

from initlab.init import basic, identity, orthogonal, scaling  # noqa: F401  (registration)
from initlab.init.fans import LAYOUTS, fans
from initlab.init.functional import *  # noqa: F403
from initlab.init.functional import __all__ as _functional_all
from initlab.init.gains import calculate_gain, gain
from initlab.init.registry import Initializer, aliases, available, get, register, resolve_name
from initlab.init.source import Source, TorchSource

__all__ = [
    "Initializer", "register", "get", "available", "aliases", "resolve_name", "fans", "LAYOUTS",
    "gain", "calculate_gain", "Source", "TorchSource", *_functional_all,
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
