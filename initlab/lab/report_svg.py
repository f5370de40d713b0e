"""Deprecated: ``initlab.lab.report_svg`` moved to :mod:`initlab.diagnosis.plot`; this alias warns and goes in the next release."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_NEW = "initlab.diagnosis.plot"
_NAMES = frozenset("PALETTE,Axes,nice_ticks,log_ticks,figure".split(","))


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        warnings.warn(f"initlab.lab.report_svg is deprecated; import {name} from {_NEW}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_NEW), name)
    raise AttributeError(f"module 'initlab.lab.report_svg' has no attribute {name!r}")
