"""The lab: compare init schemes by training.

``initlab.lab.compare(...)`` is the Python twin of ``initlab compare`` (see
:mod:`initlab.lab.report.results`); ``initlab.lab.load_results(out)`` reads a stored sweep.

One job per subpackage: :mod:`initlab.lab.data` (datasets in memory),
:mod:`initlab.lab.models` (the model zoo), :mod:`initlab.lab.train` (the training loop,
several models at once), :mod:`initlab.lab.sweep` (runs, worker, dispatch, executors,
store, progress), :mod:`initlab.lab.report` (summaries, comparisons, HTML).
"""

from __future__ import annotations

from initlab.lab.report.results import Results, compare, load_results

__all__ = ["compare", "load_results", "Results"]
