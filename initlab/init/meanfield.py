"""Deprecated: the mean-field calculator moved to :mod:`initlab.theory`
(``initlab.theory.mean_field`` / ``critical`` / ``MeanField``).

This alias warns and goes in the next release.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []

warnings.warn("initlab.init.meanfield moved to initlab.theory.meanfield; the old path goes in "
              "the next release.", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # importlib, not an import statement: the deprecated alias must not make init depend on
    # the theory layer above it
    return getattr(importlib.import_module("initlab.theory.meanfield"), name)
