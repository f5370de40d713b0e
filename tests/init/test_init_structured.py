"""Structured initializers: orthogonal, delta-orthogonal, ZerO, identity, sparse."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from initlab import ConfigError
from initlab import init as I
from initlab.init.identity import hadamard, zero_matrix


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


_TOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}


@settings(derandomize=True, max_examples=60, deadline=None)
@given(rows=st.integers(1, 24), rest=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       dtype=st.sampled_from(list(_TOL)), gain=st.floats(0.1, 3.0), seed=st.integers(0, 9))
def test_orthogonal_property(rows, rest, dtype, gain, seed):
    shape = (rows, *rest)
    t = I.orthogonal_(torch.empty(shape, dtype=dtype), gain, generator=_g(seed))
    assert t.dtype == dtype and t.shape == shape
    m = t.double().reshape(rows, -1) / gain
    small = min(m.shape)
    gram = m @ m.T if rows <= m.shape[1] else m.T @ m
    assert (gram - torch.eye(small, dtype=torch.float64)).abs().max() < _TOL[dtype] * 8


def test_orthogonal_low_precision_is_rounded_fp32():
    """fp16/bf16: the float32 result, rounded (torch's orthogonal_ cannot QR in fp16)."""
    for dtype in (torch.float16, torch.bfloat16):
        low = I.orthogonal_(torch.empty(20, 30, dtype=dtype), 1.5, generator=_g(4))
        full = I.orthogonal_(torch.empty(20, 30), 1.5, generator=_g(4))
        assert torch.equal(low, full.to(dtype))


def test_orthogonal_haar_sign_fix():
    """With the sign fix the diagonal of Q has mean ~0 (without it, QR biases it positive)."""
    diag = torch.stack([torch.diagonal(I.orthogonal_(torch.empty(8, 8), generator=_g(s)))
                        for s in range(400)])
    assert abs(diag.mean().item()) < 0.03


@pytest.mark.parametrize("dims,cin,cout,k", [(1, 3, 5, 3), (2, 4, 4, 3), (2, 3, 8, 5), (3, 2, 4, 3)])
def test_delta_orthogonal_isometry(dims, cin, cout, k):
    conv = [nn.Conv1d, nn.Conv2d, nn.Conv3d][dims - 1](cin, cout, k, padding=k // 2,
                                                         padding_mode="circular", bias=False)
    conv = conv.double()
    gain = 1.7
    I.delta_orthogonal_(conv.weight, gain, generator=_g())
    x = torch.randn(4, cin, *([7] * dims), dtype=torch.float64, generator=_g(1))
    with torch.no_grad():
        y = conv(x)
    ratio = y.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert (ratio - gain).abs().max() < 1e-5
    w = conv.weight.detach()
    centre = (slice(None), slice(None), *([k // 2] * dims))
    off_centre = w.clone()
    off_centre[centre] = 0
    assert torch.count_nonzero(off_centre) == 0  # zero outside the centre tap
    assert torch.count_nonzero(w[centre]) > 0


def test_delta_orthogonal_errors_and_groups():
    with pytest.raises(ConfigError, match=r"^delta_orthogonal needs out_channels >= in_channels "
                                          r"\(per group\); got shape \(4, 8, 3, 3\)"):
        I.delta_orthogonal_(torch.empty(4, 8, 3, 3))
    with pytest.raises(ConfigError, match=r"needs a tensor with at least 3 dimensions"):
        I.delta_orthogonal_(torch.empty(8, 4))
    w = I.delta_orthogonal_(torch.empty(12, 2, 3), groups=3, generator=_g())
    for g in range(3):
        block = w[4 * g:4 * (g + 1), :, 1].double()
        assert torch.allclose(block.T @ block, torch.eye(2, dtype=torch.float64), atol=1e-6)


def _sylvester(p):
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < p:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def test_hadamard_is_sylvester():
    for p in (1, 2, 8, 64):
        assert torch.equal(hadamard(p, p, dtype=torch.float64), _sylvester(p))
    h = hadamard(16, 16, dtype=torch.float64)
    assert torch.equal(h @ h.T, 16 * torch.eye(16, dtype=torch.float64))


@pytest.mark.parametrize("m,n", [(3, 5), (5, 5), (6, 3), (8, 8), (9, 4), (16, 16), (17, 2)])
def test_zero_hadamard_linear(m, n):
    w = I.zero_hadamard_(torch.empty(m, n))
    if m <= n:
        assert torch.equal(w, torch.eye(m, n))
    else:
        k = math.ceil(math.log2(m))
        want = _sylvester(2**k)[:m, :n] * 2 ** (-k / 2)
        assert torch.allclose(w.double(), want)
        # I·H_p·I with orthogonal H_p/sqrt(p): distinct inputs stay distinct, norms kept
        # for m = p (a full Hadamard block), shrunk by at most 1 otherwise
        s = torch.linalg.svdvals(w.double())
        assert s.max() <= 1 + 1e-9 and s.min() > 0
    assert torch.equal(I.zero_hadamard_(torch.randn(m, n)), w)  # no randomness


def test_zero_hadamard_conv_centre_and_transpose():
    w = I.zero_hadamard_(torch.empty(6, 3, 3, 3))
    assert torch.equal(w[:, :, 1, 1], zero_matrix(6, 3))
    assert w.abs().sum() == w[:, :, 1, 1].abs().sum()
    wt = I.zero_hadamard_(torch.empty(3, 6, 3), layout="conv_transpose")
    assert torch.equal(wt[:, :, 1], zero_matrix(6, 3).T)
    wg = I.zero_hadamard_(torch.empty(8, 2, 1, 1), groups=2)
    assert torch.equal(wg[4:, :, 0, 0], zero_matrix(4, 2))


def test_identity():
    assert torch.equal(I.identity_(torch.empty(3, 5)), torch.eye(3, 5))
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    I.identity_(conv.weight)
    x = torch.randn(2, 4, 5, 5, generator=_g())
    with torch.no_grad():
        assert torch.equal(conv(x), x)
    wg = I.identity_(torch.empty(6, 2, 3), groups=3)
    assert torch.equal(wg, nn.init.dirac_(torch.empty(6, 2, 3), 3))


def test_sparse_pattern_follows_generator():
    a = I.sparse_(torch.empty(30, 20), 0.4, generator=_g(1))
    b = I.sparse_(torch.empty(30, 20), 0.4, generator=_g(1))
    c = I.sparse_(torch.empty(30, 20), 0.4, generator=_g(2))
    assert torch.equal(a, b)
    assert not torch.equal(a == 0, c == 0)
    torch.manual_seed(0)
    d = I.sparse_(torch.empty(30, 20), 0.4, generator=_g(1))
    assert torch.equal(a, d)  # the global RNG plays no part
    assert ((a == 0).sum(0) == 12).all()


def test_orthogonal_conv_equals_flattened():
    w = I.orthogonal_(torch.empty(8, 4, 3), generator=_g())
    m = w.reshape(8, 12)
    assert torch.allclose(m @ m.T, torch.eye(8), atol=1e-5)


def test_zero_hadamard_is_isometry_when_square_power_of_two():
    w = I.zero_hadamard_(torch.empty(16, 8))
    x = torch.randn(5, 8, dtype=torch.float64, generator=_g())
    y = F.linear(x, w.double())
    assert torch.allclose(y.norm(dim=1), x.norm(dim=1))


@pytest.mark.parametrize("name", ["zero_hadamard", "identity", "dirac", "delta_orthogonal",
                                  "orthogonal", "eye"])
@pytest.mark.parametrize("shape,layout,groups", [
    ((6, 4), None, 1), ((4, 6), "linear", 1), ((12, 3, 3, 3), "conv", 2), ((5, 5, 3), "conv", 1),
    ((3, 6, 3), "conv_transpose", 1), ((8, 2, 1, 3), "conv", 4),
])
def test_structured_expected_std_is_rms(name, shape, layout, groups):
    """For the structured inits expected_std is the exact root mean square of the entries."""
    from initlab import get

    spec = get(name)
    try:
        t = spec(torch.empty(shape, dtype=torch.float64), layout=layout, groups=groups,
                 generator=_g())
    except ConfigError:
        return  # shape not supported by this init (e.g. eye on a conv weight)
    rms = t.pow(2).mean().sqrt().item()
    assert abs(spec.expected_std(shape, layout=layout, groups=groups) - rms) < 1e-9


def test_zero_hadamard_integer_tensors():
    # partial identity (out <= in) is exact in any dtype
    w = I.zero_hadamard_(torch.empty(4, 8, dtype=torch.int64))
    assert torch.equal(w, torch.eye(4, 8, dtype=torch.int64))
    # out > in needs Hadamard / 2^(k/2): not representable, so an error instead of zeros
    with pytest.raises(ConfigError, match=r"^zero_hadamard on a 8 x 4 block .* dtype torch.int64; "
                                          r"expected a floating-point tensor"):
        I.zero_hadamard_(torch.empty(8, 4, dtype=torch.int64))
    # and float results are unchanged by the check
    assert torch.equal(I.zero_hadamard_(torch.empty(8, 4)), zero_matrix(8, 4))
