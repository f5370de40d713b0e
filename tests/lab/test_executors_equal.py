"""One result per sweep: the local executor, --workers 2, thread counts and Ray give equal bits."""

from __future__ import annotations

import torch

from initlab.lab.report import report_dict
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.train import TrainConfig


def _bits(out):
    runs = report_dict(out)["runs"]
    return sorted((r["init"], r["seed"], r["final"]["train_loss"].hex(),
                   r["final"]["test_loss"].hex()) for r in runs)


def _sweep(workers, **kw):
    return Sweep(inits=["xavier_normal", "kaiming_normal", "normal(std=0.1)"], model="mlp",
                 model_kwargs={"widths": [32, 16]}, dataset="synthetic", seeds=2,
                 n_train=256, n_test=64, workers=workers,
                 train=TrainConfig(epochs=1, batch_size=32, grad_norm_steps=0), **kw)


def test_local_workers_and_core_counts_agree(tmp_path):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run_sweep(_sweep(1), tmp_path / "one-thread")
        torch.set_num_threads(max(2, before))
        run_sweep(_sweep(1), tmp_path / "local")
    finally:
        torch.set_num_threads(before)
    run_sweep(_sweep(2), tmp_path / "workers")
    ref = _bits(tmp_path / "local")
    assert len(ref) == 6
    assert _bits(tmp_path / "one-thread") == ref
    assert _bits(tmp_path / "workers") == ref


def test_ray_gives_the_same_bits_as_local(tmp_path):
    """The Ray executor on a one-CPU local cluster records bit-identical losses."""
    import os

    import pytest

    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'initlab[ray]')")
    try:
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1",
                                           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    except Exception as exc:  # noqa: BLE001 - no local Ray here: say why
        pytest.skip(f"a local Ray instance cannot start here: {type(exc).__name__}: {exc}")
    try:
        outcome = run_sweep(_sweep(1, executor="ray"), tmp_path / "ray")
    finally:
        ray.shutdown()
    assert (outcome.done, outcome.failed) == (6, 0)
    run_sweep(_sweep(1), tmp_path / "local")
    assert _bits(tmp_path / "ray") == _bits(tmp_path / "local")
