"""The search for identical rows: projections, nearest neighbours and batched screens.

Two rows are *identical* when their cosine exceeds 0.9999, or both are zero. Each row's
nearest neighbour after a random projection is found and checked exactly (see
:func:`_identical_rows`); :func:`screen` runs the pairwise screen of many layers of one
shape in a few batched operations, so that only the layers where some pair passes are
searched one by one. The fractions built on this are in :mod:`initlab.diagnosis.symmetry`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import torch

__all__ = ["SYMMETRY_COSINE", "screen"]

SYMMETRY_COSINE = 0.9999  # two vectors this aligned (or both zero) count as identical

_PROJECTIONS = 16  # random directions a candidate pair must agree on before a full check
_SCREEN = 4  # long rows: the first 4 screen every pair, the other 12 only the rows that pass
_SCREEN_MIN_DIM = 256  # (projecting on 12 more directions costs more than a second search)
_WINDOW_MIN_ROWS = 384  # a sorted-window screen beats the all-pairs one from ~this many rows


class _Rows:
    """Row vectors ``[matrix | column]`` without concatenating them (a weight and its bias).

    ``sums``: the head projection also yields the matrix's row sums (``row_sums``), so a
    weight's sum and 2-norm (``wnorm``: row norms without the column) cost no extra pass.
    """

    def __init__(self, matrix: torch.Tensor, column: torch.Tensor | None = None,
                 norm: torch.Tensor | None = None, *, sums: bool = False):
        dtype = torch.float64 if matrix.dtype == torch.float64 else torch.float32
        self.m = matrix.detach().to(dtype)
        self.c = None if column is None else column.detach().to(dtype)
        self.wnorm = torch.linalg.vector_norm(self.m, dim=1) if norm is None else norm
        self.norm = self.wnorm
        if self.c is not None:
            self.norm = self.wnorm.square().add_(self.c.square()).sqrt_()
        self.dim = self.m.shape[1] + (self.c is not None)
        self._head: torch.Tensor | None = None
        self._proj: torch.Tensor | None = None
        self.row_sums: torch.Tensor | None = None
        if sums:
            self._head = self._project(slice(None), sums=True)

    def _project(self, cols: slice, *, sums: bool = False) -> torch.Tensor:
        """The unit rows projected on the fixed Gaussian directions ``cols`` (zero rows: 0)."""
        r = _directions(self.dim, self.m.dtype, str(self.m.device), sums)[:, cols]
        proj = self.m @ r[: self.m.shape[1]]
        if sums:  # the last column of r is ones over the matrix: row sums
            self.row_sums, proj = proj[:, -1], proj[:, :-1]
            r = r[:, :-1]
        if self.c is not None:
            proj += self.c.unsqueeze(1) * r[-1]
        return proj.div_(self.norm.clamp_min(torch.finfo(self.m.dtype).tiny).unsqueeze(1))

    def zero_rows(self) -> torch.Tensor:
        """Rows whose every entry is 0 (exactly; a norm may underflow)."""
        zero = self.m.abs().amax(dim=1) == 0
        return zero if self.c is None else zero & (self.c == 0)

    def screen(self) -> torch.Tensor:
        """What every pair is screened on: the first 4 projections of long rows, else all."""
        if self.dim < _SCREEN_MIN_DIM and self._head is None:
            return self.projected()
        if self._head is None:
            self._head = self._project(slice(0, _SCREEN))
        return self._head

    def projected(self) -> torch.Tensor:
        """The unit rows projected on 16 fixed Gaussian directions (zero rows stay 0)."""
        if self._proj is None:
            if self.dim < _SCREEN_MIN_DIM and self._head is None:
                self._proj = self._project(slice(None))
            else:
                self._proj = torch.cat([self.screen(), self._project(slice(_SCREEN, None))], 1)
        return self._proj

    def identical(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Rows i[k] and j[k]: cosine > 0.9999, or both zero."""
        dot = (self.m[i] * self.m[j]).sum(1)
        if self.c is not None:
            dot = dot + self.c[i] * self.c[j]
        ni, nj = self.norm[i], self.norm[j]
        return (dot > SYMMETRY_COSINE * ni * nj) & (ni * nj > 0) | ((ni == 0) & (nj == 0))


@functools.lru_cache(maxsize=64)
def _directions(dim: int, dtype: torch.dtype, device: str, sums: bool = False) -> torch.Tensor:
    """(dim, 16) fixed Gaussian directions (seeded by ``dim``); ``sums``: the first 4 and a
    column of ones, for the :class:`_Rows` head with row sums."""
    g = torch.Generator().manual_seed(dim)
    r = torch.randn(dim, _PROJECTIONS, generator=g, dtype=dtype).to(device)
    if sums:
        ones = torch.ones(dim, 1, dtype=dtype, device=device)
        r = torch.cat([r[:, :_SCREEN], ones], dim=1)
    return r


def _nearest(proj: torch.Tensor, limit: float, *, indices: bool = True,
             among: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows whose nearest other row is closer than ``limit`` (squared distance), and
    that row (``indices``; else None). ``among``: only these rows can be such rows (the
    candidates of a screen), each still compared with every row.

    Blocks of rows keep the distance matrix (|a|^2 + |b|^2 - 2ab) at ~16 MB. A plain
    ``amin`` finds the close rows; the nearest row (``min`` with indices, several times
    slower on CPU) is looked up only for those.
    """
    n = proj.shape[0]
    sq = proj.square().sum(dim=1)
    step = max(1, 2**22 // n)

    def blocks(rows: torch.Tensor | None) -> Iterator[torch.Tensor]:
        m = n if rows is None else rows.numel()
        for lo in range(0, m, step):
            sub = slice(lo, lo + step) if rows is None else rows[lo:lo + step]
            dist = torch.addmm(sq.unsqueeze(0), proj[sub], proj.t(), alpha=-2)
            if rows is None:
                dist.diagonal(offset=lo).fill_(math.inf)  # a row is not its own neighbour
            else:
                dist[torch.arange(dist.shape[0], device=proj.device), sub] = math.inf
            yield dist

    if among is not None:
        best = torch.cat([dist.amin(dim=1) for dist in blocks(among)])
        close = among[best.add_(sq[among]) < limit]
        if not indices or not close.numel():
            return close, None
        return close, torch.cat([dist.argmin(dim=1) for dist in blocks(close)])
    best = torch.cat([dist.amin(dim=1) for dist in blocks(None)])
    close = (best.add_(sq) < limit).nonzero().squeeze(1)
    if not indices or not close.numel():
        return close, None
    return close, torch.cat([dist.argmin(dim=1) for dist in blocks(close)])


def _window_screen(coords: torch.Tensor, limit: float,
                   excluded: torch.Tensor | None = None) -> list[bool] | None:
    """Per layer of ``coords`` (layers, rows, c): might two rows lie closer than ``limit``
    (squared distance on these coordinates)?

    Such a pair is closer than sqrt(limit) on the first coordinate, so after sorting the rows
    by it each row is compared only with the next ``window`` rows (the most any row has
    within that distance): rows x window x c work instead of rows^2, on a sliding-window
    view. None where some window is dense (many near rows: the all-pairs screen costs less).
    ``excluded`` rows (layers, rows) take part in no pair.
    """
    k, n, c = coords.shape
    if excluded is not None:  # sorted last, infinitely far from every row
        coords = coords.masked_fill(excluded.unsqueeze(2), math.inf)
    xs, order = coords[..., 0].sort(dim=1)
    reach = torch.searchsorted(xs, xs + math.sqrt(limit), right=True)
    width = reach - torch.arange(1, n + 1, device=xs.device)  # rows after t within reach
    if excluded is not None:
        width.masked_fill_(torch.isinf(xs), 0)
    window = int(width.amax())
    if window == 0:
        return [False] * k
    if window * c * 2 > n:  # dense: the search over all pairs costs less
        return None
    ordered = coords.gather(1, order.unsqueeze(2).expand(-1, -1, c)).transpose(1, 2)
    ahead = torch.nn.functional.pad(ordered, (0, window), value=math.inf)
    ahead = ahead.unfold(2, window + 1, 1)[..., 1:]  # (layers, c, rows, window): rows t+1..
    d2 = (ahead - ordered.unsqueeze(3)).square_().sum(dim=1)
    if excluded is not None:
        d2.masked_fill_(torch.isinf(xs).unsqueeze(2), math.inf)
    return (d2.flatten(1).amin(dim=1) < limit).tolist()


def _window_rows(coords: torch.Tensor, limit: float) -> torch.Tensor | None:
    """The rows of ``coords`` (rows, c) with another row closer than ``limit`` on these
    coordinates, by the sorted window of :func:`_window_screen`; None where it is dense."""
    n, c = coords.shape
    xs, order = coords[:, 0].sort()
    window = int((torch.searchsorted(xs, xs + math.sqrt(limit), right=True)
                  - torch.arange(1, n + 1, device=xs.device)).amax())
    if window == 0:
        return order[:0]
    if window * c * 2 > n:
        return None
    ordered = coords[order].t()
    ahead = torch.nn.functional.pad(ordered, (0, window), value=math.inf)
    ahead = ahead.unfold(1, window + 1, 1)[..., 1:]  # (c, rows, window): rows t+1..t+window
    t, k = ((ahead - ordered.unsqueeze(2)).square_().sum(dim=0) < limit).nonzero().unbind(1)
    return order[torch.cat([t, t + k + 1]).unique()]


def _identical_rows(sets: list[_Rows]) -> torch.Tensor | None:
    """Per row: is some other row identical (cosine > 0.9999 or both zero) in every set?
    (None when no row is.)

    Identical unit rows are within 0.0142 of each other, so within ~0.1 after projecting on
    16 Gaussian directions (chi-square tail below 1e-6), where two random unit vectors
    almost never are; the nearest such candidate of each row is then checked exactly.
    Costs rows x dims x 16 + rows^2 x 16, not rows^2 x dims. Long rows (256+ entries) are
    first screened on the first 4 directions (a distance on 4 of the 16 is no larger than
    on all 16; random pairs pass with probability ~1e-6), with a threshold 1% looser for
    rounding, over all pairs (< 384 rows) or a sorted window (:func:`_window_screen`); they
    are projected on the other 12 only when some pair passes; after a window screen only
    the rows it passed are searched (an 8192-row LM head has a few such rows, by chance),
    each against every row, so the candidates and neighbours are the same.
    """
    limit = 0.01 * len(sets)  # (0.1 * sqrt(len(sets)))^2
    coords = torch.cat([rows.screen() for rows in sets], dim=1)
    among = None  # the rows a sorted-window screen leaves as candidates
    if coords.shape[1] < _PROJECTIONS * len(sets):  # long rows: screen on 4 directions first
        loose = limit * 1.01 + 1e-6  # slack for rounding
        among = _window_rows(coords, loose) if coords.shape[0] >= _WINDOW_MIN_ROWS else None
        if among is None and not _nearest(coords, loose, indices=False)[0].numel():
            return None
        if among is not None and not among.numel():
            return None
    proj = torch.cat([rows.projected() for rows in sets], dim=1)
    cand, nearest = _nearest(proj, limit, among=among)
    if not cand.numel() or nearest is None:  # indices=True: nearest is set when cand is
        return None
    ok = sets[0].identical(cand, nearest)
    for rows in sets[1:]:
        ok &= rows.identical(cand, nearest)
    same = torch.zeros(proj.shape[0], dtype=torch.bool, device=ok.device)
    same[cand] = ok
    return same


# ----------------------------------------------------------------------------- many layers
_BATCH_MAX_ROWS = 1024  # layers with more rows are searched one by one
_BATCH_ELEMENTS = 2**22  # distances per batched block (~16 MB in float32)
_LOOSE = 0.01 * 1.01 + 1e-6  # the single-set candidate threshold, 1% looser for rounding


def screen(sets: list[_Rows], *, skip_zero: bool = False) -> list[bool]:
    """Per layer: might two of its rows be identical?

    False only where :func:`_identical_rows` would find no candidate (the same projections,
    the first 4 of long rows, and a threshold 1% looser for rounding), so those layers are
    known to hold no identical rows. Layers with the same number of rows (up to 1024) are screened together
    in batched operations; a layer alone gets True (it is searched on its own anyway).
    ``skip_zero``: all-zero rows are left out, as :func:`duplicate_fraction` does.
    """
    out = [True] * len(sets)
    groups: dict[tuple, list[int]] = {}
    for i, rows in enumerate(sets):
        n = rows.m.shape[0]
        if n <= _BATCH_MAX_ROWS:  # screened on 4 directions (long rows) or all 16
            key = (n, rows.screen().shape[1], rows.m.dtype, rows.m.device)
            groups.setdefault(key, []).append(i)
    for (n, *_), idx in groups.items():
        per = max(2, _BATCH_ELEMENTS // (n * n))
        for lo in range(0, len(idx), per):
            chunk = idx[lo:lo + per]
            if len(chunk) < 2:
                continue
            coords = torch.stack([sets[i].screen() for i in chunk])
            excluded = torch.stack([sets[i].zero_rows() for i in chunk]) if skip_zero else None
            for i, flag in zip(chunk, _screen_stack(coords, excluded)):
                out[i] = flag
    return out


def _screen_stack(coords: torch.Tensor, excluded: torch.Tensor | None) -> list[bool]:
    """:func:`screen` of stacked coordinates (layers, rows, 4 or 16): a sorted window when
    the rows are many and spread, else all pairs."""
    if coords.shape[1] >= _WINDOW_MIN_ROWS:
        flags = _window_screen(coords, _LOOSE, excluded)
        if flags is not None:
            return flags
    sq = coords.square().sum(dim=2)
    if excluded is not None:  # a zero row is nobody's neighbour and has none
        sq.masked_fill_(excluded, math.inf)
    dist = torch.baddbmm(sq.unsqueeze(1), coords, coords.transpose(1, 2), alpha=-2)
    dist.diagonal(dim1=1, dim2=2).fill_(math.inf)
    return (dist.amin(dim=2).add_(sq).amin(dim=1) < _LOOSE).tolist()
