"""The functional API: drop-in replacements for ``torch.nn.init`` and the extra schemes.

Every function fills its tensor in place under ``torch.no_grad()`` and returns it. Random
ones take ``generator=``; with the same generator state they give bit-identical values to
the ``torch.nn.init`` function of the same name. Fan-based ones also take ``layout=`` and
``groups=`` (keyword only): ``layout=None`` keeps torch's fan convention, a layout selects
the correct fans (see :func:`initlab.fans`).

Differences from torch, all on purpose: meta tensors raise ConfigError (use
``initlab.materialize``); zero-element tensors warn and are left alone for every function;
``sparse_`` draws its zero pattern from ``generator`` (torch's from the global RNG; with
no generator the two are identical);
``orthogonal_`` works for float16/bfloat16; ``dirac_`` takes any ConvNd rank.
"""

from __future__ import annotations

from initlab.init.basic import Constant, Normal, Ones, TruncNormal, TruncNormalStd, Uniform, Zeros
from initlab.init.fans import fans
from initlab.init.identity import Dirac, Eye, Identity, ZeroHadamard
from initlab.init.orthogonal import DeltaOrthogonal, Orthogonal, Sparse
from initlab.init.scaling import (
    Default,
    KaimingNormal,
    KaimingUniform,
    LecunNormal,
    LecunUniform,
    VarianceScaling,
    XavierNormal,
    XavierUniform,
)

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "trunc_normal_std_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "identity_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_", "orthogonal_",
    "sparse_", "default_", "delta_orthogonal_", "zero_hadamard_",
]


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """U(a, b)."""
    return Uniform(a, b)(tensor, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """N(mean, std^2)."""
    return Normal(mean, std)(tensor, generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) truncated to the absolute bounds [a, b] (torch's semantics)."""
    return TruncNormal(mean, std, a, b)(tensor, generator=generator)


def trunc_normal_std_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) truncated to [mean + a·std, mean + b·std] (bounds in std units)."""
    return TruncNormalStd(mean, std, a, b)(tensor, generator=generator)


def constant_(tensor, val):
    """Every entry ``val``."""
    return Constant(val)(tensor)


def ones_(tensor):
    """Every entry 1."""
    return Ones()(tensor)


def zeros_(tensor):
    """Every entry 0."""
    return Zeros()(tensor)


def eye_(tensor):
    """2-D (partial) identity."""
    return Eye()(tensor)


def dirac_(tensor, groups=1):
    """ConvNd Dirac delta per group (identity on as many channels as possible)."""
    return Dirac()(tensor, groups=groups)


def identity_(tensor, *, layout=None, groups=1):
    """Linear: partial identity; ConvNd: Dirac per group."""
    return Identity()(tensor, layout=layout, groups=groups)


def xavier_uniform_(tensor, gain=1.0, generator=None, *, layout=None, groups=1):
    """Glorot uniform, U(±gain·sqrt(6 / (fan_in + fan_out)))."""
    return XavierUniform(gain)(tensor, generator=generator, layout=layout, groups=groups)


def xavier_normal_(tensor, gain=1.0, generator=None, *, layout=None, groups=1):
    """Glorot normal, N(0, gain^2 · 2 / (fan_in + fan_out))."""
    return XavierNormal(gain)(tensor, generator=generator, layout=layout, groups=groups)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *,
                     layout=None, groups=1):
    """He uniform, U(±gain·sqrt(3 / fan)); mode fan_in, fan_out or fan_avg."""
    return KaimingUniform(a, mode, nonlinearity)(tensor, generator=generator, layout=layout,
                                                 groups=groups)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *,
                    layout=None, groups=1):
    """He normal, N(0, gain^2 / fan); mode fan_in, fan_out or fan_avg."""
    return KaimingNormal(a, mode, nonlinearity)(tensor, generator=generator, layout=layout,
                                                groups=groups)


def lecun_uniform_(tensor, generator=None, *, layout=None, groups=1):
    """LeCun uniform, U(±sqrt(3 / fan_in))."""
    return LecunUniform()(tensor, generator=generator, layout=layout, groups=groups)


def lecun_normal_(tensor, generator=None, *, layout=None, groups=1):
    """LeCun normal: truncated normal (±2 std) with std sqrt(1 / fan_in) (Keras/JAX)."""
    return LecunNormal()(tensor, generator=generator, layout=layout, groups=groups)


def variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="truncated_normal",
                      generator=None, *, layout=None, groups=1):
    """std = sqrt(scale / fan) (fan by mode), drawn from distribution (Keras/JAX semantics)."""
    return VarianceScaling(scale, mode, distribution)(tensor, generator=generator,
                                                      layout=layout, groups=groups)


def orthogonal_(tensor, gain=1, generator=None):
    """(Semi-)orthogonal matrix times gain, rows = dim 0; float16/bfloat16 via float32 QR."""
    return Orthogonal(gain)(tensor, generator=generator)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """N(0, std^2), ceil(sparsity·rows) zeros per column, pattern drawn from ``generator``."""
    return Sparse(sparsity, std)(tensor, generator=generator)


def default_(weight, bias=None, *, generator=None, layout=None, groups=1):
    """torch's Linear/Conv ``reset_parameters``: the weight, then the bias; returns ``weight``.

    Weight: kaiming_uniform(a=sqrt(5)), i.e. U(±1/sqrt(fan_in)); bias: U(±1/sqrt(fan_in)) with
    the weight's fan_in. Bit-identical to constructing the layer under the same seed.
    """
    Default()(weight, generator=generator, layout=layout, groups=groups)
    if bias is not None:
        fan_in = fans(weight, layout=layout, groups=groups)[0]
        Default(role="bias", fan_in=fan_in)(bias, generator=generator)
    return weight


def delta_orthogonal_(tensor, gain=1.0, generator=None, *, groups=1):
    """ConvNd: orthogonal (out x in) matrix at the kernel centre, zeros elsewhere; out >= in."""
    return DeltaOrthogonal(gain)(tensor, generator=generator, groups=groups)


def zero_hadamard_(tensor, *, layout=None, groups=1):
    """ZerO: partial identity (out <= in) or scaled Hadamard (out > in); no randomness."""
    return ZeroHadamard()(tensor, layout=layout, groups=groups)
