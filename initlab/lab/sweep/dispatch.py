"""Run a sweep: plan its runs, then the one dispatch loop, claim -> submit -> heartbeat -> record.

The loop is the only writer of the store, whatever the executor: it claims a group's runs
(another process on the same directory may hold some), submits the group, renews the
claims' leases while it trains (every :data:`HEARTBEAT_S` seconds) and records each group's
outcomes in one transaction as it finishes. A group whose worker died is submitted again
while the executor allows it (Ray's ``retries``), then recorded ``failed``; an initlab error
(bad input) releases the claims and stops the sweep; an interruption releases every claim
still held. Re-running a sweep skips its finished runs and trains the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.lab.data.cache import data_identity, load_data
from initlab.lab.data.dataset import Dataset
from initlab.lab.progress import Progress
from initlab.lab.sweep.config import Sweep
from initlab.lab.sweep.executors import EXECUTORS
from initlab.lab.sweep.runs import RunSpec, group_key, plan_runs
from initlab.lab.sweep.store import FINISHED, Store, environment, open_store
from initlab.lab.sweep.tasks import Executor, GroupTask, RunOutcome
from initlab.lab.sweep.worker import check_runs
from initlab.lab.train.config import TrainConfig, total_steps

__all__ = ["HEARTBEAT_S", "SweepOutcome", "run_sweep", "dispatch", "record_results"]

HEARTBEAT_S = 15.0


@dataclass
class SweepOutcome:
    """What a sweep did: runs in total, skipped (finished before), done, diverged, failed,
    busy (held by another process when we looked), its wall time and the failures' errors.

    Examples:
        >>> SweepOutcome(total=3, done=2, failed=1).failed
        1
    """

    total: int
    skipped: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    busy: int = 0
    wall_time: float = 0.0
    errors: list[str] = field(default_factory=list)


def record_results(store: Store, specs: list[RunSpec], outcomes: list[RunOutcome],
                   env: dict[str, Any], outcome: SweepOutcome, progress: Progress) -> None:
    """Record one group's outcomes in one store transaction (all or none on a crash).

    Args:
        store: the store (this process holds the runs' claims).
        specs: the group's runs.
        outcomes: one per run, in order.
        env: where they ran.
        outcome: the sweep's tally, updated.
        progress: told that the runs finished.
    """
    failed = [(s.id, o.error or "") for s, o in zip(specs, outcomes) if not o.ok]
    done = [(s, o) for s, o in zip(specs, outcomes) if o.ok]
    written = store.record([(s.id, o.result.to_dict(), o.plan)  # type: ignore[union-attr]
                            for s, o in done], failed, env)
    for s, o in zip(specs, outcomes):
        if not o.ok:
            outcome.failed += 1
            outcome.errors.append(f"{s.init_label} seed {s.seed}: {o.error}")
    for (_, o), ok in zip(done, written):
        if ok and o.result is not None:
            kind = o.result.status
            setattr(outcome, kind, getattr(outcome, kind) + 1)
    progress.run_finished(len(specs))


class _Heartbeat:
    """A live group's step callback: forwards to the display, renews the claims now and then."""

    def __init__(self, store: Store, ids: list[str], progress: Progress) -> None:
        self.store, self.ids, self.progress = store, ids, progress
        self.last = time.monotonic()

    def __call__(self, epoch: int, step: int, loss: float) -> None:
        self.progress.step(epoch, step, loss)
        if time.monotonic() - self.last > HEARTBEAT_S:
            self.store.heartbeat(self.ids)
            self.last = time.monotonic()


@dataclass
class _Flight:
    specs: list[RunSpec]
    task: GroupTask
    attempt: int = 1


def dispatch(sweep: Sweep, store: Store, groups: list[list[RunSpec]], data: Dataset,
             executor: Executor, progress: Progress, outcome: SweepOutcome) -> None:
    """Train ``groups`` on ``executor``: the one claim -> submit -> heartbeat -> record loop.

    Args:
        sweep: the sweep (stacking mode and device).
        store: the store; the runs are registered in it.
        groups: the groups of runs, in order.
        data: the dataset (the number of training examples, for the step count).
        executor: where the groups train.
        progress: the display.
        outcome: the tally, updated as groups finish.

    Raises:
        InitlabError: bad input found in a worker (the claims are released first).
    """
    env = environment(sweep.train.device)
    pending = list(groups)
    queued = sum(len(g) for g in pending)
    inflight: dict[int, _Flight] = {}
    finished = tickets = 0

    def held() -> list[str]:
        return [r.id for f in inflight.values() for r in f.specs]

    try:
        while pending or inflight:
            while pending and len(inflight) < executor.slots:
                group = pending.pop(0)
                queued -= len(group)
                ids = set(store.claim([r.id for r in group]))
                mine = [r for r in group if r.id in ids]
                outcome.busy += len(group) - len(mine)
                if not mine:
                    continue
                task = GroupTask([r.identity for r in mine], sweep.stack, sweep.train.device)
                tickets += 1
                inflight[tickets] = _Flight(mine, task)
                beat = None
                if executor.live:
                    config = TrainConfig.from_dict(mine[0].identity["train"])
                    progress.run_started([r.init_label for r in mine], mine[0].seed,
                                         total_steps(config, len(data.train_y)))
                    beat = _Heartbeat(store, [r.id for r in mine], progress)
                executor.submit(tickets, task, beat)
            if not executor.live:
                progress.status(queued, len(held()), finished)
            if not inflight:
                break
            completed = executor.wait(HEARTBEAT_S)
            store.heartbeat(held())
            for c in completed:
                flight = inflight.pop(c.ticket)
                outcomes = c.outcomes
                if c.error is not None:
                    user_error = executor.user_error(c.error)
                    if user_error is not None:
                        store.release([r.id for r in flight.specs])
                        raise user_error from None
                    if executor.worker_died(c.error) and flight.attempt <= executor.retries:
                        tickets += 1
                        inflight[tickets] = _Flight(flight.specs, flight.task,
                                                    flight.attempt + 1)
                        executor.submit(tickets, flight.task, None)
                        continue
                    text = executor.failure_text(c.error, flight.attempt)
                    outcomes = [RunOutcome.failure(text)] * len(flight.specs)
                record_results(store, flight.specs, outcomes, c.env or env, outcome, progress)
                finished += len(flight.specs)
    except BaseException:
        executor.cancel()
        store.release(held())
        raise


def run_sweep(sweep: Sweep, out: str | Path, *, progress: Progress | None = None,
              store: Store | None = None) -> SweepOutcome:
    """Run (or resume) ``sweep`` into ``out``/initlab.db; the store is written only here.

    Args:
        sweep: what to compare.
        out: the sweep's folder (created if needed).
        progress: the display (default: silent).
        store: an open store to use instead of ``out``'s (kept open).

    Returns:
        The :class:`SweepOutcome`.

    Raises:
        InitlabError: bad input (an unknown model, init or dataset, a device that is not
            there, ...), before anything is recorded where it can be found early.

    Examples:
        >>> import tempfile
        >>> sweep = Sweep(inits=["zeros", "xavier_normal"], model="mlp",
        ...               model_kwargs={"widths": [8]}, dataset="synthetic", n_train=64,
        ...               n_test=16, train=TrainConfig(steps=2))
        >>> o = run_sweep(sweep, tempfile.mkdtemp())
        >>> (o.total, o.done, o.failed)
        (2, 2, 0)
    """
    progress = progress or Progress()
    kind = EXECUTORS.get(sweep.executor)
    if kind.check_driver_device():
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
            batches = list(groups.values())
            if not sweep.stacks:  # one run at a time: each is recorded as soon as it ends
                batches = [[r] for g in batches for r in g]
            with kind.open(sweep, data) as executor:
                dispatch(sweep, store, batches, data, executor, progress, outcome)
        outcome.wall_time = time.perf_counter() - started
        return outcome
    finally:
        progress.stop()
        if own_store:
            store.close()
