"""The lab: compare init schemes by training (data, models, train, sweep, store, report).

``initlab.lab.compare(...)`` is the Python twin of ``initlab compare`` (see
:mod:`initlab.lab.report.results`); ``initlab.lab.load_results(out)`` reads a stored sweep.
"""

from __future__ import annotations

__all__ = ["compare", "load_results", "Results"]


def __getattr__(name: str):
    if name in __all__:  # lazy: importing initlab.lab stays cheap
        from initlab.lab.report import results

        return getattr(results, name)
    raise AttributeError(f"module 'initlab.lab' has no attribute {name!r}")
