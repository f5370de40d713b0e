"""Deprecated: LSUV moved to :mod:`initlab.calibrate` (``initlab.calibrate.lsuv_``).

This alias warns and goes in the next release.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []

warnings.warn("initlab.init.lsuv moved to initlab.calibrate.lsuv; the old path goes in the "
              "next release.", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # importlib, not an import statement: the deprecated alias must not make init depend on
    # the calibrate layer above it
    return getattr(importlib.import_module("initlab.calibrate.lsuv"), name)
