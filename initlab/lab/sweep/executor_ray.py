"""The Ray executor: ``initlab compare --executor ray [--address auto | ray://HOST:PORT]``.

Each group of runs (one run, or one seed's runs when they train stacked) becomes one Ray
task asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs. The driver process is the
only writer of the SQLite store, exactly as with the local executors: it claims a group's
runs, submits the task, and records the results as each task finishes (a ``ray.wait``
loop that also renews the claims' leases). At most as many tasks are in flight as the
cluster has room for, so other drivers on the same output directory can share the work.

Faults: a task whose worker process dies (``WorkerCrashedError``, the node died, Ray's
out-of-memory killer, ...) is resubmitted up to ``retries`` times, then its runs are
recorded ``failed`` with the error and the sweep goes on; re-running the command retries
them, like any failed run. Training errors are recorded ``failed`` at once (they would fail
again); an initlab error raised in a worker (bad input) stops the sweep with its message.

The dataset is loaded once by the driver and shipped through Ray's object store (workers
need no data files); each worker process deserializes it once and keeps it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from initlab.errors import ConfigError, InitlabError, error_text
from initlab.lab.data.dataset import Dataset
from initlab.lab.sweep.store import environment
from initlab.lab.sweep.tasks import Completed, Executor, GroupTask
from initlab.lab.sweep.worker import run_group
from initlab.lab.train.loop import StepCallback

if TYPE_CHECKING:
    from initlab.lab.sweep.config import Sweep

__all__ = ["RayOptions", "RayExecutor", "import_ray", "connect", "ray_task", "RETRYABLE"]

INSTALL_HINT = "pip install 'initlab[ray]'"
# names in ray.exceptions meaning "the process or node running the task went away"
RETRYABLE = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError",
             "ObjectLostError", "OwnerDiedError", "ObjectReconstructionFailedError")


def import_ray() -> Any:
    """The ``ray`` module, or a one-line ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor ray needs the 'ray' package, which cannot be imported "
                          f"({exc}); expected Ray >= 2.9; hint: {INSTALL_HINT}") from None
    return ray


@dataclass
class RayOptions:
    """Where and how runs execute on Ray.

    ``address``: None (a cluster named by ``$RAY_ADDRESS``, else a new local one),
    ``"local"`` (always a new local one), ``"auto"`` (the cluster started on this machine
    with ``ray start --head``), ``"ray://HOST:PORT"`` (Ray Client) or ``"HOST:PORT"`` (the
    GCS of a cluster this machine belongs to). ``num_cpus``: CPUs of a new local instance
    (default: all). ``ship_code``: send the ``initlab`` package to the cluster's workers
    (``runtime_env.py_modules``) when connecting to an existing cluster, so that they run
    the driver's version; ``None`` = only for an existing cluster.
    """

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    retries: int = 2
    num_cpus: int | None = None
    ship_code: bool | None = None

    def __post_init__(self) -> None:
        for name in ("cpus_per_run", "gpus_per_run"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e6:
                raise ConfigError(f"{name} must be a number >= 0; got {v!r}; expected e.g. "
                                  f"--{name.replace('_', '-')} 1")
            setattr(self, name, float(v))
        if self.cpus_per_run == 0 and self.gpus_per_run == 0:
            raise ConfigError("A Ray run needs some resources: got cpus_per_run=0 and "
                              "gpus_per_run=0; expected --cpus-per-run >= 1 or "
                              "--gpus-per-run > 0")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) \
                or self.retries < 0:
            raise ConfigError(f"retries must be an integer >= 0; got {self.retries!r}; "
                              "expected e.g. --retries 2")
        a = self.address
        if a is not None and (not isinstance(a, str) or not a.strip() or (
                a not in ("auto", "local") and not a.startswith("ray://") and ":" not in a)):
            raise ConfigError(f"Invalid Ray address {a!r}; expected 'auto', 'local', "
                              "'ray://HOST:PORT' (Ray Client, port 10001) or 'HOST:PORT'")

    @classmethod
    def from_any(cls, value: Any) -> RayOptions:
        if isinstance(value, cls):
            return value
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise ConfigError(f"Ray executor options must be a dict or RayOptions; got "
                              f"{type(value).__name__}")
        unknown = sorted(set(value) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"Unknown Ray executor options {unknown}; expected some of "
                              f"{sorted(cls.__dataclass_fields__)}")
        return cls(**value)


def connect(ray: Any, opts: RayOptions) -> bool:
    """Initialize Ray for ``opts`` unless it already is; True when this call started it."""
    if ray.is_initialized():
        return False
    existing = opts.address not in (None, "local") or bool(os.environ.get("RAY_ADDRESS")
                                                           and opts.address is None)
    kwargs: dict = {"log_to_driver": False, "configure_logging": True,
                    "logging_level": "warning"}
    if existing:
        kwargs["address"] = opts.address
        ship = opts.ship_code if opts.ship_code is not None else True
        if ship:
            kwargs["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[2])],
                                     "excludes": ["__pycache__", "*.pyc"]}
    else:
        kwargs.update(address="local", include_dashboard=False, num_cpus=opts.num_cpus)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = opts.address or os.environ.get("RAY_ADDRESS") or "a new local instance"
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = ("pip install 'ray[client]' on this machine" if "ray[client]" in first else
                "`ray start --head` then --address auto, or ray://HEAD:10001 (Ray Client)")
        raise ConfigError(f"Cannot start or reach Ray at {where}: {type(exc).__name__}: "
                          f"{first}; expected a running cluster; hint: {hint}") from None
    return True


# -- the task, run in a Ray worker process ---------------------------------------------------
_WORKER_DATA: dict[str, Dataset] = {}


def ray_task(task: GroupTask, threads: int, data_box: list[Any]) -> Completed:
    """Train one group in a Ray worker; the outcomes and the worker's environment.

    ``data_box`` holds the dataset's ObjectRef (boxed, so that Ray does not fetch it for
    every task): it is fetched once per worker process and kept.

    Args:
        task: the group.
        threads: intra-op threads (the task's CPUs).
        data_box: ``[ObjectRef of the dataset]``.

    Returns:
        The group's :class:`~initlab.lab.sweep.tasks.Completed` (ticket 0: the driver
        knows which submission it was).
    """
    import ray
    import torch

    from initlab.policy.materialize import check_device

    torch.set_num_threads(threads)
    os.environ["INITLAB_THREADS"] = str(threads)
    check_device(task.device)
    ref = data_box[0]
    key = ref.hex()
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = ray.get(ref)
    return Completed(0, run_group(task, _WORKER_DATA[key]), env=environment(task.device))


# -- the driver ------------------------------------------------------------------------------
def _compact(data: Dataset) -> Dataset:
    """The dataset with its tensors owning exactly their bytes (a subset is a view of the
    full split: pickled as is, it would ship the whole storage)."""
    import torch

    swap = {}
    for f in fields(data):
        t = getattr(data, f.name)
        if isinstance(t, torch.Tensor) and (
                t.untyped_storage().nbytes() > t.numel() * t.element_size()
                or not t.is_contiguous()):
            swap[f.name] = t.contiguous().clone()
    return replace(data, **swap) if swap else data  # type: ignore[arg-type]


def _slots(ray: Any, opts: RayOptions) -> int:
    """Tasks that fit on the cluster at once (the in-flight limit)."""
    res = ray.cluster_resources()
    fits = []
    if opts.cpus_per_run:
        fits.append(int(res.get("CPU", 0) // opts.cpus_per_run))
    if opts.gpus_per_run:
        fits.append(int(res.get("GPU", 0) // opts.gpus_per_run))
    slots = min(fits)
    if slots < 1:
        raise ConfigError(
            f"The Ray cluster has {res.get('CPU', 0):g} CPUs and {res.get('GPU', 0):g} GPUs; "
            f"one run asks for {opts.cpus_per_run:g} CPUs and {opts.gpus_per_run:g} GPUs; "
            "expected a run to fit; hint: lower --cpus-per-run / --gpus-per-run, or add nodes")
    return slots


class RayExecutor(Executor):
    """Trains each group as one Ray task (``cpus_per_run`` CPUs, ``gpus_per_run`` GPUs).

    Connects to (or starts) Ray on creation; at most as many tasks are in flight as the
    cluster has room for. A task whose worker died is submitted again up to ``retries``
    times; an initlab error raised in a worker (bad input) stops the sweep.

    Args:
        sweep: the sweep (its ``executor_options``: :class:`RayOptions`).
        data: the dataset, shipped once through Ray's object store.
    """

    def __init__(self, sweep: Sweep, data: Dataset) -> None:
        self._ray = ray = import_ray()
        self.opts = opts = RayOptions.from_any(sweep.executor_options)
        self.retries = opts.retries
        self._started = connect(ray, opts)
        self._inflight: dict[Any, int] = {}   # ObjectRef -> ticket
        try:
            self.slots = _slots(ray, opts)
            self._remote = ray.remote(ray_task).options(
                num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run, max_retries=0)
            self._data_box = [ray.put(_compact(data))]
        except BaseException:
            self.close()
            raise

    def submit(self, ticket: int, task: GroupTask, on_step: StepCallback | None) -> None:
        """Submit ``task`` as a Ray task."""
        threads = max(1, int(self.opts.cpus_per_run))
        self._inflight[self._remote.remote(task, threads, self._data_box)] = ticket

    def wait(self, timeout: float) -> list[Completed]:
        """The task finished within ``timeout`` seconds (at most one per call)."""
        if not self._inflight:
            return []
        ready, _ = self._ray.wait(list(self._inflight), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            ticket = self._inflight.pop(ref)
            try:
                done = self._ray.get(ref)
                out.append(Completed(ticket, done.outcomes, env=done.env))
            except Exception as exc:  # noqa: BLE001 - sorted out by the dispatch loop
                out.append(Completed(ticket, error=exc))
        return out

    def user_error(self, exc: BaseException) -> InitlabError | None:
        """The initlab error raised in the worker (Ray wraps it: ``exc.cause``)."""
        cause = getattr(exc, "cause", None)
        if isinstance(cause, InitlabError):
            return cause
        return exc if isinstance(exc, InitlabError) else None

    def worker_died(self, exc: BaseException) -> bool:
        """Whether the process or node running the task went away (:data:`RETRYABLE`)."""
        return any(isinstance(exc, getattr(self._ray.exceptions, n, ())) for n in RETRYABLE)

    def failure_text(self, exc: BaseException, attempt: int) -> str:
        """``"worker died on attempt 2 of 3: ..."`` or ``"task error on attempt ..."``."""
        why = "worker died" if self.worker_died(exc) else "task error"
        return (f"{why} on attempt {attempt} of {self.retries + 1}: "
                f"{error_text(exc).splitlines()[0]}")

    def cancel(self) -> None:
        """Cancel every task in flight."""
        for ref in self._inflight:
            self._ray.cancel(ref, force=True)
        self._inflight.clear()

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            self._started = False
            self._ray.shutdown()
