"""The low-coherence "spread" init: filters spread as evenly as possible on the sphere.

A weight of shape (N, ...) is N rows, unit vectors in R^m (m = prod(shape[1:])), chosen to
keep the largest |cosine| between two rows (the *coherence*) small. The Welch bound
sqrt((N - m) / (m (N - 1))) is the least any N vectors can reach (equality only for
equiangular tight frames). Three regimes:

* N <= m: orthonormal rows (Haar-random), coherence 0;
* N = m + 1: the regular simplex, coherence exactly 1/m (the Welch bound), randomly rotated;
* N > m + 1: a seeded Gaussian start optimized by Adam on a smooth maximum (log-sum-exp at
  an annealed temperature, relative to the current maximum) of the squared cosines, keeping
  the best iterate. When N - m is small (<= m/4, m >= 48) the same is also run on the Naimark
  complement (N vectors in R^(N-m) whose complementary projection gives the frame in R^m)
  and the lower coherence wins: near-square frames are hard for the direct optimization.

Then every row is scaled to the same norm so the entries have the variance of a
variance-scaling rule: std = gain * sqrt(scale / fan), fan by ``mode`` (default
``fan_in``: gain=1 is LeCun, gain=sqrt(2) is He for ReLU). The optimization runs in float32
on the tensor's device from draws of the given source, so it is deterministic for a given
generator (and keyed stream), device and thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from initlab.errors import ConfigError
from initlab.init._orthogonal import haar_orthogonal
from initlab.init.fans import MODES, fan_for_mode
from initlab.init.registry import Initializer, Shape, register, set_choice, set_float
from initlab.init.source import Source, TorchSource

__all__ = ["Spread", "coherence", "spread_", "spread_frame", "welch_bound"]

_T_START, _T_END = 5.0, 100.0  # log-sum-exp temperature, relative to the current max cos^2
_LR = 0.05  # Adam step, divided by sqrt(dimension)
_NAIMARK_MIN_DIM = 48  # below it the direct optimization handles N = m + k, k <= m/4, alone


def welch_bound(n: int, m: int) -> float:
    """The least coherence of n unit vectors in R^m: sqrt((n - m) / (m (n - 1))), 0 if n <= m.

    Args:
        n: the number of vectors.
        m: their dimension.

    Returns:
        The Welch bound.

    Examples:
        >>> round(welch_bound(8, 4), 4), welch_bound(3, 4)
        (0.378, 0.0)
    """
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(
                f"welch_bound needs positive integers; got {name}={v!r}; "
                "hint: n vectors in R^m, e.g. welch_bound(64, 27)."
            )
    if n <= m:
        return 0.0
    return math.sqrt((n - m) / (m * (n - 1)))


def coherence(w: torch.Tensor) -> float:
    """Largest |cosine| between two distinct rows (dim 0) of ``w`` (trailing dims flattened).

    Args:
        w: a tensor of >= 2 dims with >= 2 rows.

    Returns:
        The coherence, in [0, 1].

    Examples:
        >>> coherence(torch.eye(3)), coherence(torch.tensor([[1.0, 0.0], [1.0, 1.0]])) > 0.7
        (0.0, True)
    """
    if not isinstance(w, torch.Tensor) or w.dim() < 2 or w.shape[0] < 2:
        got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ConfigError(
            f"coherence needs a tensor of >= 2 dims with >= 2 rows; got {got}; "
            "hint: pass a weight such as layer.weight."
        )
    x = w.detach().reshape(w.shape[0], -1).to(torch.float64)
    norms = x.norm(dim=1)
    if bool((norms == 0).any()):
        raise ConfigError(
            f"coherence is undefined for zero rows; got {int((norms == 0).sum())} zero row(s) in "
            f"shape {tuple(w.shape)}; hint: initialize the weight first."
        )
    x = x / norms[:, None]
    g = (x @ x.T).abs()
    g.fill_diagonal_(0.0)
    return float(g.max())


# ------------------------------------------------------------------------- frames


def _simplex(m: int, source: Source, device: torch.device | str) -> torch.Tensor:
    """m + 1 unit vectors in R^m with pairwise cosine exactly -1/m, randomly rotated."""
    n = m + 1
    centered = torch.eye(n, dtype=torch.float64) - 1.0 / n
    _, vecs = torch.linalg.eigh(centered)  # eigenvalues 0, 1, ..., 1 (ascending)
    x = vecs[:, 1:]
    x = x / x.norm(dim=1, keepdim=True)
    rot = haar_orthogonal(m, m, source, dtype=torch.float64, device=device).cpu()
    return (x @ rot).to(device=device, dtype=torch.float32)


def _optimize(x: torch.Tensor, steps: int,
              cosines: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Adam on ``x`` minimizing a smooth max of the off-diagonal ``cosines(x)**2``.

    The smooth max is a log-sum-exp at temperature t relative to the current maximum, t
    annealed geometrically from 5 to 100; returns the best iterate and its coherence.
    """
    x = x.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=_LR / math.sqrt(x.shape[1]))
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    best, best_c = x.detach().clone(), math.inf
    for s in range(steps):
        t = _T_START * (_T_END / _T_START) ** (s / max(1, steps - 1))
        with torch.enable_grad():
            c = cosines(x)
            cos2 = (c * c).masked_fill(eye, 0.0)
            top = cos2.max().detach()
            loss = torch.logsumexp((cos2 * (t / top)).flatten(), 0) / t
        cur = math.sqrt(float(top))
        if cur < best_c:
            best, best_c = x.detach().clone(), cur
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return best, best_c


def _optimize_direct(x: torch.Tensor, steps: int) -> tuple[torch.Tensor, float]:
    """The same objective on the rows of ``x`` themselves, with its gradient in closed form.

    L = log sum_ij exp(t G_ij^2 / top) / t, G the cosines; dL/dG = 2 G softmax / top, pulled
    back through the row normalization. Twice as fast as autograd; returns unit rows.
    """
    n, m = x.shape
    x = x.detach().clone()
    opt = torch.optim.Adam([x], lr=_LR / math.sqrt(m))
    best, best_top = x / x.norm(dim=1, keepdim=True), math.inf
    for s in range(steps):
        t = _T_START * (_T_END / _T_START) ** (s / max(1, steps - 1))
        norms = x.norm(dim=1, keepdim=True)
        xn = x / norms
        g = xn @ xn.T
        g.fill_diagonal_(0.0)
        sq = g * g
        top = float(sq.max())
        if top < best_top:
            best, best_top = xn, top
        if top == 0.0:
            break
        w = torch.softmax((sq * (t / top)).view(-1), 0).view(n, n)
        grad = (w.mul_(g).mul_(4.0 / top)) @ xn
        grad.sub_(xn * (grad * xn).sum(dim=1, keepdim=True)).div_(norms)
        x.grad = grad
        opt.step()
    return best, math.sqrt(best_top)


def _naimark_cosines(y: torch.Tensor) -> torch.Tensor:
    """Cosines of the frame in R^(N-k) complementary to the columns of y (N x k)."""
    q, _ = torch.linalg.qr(y)
    p = q @ q.T
    d = (1.0 - torch.diagonal(p)).clamp_min(1e-9)
    return -p / torch.sqrt(d[:, None] * d[None, :])


def _naimark_frame(y: torch.Tensor, m: int) -> torch.Tensor:
    """The unit rows in R^m spanning the complement of y's column space (float64 eigh)."""
    n = y.shape[0]
    q, _ = torch.linalg.qr(y.detach().to(torch.float64))
    _, vecs = torch.linalg.eigh(torch.eye(n, dtype=torch.float64, device=y.device) - q @ q.T)
    x = vecs[:, n - m :]  # the eigenvalue-1 eigenvectors
    return (x / x.norm(dim=1, keepdim=True)).to(torch.float32)


def spread_frame(n: int, m: int, source: Source | None = None, *, iterations: int = 500,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """n unit rows in R^m of low coherence (float32, shape (n, m)), drawn through ``source``.

    Args:
        n: the number of rows.
        m: their dimension.
        source: where the random start comes from (default: torch's global RNG).
        iterations: optimizer steps (n > m + 1 only; n <= m is orthonormal, n = m + 1 a
            simplex).
        device: where to build the frame.

    Returns:
        A float32 tensor of shape (n, m) with unit rows.

    Examples:
        >>> f = spread_frame(8, 4, TorchSource(torch.Generator().manual_seed(0)), iterations=100)
        >>> f.shape, welch_bound(8, 4) <= coherence(f) < 0.5
        (torch.Size([8, 4]), True)
    """
    source = source if source is not None else TorchSource(None)
    if n <= m:
        return haar_orthogonal(n, m, source, dtype=torch.float32, device=device)
    if n == m + 1:
        return _simplex(m, source, device)
    start = torch.empty(n, m, dtype=torch.float32, device=device)
    source.normal_(start)
    x, c = _optimize_direct(start, iterations)
    k = n - m
    if k <= m // 4 and m >= _NAIMARK_MIN_DIM:
        small = torch.empty(n, k, dtype=torch.float32, device=device)
        source.normal_(small)
        y, c_dual = _optimize(small, iterations, _naimark_cosines)
        if c_dual < c:
            x = _naimark_frame(y, m)
    return x.detach()


# ------------------------------------------------------------------------- initializer


@register("spread", aliases=("low_coherence",))
@dataclass(frozen=True)
class Spread(Initializer):
    """Rows as evenly spread unit vectors (low coherence), scaled to std gain*sqrt(scale/fan).

    Args:
        gain: the gain (the sign flips every row).
        scale: the variance scale (> 0), as in variance scaling.
        mode: the fan: ``fan_in``, ``fan_out``, ``fan_avg`` or ``fan_geo_avg``.
        iterations: optimizer steps for the frame (>= 1).

    Examples:
        >>> spec = Spread(iterations=50)
        >>> w = spec(torch.empty(8, 4), generator=torch.Generator().manual_seed(0))
        >>> round(spec.expected_std((8, 4)), 3), coherence(w) < 0.5
        (0.5, True)
    """

    gain: float = 1.0
    scale: float = 1.0
    mode: str = "fan_in"
    iterations: int = 500
    elementwise = False
    example_shape = (10, 2, 2, 2)
    example_config = {"iterations": 40}  # the contract tests need a frame, not the optimum

    def __post_init__(self) -> None:
        set_float(self, "gain")
        set_float(self, "scale", low=0.0, low_open=True)
        set_choice(self, "mode", MODES)
        it = self.iterations
        if isinstance(it, bool) or not isinstance(it, int) or it < 1:
            raise ConfigError(
                f"Invalid iterations={it!r} for initializer 'spread'; expected an integer >= 1. "
                "Hint: spread(iterations=500)."
            )

    def _check(self, shape: Shape) -> None:
        if len(shape) < 2:
            raise ConfigError(
                f"spread needs a tensor with at least 2 dimensions; got shape {tuple(shape)}. "
                "Hint: use spread on weights; biases take zeros or constant."
            )

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float:
        self._check(shape)
        return abs(self.gain) * math.sqrt(self.scale / fan_for_mode(shape, self.mode, layout, groups))

    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        std = self.expected_std(tensor.shape, layout=layout, groups=groups)
        n, m = tensor.shape[0], tensor[0].numel()
        frame = spread_frame(n, m, source, iterations=self.iterations, device=tensor.device)
        frame = frame * (math.copysign(std, self.gain) * math.sqrt(m))
        tensor.copy_(frame.reshape(tensor.shape).to(tensor.dtype))
        return tensor


def spread_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None, *,
            scale: float = 1.0, mode: str = "fan_in", iterations: int = 500,
            layout: str | None = None, groups: int = 1) -> torch.Tensor:
    """Low-coherence rows (see :class:`Spread`), std gain*sqrt(scale/fan); in place, returns it.

    Args:
        tensor: the weight to fill (>= 2 dims; rows are dim 0).
        gain: the gain.
        generator: the torch.Generator to draw from (default: the global RNG).
        scale: the variance scale (> 0).
        mode: which fan sets the std.
        iterations: optimizer steps for the frame.
        layout: how the weight is stored (see :func:`initlab.init.fans`).
        groups: the module's groups.

    Returns:
        ``tensor``.

    Examples:
        >>> w = spread_(torch.empty(8, 4), generator=torch.Generator().manual_seed(0))
        >>> welch_bound(8, 4) <= coherence(w) < 0.5  # vs ~0.9 for 8 Gaussian rows
        True
    """
    return Spread(gain, scale, mode, iterations)(tensor, generator=generator, layout=layout,
                                                 groups=groups)
