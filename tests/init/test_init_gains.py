"""Gains: torch's table, exact second-moment gains by quadrature, REFERENCE.md constants."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats

from initlab import ConfigError, UnknownNameError, gain
from initlab.init.gains import GAINS, second_moment

# REFERENCE.md: exact second-moment gain 1/sqrt(E f(z)^2) and variance gain 1/sqrt(Var f(z))
SECOND_MOMENT = {"relu": 1.4142, "gelu": 1.5335, "silu": 1.6765, "tanh": 1.5925, "sigmoid": 1.8462}
VARIANCE = {"relu": 1.7129, "gelu": 1.7009, "silu": 1.7872, "tanh": 1.5925, "sigmoid": 4.8013}


@pytest.mark.parametrize("name", SECOND_MOMENT)
def test_reference_constants(name):
    assert abs(gain(name, exact=True) - SECOND_MOMENT[name]) < 1e-3
    assert abs(gain(name, centered=True) - VARIANCE[name]) < 1e-3


def test_relu_is_sqrt2_to_1e6():
    assert abs(gain("relu", exact=True) - math.sqrt(2)) < 1e-6
    assert abs(gain(torch.relu) - math.sqrt(2)) < 1e-6
    assert abs(gain("leaky_relu", 0.2, exact=True) - math.sqrt(2 / 1.04)) < 1e-6


def test_torch_constants_by_default():
    assert gain("tanh") == 5 / 3 and gain("selu") == 0.75 and gain("sigmoid") == 1
    assert gain("relu") == math.sqrt(2) and gain("conv_transpose2d") == 1
    assert gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))


def _scipy_gain(f):
    """Independent check: scipy adaptive quadrature of f(z)^2 · phi(z), split at kinks."""
    def g(z):
        return float(f(torch.tensor([z], dtype=torch.float64))[0]) ** 2 * stats.norm.pdf(z)
    pts = [-np.inf, -3, -1, 0, 1, 3, np.inf]
    total = sum(integrate.quad(g, a, b, epsabs=1e-13, epsrel=1e-12)[0] for a, b in zip(pts, pts[1:]))
    return 1 / math.sqrt(total)


@pytest.mark.parametrize("name,f", [
    ("gelu", F.gelu), ("silu", F.silu), ("mish", F.mish), ("elu", F.elu), ("softplus", F.softplus),
    ("hardswish", F.hardswish), ("selu", F.selu), ("tanh", torch.tanh), ("celu", F.celu),
    ("softsign", F.softsign), ("relu6", F.relu6), ("hardtanh", F.hardtanh),
])
def test_exact_gain_vs_independent_quadrature(name, f):
    want = _scipy_gain(f)
    assert abs(gain(name, exact=True) - want) < 1e-7
    assert abs(gain(f) - want) < 1e-7


def test_smooth_functions_vs_gauss_hermite():
    z, w = np.polynomial.hermite_e.hermegauss(150)
    w = w / math.sqrt(2 * math.pi)
    for name, f in [("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)))]:
        assert abs(gain(name, exact=True) - 1 / math.sqrt(np.dot(w, f(z) ** 2))) < 1e-9
        assert abs(gain(f) - gain(name, exact=True)) < 1e-12  # numpy callables work too


def test_param_names():
    assert gain("elu", 0.5) != gain("elu")
    assert abs(gain("elu", 0.0) - math.sqrt(2)) < 1e-6   # elu with alpha 0 is relu
    assert abs(gain("softplus", 50.0) - math.sqrt(2)) < 1e-3
    assert gain("swish") == gain("silu")


def test_every_name_documented_and_finite():
    for name, convention in GAINS.items():
        assert convention in ("torch", "exact")
        assert math.isfinite(gain(name)) and gain(name) > 0


def test_second_moment_of_identity():
    m1, m2 = second_moment(lambda x: x)
    assert abs(m1) < 1e-14 and abs(m2 - 1) < 1e-12


def test_gain_errors():
    with pytest.raises(UnknownNameError, match=r"^Unknown nonlinearity 'rleu'\. Did you mean "
                                               r"'relu'\? Known: \["):
        gain("rleu")
    with pytest.raises(ConfigError, match=r"^Invalid negative_slope 'x' for the gain"):
        gain("leaky_relu", "x")
    with pytest.raises(ConfigError, match=r"^gain\(\) needs an activation name or a callable; got int"):
        gain(3)
    with pytest.raises(ConfigError, match=r"The exact gain of zero is undefined"):
        def zero(x):
            return x * 0
        gain(zero)
    with pytest.raises(ConfigError, match=r"must be elementwise"):
        gain(lambda x: x.sum())
