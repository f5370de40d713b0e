"""`initlab compare --sweep/--seeds/--baseline` and its Python twin initlab.lab.compare."""

from __future__ import annotations

import json

import pytest
from _cli import run_cli

import initlab.lab
from initlab.errors import ConfigError

BASE = ("compare", "--model", "mlp", "--model-arg", "widths=[8]", "--dataset", "synthetic",
        "--n-train", "128", "--n-test", "32", "--epochs", "1", "--quiet",
        "--grad-norm-steps", "0", "--policies", "xavier_normal,kaiming_normal")


_run = run_cli


def test_cli_sweep_axis_and_explicit_seeds(tmp_path, capsys):
    code, out, err = _run(capsys, *BASE, "--seeds", "0,5", "--sweep", "lr=0.01,0.05",
                          "--out", str(tmp_path), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [(s["group"], s["init"], s["n"]) for s in d["summary"]] == [
        ("lr=0.01", "xavier_normal", 2), ("lr=0.01", "kaiming_normal", 2),
        ("lr=0.05", "xavier_normal", 2), ("lr=0.05", "kaiming_normal", 2)]
    assert sorted({r["seed"] for r in d["runs"]}) == [0, 5]
    for c in d["comparisons"]:
        assert set(c) >= {"group", "init", "baseline", "delta", "ci95", "p_value",
                          "significant"}
    assert all(s["test_acc_ci95"] is None or len(s["test_acc_ci95"]) == 2 for s in d["summary"])
    code, out, _ = _run(capsys, *BASE, "--seeds", "0,5", "--sweep", "lr=0.01,0.05",
                        "--out", str(tmp_path))
    assert code == 0 and "0 runs trained, 8 resumed" in out
    assert "lr=0.01: " in out and "lr=0.05: " in out  # one verdict line per experiment


@pytest.mark.parametrize("extra,match", [
    (("--sweep", "lrr=1,2"), r"Error: --sweep expects KEY=V1,V2,\.\.\..*Did you mean 'lr'\?"),
    (("--sweep", "lr=1", "--sweep", "lr=2"), r"Error: --sweep lr given twice"),
    (("--seeds", "1,x"), r"Error: --seeds must be a count N"),
    (("--seeds", "100000000"), r"Error: --seeds 100000000 is too many"),
    (("--baseline", "zeros"), r"Error: --baseline 'zeros' is not one of --policies"),
    (("--data-dir", "/nonexistent/x"), r"Error: --data-dir /nonexistent/x given, but dataset "
                                       r"'synthetic' reads no folder"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, extra, match):
    code, out, err = _run(capsys, *BASE, "--out", str(tmp_path), *extra)
    assert code == 2
    assert err.count("\n") == 1 and __import__("re").search(match, err), err


def test_python_twin(tmp_path):
    res = initlab.lab.compare(["xavier_normal", "zeros"], model="mlp",
                              model_kwargs={"widths": [8]}, dataset="synthetic", seeds=3,
                              n_train=128, n_test=32, sweep={"model.widths": [[8], [12]]},
                              out=tmp_path, grad_norm_steps=0)
    assert [s["group"] for s in res.summary] == ["model.widths=[8]"] * 2 + ["model.widths=[12]"] * 2
    row = res.row("zeros", "model.widths=[12]")
    assert row["n"] == 3 and row["test_acc_ci95"][0] <= row["test_acc_mean"]
    assert len(res.verdicts()) == 2 and "model.widths=[8]" in res.table()
    assert json.loads(res.to_json())["comparisons"][0]["baseline"] in ("xavier_normal", "zeros")
    assert set(res.plots()) >= {"loss", "test_acc"}
    assert (tmp_path / "report.html").exists()
    with pytest.raises(ConfigError, match=r"No summary row for init 'x' in group ''"):
        res.row("x")
