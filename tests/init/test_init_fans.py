"""Fans for every layer type, built from real nn modules."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import initlab
from initlab import ConfigError
from initlab.init import fans


def _io(m):
    """(true fan_in, true fan_out): inputs feeding one output, outputs fed by one input."""
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    rf = math.prod(m.kernel_size)
    return m.in_channels // m.groups * rf, m.out_channels // m.groups * rf


@pytest.mark.parametrize("module,layout", [
    (nn.Linear(13, 7), "linear"),
    (nn.Conv1d(4, 6, 5), "conv"),
    (nn.Conv2d(3, 8, (3, 5)), "conv"),
    (nn.Conv3d(2, 4, 3), "conv"),
    (nn.Conv2d(8, 12, 3, groups=4), "conv"),
    (nn.Conv2d(16, 16, 3, groups=16), "conv"),          # depthwise
    (nn.Conv2d(16, 32, 3, groups=16), "conv"),          # depthwise, multiplier 2
    (nn.ConvTranspose1d(4, 6, 5), "conv_transpose"),
    (nn.ConvTranspose2d(6, 4, 3, groups=2), "conv_transpose"),
    (nn.ConvTranspose3d(8, 4, (1, 2, 3), groups=4), "conv_transpose"),
])
def test_layer_fans(module, layout):
    groups = getattr(module, "groups", 1)
    assert fans(module.weight, layout=layout, groups=groups) == _io(module)
    assert fans(tuple(module.weight.shape), layout=layout, groups=groups) == _io(module)


def test_layout_none_is_torchs_convention():
    for m in (nn.Linear(5, 3), nn.Conv2d(4, 8, 3, groups=2), nn.ConvTranspose2d(6, 4, 3)):
        assert fans(m.weight) == nn.init._calculate_fan_in_and_fan_out(m.weight)
    # the known torch mistakes the layouts fix
    ct = nn.ConvTranspose2d(6, 4, 3)
    assert fans(ct.weight) == (4 * 9, 6 * 9)                       # swapped (pytorch#7865)
    assert fans(ct.weight, layout="conv_transpose") == (6 * 9, 4 * 9)
    g = nn.Conv2d(8, 12, 3, groups=4)
    assert fans(g.weight)[1] == 12 * 9                              # pytorch#23854
    assert fans(g.weight, layout="conv", groups=4)[1] == 3 * 9


def test_embedding_fans():
    e = nn.Embedding(1000, 64)
    assert fans(e.weight, layout="embedding") == (1, 64)
    # fan_in 1 with unit gain is torch's N(0, 1) default; fan_out gives 1/sqrt(dim)
    w = initlab.init.variance_scaling_(torch.empty(1000, 64), 1.0, "fan_out", "normal",
                                       layout="embedding", generator=torch.Generator().manual_seed(0))
    assert abs(w.std().item() - 1 / 8) < 0.01


def test_fused_chunks_are_separate_matrices():
    """LSTM (4H, in) and MHA in_proj (3E, E) are split by the policy layer into chunks."""
    lstm, mha = nn.LSTM(10, 6), nn.MultiheadAttention(8, 2)
    chunk = lstm.weight_ih_l0.shape[0] // 4, lstm.weight_ih_l0.shape[1]
    assert fans(chunk, layout="linear") == (10, 6)
    q = mha.in_proj_weight.shape[0] // 3, mha.in_proj_weight.shape[1]
    assert fans(q, layout="linear") == (8, 8)
    assert fans(mha.in_proj_weight, layout="linear") == (8, 24)  # the unsplit block


def test_fan_layout_errors():
    with pytest.raises(ConfigError, match=r"^Cannot compute fans of a tensor with 1 dimension\(s\) "
                                          r"\(shape \(5,\)\) for layout None; expected at least 2"):
        fans(torch.empty(5))
    with pytest.raises(ConfigError, match=r"layout 'linear'; expected 2 dimensions"):
        fans((4, 3, 3), layout="linear")
    with pytest.raises(ConfigError, match=r"layout 'conv'; expected at least 3 dimensions"):
        fans((4, 3), layout="conv")
    with pytest.raises(ConfigError, match=r"^Unknown layout 'conv_tranpose'\. Did you mean "
                                          r"'conv_transpose'\?"):
        fans((4, 3, 3), layout="conv_tranpose")
    with pytest.raises(ConfigError, match=r"dim 0 of shape \(6, 2, 3\) \(6\) is not divisible"):
        fans((6, 2, 3), layout="conv", groups=4)
    with pytest.raises(ConfigError, match=r"groups must be a positive int; got 0"):
        fans((6, 2, 3), layout="conv", groups=0)
    with pytest.raises(ConfigError, match=r"needs a tensor or a shape"):
        fans("3x3")


def test_fan_based_init_uses_layout():
    """kaiming(fan_out) on a grouped conv: correct layout gives std sqrt(2 / (out/g·rf))."""
    w = torch.empty(64, 4, 3, 3)  # Conv2d(64, 64, 3, groups=16)
    g = torch.Generator().manual_seed(0)
    initlab.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", layout="conv",
                                 groups=16, generator=g)
    assert abs(w.std().item() / math.sqrt(2 / (4 * 9)) - 1) < 0.05


@settings(derandomize=True, max_examples=80, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(1, 6), groups=st.integers(1, 4),
       k=st.lists(st.integers(1, 4), min_size=1, max_size=3), transposed=st.booleans())
def test_conv_fans_property(cin, cout, groups, k, transposed):
    cin, cout = cin * groups, cout * groups
    cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][len(k) - 1]
    if transposed:
        cls = [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d][len(k) - 1]
    m = cls(cin, cout, tuple(k), groups=groups, device="meta")
    layout = "conv_transpose" if transposed else "conv"
    fi, fo = fans(m.weight, layout=layout, groups=groups)
    assert (fi, fo) == _io(m)
    # the fans count every weight once: fan_in · out == fan_out · in == numel
    assert fi * cout == fo * cin == m.weight.numel()
