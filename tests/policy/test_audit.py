"""The exactly-once audit: provenance of every tensor, and what escaped initialization."""

import importlib
import json
import re

import pytest
import torch
from _policy_models import Mixed, ResMLP, TinyGPT, cnn
from torch import nn

import initlab
from initlab.cli import main
from initlab.errors import ConfigError
from initlab.policy import Plan

COVER = initlab.Policy(rules=(initlab.Rule("normal(std=0.02)"),), on_unmatched="error")


def _rows(report):
    return {r["name"]: r for r in report.rows}


@pytest.mark.parametrize("policy", ["auto", "torch_default", "xavier", "orthogonal", "gpt2", "fixup"])
def test_a_correctly_applied_model_is_ok(policy):
    model = {"gpt2": TinyGPT, "fixup": ResMLP}.get(policy, lambda: cnn("relu"))()
    plan = initlab.apply(model, policy, seed=0)
    report = initlab.audit(model, plan)
    assert report.ok, report.problems
    names = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    assert {r["name"] for r in report.rows} == names
    assert all(r["provenance"].startswith(("rule", "native: "))
               for r in report.rows if r["kind"] == "parameter")


def test_rows_say_provenance_and_stats():
    model = Mixed()
    plan = initlab.apply(model, "auto", seed=0)
    rows = _rows(initlab.audit(model, plan))
    w = next(r for r in rows.values() if r["kind"] == "parameter" and len(r["shape"]) >= 2)
    assert w["init"] and w["planned_std"] > 0 and abs(w["std"] / w["planned_std"] - 1) < 0.5
    assert rows["bn.running_var"]["provenance"] == "constructor"
    untouched = _rows(initlab.audit(Mixed()))
    assert {r["provenance"] for r in untouched.values() if r["kind"] == "parameter"} == {"untouched"}


def test_left_on_meta_is_flagged():
    with torch.device("meta"):
        model = nn.Linear(4, 4)
    report = initlab.audit(model)
    assert not report.ok
    assert "'weight' is still on the meta device (never initialized)" in report.problems
    assert _rows(report)["weight"]["provenance"] == "untouched (on meta)"


@pytest.mark.parametrize("fill, match", [
    (1e30, r"'0\.weight' holds absurd magnitudes .*torch\.empty garbage"),
    (float("nan"), r"'0\.weight' holds NaN \(never initialized"),
    (float("inf"), r"'0\.weight' is not finite"),
    (1e-40, r"'0\.weight' holds 64 denormal value\(s\) in 64 sampled"),
])
def test_torch_empty_garbage_is_flagged(fill, match):
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    plan = initlab.apply(model, "auto", seed=0)
    with torch.no_grad():
        model[0].weight.fill_(fill)
    report = initlab.audit(model, plan)
    assert len(report.problems) == 1, report.problems
    assert re.search(match, report.problems[0]), report.problems


def test_garbage_is_flagged_without_a_plan():
    model = nn.Linear(4, 4)
    with torch.no_grad():
        model.weight[0, 0] = 1e30
    assert "absurd magnitudes" in initlab.audit(model).problems[0]


def test_far_off_std_is_flagged():
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    plan = initlab.apply(model, "auto", seed=0)
    with torch.no_grad():
        model[0].weight.mul_(2 ** 0.5)  # a missing sqrt(2) gain, the other way round
    (problem,) = initlab.audit(model, plan).problems
    assert problem.startswith("'0.weight' has std") and "far from its planned" in problem


def test_doubly_initialized_tensor_is_flagged():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    first = initlab.apply(model, "auto", seed=0)
    second = initlab.apply(model, "xavier", only="0.weight", seed=0)
    problems = initlab.audit(model, [first, second]).problems
    assert len(problems) == 1 and problems[0].startswith("'0.weight' initialized twice: by ")
    assert "(plans 1 and 2)" in problems[0]
    assert initlab.audit(model, [first, first]).ok  # the same spec twice is not a conflict


def test_tied_tensors_treated_two_ways_are_flagged():
    model = TinyGPT()
    model.lm_head.weight = model.wte.weight  # tie
    plan = initlab.apply(model, "auto", seed=0)
    rows = [r.to_dict() for r in plan.rows]
    twin = dict(next(r for r in rows if r["name"] == "wte.weight"), name="lm_head.weight",
                init="normal(mean=0.0, std=0.5)")
    report = initlab.audit(model, Plan.from_dict({"rows": rows + [twin]}))
    assert any(p.startswith("tied tensors treated two ways: 'wte.weight'") for p in report.problems)
    assert _rows(report)["wte.weight"]["tied"] == ["lm_head.weight"]


def test_state_dict_provenance_and_overwrites():
    model = nn.Linear(4, 4)
    sd = {k: v.clone() for k, v in nn.Linear(4, 4).state_dict().items()}
    model.load_state_dict(sd)
    assert {r["provenance"] for r in initlab.audit(model, state_dict=sd).rows} == {"state dict"}
    plan = initlab.apply(model, "auto", seed=0)
    problems = initlab.audit(model, plan, state_dict=sd).problems
    assert any(p.startswith("'weight' was loaded from the state dict but its values differ")
               for p in problems)


def test_masks_with_inf_buffers_are_fine():
    model = nn.Linear(4, 4)
    model.register_buffer("mask", torch.full((4, 4), float("-inf")).triu(1))
    model.register_buffer("low", torch.full((2,), torch.finfo(torch.float32).min))
    assert initlab.audit(model, initlab.apply(model, "auto", seed=0)).ok


def test_report_is_json_and_prints_a_table(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # wide enough that no name folds
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    report = initlab.audit(model, initlab.apply(model, "auto", seed=0))
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ok"] is True and len(d["rows"]) == 4
    text = str(report)
    assert "initlab audit: 4 tensors, ok" in text and "0.weight" in text
    assert repr(report) == "AuditReport(4 tensors, ok=True, 0 problem(s))"


def test_audit_errors_are_one_line():
    with pytest.raises(ConfigError, match=r"audit\(\) needs a torch\.nn\.Module; got int"):
        initlab.audit(3)
    with pytest.raises(ConfigError, match=r"audit\(\) takes a Plan, a plan dict or a list of them; got str"):
        initlab.audit(nn.Linear(2, 2), "auto")
    with pytest.raises(ConfigError, match=r"state_dict must be a mapping; got list"):
        initlab.audit(nn.Linear(2, 2), state_dict=[1])


def test_a_plan_for_another_model_is_flagged():
    plan = initlab.plan(nn.Linear(2, 2), "auto")
    problems = initlab.audit(nn.Sequential(nn.Linear(2, 2)), plan).problems
    assert "plan row 'weight' names no tensor of Sequential (a plan for another model?)" in problems


# ----------------------------------------------------------------- materialize + audit


def test_materialize_records_its_plan_and_the_audit_uses_it():
    pytest.importorskip("transformers")
    from _tiny_hf import build

    model = initlab.materialize(build("llama", "meta"), COVER, seed=0)
    assert len(model._initlab_plans) == 1 and model._initlab_plans[0].meta["seed"] == 0
    report = initlab.audit(model)
    assert report.ok, report.problems
    rows = _rows(report)
    assert rows["model.rotary_emb.inv_freq"]["provenance"].startswith("buffer: native: ")
    assert rows["model.embed_tokens.weight"]["provenance"] == "rule *"  # the rule's label


def test_materialize_raises_when_a_tensor_escapes(monkeypatch):
    mat = importlib.import_module("initlab.policy.materialize")

    real = mat.execute

    def leaves_garbage(model, rows, *, seed, threads=None):
        real(model, rows, seed=seed, threads=threads)
        with torch.no_grad():
            model[0].weight.fill_(float("nan"))

    monkeypatch.setattr(mat, "execute", leaves_garbage)
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with pytest.raises(ConfigError, match=r"materialize finished but 1 tensor\(s\) escaped "
                                          r"initialization: '0\.weight' holds NaN.*Hint: initlab\.audit"):
        initlab.materialize(model, "auto")
    assert not model[0].weight.is_meta  # the values stay for inspection


# -------------------------------------------------------------------------------- CLI


def test_cli_audit_ok_and_json(tmp_path, capsys):
    out = tmp_path / "audit.json"
    assert main(["audit", "--model", "mlp", "--policy", "auto", "--seed", "0", "--json-out", str(out)]) == 0
    assert "initlab audit:" in capsys.readouterr().out
    assert json.loads(out.read_text())["ok"] is True


def test_cli_audit_meta_and_model_args(tmp_path, monkeypatch, capsys):
    (tmp_path / "user_models_for_audit.py").write_text(
        "import torch, torch.nn as nn\n"
        "def net(width=8, num_classes=10):\n"
        "    m = nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width), nn.ReLU(),\n"
        "                      nn.Linear(width, num_classes))\n"
        "    return m\n"
        "def broken(num_classes=10):\n"
        "    m = nn.Linear(4, num_classes)\n"
        "    with torch.no_grad():\n"
        "        m.weight.fill_(float('nan'))\n"
        "    return m\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["audit", "--model", "user_models_for_audit:net", "--model-arg", "width=16",
                 "--meta"]) == 0
    text = capsys.readouterr().out
    assert "16" in text and "reset_running_stats" in text
    assert main(["audit", "--model", "user_models_for_audit:broken", "--policy", "none"]) == 1
    assert "holds NaN" in capsys.readouterr().out


def test_cli_audit_user_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--model", "mlp", "--model-arg", "oops"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: --model-arg expects KEY=VALUE") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--model", "mlp", "--policy", "atuo"])
    assert exc.value.code == 2


@pytest.mark.parametrize("columns", ["80", "100"])
def test_str_audit_fits_the_terminal_and_keeps_every_number(monkeypatch, columns):
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", columns)
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64 * 30 * 30, 1000), nn.Linear(1000, 10))
    report = initlab.audit(model, initlab.apply(model, "auto", seed=0))
    text = str(report)
    assert max(cell_len(line) for line in text.splitlines()) <= int(columns)
    assert "…" not in text
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│")]
    firsts = [cells for cells in rows if cells[2]]  # shape: set on a row's first line only
    assert len(firsts) == len(report.rows)
    for cells, r in zip(firsts, report.rows):
        assert "x".join(map(str, r["shape"])) == cells[2]
        def fmt(v):
            return "-" if v is None else f"{v:.4g}"

        assert (fmt(r["planned_std"]), fmt(r["std"])) == (cells[5], cells[6])
