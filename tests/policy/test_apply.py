"""apply: keyed determinism, `only`, `freeze`, dtype/device/requires_grad, nothing half-applied."""

import pytest
import torch
from _policy_models import Mixed, cnn, mlp
from torch import nn

import initlab
from initlab.errors import ConfigError
from initlab.policy import Plan, Policy, Rule, get_policy


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a, b, keys=None):
    keys = keys if keys is not None else a.keys()
    return all(torch.equal(a[k], b[k]) for k in keys)


def test_same_seed_same_weights_different_seed_different():
    a, b, c = Mixed(), Mixed(), Mixed()
    initlab.apply(a, "auto", seed=7)
    initlab.apply(b, "auto", seed=7)
    initlab.apply(c, "auto", seed=8)
    assert _equal(_state(a), _state(b))
    assert not torch.equal(a.conv.weight, c.conv.weight)


def test_values_depend_on_the_name_not_on_construction_order_or_rng_state():
    torch.manual_seed(0)
    a = mlp("relu")
    torch.manual_seed(123)
    b = mlp("relu")
    initlab.apply(a, "auto", seed=1)
    torch.manual_seed(5)
    initlab.apply(b, "auto", seed=1)
    assert _equal(_state(a), _state(b))
    assert torch.initial_seed() == 5  # the global RNG is neither read nor reseeded


def test_adding_a_layer_leaves_the_others_unchanged():
    small = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    big = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4), nn.Linear(4, 4))
    initlab.apply(small, "auto", seed=3)
    initlab.apply(big, "auto", seed=3)
    assert _equal(_state(small), _state(big), ["0.weight", "2.weight"])


def test_thread_count_is_irrelevant():
    from initlab import rng

    model = nn.Sequential(nn.Linear(600, 900), nn.ReLU(), nn.Linear(900, 5))  # > 2 chunks
    initlab.apply(model, "auto", seed=0, threads=1)
    one = _state(model)
    initlab.apply(model, "auto", seed=0, threads=3)
    assert _equal(one, _state(model))
    old = rng.get_num_threads()
    try:
        rng.set_num_threads(2)
        initlab.apply(model, "auto", seed=0)
    finally:
        rng.set_num_threads(old)
    assert _equal(one, _state(model))


def test_keeps_dtype_device_requires_grad_and_records_no_graph():
    model = cnn("relu").to(torch.float64)
    model[0].weight.requires_grad_(False)
    before = {n: (p.dtype, p.device, p.requires_grad, p) for n, p in model.named_parameters()}
    initlab.apply(model, "auto", seed=0)
    for n, p in model.named_parameters():
        dtype, device, rg, obj = before[n]
        assert (p.dtype, p.device, p.requires_grad) == (dtype, device, rg) and p is obj
        assert p.grad_fn is None and p.grad is None


def test_bfloat16_model():
    model = mlp("relu").to(torch.bfloat16)
    initlab.apply(model, "auto", seed=0)
    ref = mlp("relu")
    initlab.apply(ref, "auto", seed=0)
    assert torch.equal(model[0].weight, ref[0].weight.to(torch.bfloat16))


@pytest.mark.parametrize("only", ["5.*", ["5.weight", "5.bias"]])
def test_only_glob_or_list_leaves_the_rest_bit_identical(only):
    model = mlp("relu")
    before = _state(model)
    plan = initlab.apply(model, "auto", seed=0, only=only)
    assert {r.name for r in plan} == {"5.weight", "5.bias"}
    after = _state(model)
    assert _equal(before, after, [k for k in before if not k.startswith("5.")])
    assert not torch.equal(before["5.weight"], after["5.weight"])


def test_only_missing_with_a_state_dict():
    backbone = mlp("relu")
    sd = {k: v for k, v in backbone.state_dict().items() if not k.startswith("5.")}
    model = mlp("relu")
    model.load_state_dict(sd, strict=False)
    before = _state(model)
    plan = initlab.apply(model, "auto", seed=0, only="missing", state_dict=sd, freeze=True)
    assert {r.name for r in plan} == {"5.weight", "5.bias"}
    assert _equal(before, _state(model), list(sd))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["5.weight", "5.bias"]


def test_only_missing_needs_a_state_dict():
    with pytest.raises(ConfigError, match=r"only='missing' needs the loaded weights; got state_dict=None"):
        initlab.apply(mlp("relu"), "auto", only="missing")


def test_only_uninitialized_shapes_lazy_modules():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.LazyLinear(4))
    before = _state(nn.Sequential(*list(model)[:2]))
    with pytest.raises(ConfigError, match=r"lazy parameter\(s\) have no shape yet.*example_input="):
        initlab.apply(model, "auto", only="uninitialized")
    plan = initlab.apply(model, "auto", seed=0, only="uninitialized", example_input=torch.randn(2, 8))
    assert {r.name for r in plan} == {"2.weight", "2.bias"}
    assert model[2].weight.shape == (4, 16)
    assert torch.equal(before["0.weight"], model[0].weight)


def test_only_glob_matching_nothing_warns():
    model = mlp("relu")
    before = _state(model)
    with pytest.warns(UserWarning, match=r"only='head\.\*' matches no parameter"):
        initlab.apply(model, "auto", only="head.*")
    assert _equal(before, _state(model))


def test_meta_model_points_to_materialize():
    with torch.device("meta"):
        model = mlp("relu")
    with pytest.raises(ConfigError, match=r"on the meta device .*initlab\.materialize"):
        initlab.apply(model, "auto")


def test_nothing_is_half_applied():
    model = mlp("relu")
    before = _state(model)
    plan = initlab.plan(model, "auto")
    d = plan.to_dict()
    d["rows"][-1]["init"] = "no_such_init"
    d["rows"][2]["shape"] = [99, 3]
    with pytest.raises(ConfigError, match=r"plan does not fit the model \(2 problem\(s\)\).*Nothing was written"):
        initlab.apply(model, Plan.from_dict(d))
    assert _equal(before, _state(model))


def test_an_unmatched_parameter_fails_before_writing():
    policy = Policy([Rule("zeros", role="weight")])
    model = mlp("relu")
    before = _state(model)
    with pytest.raises(ConfigError, match=r"no rule for 3 parameter\(s\): 0\.bias"):
        initlab.apply(model, policy)
    assert _equal(before, _state(model))


def test_a_plan_is_executable_after_a_json_round_trip():
    a, b = Mixed(), Mixed()
    plan = initlab.apply(a, "auto", seed=4)
    initlab.apply(b, Plan.from_dict(plan.to_dict()), seed=4)
    assert _equal(_state(a), _state(b))


def test_numpy_seed_is_an_int_seed():
    import numpy as np

    a, b = mlp("relu"), mlp("relu")
    initlab.apply(a, "auto", seed=np.int64(3))
    initlab.apply(b, "auto", seed=3)
    assert _equal(_state(a), _state(b))


def test_bad_seed():
    with pytest.raises(ConfigError, match=r"seed must be an int >= 0; got '1'"):
        initlab.apply(mlp("relu"), "auto", seed="1")


def test_policy_rules_apply_in_order():
    policy = get_policy("auto").prepend(Rule("constant(val=0.5)", name="3.weight"))
    model = mlp("relu")
    initlab.apply(model, policy)
    assert torch.equal(model[3].weight, torch.full((16, 16), 0.5))
