"""Sweeps: init parsing, run identity, resume, divergence, targets, workers, kill -9, races."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from initlab.errors import ConfigError
from initlab.lab.inits import canonical_init, split_inits
from initlab.lab.sweep import Sweep, plan_runs, run_sweep
from initlab.lab.sweep.store import open_store
from initlab.lab.train import TrainConfig

TINY = {"model": "mlp", "model_kwargs": {"widths": [16]}, "dataset": "synthetic",
        "n_train": 256, "n_test": 64}


def _sweep(**kw):
    args = {**TINY, "inits": ["xavier_normal", "zeros"], "seeds": 2,
            "train": TrainConfig(epochs=1, grad_norm_steps=2)}
    args.update(kw)
    return Sweep(**args)


@pytest.mark.parametrize("text, parts", [
    ("xavier_normal,zeros", ["xavier_normal", "zeros"]),
    ("kaiming_normal(mode='fan_out', nonlinearity='relu'), normal(std=0.01)",
     ["kaiming_normal(mode='fan_out', nonlinearity='relu')", "normal(std=0.01)"]),
    ('{"a": [1, 2]},auto', ['{"a": [1, 2]}', "auto"]),
    ("auto", ["auto"]),
])
def test_split_inits_on_top_level_commas(text, parts):
    assert split_inits(text) == parts


@pytest.mark.parametrize("text, match", [
    ("normal(std=0.01", r"Unbalanced parentheses in --policies"),
    ("normal)std=1(", r"Unbalanced parentheses in --policies"),
    ("xavier_normal,,zeros", r"Empty init in --policies"),
])
def test_split_inits_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        split_inits(text)


def test_canonical_init_names_specs_and_errors():
    assert canonical_init("auto") == "auto"
    assert canonical_init("he_normal") == canonical_init("kaiming_normal")
    assert canonical_init("normal(std=0.01)") == "normal(mean=0.0, std=0.01)"
    with pytest.raises(ConfigError, match=r"Unknown init 'kaimnig_normal': neither a policy"):
        canonical_init("kaimnig_normal")
    with pytest.raises(ConfigError, match=r"Invalid policy JSON in inits"):
        canonical_init("{not json")


def test_run_identity_is_stable_and_complete():
    a = plan_runs(_sweep())
    assert [r.id for r in a] == [r.id for r in plan_runs(_sweep())]
    assert len({r.id for r in a}) == 4
    assert [(r.init_label, r.seed) for r in a] == [("xavier_normal", 0), ("zeros", 0),
                                                   ("xavier_normal", 1), ("zeros", 1)]
    other = [
        plan_runs(_sweep(train=TrainConfig(epochs=1, grad_norm_steps=2, lr=0.02)))[0].id,
        plan_runs(_sweep(target="0"))[0].id,
        plan_runs(_sweep(n_train=128))[0].id,
        plan_runs(_sweep(model_kwargs={"widths": [8]}))[0].id,
        plan_runs(_sweep(inits=["xavier_uniform"]))[0].id,
    ]
    assert len(set(other) | {a[0].id}) == 6
    # where a run trains is its environment, not its identity
    assert plan_runs(_sweep(train=TrainConfig(epochs=1, grad_norm_steps=2,
                                              device="cpu:0")))[0].id == a[0].id


def test_sweep_records_and_resumes(tmp_path):
    out = tmp_path / "s"
    first = run_sweep(_sweep(), out)
    assert (first.done, first.skipped, first.failed) == (4, 0, 0)
    with open_store(out, create=False) as st:
        runs = st.runs()
        assert {r["status"] for r in runs} == {"done"}
        for r in runs:
            assert r["steps"] == 4 and len(st.step_losses(r["id"])) == 4
            assert len(st.epochs(r["id"])) == 1
            assert {g["step"] for g in st.grad_norms(r["id"])} == {1, 2}
            assert r["plan"]["rows"] and r["environment"]["torch"]
    again = run_sweep(_sweep(), out)
    assert (again.done, again.skipped) == (0, 4)
    more = run_sweep(_sweep(seeds=3), out)          # one more seed: only its runs train
    assert (more.done, more.skipped) == (2, 4)
    with open_store(out, create=False) as st:
        assert [r["attempts"] for r in st.runs()] == [1] * 6


def test_bad_target_or_init_is_an_error_before_training(tmp_path):
    out = tmp_path / "t"
    sweep = _sweep(inits=["zeros", "normal(std=0.01)"], seeds=1, target="conv*",
                   model_kwargs={"widths": [16, 16]})
    with pytest.raises(ConfigError, match=r"--target 'conv\*' matches no parameter of"):
        run_sweep(sweep, out)
    assert not (out / "initlab.db").exists()
    sweep.target = "fc2"
    assert run_sweep(sweep, out).done == 2


def test_target_initializes_only_the_selected_layer(tmp_path):
    from initlab.lab.models import build
    from initlab.lab.sweep import prepare_model

    names = [n for n, _ in build("mlp", (1, 28, 28), 10, widths=[16]).named_parameters()]
    first = names[0].rpartition(".")[0]
    runs = plan_runs(_sweep(inits=["zeros", "normal(std=0.01)"], seeds=1, target=first))
    (m0, p0), (m1, p1) = (prepare_model(r.identity, (1, 28, 28), 10) for r in runs)
    rows0 = {r["name"]: r for r in p0["rows"]}
    assert rows0[f"{first}.weight"]["init"] == "zeros()"
    others = [n for n in names if not n.startswith(first + ".")]
    assert others and all(rows0[n]["rule"] == "torch_default" for n in others)
    state0, state1 = m0.state_dict(), m1.state_dict()
    assert float(state0[f"{first}.weight"].abs().sum()) == 0.0
    for n in others:  # same seed: the untargeted layers are identical across inits
        assert state0[n].equal(state1[n])


def test_diverged_runs_are_recorded_with_last_good_metrics(tmp_path):
    sweep = _sweep(inits=["normal(std=100)"], seeds=1,
                   train=TrainConfig(epochs=3, lr=50.0, momentum=0.9))
    outcome = run_sweep(sweep, tmp_path)
    assert outcome.diverged == 1 and outcome.done == 0
    with open_store(tmp_path, create=False) as st:
        r = st.runs()[0]
        assert r["status"] == "diverged" and r["diverged_at"] is not None
        losses = st.step_losses(r["id"])
        assert len(losses) == r["diverged_at"] - 1 and all(v is not None for v in losses)
        assert all(e["step"] < r["diverged_at"] for e in st.epochs(r["id"]))
    assert run_sweep(sweep, tmp_path).skipped == 1  # a diverged run is finished


def test_process_pool_workers(tmp_path):
    outcome = run_sweep(_sweep(workers=2), tmp_path)
    assert outcome.done == 4
    with open_store(tmp_path, create=False) as st:
        assert all(len(st.step_losses(r["id"])) == 4 for r in st.runs())


def _cli(out, *extra):
    return [sys.executable, "-m", "initlab.cli", "compare", "--model", "mlp",
            "--model-arg", "widths=[16]", "--dataset", "synthetic", "--n-train", "512",
            "--n-test", "64", "--policies", "xavier_normal,zeros", "--epochs", "2",
            "--out", str(out), "--quiet", *extra]


def _db_rows(out):
    db = sqlite3.connect(str(out / "initlab.db"), timeout=30)
    try:
        runs = db.execute("SELECT id, status, steps, attempts FROM runs").fetchall()
        steps = dict(db.execute("SELECT run_id, COUNT(*) FROM metrics WHERE kind='step' "
                                "GROUP BY run_id").fetchall())
        return runs, steps
    finally:
        db.close()


def _done(out) -> int:
    if not (out / "initlab.db").exists():
        return 0
    try:
        return sum(s == "done" for _, s, _, _ in _db_rows(out)[0])
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_sweep_loses_no_finished_run(tmp_path):
    out = tmp_path / "k"
    cmd = _cli(out, "--seeds", "6", "--no-stack")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _done(out) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    runs, steps = _db_rows(out)
    done_before = {rid for rid, s, _, _ in runs if s == "done"}
    assert 2 <= len(done_before) < 12
    assert all(steps[rid] == n for rid, s, n, _ in runs if s == "done")  # whole runs only
    unfinished = len(runs) - len(done_before)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"{unfinished} runs trained, {len(done_before)} resumed" in res.stdout
    runs, steps = _db_rows(out)
    assert len(runs) == 12 and all(s == "done" for _, s, _, _ in runs)
    assert all(steps[rid] == n == 16 for rid, _, n, _ in runs)          # no duplicate rows
    assert all(a == 1 for rid, _, _, a in runs if rid in done_before)   # never re-run


def test_two_processes_on_one_directory_run_each_run_once(tmp_path):
    out = tmp_path / "c"
    cmd = _cli(out, "--seeds", "4", "--no-stack")
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    runs, steps = _db_rows(out)
    assert len(runs) == 8 and all(s == "done" for _, s, _, _ in runs)
    assert all(a == 1 for *_, a in runs) and all(steps[rid] == 16 for rid, *_ in runs)


def test_stacked_sweep_records_the_same_runs_as_one_by_one(tmp_path):
    stacked = run_sweep(_sweep(stack="always", seeds=1), tmp_path / "a")
    single = run_sweep(_sweep(stack=False, seeds=1), tmp_path / "b")
    assert stacked.done == single.done == 2
    with open_store(tmp_path / "a", create=False) as a, \
            open_store(tmp_path / "b", create=False) as b:
        ra, rb = a.runs(), b.runs()
        assert [r["id"] for r in ra] == [r["id"] for r in rb]  # same identity either way
        assert [r["stacked"] for r in ra] == [2, 2] and [r["stacked"] for r in rb] == [1, 1]
        for x, y in zip(ra, rb):
            assert a.step_losses(x["id"]) == pytest.approx(b.step_losses(y["id"]), rel=1e-4)


def test_sweep_config_errors():
    with pytest.raises(ConfigError, match=r"stack must be True, False, 'auto', 'always' or"):
        _sweep(stack="sometimes")
    with pytest.raises(ConfigError, match=r"seeds must be >= 1; got 0"):
        _sweep(seeds=0)
    with pytest.raises(ConfigError, match=r"workers must be an integer >= 1; got 0"):
        _sweep(workers=0)
    with pytest.raises(ConfigError, match=r"No inits to compare"):
        _sweep(inits=[])


def test_a_run_that_raises_is_recorded_failed_and_retried(tmp_path, monkeypatch):
    (tmp_path / "broken_model_mod.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self, n):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(n, 10)\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('forward exploded')\n"
        "def make(input_shape, num_classes):\n"
        "    return Net(784)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sweep = _sweep(model="broken_model_mod:make", model_kwargs={}, seeds=1,
                   inits=["xavier_normal"])
    outcome = run_sweep(sweep, tmp_path / "out")
    assert outcome.failed == 1 and "forward exploded" in outcome.errors[0]
    with open_store(tmp_path / "out", create=False) as st:
        r = st.runs()[0]
        assert r["status"] == "failed" and "RuntimeError: forward exploded" in r["error"]
    assert run_sweep(sweep, tmp_path / "out").failed == 1  # retried, not skipped
    with open_store(tmp_path / "out", create=False) as st:
        assert st.runs()[0]["attempts"] == 2
