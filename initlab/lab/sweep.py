"""Sweeps: inits x axes x seeds on one model and dataset, trained, recorded, resumable.

A run's identity is (model, model kwargs, dataset and its subset, the data's source and
checksum, init spec, target glob, seed, training config); ``axes``
(:mod:`initlab.lab.axes`) vary training settings and model arguments over a grid. Its id is
the blake2b hash of that identity as canonical JSON. Re-running a sweep registers the same
ids, skips the finished ones (``done`` or ``diverged``) and trains the rest. Runs of one
seed and one grid point form a *group*: they see the same
batches (``data_seed`` = the seed: common random numbers, so differences come from the
init) and are trained together with ``train_stacked`` (by default one K-wide network on
CUDA, one stacked group per core on CPU; ``stack="always"`` forces one network, ``False``
trains one by one).

The layers an init does not target keep PyTorch's default init, drawn from initlab's keyed
streams with the run's seed (the ``torch_default`` policy): deterministic, and equal across
the inits of one seed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from initlab.errors import ConfigError, InitlabError
from initlab.lab.data_cache import data_identity, load_data
from initlab.lab.inits import canonical_init, split_inits
from initlab.lab.store import FINISHED, Store, environment, open_store
from initlab.lab.train import TrainConfig

__all__ = ["Sweep", "RunSpec", "SweepOutcome", "split_inits", "canonical_init", "plan_runs",
           "run_sweep", "prepare_model", "execute_group", "load_data", "data_identity",
           "group_key"]

HEARTBEAT_S = 15.0


@dataclass
class Sweep:
    """What to compare. ``seeds``: a count N (seeds 0..N-1) or explicit seeds."""

    inits: list[str] | dict[str, str]   # specs / policy names, or {label: spec}
    model: str = "seed-cnn"
    dataset: str = "fashion-mnist"
    seeds: int | list[int] = 1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1))
    target: str | None = None
    model_kwargs: dict = field(default_factory=dict)
    data_dir: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    stack: bool | str = True   # True = "auto" (stacked where it is faster), False = "never"
    workers: int = 1
    executor: str = "local"       # "local" (in process / --workers pool) or "ray"
    executor_options: dict | None = None  # for "ray": initlab.lab.executor_ray.RayOptions
    axes: dict[str, list] = field(default_factory=dict)  # {"lr": [0.01, 0.1], "model.width": ..}

    def __post_init__(self):
        from initlab.lab.axes import check_size, parse_axis, parse_seeds

        if isinstance(self.inits, str):
            self.inits = split_inits(self.inits)
        if not self.inits:
            raise ConfigError("No inits to compare: got an empty list; expected at least one, "
                              "e.g. inits=['xavier_normal', 'kaiming_normal']")
        if isinstance(self.seeds, (int, str)) and not isinstance(self.seeds, bool):
            self.seeds = parse_seeds(self.seeds)
        self.seeds = [int(s) for s in self.seeds]
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds lists a seed twice: got {self.seeds}; expected distinct")
        axes = {}
        for key, values in dict(self.axes).items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"axis {key!r} needs a non-empty list of values; got "
                                  f"{values!r}; expected e.g. axes={{'lr': [0.01, 0.1]}}")
            axes[parse_axis(f"{key}=0")[0]] = list(values)
        self.axes = axes
        check_size(len(self.inits), len(self.seeds), self.axes)
        if self.stack not in (True, False, "auto", "always", "never"):
            raise ConfigError(f"stack must be True, False, 'auto', 'always' or 'never'; got "
                              f"{self.stack!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1; got {self.workers!r}")
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray'; got {self.executor!r}")
        if self.executor == "ray":
            from initlab.lab.executor_ray import RayOptions, import_ray

            self.executor_options = RayOptions.from_any(self.executor_options)
            import_ray()
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive integer or None; got {v!r}")


@dataclass(frozen=True)
class RunSpec:
    id: str
    identity: dict
    init_label: str
    init_spec: str
    seed: int

    def record(self) -> dict:
        return {"id": self.id, "identity": self.identity, "init_label": self.init_label,
                "init_spec": self.init_spec, "seed": self.seed}


def run_id(identity: dict) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def plan_runs(sweep: Sweep, data_id: dict | None = None) -> list[RunSpec]:
    """Every run of the sweep: seed-major, then the axes' grid points, then the inits in
    the order of ``sweep.inits``. ``data_id`` (``{"source", "checksum"}`` of the loaded
    data) joins each identity: runs on other data are other runs, never resumed or pooled."""
    from initlab.lab.axes import apply_point, grid

    pairs = sweep.inits.items() if isinstance(sweep.inits, dict) else \
        ((i, i) for i in sweep.inits)
    specs = {label: canonical_init(init) for label, init in pairs}
    labels = list(specs)
    base = sweep.train.to_dict()
    base.pop("device", None)  # where it ran is the environment, not the identity
    points = []
    for point in grid(sweep.axes):
        train, kwargs = apply_point(base, sweep.model_kwargs, point)
        try:
            TrainConfig.from_dict(train)
        except ConfigError as exc:
            raise ConfigError(f"--sweep point {point} is invalid: {exc}") from None
        points.append((train, kwargs))
    runs = []
    for seed in sweep.seeds:
        for train, kwargs in points:
            for label in labels:
                identity = {"model": sweep.model, "model_kwargs": kwargs,
                            "dataset": sweep.dataset, "n_train": sweep.n_train,
                            "n_test": sweep.n_test, "init": specs[label],
                            "target": sweep.target, "seed": seed, "train": train}
                if data_id is not None:
                    identity["data"] = data_id
                runs.append(RunSpec(run_id(identity), identity, label, specs[label], seed))
    return runs


def group_key(identity: dict) -> str:
    """Runs with equal keys train together (one seed, one config, several inits): decided
    by the sweep alone, never by the machine."""
    return json.dumps({k: v for k, v in identity.items() if k != "init"}, sort_keys=True)


def target_names(model, target: str | None) -> list[str] | None:
    """Parameter names a ``--target`` glob selects: ``conv1`` means ``conv1`` and ``conv1.*``."""
    if target is None:
        return None
    names = [n for n, _ in model.named_parameters()]
    hit = [n for n in names if fnmatch.fnmatchcase(n, target)
           or fnmatch.fnmatchcase(n, target + ".*")]
    if not hit:
        raise ConfigError(f"--target {target!r} matches no parameter of {type(model).__name__}; "
                          f"expected a glob over {names}; hint: use a module name like 'conv1'")
    return hit


def prepare_model(identity: dict, input_shape, num_classes: int):
    """Build a run's model and initialize it; returns (model, the full Plan as dict)."""
    import initlab
    from initlab.lab.models import build

    model = build(identity["model"], input_shape, num_classes, **identity["model_kwargs"])
    seed = identity["seed"]
    base = initlab.apply(model, "torch_default", seed=seed).to_dict()
    only = target_names(model, identity["target"])
    init = identity["init"]
    if init.startswith("{"):
        from initlab.policy import Policy

        init = Policy.from_dict(json.loads(init))
    plan = initlab.apply(model, init, seed=seed, only=only).to_dict()
    if only is not None:  # the full Plan: targeted rows from the init, the rest default
        chosen = {r["name"]: r for r in plan["rows"]}
        rows = [chosen.get(r["name"], r) for r in base["rows"]]
        plan = {**plan, "rows": rows, "meta": {**plan.get("meta", {}), "base": "torch_default"}}
    return model, plan


def check_runs(runs: list[RunSpec], data) -> None:
    """Fail early (before anything is recorded) when a model, target or init cannot work:
    every distinct init is applied once to a freshly built model."""
    seen = set()
    for r in runs:
        key = (r.init_spec, json.dumps(r.identity["model_kwargs"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            prepare_model(r.identity, data.input_shape, data.num_classes)


def execute_group(identities: list[dict], data, *, stack: bool | str = True, device: str = "cpu",
                  progress=None) -> list[dict]:
    """Train the runs of one seed; one ``{"result", "plan"}`` or ``{"error"}`` per run."""
    from initlab.lab.train import TrainConfig, train, train_stacked

    out: list[dict | None] = [None] * len(identities)
    models, plans, where = [], [], []
    for i, ident in enumerate(identities):
        try:
            m, p = prepare_model(ident, data.input_shape, data.num_classes)
        except Exception as exc:  # noqa: BLE001 - recorded as the run's error
            out[i] = {"error": error_text(exc)}
            continue
        models.append(m)
        plans.append(p)
        where.append(i)
    if models:
        config = TrainConfig.from_dict({**identities[where[0]]["train"], "device": device})
        seed = identities[where[0]]["seed"]
        try:
            mode = {True: "auto", False: "never"}.get(stack, stack)
            with sweep_threads(device):
                if mode != "never" and len(models) > 1:
                    results = train_stacked(models, data, config, data_seed=seed,
                                            progress=progress, stack=mode)
                else:
                    results = [train(m, data, config, data_seed=seed, progress=progress)
                               for m in models]
            for i, r, p in zip(where, results, plans):
                out[i] = {"result": r.to_dict(), "plan": p}
        except InitlabError:
            raise
        except Exception as exc:  # noqa: BLE001
            for i in where:
                out[i] = {"error": error_text(exc)}
    return out  # type: ignore[return-value]


SWEEP_THREADS = 2


@contextmanager
def sweep_threads(device: str):
    """On CPU, train a group with :data:`SWEEP_THREADS` intra-op threads whatever the
    machine: the stacked groups (one per thread, :func:`initlab.lab.stack.cpu_groups`) and
    every reduction are then decided by the sweep, so the local executor, ``--workers N``
    and Ray give the same bits on any core count."""
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(SWEEP_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def total_steps(config: TrainConfig, n: int) -> int:
    """Optimizer steps of one run on ``n`` training examples (``epochs`` and ``steps``)."""
    per_epoch = math.ceil(n / config.batch_size)
    if config.epochs is None and config.steps is not None:
        return config.steps
    total = (config.epochs or 1) * per_epoch
    return total if config.steps is None else min(config.steps, total)


def error_text(exc: BaseException) -> str:
    tb = traceback.format_exception_only(type(exc), exc)
    return "".join(tb).strip()


@dataclass
class SweepOutcome:
    total: int
    skipped: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    busy: int = 0        # held by another process when we looked
    wall_time: float = 0.0
    errors: list[str] = field(default_factory=list)


class Progress:
    """What a sweep reports (the CLI's rich display implements it; this base is silent)."""

    def start(self, total: int, finished: int) -> None: ...
    def run_started(self, labels: list[str], seed: int, steps: int | None) -> None: ...
    def step(self, epoch: int, step: int, loss: float) -> None: ...
    def run_finished(self, n: int) -> None: ...
    def status(self, queued: int, running: int, done: int) -> None: ...
    def stop(self) -> None: ...


def run_sweep(sweep: Sweep, out: str | Path, *, progress: Progress | None = None,
              store: Store | None = None) -> SweepOutcome:
    """Run (or resume) ``sweep`` into ``out``/initlab.db; the store is written only here."""
    progress = progress or Progress()
    if sweep.executor == "local":  # on Ray the workers check it: the driver may have no GPU
        from initlab.policy.materialize import check_device

        check_device(sweep.train.device)
    data = load_data(sweep.dataset, sweep.data_dir, sweep.n_train, sweep.n_test)
    runs = plan_runs(sweep, data_identity(sweep.dataset, sweep.data_dir))
    check_runs(runs, data)
    own_store = store is None
    store = store or open_store(out)
    started = time.perf_counter()
    try:
        store.register([r.record() for r in runs])
        status = {r["id"]: r["status"] for r in store.runs()}
        outcome = SweepOutcome(total=len(runs))
        outcome.skipped = sum(status[r.id] in FINISHED for r in runs)
        groups: dict[str, list[RunSpec]] = {}
        for r in runs:
            if status[r.id] not in FINISHED:
                groups.setdefault(group_key(r.identity), []).append(r)
        progress.start(len(runs), outcome.skipped)
        if groups:
            from initlab.lab.executors import run_pool

            runner = _run_local if sweep.workers == 1 else run_pool
            if sweep.executor == "ray":
                from initlab.lab.executor_ray import run_ray

                runner = run_ray
            batches = list(groups.values())
            if not stacks(sweep):  # one run at a time: each is recorded as soon as it ends
                batches = [[r] for g in batches for r in g]
            runner(sweep, store, batches, data, progress, outcome)
        outcome.wall_time = time.perf_counter() - started
        return outcome
    finally:
        progress.stop()
        if own_store:
            store.close()


def stacks(sweep: Sweep) -> bool:
    """Whether the runs of a seed go to ``train_stacked`` together (its ``auto`` policy
    stacks them on CUDA and trains one group per core, stacked, on CPU)."""
    return sweep.stack not in (False, "never")


def record_results(store: Store, specs: list[RunSpec], results: list[dict], env: dict,
                   outcome: SweepOutcome, progress: Progress) -> None:
    """Record one group's outcomes in one store transaction (all or none on a crash)."""
    failed = [(spec.id, res["error"]) for spec, res in zip(specs, results) if "error" in res]
    done = [(spec, res) for spec, res in zip(specs, results) if "error" not in res]
    written = store.record([(spec.id, res["result"], res["plan"]) for spec, res in done],
                          failed, env)
    for spec, res in zip(specs, results):
        if "error" in res:
            outcome.failed += 1
            outcome.errors.append(f"{spec.init_label} seed {spec.seed}: {res['error']}")
    for (_, res), ok in zip(done, written):
        if ok:
            kind = res["result"]["status"]
            setattr(outcome, kind, getattr(outcome, kind) + 1)
    progress.run_finished(len(specs))


def _run_local(sweep, store, groups, data, progress, outcome) -> None:
    env = environment(sweep.train.device)
    for group in groups:
        ids = set(store.claim([r.id for r in group]))
        mine = [r for r in group if r.id in ids]
        outcome.busy += len(group) - len(mine)
        if not mine:
            continue
        config = TrainConfig.from_dict(mine[0].identity["train"])
        progress.run_started([r.init_label for r in mine], mine[0].seed,
                             total_steps(config, len(data.train_y)))
        beat = _Heartbeat(store, [r.id for r in mine], progress)
        try:
            results = execute_group([r.identity for r in mine], data, stack=sweep.stack,
                                    device=sweep.train.device, progress=beat)
        except BaseException:
            store.release([r.id for r in mine])
            raise
        record_results(store, mine, results, env, outcome, progress)


class _Heartbeat:
    """Training progress callback: forwards to the display, renews the claims now and then."""

    def __init__(self, store: Store, ids: list[str], progress: Progress):
        self.store, self.ids, self.progress = store, ids, progress
        self.last = time.monotonic()

    def __call__(self, epoch: int, step: int, loss: float) -> None:
        self.progress.step(epoch, step, loss)
        if time.monotonic() - self.last > HEARTBEAT_S:
            self.store.heartbeat(self.ids)
            self.last = time.monotonic()
