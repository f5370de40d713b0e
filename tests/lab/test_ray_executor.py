"""The Ray executor on a real local Ray instance: same results as local, resume, worker
deaths retried, retries exhausted recorded ``failed``, bad input stops the sweep, and a
clear error when Ray is not installed."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from initlab.errors import ConfigError
from initlab.lab.sweep import (
    Progress,
    Sweep,
    SweepOutcome,
    dispatch,
    load_data,
    plan_runs,
    run_sweep,
)
from initlab.lab.sweep.store import open_store
from initlab.lab.train import TrainConfig

ray = pytest.importorskip("ray")

TINY = {"dataset": "synthetic", "n_train": 256, "n_test": 64,
        "train": TrainConfig(epochs=2, grad_norm_steps=2)}

# A model factory that kills its own Ray worker process (never the driver, which builds the
# model once to check it): "once" = the first worker to take the token dies mid-training
# (on its 3rd forward pass), "always" = every attempt dies (and leaves a file to count them).
FAULTS = '''
import os, signal, time
import torch

class Net(torch.nn.Module):
    def __init__(self, n_in, n_out, mode, marker_dir, driver_pid):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_in, 16)
        self.fc2 = torch.nn.Linear(16, n_out)
        self.mode, self.marker_dir, self.driver_pid, self.calls = mode, marker_dir, driver_pid, 0

    def forward(self, x):
        self.calls += 1
        if os.getpid() != self.driver_pid and self.calls == 3:
            if self.mode == "always":
                open(os.path.join(self.marker_dir, f"attempt-{time.time_ns()}"), "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "once":
                try:
                    fd = os.open(os.path.join(self.marker_dir, "killed"),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    pass
                else:
                    os.close(fd)
                    os.kill(os.getpid(), signal.SIGKILL)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))

def make(input_shape, num_classes, mode, marker_dir, driver_pid):
    n = 1
    for d in input_shape:
        n *= d
    return Net(n, num_classes, mode, marker_dir, driver_pid)
'''


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """One local Ray instance (2 CPUs) for the module; workers can import the fault module."""
    helpers = tmp_path_factory.mktemp("ray_helpers")
    (helpers / "initlab_ray_faults.py").write_text(textwrap.dedent(FAULTS))
    sys.path.insert(0, str(helpers))
    path = os.pathsep.join(filter(None, [str(helpers), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    try:
        yield helpers
    finally:
        ray.shutdown()
        sys.path.remove(str(helpers))


def _sweep(executor="local", retries=2, **kw):
    args = {**TINY, "model": "mlp", "model_kwargs": {"widths": [16]},
            "inits": ["xavier_normal", "normal(std=0.01)"], "seeds": 2}
    args.update(kw)
    opts = {"retries": retries} if executor == "ray" else None
    return Sweep(executor=executor, executor_options=opts, **args)


def _records(out) -> dict:
    """run id -> (status, step losses, epoch rows, grad norm count)."""
    with open_store(out, create=False) as st:
        return {r["id"]: (r["status"], st.step_losses(r["id"]), st.epochs(r["id"]),
                          len(st.grad_norms(r["id"])), r["attempts"]) for r in st.runs()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and len(a) >= 4
    for rid, (status, losses, epochs, grads, _) in a.items():
        other = b[rid]
        assert status == other[0] == "done"
        assert len(losses) == len(other[1]) == 8          # 256 / 64 x 2 epochs
        assert losses == pytest.approx(other[1], rel=1e-4, abs=1e-6)
        assert [e["epoch"] for e in epochs] == [e["epoch"] for e in other[2]] == [1, 2]
        for x, y in zip(epochs, other[2]):
            for k in ("train_loss", "test_loss", "train_acc", "test_acc"):
                assert x[k] == pytest.approx(y[k], rel=1e-4, abs=1e-6)
        assert grads == other[3] > 0


def test_ray_sweep_matches_local_and_resumes(ray_local, tmp_path):
    first = run_sweep(_sweep("ray", seeds=1), tmp_path / "ray")
    assert (first.done, first.failed) == (2, 0)
    resumed = run_sweep(_sweep("ray"), tmp_path / "ray")       # one more seed: resume
    assert (resumed.done, resumed.skipped, resumed.failed) == (2, 2, 0)
    local = run_sweep(_sweep("local"), tmp_path / "local")
    assert local.done == 4
    ray_runs, local_runs = _records(tmp_path / "ray"), _records(tmp_path / "local")
    _assert_same(ray_runs, local_runs)
    assert all(r[4] == 1 for r in ray_runs.values())          # each run trained once
    with open_store(tmp_path / "ray", create=False) as st:
        env = st.runs()[0]["environment"]
        assert env["torch"] and env["threads"] == 1             # the worker's environment


def test_worker_killed_mid_task_is_retried_and_nothing_is_lost(ray_local, tmp_path):
    marker = tmp_path / "marker"
    marker.mkdir()
    kwargs = {"mode": "once", "marker_dir": str(marker), "driver_pid": os.getpid()}
    sweep = _sweep("ray", model="initlab_ray_faults:make", model_kwargs=kwargs)
    outcome = run_sweep(sweep, tmp_path / "ray")
    assert (marker / "killed").exists()                         # a worker did die
    assert (outcome.done, outcome.failed, outcome.errors) == (4, 0, [])
    local = run_sweep(_sweep("local", model="initlab_ray_faults:make", model_kwargs=kwargs),
                      tmp_path / "local")
    assert local.done == 4
    ray_runs = _records(tmp_path / "ray")
    _assert_same(ray_runs, _records(tmp_path / "local"))
    assert all(r[4] == 1 for r in ray_runs.values())


def test_retries_exhausted_records_failed_and_the_sweep_goes_on(ray_local, tmp_path):
    from initlab.lab.sweep.executor_ray import RayExecutor

    marker = tmp_path / "marker"
    marker.mkdir()
    good = _sweep("ray", retries=1, seeds=1)
    bad = _sweep("ray", retries=1, seeds=1, inits=["zeros"], model="initlab_ray_faults:make",
                 model_kwargs={"mode": "always", "marker_dir": str(marker),
                               "driver_pid": os.getpid()})
    runs = plan_runs(bad) + plan_runs(good)
    data = load_data("synthetic", None, 256, 64)
    outcome = SweepOutcome(total=len(runs))
    with open_store(tmp_path / "out") as store:
        store.register([r.record() for r in runs])
        with RayExecutor(good, data) as executor:
            dispatch(good, store, [[r] for r in runs], data, executor, Progress(), outcome)
        rows = {r["id"]: r for r in store.runs()}
        steps = {r["id"]: len(store.step_losses(r["id"])) for r in store.runs()}
    assert (outcome.done, outcome.failed) == (2, 1)
    assert len(list(marker.glob("attempt-*"))) == 2             # first try + 1 retry
    failed = rows[runs[0].id]
    assert failed["status"] == "failed" and steps[runs[0].id] == 0
    assert "worker died on attempt 2 of 2" in failed["error"]
    assert "WorkerCrashedError" in failed["error"]
    assert all(rows[r.id]["status"] == "done" and steps[r.id] == 8 for r in runs[1:])


def test_an_initlab_error_in_a_worker_stops_the_sweep_and_releases_claims(ray_local, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    sweep = _sweep("ray", seeds=1, train=TrainConfig(epochs=1, device="cuda"))
    with pytest.raises(ConfigError, match=r"^Device 'cuda' requested but CUDA is not avail"):
        run_sweep(sweep, tmp_path)
    with open_store(tmp_path, create=False) as st:
        assert {r["status"] for r in st.runs()} == {"pending"}


def test_ray_options_are_checked():
    from initlab.lab.sweep.executor_ray import RayOptions

    with pytest.raises(ConfigError, match=r"Invalid Ray address 'localhost'; expected 'auto'"):
        RayOptions(address="localhost")
    with pytest.raises(ConfigError, match=r"retries must be an integer >= 0; got -1"):
        RayOptions(retries=-1)
    with pytest.raises(ConfigError, match=r"cpus_per_run=0 and gpus_per_run=0"):
        RayOptions(cpus_per_run=0)
    with pytest.raises(ConfigError, match=r"Unknown Ray executor options \['gpu'\]"):
        RayOptions.from_any({"gpu": 1})
    assert RayOptions(address="ray://head:10001", gpus_per_run=0.5).gpus_per_run == 0.5


def test_missing_ray_says_how_to_install_it(monkeypatch, capsys):
    from initlab.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"--executor ray needs the 'ray' package.*"
                                          r"pip install 'initlab\[ray\]'"):
        _sweep("ray")
    try:
        code = main(["compare", "--model", "mlp", "--dataset", "synthetic", "--policies", "zeros",
                     "--executor", "ray", "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'initlab[ray]'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
