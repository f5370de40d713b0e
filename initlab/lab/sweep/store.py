"""The sweep store: one SQLite database (WAL) per output directory, ``<out>/initlab.db``.

Tables:

- ``runs``: one row per run (id = hash of its identity, see :mod:`initlab.lab.sweep.runs`):
  the identity and config as JSON, the init (label and spec), the seed, the executed Plan
  as JSON, status (``pending``, ``running``, ``done``, ``diverged``, ``failed``), error,
  timings, summary figures and the environment (torch version, device, initlab git sha,
  hostname).
- ``metrics``: long format ``(run_id, kind, step, epoch, name, value)``; ``kind`` is
  ``step`` (one ``loss`` row per optimizer step) or ``epoch`` (train/test loss and accuracy
  after each epoch).
- ``grad_norms``: ``(run_id, step, layer, value)`` for the first steps.

Concurrency and crashes:

- A run is *claimed* before it is trained, with one atomic ``UPDATE ... WHERE status IN
  ('pending', 'failed')`` (or a ``running`` claim whose lease expired, or whose owner is a
  process of this host that no longer exists), inside ``BEGIN IMMEDIATE``: two processes
  on the same directory never train the same run at once.
- A finished run is written in one transaction (metrics, grad norms and the ``done``
  status together), and only by the process that holds its claim: a ``kill -9`` leaves
  either a finished run or an unfinished one (re-run next time), never half of one, and no
  run is recorded done twice.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from initlab.errors import ConfigError
from initlab.lab.sweep.store_errors import store_errors

__all__ = ["DB_NAME", "FINISHED", "Store", "open_store", "owner_id", "environment", "store_errors"]

DB_NAME = "initlab.db"
FINISHED = ("done", "diverged")
CLAIMABLE = ("pending", "failed")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    identity TEXT NOT NULL,
    init_label TEXT NOT NULL,
    init_spec TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    plan TEXT,
    error TEXT,
    owner TEXT,
    claimed_at REAL,
    started_at REAL,
    finished_at REAL,
    wall_time REAL,
    steps INTEGER,
    steps_to_target INTEGER,
    diverged_at INTEGER,
    stacked INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    environment TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    step INTEGER,
    epoch INTEGER,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, kind);
CREATE TABLE IF NOT EXISTS grad_norms (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step INTEGER NOT NULL,
    layer TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS grad_norms_run ON grad_norms(run_id);
"""

_EPOCH_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


def owner_id() -> str:
    """This process as a claim owner: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str | None) -> bool:
    """False only when ``owner`` is a process of this host that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: only the lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def environment(device: str = "cpu") -> dict:
    """Where a run ran: torch version, device, initlab version and git sha, host."""
    import torch

    from initlab._version import __version__

    env = {"torch": torch.__version__, "device": str(device), "initlab": __version__,
           "git_sha": _git_sha(), "hostname": socket.gethostname(),
           "threads": torch.get_num_threads()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return env


def _git_sha() -> str | None:
    """The initlab checkout's HEAD commit, read from .git (no subprocess), or None."""
    root = Path(__file__).resolve().parents[3] / ".git"
    try:
        head = (root / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(None, 1)[1]
        path = root / ref
        if path.exists():
            return path.read_text().strip()
        packed = root / "packed-refs"
        for line in packed.read_text().splitlines() if packed.exists() else []:
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, IndexError):
        return None
    return None


def _finite(v: Any) -> Any:
    return float(v) if v is not None and math.isfinite(float(v)) else None


class Store:
    """The SQLite store of one sweep directory (see the module docstring)."""

    def __init__(self, path: str | Path, *, lease_s: float = 600.0, readonly: bool = False):
        self.path = Path(path)
        self.lease_s = float(lease_s)
        self.owner = owner_id()
        self.readonly = readonly
        if readonly:  # a sweep on read-only media: no WAL, no schema writes, no locks
            uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("SELECT count(*) FROM runs").fetchone()
            return
        self.db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=60000")
        self._enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self.db.execute(stmt)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                            (str(SCHEMA_VERSION),))

    def _enable_wal(self, timeout: float = 60.0) -> None:
        """Switch to WAL. SQLite answers "locked" at once, without waiting, while another
        process creates the same database: retry until the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- registering and claiming -------------------------------------------------------
    def register(self, runs: Iterable[dict]) -> int:
        """Insert runs (dicts with id, identity, init_label, init_spec, seed) not yet known.

        Returns how many were new. Known runs keep their status (that is the resume).
        """
        new = 0
        with self.transaction() as db:
            pos = db.execute("SELECT COALESCE(MAX(position), -1) FROM runs").fetchone()[0]
            for r in runs:
                pos += 1
                cur = db.execute(
                    "INSERT OR IGNORE INTO runs (id, position, identity, init_label, "
                    "init_spec, seed) VALUES (?, ?, ?, ?, ?, ?)",
                    (r["id"], pos, json.dumps(r["identity"], sort_keys=True),
                     r["init_label"], r["init_spec"], int(r["seed"])))
                new += cur.rowcount
        return new

    def claim(self, ids: Iterable[str]) -> list[str]:
        """Atomically take the runs among ``ids`` that nobody holds and that are unfinished."""
        now = time.time()
        got = []
        with self.transaction() as db:
            for rid in ids:
                row = db.execute("SELECT status, owner, claimed_at FROM runs WHERE id = ?",
                                 (rid,)).fetchone()
                if row is None or row["status"] in FINISHED:
                    continue
                stale = row["status"] == "running" and (
                    (row["claimed_at"] or 0) < now - self.lease_s
                    or not _owner_alive(row["owner"]))
                cur = db.execute(
                    "UPDATE runs SET status = 'running', owner = ?, claimed_at = ?, "
                    "started_at = ?, attempts = attempts + 1, error = NULL WHERE id = ? AND "
                    f"(status IN {CLAIMABLE!r} OR (status = 'running' AND owner = ? AND ?))",
                    (self.owner, now, now, rid, row["owner"], int(stale)))
                if cur.rowcount:
                    got.append(rid)
        return got

    def heartbeat(self, ids: Iterable[str]) -> None:
        """Renew this process's claims on ``ids`` (long runs keep their lease)."""
        ids = list(ids)
        if not ids:
            return
        with self.transaction() as db:
            db.executemany("UPDATE runs SET claimed_at = ? WHERE id = ? AND owner = ? "
                           "AND status = 'running'", [(time.time(), i, self.owner) for i in ids])

    def release(self, ids: Iterable[str]) -> None:
        """Give back claims without a result (e.g. on Ctrl-C): the runs become pending."""
        with self.transaction() as db:
            db.executemany("UPDATE runs SET status = 'pending', owner = NULL WHERE id = ? AND "
                           "owner = ? AND status = 'running'", [(i, self.owner) for i in ids])

    # -- recording results ---------------------------------------------------------------
    def finish(self, run_id: str, result: dict, plan: dict | None, env: dict) -> bool:
        """Record a finished run (a RunResult as dict) in one transaction.

        Only the claim holder writes; returns False (nothing written) when this process no
        longer holds the claim (its lease expired and another process took the run).
        """
        return self.record([(run_id, result, plan)], [], env)[0]

    def fail(self, run_id: str, error: str) -> None:
        """Mark a claimed run failed (it will be retried on the next resume)."""
        self.record([], [(run_id, error)], {})

    def record(self, finished: list[tuple[str, dict, dict | None]],
               failed: list[tuple[str, str]], env: dict) -> list[bool]:
        """Record the outcome of a group of runs trained together, in one transaction.

        ``finished``: (run id, RunResult as dict, plan); ``failed``: (run id, error). A
        kill leaves either all of them recorded or none: a stacked group is never re-trained
        in part, with other runs beside it (which changes its rounding). Returns, per
        finished run, whether it was written (False: this process no longer holds the
        claim).
        """
        for _, result, _ in finished:
            status = result.get("status", "done")
            if status not in FINISHED:
                raise ConfigError(f"finish() got status {status!r}; expected one of "
                                  f"{FINISHED}")
        written = []
        with self.transaction() as db:
            for run_id, error in failed:
                db.execute("UPDATE runs SET status = 'failed', error = ?, finished_at = ?, "
                           "owner = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                           (error[:2000], time.time(), run_id, self.owner))
            for run_id, result, plan in finished:
                written.append(self._write_finished(db, run_id, result, plan, env))
        return written

    def _write_finished(self, db: sqlite3.Connection, run_id: str, result: dict, plan: dict | None,
                        env: dict) -> bool:
        cur = db.execute(
            "UPDATE runs SET status = ?, plan = ?, finished_at = ?, wall_time = ?, "
            "steps = ?, steps_to_target = ?, diverged_at = ?, stacked = ?, environment = ?,"
            " error = NULL WHERE id = ? AND owner = ? AND status = 'running'",
            (result.get("status", "done"), json.dumps(plan) if plan is not None else None,
             time.time(), result.get("wall_time"), result.get("steps"),
             result.get("steps_to_target"), result.get("diverged_at"), result.get("stacked"),
             json.dumps(env), run_id, self.owner))
        if not cur.rowcount:
            return False
        db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
        db.execute("DELETE FROM grad_norms WHERE run_id = ?", (run_id,))
        db.executemany(
            "INSERT INTO metrics VALUES (?, 'step', ?, NULL, 'loss', ?)",
            [(run_id, i, _finite(v)) for i, v in enumerate(result.get("step_losses", []), 1)])
        db.executemany(
            "INSERT INTO metrics VALUES (?, 'epoch', ?, ?, ?, ?)",
            [(run_id, e.get("step"), e["epoch"], name, _finite(e.get(name)))
             for e in result.get("epochs", []) for name in _EPOCH_METRICS if name in e])
        db.executemany("INSERT INTO grad_norms VALUES (?, ?, ?, ?)",
                       [(run_id, g["step"], g["layer"], _finite(g["value"]))
                        for g in result.get("grad_norms", [])])
        return True

    # -- reading ------------------------------------------------------------------------
    def runs(self, status: str | Iterable[str] | None = None) -> list[dict]:
        """Run rows in sweep order, JSON columns decoded."""
        sql, args = "SELECT * FROM runs", tuple[str, ...]()
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args = statuses
        out = []
        for row in self.db.execute(sql + " ORDER BY position", args):
            d = dict(row)
            for key in ("identity", "plan", "environment"):
                d[key] = json.loads(d[key]) if d[key] else None
            out.append(d)
        return out

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in
                self.db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status")}

    def epochs(self, run_id: str) -> list[dict]:
        """Per-epoch rows ``{epoch, step, train_loss, train_acc, test_loss, test_acc}``."""
        rows: dict[int, dict] = {}
        for r in self.db.execute("SELECT epoch, step, name, value FROM metrics WHERE run_id = ? "
                                 "AND kind = 'epoch' ORDER BY epoch", (run_id,)):
            row = rows.setdefault(r["epoch"], {"epoch": r["epoch"], "step": r["step"]})
            row[r["name"]] = r["value"]
        return list(rows.values())

    def step_losses(self, run_id: str) -> list[float]:
        return [r[0] if r[0] is not None else float("nan") for r in self.db.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND kind = 'step' ORDER BY step",
            (run_id,))]

    def grad_norms(self, run_id: str) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT step, layer, value FROM grad_norms WHERE run_id = ? ORDER BY step, rowid",
            (run_id,))]


def open_store(out: str | Path, *, create: bool = True, lease_s: float = 600.0) -> Store:
    """The store of sweep directory ``out`` (created with the directory when ``create``).
    Without ``create`` a sweep that cannot be written (read-only folder or file) is opened
    read-only; a damaged database is a one-line error."""
    out = Path(out)
    db = out / DB_NAME
    if not create and not db.exists():
        raise ConfigError(f"No initlab sweep in '{out}': {DB_NAME} not found; expected the "
                          "--out directory of an 'initlab compare' run")
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"Cannot create the output directory '{out}': {exc}") from exc
    readonly = not create and not (os.access(db, os.W_OK) and os.access(out, os.W_OK))
    with store_errors(db):
        return Store(db, lease_s=lease_s, readonly=readonly)
