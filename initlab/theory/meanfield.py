"""Mean-field signal propagation: fixed points, chi_1 and depth scales (Poole et al. 2016,
Schoenholz et al. 2017, Pennington et al. 2017).

For a wide network h^{l+1} = W phi(h^l) + b with W_ij ~ N(0, sigma_w2 / N), b_i ~ N(0, sigma_b2):

* length map   q' = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2, fixed point q*;
* chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2] (= 1 at the edge of chaos; gradients scale as chi_1^L);
* correlation map c' = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q*, u1, u2 ~ N(0, q*) with
  correlation c, fixed point c*; its slope chi_c = sigma_w2 E[phi'(u1) phi'(u2)] at c*;
  correlation depth scale xi_c = -1 / ln(chi_c) (c* = 1 and chi_c = chi_1 in the ordered phase,
  inf at criticality);
* length depth scale xi_q = -1 / ln(chi_1 + sigma_w2 E[phi''(u) phi(u)]), u ~ N(0, q*).

Expectations use Gauss-Hermite quadrature in float64 (1-D for the length map, a 2-D product
rule for the correlation map). Activations are named (:data:`ACTIVATIONS`) or any callable on
float64 torch tensors; derivatives come from autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from initlab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["ACTIVATIONS", "MeanField", "critical", "mean_field"]

Activation = str | Callable[[torch.Tensor], torch.Tensor]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "erf": torch.erf,
    "selu": F.selu,
    "elu": F.elu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "linear": lambda x: x,
    "hardtanh": F.hardtanh,
    "sin": torch.sin,
}
"""Activations known by name (any other callable on float64 tensors works too).

Examples:
    >>> sorted(ACTIVATIONS)[:4]
    ['elu', 'erf', 'gelu', 'hardtanh']
"""

_NODES_1D = 160  # even: no node at 0, where relu-like kinks sit
_NODES_2D = 80
_ITERATIONS = 300
_Q_MAX = 1e12
_CRITICAL_TOL = 1e-9  # |chi_1 - 1| below this is the edge of chaos


@lru_cache(maxsize=4)
def _hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z and weights w with sum(w f(z)) = E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return (
        torch.from_numpy(x * math.sqrt(2.0)),
        torch.from_numpy(w / math.sqrt(math.pi)),
    )


class _Act:
    """phi with phi' and phi'' by autograd, evaluated on float64 tensors."""

    def __init__(self, activation: Activation) -> None:
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                hint = did_you_mean(activation, ACTIVATIONS)
                raise UnknownNameError(
                    f"Unknown activation '{activation}'.{hint} Available: {sorted(ACTIVATIONS)}; "
                    "or pass a callable on tensors."
                )
            self.name: str = activation
            self.fn: Callable[[torch.Tensor], torch.Tensor] = ACTIVATIONS[activation]
        elif callable(activation):
            self.name = getattr(activation, "__name__", type(activation).__name__)
            self.fn = activation
        else:
            raise ConfigError(
                f"activation must be a name or a callable; got {type(activation).__name__}; "
                f"expected one of {sorted(ACTIVATIONS)} or e.g. torch.tanh."
            )

    def __call__(self, x: torch.Tensor, order: int = 0) -> torch.Tensor:
        """phi (order 0), phi' (1) or phi'' (2) at ``x``."""
        if order == 0:
            with torch.no_grad():
                return self.fn(x)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = self.fn(x)
            for _ in range(order):
                if not y.requires_grad:  # piecewise linear: higher derivatives vanish
                    return torch.zeros_like(x)
                (y,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
                if y is None:
                    return torch.zeros_like(x)
            return y.detach()


def _expect(f: torch.Tensor, w: torch.Tensor) -> float:
    return float((f * w).sum())


def _q_map(act: _Act, q: float, sw2: float, sb2: float) -> float:
    z, w = _hermite(_NODES_1D)
    return sw2 * _expect(act(math.sqrt(q) * z) ** 2, w) + sb2


def _no_fixed_point(act: _Act, sw2: float, sb2: float) -> ConfigError:
    return ConfigError(
        f"The length map of '{act.name}' has no finite fixed point at sigma_w2={sw2}, "
        f"sigma_b2={sb2}: q grows without bound; expected a bounded activation or a "
        "smaller sigma_w2; hint: for relu the variance is preserved only at sigma_w2 <= 2."
    )


def _q_star(act: _Act, sw2: float, sb2: float) -> float:
    """Fixed point of the length map reached from q = 1 (iteration, then bisection)."""
    q = 1.0
    for _ in range(_ITERATIONS):
        q_new = _q_map(act, q, sw2, sb2)
        if not math.isfinite(q_new) or q_new > _Q_MAX:
            raise _no_fixed_point(act, sw2, sb2)
        if abs(q_new - q) <= 1e-14 * max(1.0, q):
            return q_new
        q = q_new

    def g(x: float) -> float:
        return _q_map(act, x, sw2, sb2) - x

    # slow (near-critical) convergence: bracket the fixed point on the side q moves to
    lo = hi = q
    if g(q) > 0:
        while g(hi) > 0:
            lo, hi = hi, hi * 2.0
            if hi > _Q_MAX:
                raise _no_fixed_point(act, sw2, sb2)
    else:
        while g(lo) <= 0:
            lo, hi = lo * 0.5, lo
            if lo < 1e-300:
                return 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


def _pair(q: float, c: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    z, w = _hermite(_NODES_2D)
    z1, z2 = torch.meshgrid(z, z, indexing="ij")
    s = math.sqrt(q)
    u1 = s * z1
    u2 = s * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
    return u1, u2, torch.outer(w, w)


def _c_map(act: _Act, q: float, c: float, sw2: float, sb2: float) -> float:
    """c' = q12' / q'; both from the same 2-D rule, so c = 1 maps exactly to 1."""
    u1, u2, w = _pair(q, c)
    f1 = act(u1)
    return (sw2 * _expect(f1 * act(u2), w) + sb2) / (sw2 * _expect(f1 * f1, w) + sb2)


def _chi_c(act: _Act, q: float, c: float, sw2: float) -> float:
    u1, u2, w = _pair(q, c)
    return sw2 * _expect(act(u1, 1) * act(u2, 1), w)


def _depth_scale(slope: float) -> float:
    if not math.isfinite(slope) or slope <= 0.0:
        return 0.0
    if abs(slope - 1.0) < _CRITICAL_TOL:
        return math.inf
    return -1.0 / math.log(slope) if slope < 1.0 else math.inf


@dataclass(frozen=True)
class MeanField:
    """Mean-field quantities of one (activation, sigma_w2, sigma_b2).

    Attributes:
        activation: the activation's name.
        sigma_w2: the weight variance times fan-in.
        sigma_b2: the bias variance.
        q_star: the fixed point of the length map.
        chi_1: the slope of the correlation map at c = 1 (gradients scale as chi_1^depth).
        c_star: the fixed point of the correlation map (1 in the ordered phase).
        chi_c: the slope of the correlation map at c*.
        xi_c: the correlation depth scale -1/ln(chi_c) (inf at criticality).
        xi_q: the length depth scale.

    Examples:
        >>> mf = mean_field("tanh", 3.0, 0.05)
        >>> mf.phase, round(mf.chi_1, 2) > 1
        ('chaotic', True)
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    c_star: float  # fixed point of the correlation map (1 in the ordered phase)
    chi_c: float  # slope of the correlation map at c*
    xi_c: float  # correlation depth scale -1/ln(chi_c); inf at criticality
    xi_q: float  # length depth scale

    @property
    def phase(self) -> str:
        """``"ordered"`` (chi_1 < 1), ``"critical"`` (chi_1 = 1) or ``"chaotic"``."""
        if abs(self.chi_1 - 1.0) < _CRITICAL_TOL:
            return "critical"
        return "ordered" if self.chi_1 < 1.0 else "chaotic"

    def c_map(self, c: float, activation: Activation | None = None) -> float:
        """One step of the correlation map from correlation ``c`` (at q = q*)."""
        act = _Act(activation if activation is not None else self.activation)
        return _c_map(act, self.q_star, c, self.sigma_w2, self.sigma_b2)


def _check_float(name: str, value: object, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= low
    ):
        raise ConfigError(
            f"{name} must be a finite number >= {low}; got {value!r}; "
            "hint: variances, e.g. sigma_w2=1.76, sigma_b2=0.05."
        )
    return float(value)


def _c_star(act: _Act, q: float, sw2: float, sb2: float, chi_1: float) -> float:
    """Stable fixed point of the correlation map: 1 unless chaotic, else by bisection."""
    if chi_1 <= 1.0 + _CRITICAL_TOL:
        return 1.0

    def g(c: float) -> float:
        return _c_map(act, q, c, sw2, sb2) - c

    lo, hi = -1.0, 1.0 - 1e-7  # g(-1) >= 0; g < 0 just below 1 (slope chi_1 > 1 there)
    if g(hi) >= 0:
        return 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) >= 0 else (lo, mid)
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


def mean_field(activation: Activation, sigma_w2: float, sigma_b2: float = 0.0) -> MeanField:
    """Mean-field fixed points, chi_1 and depth scales of a wide random network.

    Args:
        activation: a name in :data:`ACTIVATIONS` or a callable on float64 tensors.
        sigma_w2: the weight variance times fan-in (>= 0).
        sigma_b2: the bias variance (>= 0).

    Returns:
        The :class:`MeanField` quantities.

    Raises:
        UnknownNameError: an unknown activation name.
        ConfigError: a negative or non-finite variance, or no fixed point.

    Examples:
        >>> mf = mean_field("relu", 2.0)  # He init: the edge of chaos of ReLU
        >>> mf.phase, round(mf.chi_1, 6), mf.xi_c
        ('critical', 1.0, inf)
    """
    act = _Act(activation)
    sw2 = _check_float("sigma_w2", sigma_w2, 0.0)
    sb2 = _check_float("sigma_b2", sigma_b2, 0.0)
    q = _q_star(act, sw2, sb2)
    z, w = _hermite(_NODES_1D)
    u = math.sqrt(q) * z
    chi_1 = sw2 * _expect(act(u, 1) ** 2, w)
    c_star = _c_star(act, q, sw2, sb2, chi_1)
    chi_c = chi_1 if c_star == 1.0 else _chi_c(act, q, c_star, sw2)
    xi_q = _depth_scale(chi_1 + sw2 * _expect(act(u, 2) * act(u), w))
    return MeanField(act.name, sw2, sb2, q, chi_1, c_star, chi_c, _depth_scale(chi_c), xi_q)


def critical(activation: Activation, sigma_b2: float = 0.0, *,
             max_sigma_w2: float = 1e4) -> MeanField:
    """The edge of chaos: the sigma_w2 where chi_1 = 1 at this sigma_b2 (bisection).

    Args:
        activation: a name in :data:`ACTIVATIONS` or a callable on float64 tensors.
        sigma_b2: the bias variance (>= 0).
        max_sigma_w2: give up above this sigma_w2.

    Returns:
        The :class:`MeanField` at the critical sigma_w2.

    Raises:
        ConfigError: chi_1 stays below 1 up to ``max_sigma_w2``.

    Examples:
        >>> crit = critical("tanh", sigma_b2=0.05)  # Schoenholz et al. 2017: ~1.76
        >>> round(crit.sigma_w2, 2), crit.phase
        (1.76, 'critical')
    """
    act = _Act(activation)
    sb2 = _check_float("sigma_b2", sigma_b2, 0.0)

    def chi(sw2: float) -> float:
        q = _q_star(act, sw2, sb2)
        z, w = _hermite(_NODES_1D)
        return sw2 * _expect(act(math.sqrt(q) * z, 1) ** 2, w)

    lo, hi = 0.0, 1.0
    while chi(hi) < 1.0:
        lo, hi = hi, hi * 2.0
        if hi > max_sigma_w2:
            raise ConfigError(
                f"No edge of chaos for '{act.name}' at sigma_b2={sb2}: chi_1 < 1 for every "
                f"sigma_w2 up to {max_sigma_w2}; expected an activation with chi_1 crossing 1; "
                "hint: try a smaller sigma_b2."
            )
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if chi(mid) < 1.0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * hi:
            break
    return mean_field(act.fn if not isinstance(activation, str) else activation, hi, sb2)
