"""One name per concept across commands: ``--policy``/``--policies``, ``--json`` (JSON on
stdout) and ``--json-out PATH``, ``--input-shape`` (one example); old flags warn and work."""

from __future__ import annotations

import json

import pytest
from _cli import run_cli

PLAN = ("plan", "--model", "seed-cnn", "--policy", "auto", "--input-shape", "1,28,28")
COMPARE = ("compare", "--model", "mlp", "--model-arg", "widths=[8]", "--dataset", "synthetic",
           "--n-train", "64", "--n-test", "16", "--steps", "2", "--seeds", "1", "--quiet",
           "--grad-norm-steps", "0")


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Warning:")]


def test_plan_json_prints_only_json_and_json_out_writes_the_same(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the table at the terminal's width: no name folds
    code, out, err = run_cli(capsys, *PLAN, "--json")
    assert (code, err) == (0, "")
    printed = json.loads(out)                       # stdout is the JSON and nothing else
    code, out, err = run_cli(capsys, *PLAN, "--json-out", str(tmp_path / "p.json"))
    assert code == 0 and "conv1.weight" in out       # the table
    assert err == f"wrote {tmp_path / 'p.json'}\n"
    assert json.loads((tmp_path / "p.json").read_text()) == printed
    assert {row["name"] for row in printed["rows"]} >= {"conv1.weight", "conv1.bias"}


@pytest.mark.parametrize("command", [PLAN, ("audit", "--model", "mlp", "--policy", "auto"),
                                     ("coord-check", "--widths", "16,32", "--steps", "1")])
def test_old_json_path_warns_once_and_writes_the_file(capsys, tmp_path, command):
    code, _, err = run_cli(capsys, *command, "--json", str(tmp_path / "old.json"))
    assert code in (0, 1) and (tmp_path / "old.json").is_file()
    assert _warnings(err) == ["Warning: --json PATH is deprecated and will be removed in the "
                              "next release; use --json-out PATH (--json alone prints JSON on "
                              "stdout)."]
    new_code, out, _ = run_cli(capsys, *command, "--json")
    assert new_code == code
    assert json.loads(out) == json.loads((tmp_path / "old.json").read_text())


def test_json_and_json_out_both_from_the_old_spelling_is_an_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, *PLAN, "--json", "a.json", "--json-out", "b.json")
    assert code == 2 and err.splitlines()[-1].startswith("Error: Give --json-out once")


def test_compare_policies_and_the_old_inits_give_the_same_runs(capsys, tmp_path):
    code, out, err = run_cli(capsys, *COMPARE, "--policies", "zeros,xavier_normal", "--out",
                             str(tmp_path / "new"), "--json", "--json-out",
                             str(tmp_path / "r.json"))
    assert code == 0 and _warnings(err) == []
    new = json.loads(out)
    assert json.loads((tmp_path / "r.json").read_text()) == new
    code, out, err = run_cli(capsys, *COMPARE, "--inits", "zeros,xavier_normal", "--out",
                             str(tmp_path / "old"), "--json")
    assert code == 0
    assert _warnings(err) == ["Warning: --inits is deprecated and will be removed in the next "
                              "release; use --policies."]
    old = json.loads(out)
    assert [s["init"] for s in old["summary"]] == [s["init"] for s in new["summary"]] == [
        "zeros", "xavier_normal"]
    assert [r["id"] for r in old["runs"]] == [r["id"] for r in new["runs"]]  # the same runs
    assert [s["train_loss_mean"] for s in old["summary"]] == \
        [s["train_loss_mean"] for s in new["summary"]]


def test_compare_needs_policies(capsys, tmp_path):
    code, _, err = run_cli(capsys, *COMPARE, "--out", str(tmp_path))
    assert code == 2 and "Missing option '--policies'" in err


@pytest.mark.parametrize("command", ["plan", "audit", "diagnose"])
def test_input_shape_is_one_example_everywhere(capsys, command):
    code, _, err = run_cli(capsys, command, "--model", "mlp", "--input-shape", "64,x")
    assert code == 2 and err == ("Error: --input-shape must be positive integers separated by "
                                 "commas, without the batch; got '64,x'; expected e.g. 1,28,28 "
                                 "or 784\n")
