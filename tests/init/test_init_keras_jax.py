"""Keras and JAX users at home: per-axis fans, fan_geo_avg, untruncated_normal, Keras class
names and serialized form (seed included), array constants, Identity gain, column_axis,
get(None), and to_keras / to_jax, checked against the formulas (Keras and JAX themselves
only when installed)."""

import json
import math

import pytest
import torch

import initlab
from initlab import ConfigError, UnknownNameError
from initlab import init as I

TRUNC = 0.87962566103423978
N = 2 ** 16


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _std_ok(x, want):
    n = x.numel()
    return abs(float(x.double().std()) / want - 1) < 6 / math.sqrt(2 * n)


# --- per-axis fans, fan_geo_avg, untruncated_normal ----------------------------------------


@pytest.mark.parametrize("shape,in_axis,out_axis,batch_axis,want", [
    ((3, 3, 16, 32), -2, -1, (), (9 * 16, 9 * 32)),        # Flax conv kernel (h, w, in, out)
    ((16, 32), 0, 1, (), (16, 32)),
    ((8, 4, 16, 32), -2, -1, 0, (4 * 16, 4 * 32)),         # a batch of 8 kernels
    ((6, 5, 7), (0, 1), 2, (), (30, 7)),                    # several input axes
    ((32, 16, 3, 3), 1, 0, (), (16 * 9, 32 * 9)),          # torch's own convention, by axes
])
def test_axis_fans_follow_jax(shape, in_axis, out_axis, batch_axis, want):
    assert I.axis_fans(shape, in_axis, out_axis, batch_axis) == want


def test_axis_fans_errors():
    with pytest.raises(ConfigError, match=r"^in_axis=5 is out of range for a tensor of shape "
                                          r"\(4, 3\) \(2 dims\); expected axes in \[-2, 1\]\.$"):
        I.axis_fans((4, 3), 5, 0)
    with pytest.raises(ConfigError, match=r"overlap for shape \(4, 3\); expected distinct axes"):
        I.axis_fans((4, 3), 0, 0)
    with pytest.raises(ConfigError, match=r"expected in_axis and out_axis both given"):
        initlab.get("variance_scaling(in_axis=0)")


def test_variance_scaling_per_axis_std():
    # a (in=64, out=16) kernel stored Keras-style: fan_in must be 64, not torch's size(1)=16
    w = torch.empty(N // 16, 16)
    I.variance_scaling_(w, scale=2.0, mode="fan_in", distribution="normal", in_axis=0,
                        out_axis=1, generator=_g())
    assert _std_ok(w, math.sqrt(2.0 / (N // 16)))


@pytest.mark.parametrize("distribution,factor", [("untruncated_normal", 1.0), ("normal", 1.0),
                                                 ("truncated_normal", 1.0), ("uniform", 1.0)])
def test_fan_geo_avg_and_distributions(distribution, factor):
    shape = (64, 1024)
    w = torch.empty(shape)
    I.variance_scaling_(w, scale=3.0, mode="fan_geo_avg", distribution=distribution,
                        generator=_g(1))
    fan = math.sqrt(64 * 1024)
    assert _std_ok(w, math.sqrt(3.0 / fan))  # every distribution has std sqrt(scale / fan)
    if distribution == "truncated_normal":   # cut at ±2 of the pre-correction std
        assert float(w.abs().max()) <= 2 * math.sqrt(3.0 / fan) / TRUNC + 1e-6


def test_untruncated_normal_is_stored_as_normal():
    spec = initlab.get("variance_scaling(distribution='untruncated_normal')")
    assert spec.distribution == "normal" and spec == initlab.get("variance_scaling(distribution='normal')")
    a, b = torch.empty(30, 40), torch.empty(30, 40)
    spec(a, generator=_g(2))
    I.variance_scaling_(b, distribution="normal", generator=_g(2))
    assert torch.equal(a, b)


def test_kaiming_fan_geo_avg_extension():
    w = torch.empty(256, 64)
    I.kaiming_normal_(w, mode="fan_geo_avg", nonlinearity="relu", generator=_g())
    assert _std_ok(w, math.sqrt(2 / math.sqrt(256 * 64)))


# --- Keras names and serialized form --------------------------------------------------------

# Keras class -> (scale, mode, distribution) it means, or the exact initlab spec string
KERAS_MEANING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
}


@pytest.mark.parametrize("class_name", sorted(KERAS_MEANING))
def test_keras_class_names_mean_what_keras_means(class_name):
    scale, mode, distribution = KERAS_MEANING[class_name]
    shape = (256, 256)
    w = torch.empty(shape)
    initlab.get(class_name)(w, generator=_g(3))
    fan = 256
    std = math.sqrt(scale / fan)
    assert _std_ok(w, std)
    bound = {"uniform": math.sqrt(3) * std, "truncated_normal": 2 * std / TRUNC}[distribution]
    assert float(w.abs().max()) <= bound + 1e-6
    assert float(w.abs().max()) > 0.95 * bound  # and reaches it: the shape is right


def test_snake_case_names_stay_torch_like():
    # initlab's glorot_normal / he_normal are torch's untruncated ones (documented)
    w = torch.empty(512, 512)
    initlab.get("he_normal")(w, generator=_g())
    assert float(w.abs().max()) > 2 * math.sqrt(2 / 512) / TRUNC


@pytest.mark.parametrize("serialized,want", [
    ({"class_name": "RandomNormal", "config": {"mean": 0.1, "stddev": 0.2, "seed": None}},
     "normal(mean=0.1, std=0.2)"),
    ({"class_name": "RandomUniform", "config": {"minval": -0.3, "maxval": 0.3}},
     "uniform(a=-0.3, b=0.3)"),
    ({"class_name": "TruncatedNormal", "config": {"stddev": 0.02}},
     "trunc_normal_std(mean=0.0, std=0.02, a=-2.0, b=2.0)"),
    ({"module": "keras.initializers", "class_name": "VarianceScaling", "registered_name": None,
      "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal",
                 "seed": None}},
     "variance_scaling(scale=2.0, mode='fan_out', distribution='normal')"),
    ({"class_name": "VarianceScaling", "config": {"distribution": "normal"}},  # Keras 2 legacy
     "variance_scaling(scale=1.0, mode='fan_in', distribution='truncated_normal')"),
    ({"class_name": "Orthogonal", "config": {"gain": 2.0, "seed": None}}, "orthogonal(gain=2.0)"),
    ({"class_name": "Identity", "config": {"gain": 0.5}}, "identity(gain=0.5)"),
    ({"class_name": "Constant", "config": {"value": 0.25}}, "constant(val=0.25)"),
    ({"class_name": "Zeros", "config": {}}, "zeros"),
])
def test_reading_keras_serialized(serialized, want):
    assert initlab.get(serialized) == initlab.get(want)


def test_seed_becomes_seeded_and_repeats_like_keras():
    spec = initlab.get({"class_name": "HeNormal", "config": {"seed": 7}})
    assert spec.name == "seeded" and spec.seed == 7
    a, b = spec(torch.empty(20, 30)), spec(torch.empty(20, 30))
    assert torch.equal(a, b)  # a seeded Keras initializer gives the same values every call
    c = initlab.get({"class_name": "HeNormal", "config": {"seed": 8}})(torch.empty(20, 30))
    assert not torch.equal(a, c)
    assert initlab.get(json.loads(json.dumps(spec.to_dict()))) == spec
    assert initlab.get(str(spec)) == spec
    assert spec.to_keras_config()["config"] == {"seed": 7}
    assert initlab.get("HeNormal(seed=7)") == spec


@pytest.mark.parametrize("text", ["GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform",
                                  "LecunNormal", "LecunUniform", "RandomNormal(stddev=0.3)",
                                  "RandomUniform(minval=-1.0, maxval=2.0)", "TruncatedNormal",
                                  "VarianceScaling(0.5, 'fan_avg', 'uniform')", "Orthogonal(3.0)",
                                  "Identity(gain=2.0)", "Constant(value=1.5)", "Zeros", "Ones",
                                  "HeNormal(seed=3)"])
def test_keras_round_trip(text):
    spec = initlab.get(text)
    config = spec.to_keras_config()
    assert set(config) == {"module", "class_name", "config", "registered_name"}
    assert initlab.get(config) == spec
    assert initlab.get(json.loads(json.dumps(config))) == spec


def test_keras_errors():
    with pytest.raises(UnknownNameError, match=r"^Unknown Keras initializer 'HeNormel'\. Did you "
                                               r"mean 'HeNormal'\?"):
        initlab.get({"class_name": "HeNormel", "config": {}})
    with pytest.raises(ConfigError, match=r"^Unknown argument 'stdev' for Keras initializer "
                                          r"'RandomNormal'\. Did you mean 'stddev'\?"):
        initlab.get({"class_name": "RandomNormal", "config": {"stdev": 1.0}})
    with pytest.raises(ConfigError, match=r"^sparse\(sparsity=0\.9, std=0\.01\) has no Keras "
                                          r"equivalent\. Hint: Keras has Zeros"):
        initlab.get("sparse").to_keras_config()
    with pytest.raises(ConfigError, match=r"has no Keras equivalent \(Keras has no mode "
                                          r"'fan_geo_avg'\)"):
        initlab.get("variance_scaling(mode='fan_geo_avg')").to_keras_config()


def test_torch_schemes_written_as_variance_scaling():
    c = initlab.get("kaiming_normal(nonlinearity='relu')").to_keras_config()
    assert c["class_name"] == "VarianceScaling"
    assert c["config"] == {"scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal",
                           "seed": None}
    assert initlab.get("xavier_uniform").to_keras_config()["class_name"] == "GlorotUniform"
    c = initlab.get("default").to_keras_config()["config"]  # torch's U(±1/sqrt(fan_in))
    assert math.isclose(c["scale"], 1 / 3) and c["distribution"] == "uniform"


def test_get_none_is_none():
    assert initlab.get(None) is None


# --- array constants, Identity gain, orthogonal column_axis ---------------------------------


def test_array_constant_broadcasts():
    spec = initlab.get({"name": "constant", "config": {"val": [1.0, 2.0, 3.0]}})
    w = spec(torch.empty(2, 3))
    assert torch.equal(w, torch.tensor([[1.0, 2.0, 3.0]] * 2))
    assert initlab.get(json.loads(json.dumps(spec.to_dict()))) == spec
    assert not spec.elementwise and initlab.get("constant(val=2.0)").elementwise
    with pytest.raises(ConfigError, match=r"^constant: the array of shape \(3,\) does not "
                                          r"broadcast to the tensor's shape \(3, 2\)"):
        spec(torch.empty(3, 2))
    with pytest.raises(ConfigError, match=r"expected a number or a rectangular array"):
        initlab.get({"name": "constant", "config": {"val": [[1.0], [2.0, 3.0]]}})


def test_identity_gain():
    w = I.identity_(torch.empty(3, 4), gain=2.5)
    assert torch.equal(w, 2.5 * torch.eye(3, 4))
    assert initlab.get("identity").to_dict() == {"name": "identity", "config": {}}


@pytest.mark.parametrize("shape,axis", [((3, 3, 8, 16), -1), ((4, 6, 5), 1), ((6, 4), 0)])
def test_orthogonal_column_axis(shape, axis):
    w = initlab.get(f"orthogonal(gain=1.5, column_axis={axis})")(torch.empty(shape), generator=_g())
    cols = w.movedim(axis, -1).reshape(-1, shape[axis]).double()  # JAX: these columns
    rows, n = cols.shape
    gram = cols.T @ cols if rows >= n else cols @ cols.T
    assert torch.allclose(gram, 2.25 * torch.eye(min(rows, n), dtype=torch.float64), atol=1e-5)


def test_orthogonal_column_axis_zero_is_torch():
    a = initlab.get("orthogonal(column_axis=0)")(torch.empty(5, 7), generator=_g(4))
    b = torch.nn.init.orthogonal_(torch.empty(5, 7), generator=_g(4))
    assert torch.equal(a, b)


# --- JAX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,want", [
    ("he_normal", {"name": "variance_scaling", "kwargs": {
        "scale": 2.0, "mode": "fan_in", "distribution": "normal"}}),
    ("lecun_normal", {"name": "variance_scaling", "kwargs": {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}}),
    ("variance_scaling(2.0, 'fan_geo_avg', 'uniform', in_axis=-2, out_axis=-1, batch_axis=0)",
     {"name": "variance_scaling", "kwargs": {"scale": 2.0, "mode": "fan_geo_avg",
                                             "distribution": "uniform", "in_axis": -2,
                                             "out_axis": -1, "batch_axis": 0}}),
    ("uniform(a=0.0, b=0.1)", {"name": "uniform", "kwargs": {"scale": 0.1}}),
    ("trunc_normal_std(std=0.02, a=-3.0, b=3.0)",
     {"name": "truncated_normal", "kwargs": {"stddev": 0.02, "lower": -3.0, "upper": 3.0}}),
    ("orthogonal(gain=2.0)", {"name": "orthogonal", "kwargs": {"scale": 2.0, "column_axis": -1}}),
    ("delta_orthogonal", {"name": "delta_orthogonal", "kwargs": {"scale": 1.0}}),
    ("constant(val=0.5)", {"name": "constant", "kwargs": {"value": 0.5}}),
])
def test_to_jax_config(text, want):
    assert initlab.get(text).to_jax_config() == want


def test_to_jax_refuses_what_jax_lacks():
    with pytest.raises(ConfigError, match=r"has no jax\.nn\.initializers equivalent \(JAX's "
                                          r"uniform is U\[0, scale\)\)"):
        initlab.get("uniform(a=-1.0, b=1.0)").to_jax_config()


def test_to_keras_and_to_jax_need_the_packages():
    try:
        import keras  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"to_keras\(\) needs Keras, which is not installed"):
            initlab.get("HeNormal").to_keras()
    try:
        import jax  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"to_jax\(\) needs JAX, which is not installed"):
            initlab.get("he_normal").to_jax()


@pytest.mark.parametrize("text", ["HeNormal(seed=1)", "GlorotUniform", "VarianceScaling(0.5, "
                                  "'fan_avg', 'untruncated_normal')", "kaiming_uniform", "Orthogonal"])
def test_keras_numbers_agree(text):
    keras = pytest.importorskip("keras")
    spec = initlab.get(text)
    k = spec.to_keras()
    assert keras.initializers.serialize(k)["class_name"] == spec.to_keras_config()["class_name"]
    shape = (128, 256)  # Keras (in, out) == torch (out, in) transposed
    ours = spec(torch.empty(shape[::-1]), generator=_g()).double()
    theirs = torch.as_tensor(keras.ops.convert_to_numpy(k(shape))).double()
    assert abs(float(ours.std()) / float(theirs.std()) - 1) < 0.05
    assert initlab.get(keras.initializers.serialize(k)) == spec


@pytest.mark.parametrize("text", ["he_normal", "lecun_normal", "xavier_uniform",
                                  "variance_scaling(2.0, 'fan_geo_avg', 'uniform')"])
def test_jax_numbers_agree(text):
    jax = pytest.importorskip("jax")
    spec = initlab.get(text)
    shape = (128, 256)
    theirs = torch.as_tensor(jax.numpy.asarray(spec.to_jax()(jax.random.PRNGKey(0), shape)).copy())
    ours = spec(torch.empty(shape[::-1]), generator=_g()).double()
    assert abs(float(ours.std()) / float(theirs.double().std()) - 1) < 0.05
