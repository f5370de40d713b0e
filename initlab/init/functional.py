"""The functional API: the ``torch.nn.init`` drop-ins and the extra schemes.

Every function fills its tensor in place under ``torch.no_grad()`` and returns it. The
functions torch has (``uniform_`` ... ``sparse_``, see :mod:`initlab.init.dropin`) behave
like torch's: same values under the same generator, same RNG use, compatible exceptions.
The extra schemes here (``lecun_*``, ``variance_scaling_``, ``trunc_normal_std_``,
``identity_``, ``default_``, ``delta_orthogonal_``, ``zero_hadamard_``) run through their
specs. Fan-based ones take ``layout=`` and ``groups=`` (keyword only): ``layout=None``
keeps torch's fan convention, a layout selects the correct fans (see :func:`initlab.fans`).
"""

from __future__ import annotations

import torch

from initlab.init._orthogonal import DeltaOrthogonal
from initlab.init.basic import TruncNormalStd
from initlab.init.dropin import (
    constant_,
    dirac_,
    eye_,
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    ones_,
    orthogonal_,
    sparse_,
    trunc_normal_,
    uniform_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from initlab.init.fans import fans
from initlab.init.identity import Identity, ZeroHadamard
from initlab.init.scaling import Default, LecunNormal, LecunUniform, VarianceScaling

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "trunc_normal_std_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "identity_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_", "orthogonal_",
    "sparse_", "default_", "delta_orthogonal_", "zero_hadamard_",
]


def trunc_normal_std_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                      b: float = 2.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """N(mean, std^2) truncated to [mean + a·std, mean + b·std] (bounds in std units).

    Args:
        tensor: the tensor to fill.
        mean: the mean of the untruncated normal.
        std: its standard deviation (> 0).
        a: the lower cutoff in std units.
        b: the upper cutoff in std units.
        generator: the torch.Generator to draw from (default: the global RNG).

    Returns:
        ``tensor``.

    Examples:
        >>> w = trunc_normal_std_(torch.empty(1000), std=0.5, generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= 1.0)  # cut at mean ± 2 std
        True
    """
    return TruncNormalStd(mean, std, a, b)(tensor, generator=generator)


def identity_(tensor: torch.Tensor, gain: float = 1.0, *, layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """Linear: partial identity times ``gain``; ConvNd: Dirac per group times ``gain``.

    Args:
        tensor: a weight with at least 2 dims.
        gain: the scale factor (Keras' Identity(gain)).
        layout: the weight's layout.
        groups: the layer's groups (ConvNd).

    Returns:
        ``tensor``.

    Examples:
        >>> identity_(torch.empty(2, 3), gain=2.0).tolist()
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """
    return Identity(gain)(tensor, layout=layout, groups=groups)


def lecun_uniform_(tensor: torch.Tensor, generator: torch.Generator | None = None, *,
                   layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """LeCun uniform, U(±sqrt(3 / fan_in)).

    Args:
        tensor: a weight with at least 2 dims.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans.
        groups: the layer's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = lecun_uniform_(torch.empty(50, 100), generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= (3 / 100) ** 0.5)  # U(±sqrt(3 / fan_in))
        True
    """
    return LecunUniform()(tensor, generator=generator, layout=layout, groups=groups)


def lecun_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None, *,
                  layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """LeCun normal: truncated normal (±2 std) with std sqrt(1 / fan_in) (Keras/JAX).

    Args:
        tensor: a weight with at least 2 dims.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout for the fans.
        groups: the layer's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = lecun_normal_(torch.empty(400, 100), generator=torch.Generator().manual_seed(0))
        >>> round(w.std().item(), 2)  # 1 / sqrt(fan_in)
        0.1
    """
    return LecunNormal()(tensor, generator=generator, layout=layout, groups=groups)


def variance_scaling_(tensor: torch.Tensor, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal",
                      generator: torch.Generator | None = None, *,
                      in_axis: int | tuple[int, ...] | None = None,
                      out_axis: int | tuple[int, ...] | None = None,
                      batch_axis: int | tuple[int, ...] = (), layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """std = sqrt(scale / fan) (fan by mode), drawn from distribution (Keras/JAX semantics).

    Args:
        tensor: the weight.
        scale: the variance scale (> 0).
        mode: fan_in, fan_out, fan_avg or fan_geo_avg.
        distribution: truncated_normal, normal (alias untruncated_normal) or uniform.
        generator: the torch.Generator to draw from (default: the global RNG).
        in_axis: JAX's input axis (or axes) of ``tensor``; None: torch's convention / layout.
        out_axis: JAX's output axis (or axes).
        batch_axis: axes that are neither (a batch of independent matrices).
        layout: the weight's layout (used when no axes are given).
        groups: the layer's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = torch.empty(400, 100)
        >>> _ = variance_scaling_(w, 2.0, 'fan_in', 'normal', generator=torch.Generator().manual_seed(0))
        >>> round(w.std().item(), 2)  # sqrt(2 / fan_in)
        0.14
    """
    spec = VarianceScaling(scale, mode, distribution, in_axis=in_axis, out_axis=out_axis,
                           batch_axis=batch_axis)
    return spec(tensor, generator=generator, layout=layout, groups=groups)


def default_(weight: torch.Tensor, bias: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None, layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """torch's Linear/Conv ``reset_parameters``: the weight, then the bias; returns ``weight``.

    Weight: kaiming_uniform(a=sqrt(5)), i.e. U(±1/sqrt(fan_in)); bias: U(±1/sqrt(fan_in)) with
    the weight's fan_in. Bit-identical to constructing the layer under the same seed.

    Args:
        weight: the layer's weight.
        bias: the layer's bias, or None.
        generator: the torch.Generator to draw from (default: the global RNG).
        layout: the weight's layout.
        groups: the layer's groups.

    Returns:
        ``weight``.

    Examples:
        >>> layer = torch.nn.Linear(4, 2)
        >>> w = default_(layer.weight, layer.bias, generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= 0.5) and bool(layer.bias.abs().max() <= 0.5)  # U(±1/sqrt(4))
        True
    """
    Default()(weight, generator=generator, layout=layout, groups=groups)
    if bias is not None:
        fan_in = fans(weight, layout=layout, groups=groups)[0]
        Default(role="bias", fan_in=fan_in)(bias, generator=generator)
    return weight


def delta_orthogonal_(tensor: torch.Tensor, gain: float = 1.0,
                      generator: torch.Generator | None = None, *, groups: int = 1) -> torch.Tensor:
    """ConvNd: orthogonal (out x in) matrix at the kernel centre, zeros elsewhere; out >= in.

    Args:
        tensor: a ConvNd weight (out, in/groups, *kernel).
        gain: the scale factor.
        generator: the torch.Generator to draw from (default: the global RNG).
        groups: the layer's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = delta_orthogonal_(torch.empty(4, 4, 3), generator=torch.Generator().manual_seed(0))
        >>> centre = w[:, :, 1]
        >>> torch.allclose(centre @ centre.T, torch.eye(4), atol=1e-6), w[:, :, 0].abs().sum().item()
        (True, 0.0)
    """
    return DeltaOrthogonal(gain)(tensor, generator=generator, groups=groups)


def zero_hadamard_(tensor: torch.Tensor, *, layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """ZerO: partial identity (out <= in) or scaled Hadamard (out > in); no randomness.

    Args:
        tensor: a Linear or ConvNd weight.
        layout: the weight's layout.
        groups: the layer's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = zero_hadamard_(torch.empty(2, 4))
        >>> w.shape, bool((w != 0).any())
        (torch.Size([2, 4]), True)
    """
    return ZeroHadamard()(tensor, layout=layout, groups=groups)
