"""Deprecated: ``initlab.lab.results`` moved to :mod:`initlab.lab.report.results`; this alias warns and goes in the next release."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_NEW = "initlab.lab.report.results"
_NAMES = frozenset("Results,compare,load_results".split(","))


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        warnings.warn(f"initlab.lab.results is deprecated; import {name} from {_NEW}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_NEW), name)
    raise AttributeError(f"module 'initlab.lab.results' has no attribute {name!r}")
