"""Sweeps: inits x axes x seeds on one model and dataset, trained, recorded, resumable.

One job per module:

- :mod:`.config`: :class:`Sweep`, what to compare; :mod:`.axes`: ``--sweep KEY=V1,V2``;
- :mod:`.runs`: the runs, their identity and id, and the groups that train together;
- :mod:`.tasks`: the worker contract (:class:`GroupTask` in, :class:`RunOutcome` out,
  the :class:`Executor` type); :mod:`.worker`: the worker body (build, init, train);
- :mod:`.dispatch`: :func:`run_sweep` and the one claim -> submit -> heartbeat -> record loop;
- :mod:`.executors`: inline and ``--workers`` pool, the :data:`EXECUTORS` registry;
  :mod:`.executor_ray`: Ray;
- :mod:`.store`: the SQLite store; :class:`~initlab.lab.progress.Progress`: the display.

Examples:
    >>> import tempfile
    >>> from initlab.lab.train import TrainConfig
    >>> sweep = Sweep(inits=["zeros", "xavier_normal"], model="mlp", dataset="synthetic",
    ...               model_kwargs={"widths": [8]}, n_train=64, n_test=16, seeds=2,
    ...               train=TrainConfig(steps=2))
    >>> run_sweep(sweep, tempfile.mkdtemp()).done
    4
"""

from __future__ import annotations

from initlab.lab.data.cache import data_identity, load_data
from initlab.lab.progress import Progress
from initlab.lab.sweep.config import Sweep
from initlab.lab.sweep.dispatch import HEARTBEAT_S, SweepOutcome, dispatch, run_sweep
from initlab.lab.sweep.executors import EXECUTORS, ExecutorKind
from initlab.lab.sweep.runs import RunSpec, group_key, plan_runs, run_id
from initlab.lab.sweep.store import DB_NAME, FINISHED, Store, open_store, store_errors
from initlab.lab.sweep.tasks import Completed, Executor, GroupTask, RunOutcome
from initlab.lab.sweep.worker import SWEEP_THREADS, execute_group, prepare_model

__all__ = ["Sweep", "RunSpec", "SweepOutcome", "RunOutcome", "GroupTask", "Completed",
           "Executor", "ExecutorKind", "EXECUTORS", "Progress", "Store", "DB_NAME", "FINISHED",
           "HEARTBEAT_S", "SWEEP_THREADS", "plan_runs", "run_id", "group_key", "run_sweep",
           "dispatch", "prepare_model", "execute_group", "load_data", "data_identity",
           "open_store", "store_errors"]
