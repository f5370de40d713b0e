"""`initlab plan`: prints the table, writes JSON that Plan.from_dict reads, one-line errors."""

import json

import pytest

from initlab.cli import main
from initlab.policy import Plan


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    """The table takes the terminal's width; these tests read whole names from it."""
    monkeypatch.setenv("COLUMNS", "200")


def test_plan_command_by_zoo_name(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", "--model", "seed-cnn", "--policy", "auto", "--input-shape", "1,28,28",
                 "--json-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "conv1.weight" in text and "kaiming_normal" in text and "relu follows" in text
    plan = Plan.from_dict(json.loads(out.read_text()))
    assert plan["conv1.weight"].fan_in == 9


def test_plan_command_module_factory(tmp_path, monkeypatch, capsys):
    (tmp_path / "user_models_for_plan.py").write_text(
        "import torch.nn as nn\n"
        "def net(num_classes=10):\n"
        "    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, num_classes))\n")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--model", "user_models_for_plan:net", "--policy", "xavier"]) == 0
    assert "xavier_uniform" in capsys.readouterr().out


def test_plan_command_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--model", "seed-cnn", "--policy", "atuo"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Unknown policy or initializer 'atuo'") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["plan", "--model", "seed-cnn", "--input-shape", "a,b"])
    assert "--input-shape must be positive integers" in capsys.readouterr().err
