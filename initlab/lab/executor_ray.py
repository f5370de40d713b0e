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
from dataclasses import dataclass
from pathlib import Path

from initlab.errors import ConfigError, InitlabError
from initlab.lab.sweep import HEARTBEAT_S, error_text, execute_group, record_results

__all__ = ["RayOptions", "import_ray", "connect", "run_ray", "ray_task", "RETRYABLE"]

INSTALL_HINT = "pip install 'initlab[ray]'"
# names in ray.exceptions meaning "the process or node running the task went away"
RETRYABLE = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError",
             "ObjectLostError", "OwnerDiedError", "ObjectReconstructionFailedError")


def import_ray():
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

    def __post_init__(self):
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
    def from_any(cls, value) -> RayOptions:
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


def connect(ray, opts: RayOptions) -> bool:
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
            kwargs["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])],
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
_WORKER_DATA: dict[str, object] = {}


def ray_task(task: dict, data_box: list) -> dict:
    """Train one group in a Ray worker: ``{"results": [...], "env": {...}}``.

    ``data_box`` holds the dataset's ObjectRef (boxed, so that Ray does not fetch it for
    every task): it is fetched once per worker process and kept.
    """
    import ray
    import torch

    from initlab.lab.store import environment
    from initlab.policy.materialize import check_device

    threads = max(1, int(task["cpus"]))
    torch.set_num_threads(threads)
    os.environ["INITLAB_THREADS"] = str(threads)
    check_device(task["device"])
    ref = data_box[0]
    key = ref.hex()
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = ray.get(ref)
    data = _WORKER_DATA[key]
    results = execute_group(task["identities"], data, stack=task["stack"], device=task["device"])
    return {"results": results, "env": environment(task["device"])}


# -- the driver ------------------------------------------------------------------------------
def _compact(data):
    """The dataset with its tensors owning exactly their bytes (a subset is a view of the
    full split: pickled as is, it would ship the whole storage)."""
    from dataclasses import fields, replace

    import torch

    swap = {}
    for f in fields(data):
        t = getattr(data, f.name)
        if isinstance(t, torch.Tensor) and (
                t.untyped_storage().nbytes() > t.numel() * t.element_size()
                or not t.is_contiguous()):
            swap[f.name] = t.contiguous().clone()
    return replace(data, **swap) if swap else data


def _slots(ray, opts: RayOptions) -> int:
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


def _worker_died(ray, exc: BaseException) -> bool:
    return any(isinstance(exc, getattr(ray.exceptions, n, ())) for n in RETRYABLE)


def run_ray(sweep, store, groups, data, progress, outcome) -> None:
    """Train ``groups`` as Ray tasks; claims and every store write stay in this process."""
    ray = import_ray()
    opts = RayOptions.from_any(sweep.executor_options)
    started = connect(ray, opts)
    inflight: dict = {}   # ObjectRef -> (group, task, attempt)
    try:
        slots = _slots(ray, opts)
        remote = ray.remote(ray_task).options(num_cpus=opts.cpus_per_run,
                                              num_gpus=opts.gpus_per_run, max_retries=0)
        data_box = [ray.put(_compact(data))]
        pending = list(groups)
        queued = sum(len(g) for g in pending)
        done = 0

        def show():
            progress.status(queued, sum(len(g) for g, _, _ in inflight.values()), done)

        def submit(group, task, attempt):
            inflight[remote.remote(task, data_box)] = (group, task, attempt)

        while pending or inflight:
            while pending and len(inflight) < slots:
                group = pending.pop(0)
                queued -= len(group)
                ids = set(store.claim([r.id for r in group]))
                mine = [r for r in group if r.id in ids]
                outcome.busy += len(group) - len(mine)
                if not mine:
                    continue
                task = {"identities": [r.identity for r in mine], "stack": sweep.stack,
                        "device": sweep.train.device, "cpus": opts.cpus_per_run}
                submit(mine, task, 1)
            show()
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=HEARTBEAT_S)
            store.heartbeat([r.id for g, _, _ in inflight.values() for r in g])
            for ref in ready:
                group, task, attempt = inflight.pop(ref)
                env = None
                try:
                    out = ray.get(ref)
                    results, env = out["results"], out["env"]
                except Exception as exc:  # noqa: BLE001 - sorted out below
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, InitlabError) or isinstance(exc, InitlabError):
                        store.release([r.id for r in group])
                        raise (cause if isinstance(cause, InitlabError) else exc) from None
                    if _worker_died(ray, exc) and attempt <= opts.retries:
                        submit(group, task, attempt + 1)
                        continue
                    why = "worker died" if _worker_died(ray, exc) else "task error"
                    msg = (f"{why} on attempt {attempt} of {opts.retries + 1}: "
                           f"{error_text(exc).splitlines()[0]}")
                    results = [{"error": msg}] * len(group)
                record_results(store, group, results, env or {}, outcome, progress)
                done += len(group)
    except BaseException:
        for ref in inflight:
            ray.cancel(ref, force=True)
        store.release([r.id for g, _, _ in inflight.values() for r in g])
        raise
    finally:
        if started:
            ray.shutdown()

