"""Oracle tests: initlab.init is bit-identical to torch.nn.init under the same generator."""

import math

import pytest
import torch
from torch import nn

import initlab
from initlab import init as I

SHAPES = [(7, 5), (5, 7), (16, 8, 3, 3), (4, 6, 5), (3, 2, 3, 3, 3), (1, 1)]
DTYPES = [torch.float32, torch.float64]

CASES = [
    ("uniform_", {}),
    ("uniform_", {"a": -0.3, "b": 0.7}),
    ("normal_", {}),
    ("normal_", {"mean": 0.5, "std": 0.02}),
    ("trunc_normal_", {}),
    ("trunc_normal_", {"mean": 0.1, "std": 0.5, "a": -0.4, "b": 1.0}),
    ("trunc_normal_", {"std": 0.02}),
    ("trunc_normal_", {"std": 1.0, "a": -0.2, "b": 0.3}),  # narrow: torch's other branch
    ("xavier_uniform_", {}),
    ("xavier_uniform_", {"gain": 5 / 3}),
    ("xavier_normal_", {"gain": math.sqrt(2)}),
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_out"}),
    ("kaiming_normal_", {"nonlinearity": "tanh"}),
    ("kaiming_normal_", {"nonlinearity": "selu"}),
    ("orthogonal_", {}),
    ("orthogonal_", {"gain": 2.5}),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{k}" for n, k in CASES])
def test_bit_identical_to_torch(name, kwargs, shape, dtype):
    want = torch.empty(shape, dtype=dtype)
    got = torch.empty(shape, dtype=dtype)
    out_t = getattr(nn.init, name)(want, **kwargs, generator=torch.Generator().manual_seed(11))
    out_i = getattr(I, name)(got, **kwargs, generator=torch.Generator().manual_seed(11))
    assert out_i is got and out_t is want
    assert torch.equal(got, want)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "kaiming_normal_", "xavier_uniform_"])
def test_bit_identical_low_precision(name):
    for dtype in (torch.float16, torch.bfloat16):
        want, got = torch.empty(33, 17, dtype=dtype), torch.empty(33, 17, dtype=dtype)
        getattr(nn.init, name)(want, generator=torch.Generator().manual_seed(5))
        getattr(I, name)(got, generator=torch.Generator().manual_seed(5))
        assert torch.equal(got, want)


def test_global_rng_when_no_generator():
    torch.manual_seed(3)
    want = nn.init.kaiming_normal_(torch.empty(9, 4))
    torch.manual_seed(3)
    got = I.kaiming_normal_(torch.empty(9, 4))
    assert torch.equal(got, want)


@pytest.mark.parametrize("shape", [(5, 5), (3, 8), (8, 3)])
def test_deterministic_ones_match_torch(shape):
    for name, args in [("eye_", ()), ("ones_", ()), ("zeros_", ()), ("constant_", (0.37,))]:
        want = getattr(nn.init, name)(torch.randn(shape), *args)
        got = getattr(I, name)(torch.randn(shape), *args)
        assert torch.equal(got, want), name


@pytest.mark.parametrize("shape,groups", [((6, 4, 3), 1), ((8, 4, 3, 3), 2), ((6, 6, 3, 3, 3), 3),
                                          ((4, 6, 5, 5), 1), ((9, 2, 2, 4), 3)])
def test_dirac_matches_torch(shape, groups):
    want = nn.init.dirac_(torch.randn(shape), groups)
    got = I.dirac_(torch.randn(shape), groups)
    assert torch.equal(got, want)


def test_calculate_gain_matches_torch():
    for name in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"]:
        assert I.calculate_gain(name) == nn.init.calculate_gain(name)
    for p in (None, 0, 0.2, 1, 3.5):
        assert I.calculate_gain("leaky_relu", p) == nn.init.calculate_gain("leaky_relu", p)


def test_sparse_values_are_torchs_values():
    """The nonzero values are exactly torch's; each column has ceil(sparsity·rows) zeros."""
    rows, cols, sparsity = 40, 30, 0.3
    want = nn.init.sparse_(torch.empty(rows, cols), sparsity, std=0.5,
                           generator=torch.Generator().manual_seed(2))
    got = I.sparse_(torch.empty(rows, cols), sparsity, std=0.5,
                    generator=torch.Generator().manual_seed(2))
    both = (got != 0) & (want != 0)
    assert both.sum() > rows * cols * 0.3
    assert torch.equal(got[both], want[both])
    assert ((got == 0).sum(0) == math.ceil(sparsity * rows)).all()


@pytest.mark.parametrize("make", [
    lambda: nn.Linear(13, 7),
    lambda: nn.Linear(13, 7, bias=False),
    lambda: nn.Conv2d(6, 4, 3),
    lambda: nn.Conv1d(4, 8, 5, groups=2),
    lambda: nn.Conv3d(2, 3, (1, 2, 3)),
    lambda: nn.ConvTranspose2d(6, 4, 3, groups=2),
], ids=["linear", "linear-nobias", "conv2d", "conv1d-groups", "conv3d", "convT2d"])
def test_default_matches_layer_constructor(make):
    torch.manual_seed(123)
    layer = make()
    weight = torch.empty_like(layer.weight)
    bias = None if layer.bias is None else torch.empty_like(layer.bias)
    out = I.default_(weight, bias, generator=torch.Generator().manual_seed(123))
    assert out is weight
    assert torch.equal(weight, layer.weight.detach())
    if bias is not None:
        assert torch.equal(bias, layer.bias.detach())


def test_default_spec_fills_bias_with_fan_in():
    torch.manual_seed(9)
    layer = nn.Linear(10, 4)
    g = torch.Generator().manual_seed(9)
    w = initlab.get("default")(torch.empty(4, 10), generator=g)
    b = initlab.get("default(role='bias', fan_in=10)")(torch.empty(4), generator=g)
    assert torch.equal(w, layer.weight.detach()) and torch.equal(b, layer.bias.detach())


def test_kaiming_and_xavier_are_variance_scaling():
    """The named schemes equal variance scaling with the matching scale/mode (to rounding)."""
    shape = (300, 200)
    cases = [
        (lambda t, g: I.kaiming_normal_(t, nonlinearity="relu", generator=g),
         lambda t, g: I.variance_scaling_(t, 2.0, "fan_in", "normal", generator=g)),
        (lambda t, g: I.xavier_uniform_(t, generator=g),
         lambda t, g: I.variance_scaling_(t, 1.0, "fan_avg", "uniform", generator=g)),
        (lambda t, g: I.lecun_uniform_(t, generator=g),
         lambda t, g: I.variance_scaling_(t, 1.0, "fan_in", "uniform", generator=g)),
        (lambda t, g: I.lecun_normal_(t, generator=g),
         lambda t, g: I.variance_scaling_(t, 1.0, "fan_in", "truncated_normal", generator=g)),
        (lambda t, g: I.kaiming_uniform_(t, mode="fan_avg", nonlinearity="linear", generator=g),
         lambda t, g: I.variance_scaling_(t, 1.0, "fan_avg", "uniform", generator=g)),
    ]
    for named, general in cases:
        a = named(torch.empty(shape), torch.Generator().manual_seed(4))
        b = general(torch.empty(shape), torch.Generator().manual_seed(4))
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape,sparsity", [((40, 30), 0.3), ((7, 50), 0.9), ((16, 4), 0.0)])
def test_sparse_without_generator_is_torchs(shape, sparsity):
    """No generator: the global RNG for values and pattern, exactly as torch does."""
    torch.manual_seed(8)
    want = nn.init.sparse_(torch.empty(shape), sparsity, std=0.2)
    torch.manual_seed(8)
    got = I.sparse_(torch.empty(shape), sparsity, std=0.2)
    assert torch.equal(got, want)
