"""The registry: contract over every registered initializer, parsing, round trips, errors."""

import json
import math
from dataclasses import FrozenInstanceError, dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import initlab
from initlab import ConfigError, UnknownNameError
from initlab.init import Initializer, aliases_by_name, available, get, register
from initlab.rng import KeyedSource

NAMES = available()


def _spec(name):
    """The initializer with its declared cheap example config."""
    cls = type(get(name))
    return get({"name": name, "config": dict(cls.example_config)})


def _example(name, dtype=torch.float32):
    spec = _spec(name)
    return spec, torch.empty(spec.example_shape, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_contract_dtypes(name, dtype):
    spec, t = _example(name, dtype)
    out = spec(t, generator=torch.Generator().manual_seed(0))
    assert out is t
    assert t.shape == torch.Size(spec.example_shape) and t.dtype == dtype
    assert t.is_leaf and t.grad_fn is None and t.requires_grad
    assert torch.isfinite(t.float()).all()


@pytest.mark.parametrize("name", NAMES)
def test_contract(name):
    spec, t = _example(name)
    out = spec(t, generator=torch.Generator().manual_seed(0))
    assert out is t
    assert t.shape == torch.Size(spec.example_shape) and t.dtype == torch.float32
    assert t.device.type == "cpu"
    assert t.is_leaf and t.grad_fn is None and t.requires_grad
    assert torch.isfinite(t).all()
    again = spec(torch.empty_like(t), generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, t)
    other = spec(torch.empty_like(t), generator=torch.Generator().manual_seed(1))
    if spec.random:
        assert not torch.equal(other, t)
    else:
        assert torch.equal(other, t)


@pytest.mark.parametrize("name", NAMES)
def test_spec_round_trips(name):
    spec = _spec(name)
    assert get(json.loads(json.dumps(spec.to_dict()))) == spec
    assert get(str(spec)) == spec
    assert get(spec) is spec
    assert spec.to_dict()["name"] == name == spec.name == get(name).name
    with pytest.raises(FrozenInstanceError):
        spec.__setattr__("_x", 1)


@pytest.mark.parametrize("name", NAMES)
def test_expected_std_matches_values(name):
    spec = _spec(name)
    t = spec(torch.empty(spec.example_shape, dtype=torch.float64),
             generator=torch.Generator().manual_seed(0))
    want = spec.expected_std(spec.example_shape)
    if want is None:
        pytest.skip(f"{name} declares no expected std")
    std, rms = t.std(unbiased=False).item(), t.pow(2).mean().sqrt().item()
    tol = 0.2 * want + 1e-12 if spec.random else 1e-9
    assert min(abs(std - want), abs(rms - want)) <= tol


@pytest.mark.parametrize("name", NAMES)
def test_keyed_source_fill_is_deterministic(name):
    """The policy path: fill_ with a KeyedSource depends only on (seed, key, shape, spec)."""
    spec = _spec(name)
    shape = spec.example_shape

    def fill(seed):
        t = torch.empty(shape)
        with torch.no_grad():
            spec.fill_(t, KeyedSource(seed, "layer.weight", shape, spec=str(spec)))
        return t

    a, b = fill(0), fill(0)
    assert torch.equal(a, b)
    if spec.random:
        assert not torch.equal(a, fill(1))


def test_aliases_resolve():
    assert get("he_normal") == get("kaiming_normal")
    assert get("glorot_uniform()") == get("xavier_uniform")
    assert get("Kaiming_Normal_") == get("kaiming_normal")
    assert "he_normal" in aliases_by_name()["kaiming_normal"]
    with pytest.warns(DeprecationWarning, match="aliases_by_name"):
        assert available(aliases=True) == aliases_by_name()
    assert "he_normal" not in available()


def test_parser_literals_and_positionals():
    assert get("kaiming_normal(mode='fan_out', nonlinearity='relu')") == \
        initlab.init.scaling.KaimingNormal(mode="fan_out", nonlinearity="relu")
    assert get("normal(0, 0.02)") == get({"name": "normal", "config": {"mean": 0, "std": 0.02}})
    assert get("uniform(a=-1e-2, b=1e-2)").a == -0.01
    assert get("variance_scaling(2, 'fan_avg', distribution='uniform')").scale == 2.0
    assert str(get("normal(std=1)")) == "normal(mean=0.0, std=1.0)"


@pytest.mark.parametrize("text,error,match", [
    ("kaimnig_normal", UnknownNameError,
     r"^Unknown initializer 'kaimnig_normal'\. Did you mean 'kaiming_normal'\? Available: \["),
    ("kaiming_normal(mdoe='fan_in')", ConfigError,
     r"^Unknown argument 'mdoe' for initializer 'kaiming_normal'\. Did you mean 'mode'\? "
     r"Allowed: \['a', 'mode', 'nonlinearity'\]\.$"),
    ("kaiming_normal(mode='fan_inn')", ConfigError,
     r"^Invalid mode='fan_inn' for initializer 'kaiming_normal'\. Did you mean 'fan_in'\? "
     r"Allowed: \['fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg'\]\.$"),
    ("variance_scaling(distribution='truncated')", ConfigError,
     r"Invalid distribution='truncated' .* Did you mean 'truncated_normal'\?"),
    ("kaiming_normal(nonlinearity='rleu')", ConfigError, r"Did you mean 'relu'\?"),
    ("normal(std=-1)", ConfigError, r"^Invalid std=-1\.0 for initializer 'normal'; expected a number >= 0"),
    ("normal(std='big')", ConfigError, r"^Invalid std='big' for initializer 'normal'; expected a finite"),
    ("uniform(a=1, b=0)", ConfigError, r"a=1\.0 > b=0\.0; expected a <= b"),
    ("sparse(sparsity=1.5)", ConfigError, r"expected a fraction in \[0, 1\]"),
    ("normal(std=__import__('os').getcwd())", ConfigError, r"expected a Python literal"),
    ("normal(std=math.sqrt(2))", ConfigError, r"Invalid value math\.sqrt\(2\) for argument 'std'"),
    ("normal(", ConfigError, r"^Cannot parse initializer spec 'normal\('"),
    ("os.system('x')", ConfigError, r"^Cannot parse initializer spec"),
    ("normal(1, 2, 3)", ConfigError, r"Too many positional arguments .* at most 2"),
    ("normal(0, mean=1)", ConfigError, r"Argument 'mean' given twice"),
    ("default(role='bais')", ConfigError, r"Did you mean 'bias'\?"),
])
def test_bad_specs(text, error, match):
    with pytest.raises(error, match=match):
        get(text)


def test_bad_dicts_and_types():
    with pytest.raises(ConfigError, match=r"needs the keys 'name' .* got keys \['mode'\]"):
        get({"mode": "fan_in"})
    with pytest.raises(ConfigError, match=r"Config of initializer 'normal' must be a dict; got list"):
        get({"name": "normal", "config": [1]})
    with pytest.raises(ConfigError, match=r"^Cannot make an initializer from int"):
        get(3)
    with pytest.raises(UnknownNameError) as info:
        get({"name": "nope"})
    assert str(info.value).startswith("Unknown initializer 'nope'.")  # no KeyError quotes


def test_register_extends_registry_and_rejects_duplicates():
    @register("_test_half")
    @dataclass(frozen=True)
    class Half(Initializer):
        """Every entry 0.5 (test only)."""

        random = False

        def fill_(self, tensor, source, *, layout=None, groups=1):
            return tensor.fill_(0.5)

    try:
        assert "_test_half" in available()
        assert get("_test_half()")(torch.empty(2, 2)).eq(0.5).all()
        assert Half.description == "Every entry 0.5 (test only)."
        with pytest.raises(ValueError, match="already registered"):
            register("normal")(Half)
    finally:
        from initlab.init import registry

        registry.INITIALIZERS.remove("_test_half")


_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(scale=st.floats(1e-6, 1e3), mode=st.sampled_from(["fan_in", "fan_out", "fan_avg"]),
       dist=st.sampled_from(["normal", "uniform", "truncated_normal"]))
def test_variance_scaling_round_trip_property(scale, mode, dist):
    spec = get({"name": "variance_scaling", "config": {"scale": scale, "mode": mode,
                                                      "distribution": dist}})
    assert get(str(spec)) == spec
    assert get(json.loads(json.dumps(spec.to_dict()))) == spec


@settings(derandomize=True, max_examples=60, deadline=None)
@given(a=_floats, width=st.floats(1e-3, 1e6), mean=_floats, std=st.floats(0, 1e3))
def test_numeric_round_trip_property(a, width, mean, std):
    for spec in (get({"name": "uniform", "config": {"a": a, "b": a + width}}),
                 get({"name": "normal", "config": {"mean": mean, "std": std}}),
                 get({"name": "constant", "config": {"val": a}})):
        assert get(str(spec)) == spec
        assert get(json.loads(json.dumps(spec.to_dict()))) == spec
        assert all(math.isfinite(v) for v in spec.get_config().values())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_contract_cuda(name):
    spec = _spec(name)
    t = torch.empty(spec.example_shape, device="cuda", requires_grad=True)
    g = torch.Generator(device="cuda").manual_seed(0)
    assert spec(t, generator=g) is t
    assert t.device.type == "cuda" and t.is_leaf and t.grad_fn is None
    again = spec(torch.empty_like(t), generator=torch.Generator(device="cuda").manual_seed(0))
    assert torch.equal(again, t)


def test_public_namespace():
    wanted = ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
              "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
              "orthogonal_", "sparse_", "variance_scaling_", "lecun_uniform_", "lecun_normal_",
              "trunc_normal_std_", "default_", "delta_orthogonal_", "zero_hadamard_", "identity_",
              "calculate_gain"]
    for name in wanted:
        assert callable(getattr(initlab.init, name)) and name in initlab.init.__all__
    for name in ["fans", "gain", "get", "available", "register", "init"]:
        assert name in initlab.__all__ and getattr(initlab, name) is not None
    assert initlab.init.Initializer is not None and "Initializer" in initlab.init.__all__
    # every registered name has its functional form, except data-dependent extensions
    for name in NAMES:
        if name != "seeded":  # a wrapper of another spec: get("seeded(...)")
            assert hasattr(initlab.init, name + "_"), name
