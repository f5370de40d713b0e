"""Crash safety: a sweep SIGKILLed at random moments, many times over.

One helper subprocess imports initlab once (and warms it up), then for each trial forks a
child that runs the sweep (``run_sweep``, the engine behind ``initlab compare``) into a
fresh directory and kills it with SIGKILL after a random delay drawn across the sweep's
measured duration: while the store is created, runs registered, claimed, trained, or a
finished run is being written. For every trial this test then checks that the database
opens and passes SQLite's integrity check, that every run recorded ``done`` has exactly
the metrics of an uninterrupted sweep, and that re-running completes the sweep without
re-training a finished run and without duplicate rows.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.sweep.store import open_store
from initlab.lab.train import TrainConfig

TRIALS = 30
SWEEP = {"model": "mlp", "model_kwargs": {"widths": [8]}, "dataset": "synthetic",
         "n_train": 128, "n_test": 32, "inits": ["xavier_normal", "zeros"], "seeds": 6,
         "train": {"epochs": 2, "batch_size": 32, "grad_norm_steps": 2}}

KILLER = r'''
import json, os, random, signal, sys, time
import torch
torch.set_num_threads(1)
from initlab.lab.sweep import Sweep, run_sweep, load_data
from initlab.lab.train import TrainConfig

args = json.loads(sys.argv[1])
kw = dict(args["sweep"], train=TrainConfig(**args["sweep"]["train"]))
load_data(kw["dataset"], None, kw["n_train"], kw["n_test"])   # children inherit the data
run_sweep(Sweep(**kw), os.path.join(args["root"], "warmup"))     # and warm imports

def fork_sweep(out, delay):
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1), os.dup2(null, 2)
        try:
            run_sweep(Sweep(**kw), out)
        finally:
            os._exit(0)
    t0 = time.perf_counter()
    if delay is None:
        os.waitpid(pid, 0)
        return time.perf_counter() - t0, False
    time.sleep(delay)
    if os.waitpid(pid, os.WNOHANG) != (0, 0):   # it finished (and is reaped) first
        return delay, False
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return delay, os.WIFSIGNALED(status)

duration = min(fork_sweep(os.path.join(args["root"], f"calib{i}"), None)[0] for i in range(2))
rng = random.Random(args["seed"])
trials = []
for i in range(args["trials"]):
    out = os.path.join(args["root"], f"trial{i:02d}")
    delay, killed = fork_sweep(out, rng.uniform(0.0, 0.95 * duration))
    trials.append({"out": out, "delay": delay, "killed": killed})
print(json.dumps({"duration": duration, "trials": trials}))
'''


def _sweep() -> Sweep:
    return Sweep(**{**SWEEP, "train": TrainConfig(**SWEEP["train"])})


def _contents(out) -> dict:
    """run id -> (status, attempts, step losses, epoch rows, grad norm rows)."""
    with open_store(out, create=False) as st:
        return {r["id"]: (r["status"], r["attempts"], st.step_losses(r["id"]),
                          st.epochs(r["id"]), st.grad_norms(r["id"])) for r in st.runs()}


def _row_counts(out) -> tuple[int, int]:
    db = sqlite3.connect(str(out / "initlab.db"))
    try:
        return (db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM grad_norms").fetchone()[0])
    finally:
        db.close()


@pytest.fixture(scope="module")
def killed_trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    arg = json.dumps({"sweep": SWEEP, "root": str(root), "trials": TRIALS, "seed": 7})
    res = subprocess.run([sys.executable, "-c", KILLER, arg], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    reference = _contents(root / "warmup")
    return report, reference, _row_counts(root / "warmup")


def test_sigkill_at_random_moments_never_loses_or_duplicates_a_run(killed_trials, tmp_path):
    from pathlib import Path

    report, reference, ref_rows = killed_trials
    trials = report["trials"]
    assert len(reference) == 12 and all(v[0] == "done" for v in reference.values())
    assert sum(t["killed"] for t in trials) >= 20, report   # >= 20 kills mid-sweep
    partial = 0
    for t in trials:
        out = Path(t["out"])
        before = {}
        if (out / "initlab.db").exists():
            db = sqlite3.connect(str(out / "initlab.db"))   # the database opens ...
            try:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", t
            finally:
                db.close()
            before = _contents(out)                          # ... and the store reads it
        done_before = {rid for rid, v in before.items() if v[0] == "done"}
        for rid in done_before:  # every finished run has exactly its metrics, nothing less
            status, attempts, losses, epochs, grads = before[rid]
            assert (losses, epochs, grads) == reference[rid][2:], (t, rid)
            assert attempts == 1
        for rid, v in before.items():
            if v[0] != "done":   # an unfinished run has no metrics at all (no half runs)
                assert v[2:] == ([], [], []), (t, rid, v[0])
        partial += 0 < len(done_before) < 12
        outcome = run_sweep(_sweep(), out)                   # re-running completes it
        assert (outcome.skipped, outcome.failed) == (len(done_before), 0), t
        assert outcome.done == 12 - len(done_before), t
        after = _contents(out)
        assert after.keys() == reference.keys()
        for rid, v in after.items():
            assert v[0] == "done" and v[2:] == reference[rid][2:], (t, rid)
            if rid in done_before:
                assert v[1] == 1, (t, rid)                    # never trained again
        assert _row_counts(out) == ref_rows, t               # no duplicate rows
        db = sqlite3.connect(str(out / "initlab.db"))
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()
    assert partial >= 5, f"only {partial} trials were killed between two finished runs"
