"""Plans, rules and policies as data: printing, JSON round trips, diffs, registry, errors."""

import json
import warnings

import pytest
import torch
from _policy_models import Mixed, mlp
from torch import nn

import initlab
from initlab.errors import ConfigError, UnknownNameError
from initlab.init import get
from initlab.policy import Plan, Policy, Rule, get_policy


def test_print_shows_a_table_with_reasons(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # str(plan) is as wide as the terminal
    text = str(initlab.plan(mlp("relu"), "auto"))
    assert "0.weight" in text and "kaiming_normal" in text and "relu follows" in text
    assert "policy auto" in text


def test_plan_json_round_trip():
    plan = initlab.plan(Mixed(), "auto")
    d = json.loads(json.dumps(plan.to_dict()))
    back = Plan.from_dict(d)
    assert back.to_dict() == plan.to_dict()
    assert back.diff(plan) == []


def test_diff_lists_changed_rows():
    a, b = initlab.plan(mlp("relu"), "auto"), initlab.plan(mlp("relu"), "xavier_normal")
    diff = a.diff(b)
    changed = {(d["key"], d["field"]) for d in diff}
    assert ("0.weight", "init") in changed and ("0.bias", "init") not in changed
    c = initlab.plan(nn.Sequential(nn.Linear(8, 16)), "auto")
    assert {"key": "3.weight", "field": "row", "self": a["3.weight"].init, "other": None} in a.diff(c)


def test_policy_json_round_trip_and_custom_rules():
    policy = get_policy("auto").prepend(
        Rule("zeros", name="5.*", label="zero-head"),
        Rule("orthogonal(gain=2.0)", type="Linear", activation="relu"))
    back = Policy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert back.to_dict() == policy.to_dict()
    plan = initlab.plan(mlp("relu"), back)
    assert plan["5.weight"].init == str(get("zeros")) and plan["5.weight"].rule == "zero-head"
    assert plan["0.weight"].init == str(get("orthogonal(gain=2.0)"))
    assert plan["3.weight"].init.startswith("orthogonal(")


def test_rule_by_role_and_type_name():
    policy = Policy([Rule("normal(std=0.5)", role="weight", type=["Linear"]),
                     Rule("ones", role="bias")])
    plan = initlab.plan(mlp("relu"), policy)
    assert all(r.init == str(get("ones")) for r in plan if r.role == "bias")


def test_register_policy():
    name = "test_policy_registry_sgd"
    initlab.register_policy(name, Policy([Rule("zeros")], name=name))
    assert name in initlab.policies()
    assert all(r.init == str(get("zeros")) for r in initlab.plan(mlp("relu"), name))
    with pytest.raises(ConfigError, match=r"already registered.*overwrite=True"):
        initlab.register_policy(name, Policy([Rule("ones")]))
    initlab.register_policy(name, lambda: Policy([Rule("ones")]), overwrite=True)
    assert initlab.plan(mlp("relu"), name)["0.weight"].init == str(get("ones"))


def test_every_preset_is_listed():
    for name in ("torch_default", "auto", "xavier", "kaiming", "lecun", "orthogonal",
                 "zero_residual", "fixup", "gpt2", "zero", "delta_orthogonal"):
        assert name in initlab.policies()


# ----------------------------------------------------------------------------- bad input
def test_no_parameters():
    with pytest.raises(ConfigError, match=r"ReLU has no parameters to initialize"):
        initlab.plan(nn.ReLU(), "auto")


def test_unknown_policy_name():
    with pytest.raises(UnknownNameError, match=r"Unknown policy or initializer 'atuo'.*Did you mean 'auto'"):
        initlab.plan(mlp("relu"), "atuo")


def test_unknown_initializer_in_rule():
    with pytest.raises(UnknownNameError, match=r"kaimnig_normal"):
        Rule("kaimnig_normal", role="weight")


def test_unknown_module_type_in_rule():
    policy = get_policy("auto").prepend(Rule("zeros", type="Linaer"))
    with pytest.raises(ConfigError, match=r"module type 'Linaer'.*Did you mean 'Linear'"):
        initlab.plan(mlp("relu"), policy)


def test_unknown_role_and_activation():
    with pytest.raises(ConfigError, match=r"Unknown rule role 'wieght'. Did you mean 'weight'"):
        Rule("zeros", role="wieght")
    with pytest.raises(ConfigError, match=r"Unknown rule activation 'rleu'. Did you mean 'relu'"):
        Rule("zeros", activation="rleu")


def test_glob_matching_nothing_warns():
    policy = get_policy("auto").prepend(Rule("zeros", name="encoder.*"))
    with pytest.warns(UserWarning, match=r"name glob 'encoder\.\*' matches no parameter"):
        initlab.plan(mlp("relu"), policy)


def test_unmatched_parameters_are_listed():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.pos = nn.Parameter(torch.zeros(1, 3, 4))

        def forward(self, x):
            return self.fc(x)

    # a preset has an answer for every tensor: no principled rule -> the model's own values
    auto = initlab.plan(Custom(), "auto")
    assert auto["pos"].rule in ("keep", "native")
    model = Custom()
    with torch.no_grad():
        model.pos.fill_(0.5)
    initlab.apply(model, "auto", seed=0)
    assert torch.equal(model.pos, torch.full((1, 3, 4), 0.5))
    # a policy of explicit rules only still lists what it leaves out
    rules = [r for r in get_policy("auto").rules if not (r.role and "other" in r.role)]
    with pytest.raises(ConfigError, match=r"no rule for 1 parameter\(s\): pos \(Custom, role other\)"):
        initlab.plan(Custom(), Policy(rules))
    keep = initlab.plan(Custom(), Policy(rules, on_unmatched="keep"))
    assert [r.name for r in keep] == ["fc.weight", "fc.bias"]
    default = initlab.plan(Custom(), Policy(rules, on_unmatched="default"))
    assert default["pos"].rule == "on_unmatched"


def test_bad_on_unmatched():
    with pytest.raises(ConfigError, match=r"on_unmatched must be one of"):
        Policy([], on_unmatched="ignore")


def test_plan_from_bad_dict():
    with pytest.raises(ConfigError, match=r"needs a 'rows' list"):
        Plan.from_dict({"row": []})


def test_spec_policy_initializes_every_weight():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = initlab.plan(Mixed(), "xavier_normal")
    spec = str(get("xavier_normal"))
    for r in plan:
        if r.role in ("weight", "embedding", "rnn_input_weight", "rnn_recurrent_weight",
                      "attention_in_weight"):
            assert r.init == spec, r
        elif r.role in ("bias", "rnn_bias", "rnn_forget_bias", "norm_bias"):
            assert r.init == str(get("zeros")) or r.role == "rnn_forget_bias"
        elif r.role == "norm_weight":
            assert r.init == str(get("ones"))


def test_plan_falls_back_to_forward_tracing_with_an_example_input():
    from _policy_models import Untraceable

    # without an example input the structure decides (no error); with one, forward hooks
    assert initlab.plan(Untraceable(), "auto").meta["activations"] not in ("fx", "hooks")
    plan = initlab.plan(Untraceable(), "auto", example_input=torch.randn(3, 4))
    assert plan.meta["activations"] == "hooks"
    assert plan["a.weight"].init.startswith("xavier_uniform(") and "tanh" in plan["a.weight"].reason
    assert plan["a.weight"].gain == pytest.approx(5 / 3)
