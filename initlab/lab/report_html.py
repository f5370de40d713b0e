"""Deprecated: ``initlab.lab.report_html`` moved to :mod:`initlab.lab.report.page`; this alias warns and goes in the next release."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_NEW = "initlab.lab.report.page"
_NAMES = frozenset("render_html,figures,heatmap_html,axis_figure".split(","))


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        warnings.warn(f"initlab.lab.report_html is deprecated; import {name} from {_NEW}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_NEW), name)
    raise AttributeError(f"module 'initlab.lab.report_html' has no attribute {name!r}")
