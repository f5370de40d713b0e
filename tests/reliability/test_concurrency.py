"""Concurrency: several drivers on one output directory never train a run twice.

Two ``initlab compare`` processes with overlapping sweeps both finish, every run is done
exactly once, and the run counts they print add up to the sweep; several processes
hammering the store's claims get disjoint sets of runs.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

SEEDS = {"a": 4, "b": 6}   # b's sweep contains a's runs plus two more seeds


def _compare(out, seeds: int) -> list[str]:
    return [sys.executable, "-m", "initlab.cli", "compare", "--model", "mlp",
            "--model-arg", "widths=[32]", "--dataset", "synthetic", "--n-train", "1024",
            "--n-test", "64", "--policies", "xavier_normal,zeros", "--epochs", "2",
            "--seeds", str(seeds), "--grad-norm-steps", "2", "--no-stack", "--out", str(out),
            "--quiet"]


def test_two_compare_processes_on_one_directory_each_run_done_once(tmp_path):
    out = tmp_path / "shared"
    procs = {k: subprocess.Popen(_compare(out, n), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k, n in SEEDS.items()}
    trained = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        m = re.search(r"(\d+) runs trained, (\d+) resumed", stdout)
        assert m, stdout
        trained[k] = int(m.group(1))
    db = sqlite3.connect(str(out / "initlab.db"))
    try:
        runs = db.execute("SELECT id, status, attempts, steps FROM runs").fetchall()
        steps = dict(db.execute("SELECT run_id, COUNT(*) FROM metrics WHERE kind = 'step' "
                                "GROUP BY run_id").fetchall())
        epochs = dict(db.execute("SELECT run_id, COUNT(*) FROM metrics WHERE kind = 'epoch' "
                                 "GROUP BY run_id").fetchall())
    finally:
        db.close()
    assert len(runs) == 2 * max(SEEDS.values())
    assert all(status == "done" and attempts == 1 for _, status, attempts, _ in runs)
    assert all(steps[rid] == n == 32 and epochs[rid] == 8 for rid, _, _, n in runs)
    # each run was trained by exactly one of the two processes
    assert trained["a"] + trained["b"] == len(runs), trained
    report = json.loads((out / "report.json").read_text())   # written whole, by both
    assert sum(s["seeds"] for s in report["summary"]) == len(runs)


HAMMER = r'''
import json, random, sys
from initlab.lab.sweep.store import open_store

out, seed = sys.argv[1], int(sys.argv[2])
store = open_store(out)
ids = [r["id"] for r in store.runs()]
random.Random(seed).shuffle(ids)
got = []
for rid in ids:
    for mine in store.claim([rid]):
        got.append(mine)
        assert store.finish(mine, {"status": "done", "step_losses": [1.0, 0.5],
                                   "epochs": [{"epoch": 1, "step": 2, "train_loss": 0.5}]},
                            None, {"who": seed})
print(json.dumps(got))
'''


def test_claims_are_exclusive_under_contention(tmp_path):
    from initlab.lab.sweep.store import open_store

    ids = [f"run{i:03d}" for i in range(150)]
    with open_store(tmp_path) as st:
        st.register([{"id": i, "identity": {"i": i}, "init_label": "x", "init_spec": "x",
                      "seed": 0} for i in ids])
    procs = [subprocess.Popen([sys.executable, "-c", HAMMER, str(tmp_path), str(s)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in range(3)]
    claimed = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        claimed.append(json.loads(stdout))
    assert sorted(sum(claimed, [])) == ids            # every run claimed once, by one process
    with open_store(tmp_path, create=False) as st:
        rows = st.runs()
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
        assert all(len(st.step_losses(r["id"])) == 2 for r in rows)
        owners = {r["environment"]["who"] for r in rows}
    assert owners <= {0, 1, 2}
