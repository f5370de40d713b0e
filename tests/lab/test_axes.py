"""Sweep axes and explicit seeds: parsing, the grid, identities, groups, resume."""

from __future__ import annotations

import pytest

from initlab.errors import ConfigError
from initlab.lab.report import report_dict
from initlab.lab.sweep import Sweep, group_key, plan_runs, run_sweep
from initlab.lab.sweep.axes import MAX_RUNS, grid, parse_axis, parse_seeds
from initlab.lab.sweep.store import open_store
from initlab.lab.train import TrainConfig


def test_parse_axis():
    assert parse_axis("lr=0.01,0.1") == ("lr", [0.01, 0.1])
    assert parse_axis("optimizer=sgd,adam") == ("optimizer", ["sgd", "adam"])
    assert parse_axis("model.widths=[64,64],[128]") == ("model.widths", [[64, 64], [128]])
    assert parse_axis("batch_size=32,32,64") == ("batch_size", [32, 64])


@pytest.mark.parametrize("text,match", [
    ("lrr=0.1", r"--sweep expects KEY=V1,V2,\.\.\. with KEY a training setting or model\.NAME; "
                r"got 'lrr=0\.1'\. Did you mean 'lr'\?"),
    ("lr", r"got 'lr'"),
    ("lr=0.1,", r"--sweep lr has an empty value: got 'lr=0\.1,'"),
    ("model.=3", r"got 'model\.=3'"),
])
def test_parse_axis_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_axis(text)


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds(2) == [0, 1]
    assert parse_seeds("0,4,7") == [0, 4, 7]
    for bad, match in (("x", r"--seeds must be a count N .* got 'x'"), ("0", r">= 1"),
                       ("1,1", r"lists a seed twice"),
                       (str(MAX_RUNS + 1), r"too many: at most 100000 runs")):
        with pytest.raises(ConfigError, match=match):
            parse_seeds(bad)


def test_absurd_sweep_refused_up_front_with_the_count():
    with pytest.raises(ConfigError, match=r"The sweep has 200000 runs \(2 inits x 1000 seeds x "
                                          r"100 lr\); expected at most 100000"):
        Sweep(inits=["zeros", "ones"], seeds=1000, axes={"lr": list(range(1, 101))})


def test_grid_order():
    assert grid({}) == [{}]
    assert grid({"lr": [1, 2], "model.width": [8, 16]}) == [
        {"lr": 1, "model.width": 8}, {"lr": 1, "model.width": 16},
        {"lr": 2, "model.width": 8}, {"lr": 2, "model.width": 16}]


def _sweep(**kw):
    base = dict(inits=["xavier_normal", "kaiming_normal"], model="mlp",
                model_kwargs={"widths": [8]}, dataset="synthetic", seeds="0,3",
                n_train=128, n_test=32, train=TrainConfig(epochs=1, grad_norm_steps=0))
    return Sweep(**{**base, **kw})


def test_plan_runs_grid_identities_and_groups():
    runs = plan_runs(_sweep(axes={"lr": [0.01, 0.1], "model.widths": [[8], [16]]}),
                     {"source": "s", "checksum": "c"})
    assert len(runs) == 2 * 2 * 2 * 2 and len({r.id for r in runs}) == 16
    assert [r.seed for r in runs[:8]] == [0] * 8 and runs[8].seed == 3
    first = runs[0].identity
    assert first["train"]["lr"] == 0.01 and first["model_kwargs"] == {"widths": [8]}
    assert first["data"] == {"source": "s", "checksum": "c"}
    assert runs[2].identity["model_kwargs"] == {"widths": [16]}
    keys = [group_key(r.identity) for r in runs]
    assert len(set(keys)) == 8 and keys[0] == keys[1] != keys[2]  # inits of a point together


def test_invalid_grid_point_is_one_line_error():
    with pytest.raises(ConfigError, match=r"--sweep point \{'lr': -1\} is invalid: "
                                          r"TrainConfig\.lr is invalid: got -1"):
        plan_runs(_sweep(axes={"lr": [0.1, -1]}))


def test_axis_sweep_runs_groups_and_resumes(tmp_path):
    sweep = _sweep(axes={"lr": [0.01, 0.05]}, seeds=2)
    out = run_sweep(sweep, tmp_path)
    assert (out.total, out.done) == (8, 8)
    d = report_dict(tmp_path)
    assert [(s["group"], s["init"], s["n"]) for s in d["summary"]] == [
        ("lr=0.01", "xavier_normal", 2), ("lr=0.01", "kaiming_normal", 2),
        ("lr=0.05", "xavier_normal", 2), ("lr=0.05", "kaiming_normal", 2)]
    again = run_sweep(sweep, tmp_path)
    assert (again.skipped, again.done) == (8, 0)
    with open_store(tmp_path, create=False) as st:
        ident = st.runs()[0]["identity"]
    assert ident["data"]["source"].startswith("synthetic") and len(ident["data"]["checksum"]) == 16
