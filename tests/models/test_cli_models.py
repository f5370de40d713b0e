"""`--model hf:MODEL_TYPE` / `timm:` / `torchvision:` on the CLI, and bare parameters."""

from __future__ import annotations

import importlib.util
import json

import pytest

from initlab.cli import main
from initlab.policy import Plan

pytest.importorskip("transformers")

TINY = ["--model-arg", "hidden_size=64", "--model-arg", "num_hidden_layers=2",
        "--model-arg", "num_attention_heads=4", "--model-arg", "num_key_value_heads=2",
        "--model-arg", "intermediate_size=128", "--model-arg", "vocab_size=256"]


def test_plan_hf_model_type_with_config_overrides(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", "--model", "hf:llama", *TINY, "--json-out", str(out)]) == 0
    plan = Plan.from_dict(json.loads(out.read_text()))
    assert plan["model.layers.1.mlp.down_proj.weight"].shape == (64, 128)
    assert plan["model.norm.weight"].role == "norm_weight"
    assert "silu follows" in plan["model.layers.0.mlp.gate_proj.weight"].reason


def test_plan_full_size_hf_config_costs_no_memory(capsys):
    # Llama's default config is 7B parameters: planned on the meta device
    assert main(["plan", "--model", "hf:llama", "--model-arg", "num_hidden_layers=1"]) == 0
    assert "11008x4096" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--model", "hf:lama"], "Unknown Hugging Face model type 'lama'. Did you mean 'llama'?"),
    (["--model", "hf:"], "names no model"),
    (["--model", "hf:llama", "--model-arg", "hidden_size"], "--model-arg expects KEY=VALUE"),
])
def test_model_source_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("source", ["timm", "torchvision"])
def test_missing_vision_package_is_one_line(source, capsys):
    if importlib.util.find_spec(source) is not None:
        pytest.skip(f"{source} is installed here")
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--model", f"{source}:resnet18"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"needs the {source} package" in err and err.count("\n") == 1


def test_a_bare_parameter_never_blocks_a_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "bare_param_models.py").write_text(
        "import torch, torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
        "        self.temperature = nn.Parameter(torch.tensor(0.07))\n"
        "        self.codebook = nn.Parameter(torch.randn(16, 4))\n"
        "    def forward(self, x):\n"
        "        return self.fc(x) / self.temperature\n"
        "def net():\n"
        "    return Net()\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "plan.json"
    assert main(["plan", "--model", "bare_param_models:net", "--json-out", str(out)]) == 0
    plan = Plan.from_dict(json.loads(out.read_text()))
    assert {r.name for r in plan} == {"fc.weight", "fc.bias", "temperature", "codebook"}
    assert plan["temperature"].init != "ones()"  # the model's 0.07, not a generic 1
    assert main(["audit", "--model", "bare_param_models:net"]) == 0
