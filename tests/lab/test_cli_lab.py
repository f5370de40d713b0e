"""The lab's commands end to end: compare, report, reproduce (exit codes, one-line errors)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from _cli import run_cli

_run = run_cli


COMPARE = ("compare", "--model", "mlp", "--model-arg", "widths=[16]", "--dataset", "synthetic",
           "--n-train", "256", "--n-test", "64", "--epochs", "2", "--seeds", "2", "--quiet",
           "--policies", "kaiming_normal(mode='fan_out', nonlinearity='relu'),he_normal,zeros",
           "--target-acc", "0.5", "--grad-norm-steps", "2")


def test_compare_then_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, err = _run(capsys, *COMPARE, "--out", str(out))
    assert code == 0, err
    assert err == ""  # --quiet (and not a terminal): no progress output
    assert "6 runs trained, 0 resumed" in stdout and "Report:" in stdout
    assert "kaiming_normal(" in stdout  # the table wraps long names to the terminal's width
    for name in ("initlab.db", "report.html", "report.csv", "runs.csv", "report.json"):
        assert (out / name).exists()
    assert "kaiming_normal(mode='fan_out', nonlinearity='relu')" in (out / "report.csv").read_text()

    code, stdout, _ = _run(capsys, *COMPARE, "--out", str(out))  # resume: nothing to do
    assert code == 0 and "0 runs trained, 6 resumed" in stdout

    code, stdout, _ = _run(capsys, "report", str(out), "--format", "json")
    data = json.loads(stdout)
    assert [s["init"] for s in data["summary"]] == [
        "kaiming_normal(mode='fan_out', nonlinearity='relu')", "he_normal", "zeros"]
    for s in data["summary"]:
        assert s["seeds"] == 2 and s["diverged"] == 0
        assert 0.0 <= s["test_acc_mean"] <= 1.0 and s["train_loss_std"] is not None
    assert len(data["runs"]) == 6
    zeros = data["summary"][2]
    assert zeros["test_acc_mean"] < 0.3  # all-zero weights and biases: nothing is learned

    code, stdout, _ = _run(capsys, "report", str(out), "--format", "csv", "--no-html")
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert len(rows) == 3 and rows[2]["init"] == "zeros"
    code, stdout, _ = _run(capsys, "report", str(out))
    assert code == 0 and "he_normal" in stdout and "report.html" in stdout


def test_compare_workers_and_no_stack(tmp_path, capsys):
    code, stdout, err = _run(capsys, *COMPARE, "--out", str(tmp_path), "--workers", "2",
                             "--no-stack", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert {r["status"] for r in data["runs"]} == {"done"}
    assert all(r["environment"]["hostname"] for r in data["runs"])


@pytest.mark.parametrize("args, message", [
    (("--policies", "kaimnig_normal"), r"Error: Unknown init 'kaimnig_normal': neither a policy"),
    (("--policies", "normal(std=0.1"), r"Error: Unbalanced parentheses in --policies"),
    (("--policies", "zeros", "--model", "mlpp"), r"Error: Unknown model 'mlpp'"),
    (("--policies", "zeros", "--target", "conv9"), r"Error: --target 'conv9' matches no parameter"),
    (("--policies", "zeros", "--model-arg", "widths"), r"Error: --model-arg expects KEY=VALUE"),
    (("--policies", "zeros", "--dataset", "mnistt"), r"Error: .*mnistt"),
])
def test_compare_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    import re

    code, _, err = _run(capsys, "compare", "--model", "mlp", "--dataset", "synthetic",
                        "--out", str(tmp_path / "x"), "--quiet", *args)
    assert code == 2
    assert re.search(message, err), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_report_of_a_missing_sweep(tmp_path, capsys):
    code, _, err = _run(capsys, "report", str(tmp_path / "none"))
    assert code == 2 and "No initlab sweep in" in err


def test_reproduce_list_help_and_errors(capsys):
    import initlab.reproductions as scenarios

    names = scenarios.available()
    assert {"seed-cnn", "seed-mlp", "seed-constant"} <= set(names)
    code, stdout, _ = _run(capsys, "reproduce", "--list")
    assert code == 0
    for n in names:
        assert f"{n}: {scenarios.get(n).summary}" in stdout
    code, stdout, _ = _run(capsys, "reproduce", "--help")
    assert code == 0 and "Scenarios:" in stdout and all(n in stdout for n in names)
    code, stdout, _ = _run(capsys, "reproduce", "--list", "--json")
    assert [d["name"] for d in json.loads(stdout)] == names
    code, _, err = _run(capsys, "reproduce", "seed-cn")
    assert code == 2 and "Unknown scenario 'seed-cn'. Did you mean 'seed-cnn'?" in err
    code, _, err = _run(capsys, "reproduce")
    assert code == 2 and "No scenario given" in err


def test_reproduce_exit_status_follows_the_checks(capsys, monkeypatch):
    import initlab.reproductions as scenarios

    outcome = {"passed": True}

    @scenarios.scenario("test-dummy", summary="a dummy", source="tests")
    def _dummy(ctx):
        p = outcome["passed"]
        check = scenarios.Check("claim", "42", bool(p), "" if p is not None else "INCONCLUSIVE")
        return scenarios.Result("test-dummy", [check])

    try:
        code, stdout, _ = _run(capsys, "reproduce", "test-dummy", "--fast")
        assert code == 0 and "PASS" in stdout and "1/1 claims held" in stdout
        outcome["passed"] = False
        code, stdout, _ = _run(capsys, "reproduce", "test-dummy", "--json")
        assert code == 1 and json.loads(stdout)["passed"] is False
        assert json.loads(stdout)["checks"][0]["status"] == "FAIL"
        outcome["passed"] = None  # INCONCLUSIVE: exit 3, said so
        code, stdout, _ = _run(capsys, "reproduce", "test-dummy")
        assert code == 3 and "INCONCLUSIVE" in stdout and "1 inconclusive" in stdout
    finally:
        if "test-dummy" in scenarios.SCENARIOS:
            scenarios.SCENARIOS.remove("test-dummy")


def test_progress_display_on_a_terminal(monkeypatch):
    import rich.console

    from initlab.lab.progress import Progress

    buf = io.StringIO()
    real = rich.console.Console
    monkeypatch.setattr(rich.console, "Console",
                        lambda **kw: real(file=buf, force_terminal=True, width=120))
    p = Progress(enabled=True)
    p.start(total=2, finished=0)
    p.run_started(["xavier_normal", "zeros"], 0, 10)
    p.step(1, 5, 0.5)
    p.run_finished(1)
    p.stop()
    text = buf.getvalue()
    assert "runs" in text and "1/2" in text
    assert "seed 0: xavier_normal, zeros, epoch 1, loss 0.5000" in text
    quiet = io.StringIO()
    monkeypatch.setattr(rich.console, "Console",
                        lambda **kw: real(file=quiet, force_terminal=True, width=120))
    q = Progress(enabled=False)  # --quiet
    q.start(total=1, finished=0)
    q.step(1, 1, 0.1)
    q.stop()
    assert quiet.getvalue() == ""
