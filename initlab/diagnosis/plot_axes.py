"""The plot area of initlab's charts: :class:`Axes` maps data to pixels and collects primitives.

Each axis is ``linear``, ``log`` (values <= 0 are left out) or ``symlog``
(``sign(y) * log10(1 + |y| / linthresh)``, so zero and tiny values stay on the chart).
Non-finite points break a line into separate segments. Log axes get at most about eight
labelled ticks, however many decades they span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from initlab.diagnosis.plot_primitives import (
    Point,
    Prim,
    _Circle,
    _Line,
    _Polygon,
    _Rect,
    _Segments,
    _svg,
    _Text,
)
from initlab.diagnosis.plot_ticks import _label, log_ticks, nice_ticks

if TYPE_CHECKING:
    import numpy as np

    Values = Sequence[Any] | np.ndarray[Any, Any]  # the data of a series: a list or an array

__all__ = ["Axes"]

_SCALES = ("linear", "log", "symlog")


class Axes:
    """One plot area at ``(left, top)`` of size ``width`` x ``height`` pixels.

    Args:
        left: the x pixel of the plot area's left edge.
        top: the y pixel of its top edge (SVG: y grows downwards).
        width: its width in pixels.
        height: its height in pixels.
        xlim: the data range shown on x.
        ylim: the data range shown on y (5% padding is added).
        yscale: ``linear``, ``log`` or ``symlog``.
        xscale: the same for x (no padding).
        linthresh: where ``symlog`` turns linear.

    Raises:
        ValueError: an unknown scale.

    Examples:
        >>> ax = Axes(0, 0, 100, 100, xlim=(0, 3), ylim=(0.01, 100), yscale="log")
        >>> round(ax.sy(1), 6), ax.sx(3)
        (50.0, 100.0)
    """

    def __init__(self, left: float, top: float, width: float, height: float, *,
                 xlim: tuple[float, float], ylim: tuple[float, float],
                 yscale: str = "linear", xscale: str = "linear",
                 linthresh: float = 1.0) -> None:
        if yscale not in _SCALES or xscale not in _SCALES:
            raise ValueError(f"yscale and xscale must be linear, log or symlog; got "
                             f"{yscale!r} and {xscale!r}")
        self.left, self.top, self.width, self.height = left, top, width, height
        self.yscale, self.xscale, self.linthresh = yscale, xscale, linthresh
        self.xlim = xlim if xlim[1] > xlim[0] else (xlim[0] - 0.5, xlim[0] + 0.5)
        if xscale == "log" and not xlim[1] > xlim[0]:
            self.xlim = (xlim[0] / 2, xlim[0] * 2)
        ax, bx = self._t(self.xlim[0], xscale), self._t(self.xlim[1], xscale)
        self.txlim = (ax, bx) if math.isfinite(ax) and math.isfinite(bx) else (0.0, 1.0)
        lo, hi = self._t(ylim[0], yscale), self._t(ylim[1], yscale)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        pad = (hi - lo) * 0.05 if hi > lo else 0.5
        self.tlim = (lo - pad, hi + pad)
        self.parts: list[Prim] = []

    def _t(self, v: float, scale: str) -> float:
        if scale == "log":
            return math.log10(v) if v > 0 else math.nan
        if scale == "symlog":
            return math.copysign(math.log10(1 + abs(v) / self.linthresh), v)
        return v

    def sx(self, x: float) -> float:
        """The pixel x of data ``x``."""
        a, b = self.txlim
        return self.left + (self._t(x, self.xscale) - a) / (b - a) * self.width

    def sy(self, y: float) -> float:
        """The pixel y of data ``y`` (NaN when off a log scale)."""
        a, b = self.tlim
        return self.top + self.height - (self._t(y, self.yscale) - a) / (b - a) * self.height

    def _points(self, xs: Values, ys: Values) -> list[list[Point]]:
        """Pixel polylines, split where a point is missing or off the scale."""
        runs: list[list[Point]] = []
        cur: list[Point] = []
        for x, y in zip(xs, ys, strict=False):
            ok = y is not None and math.isfinite(float(y))
            py = self.sy(float(y)) if ok else math.nan
            px = self.sx(float(x))
            if math.isfinite(py) and math.isfinite(px):
                cur.append((px, py))
            elif cur:
                runs.append(cur)
                cur = []
        return [*runs, cur] if cur else runs

    def line(self, xs: Values, ys: Values, color: str, *, width: float = 1.3,
             marker: bool = False, alpha: float = 1.0) -> None:
        """A polyline through the points (broken at missing ones), optionally with markers."""
        for run in self._points(xs, ys):
            if len(run) > 1:  # a lone point shows only as a marker
                self.parts.append(_Line(tuple(run), color, width, alpha))
            if marker:
                self.parts += [_Circle(x, y, 3, color) for x, y in run]

    def band(self, xs: Values, lo: Values, hi: Values, color: str, *,
             alpha: float = 0.2) -> None:
        """The area between ``lo`` and ``hi`` (e.g. mean ± std), one polygon per run."""
        for idx in self._runs_of(xs, lo, hi):
            up = [(self.sx(xs[i]), self.sy(hi[i])) for i in idx]
            down = [(self.sx(xs[i]), self.sy(lo[i])) for i in reversed(idx)]
            self.parts.append(_Polygon(tuple(up + down), color, alpha))

    def _runs_of(self, xs: Values, lo: Values,
                 hi: Values) -> list[list[int]]:
        runs: list[list[int]] = []
        cur: list[int] = []
        for i in range(len(xs)):
            ok = all(v is not None and math.isfinite(float(v))
                     and math.isfinite(self.sy(float(v))) for v in (lo[i], hi[i]))
            if ok:
                cur.append(i)
            elif cur:
                runs.append(cur)
                cur = []
        return [r for r in [*runs, cur] if len(r) > 1]

    def errorbar(self, xs: Values, ys: Values, err: Values, color: str, *,
                 clip: tuple[float, float] | None = None) -> None:
        """Markers joined by a line, with ± ``err`` whiskers and caps (inside ``clip``)."""
        self.line(xs, ys, color, marker=True)
        segs: list[tuple[Point, Point]] = []
        for x, y, e in zip(xs, ys, err, strict=False):
            if not all(math.isfinite(float(v)) for v in (y, e)) or e <= 0:
                continue
            lo, hi = float(y) - float(e), float(y) + float(e)
            if clip is not None:
                lo, hi = max(lo, clip[0]), min(hi, clip[1])
            px, y0, y1 = self.sx(x), self.sy(lo), self.sy(hi)
            if math.isfinite(y0) and math.isfinite(y1):
                segs += [((px, y0), (px, y1)), ((px - 3, y0), (px + 3, y0)),
                         ((px - 3, y1), (px + 3, y1))]
        if segs:
            self.parts.append(_Segments(tuple(segs), color, 1.2))

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str, *,
             alpha: float = 1.0) -> None:
        """A filled rectangle between data corners ``(x0, y0)`` and ``(x1, y1)``."""
        px0, px1, py0, py1 = self.sx(x0), self.sx(x1), self.sy(y0), self.sy(y1)
        self.parts.append(_Rect(min(px0, px1), min(py0, py1), abs(px1 - px0), abs(py1 - py0),
                                fill, None, alpha))

    def text(self, x: float, y: float, text: str, *, size: float = 10,
             anchor: str = "middle", color: str = "#222") -> None:
        """Text at data ``(x, y)`` (its baseline, a little below the centre)."""
        self.parts.append(_Text(self.sx(x), self.sy(y) + size / 3, text, size, anchor, 0, color))

    def frame(self, *, title: str = "", xlabel: str = "", ylabel: str = "",
              integer_x: bool = False, font: int = 11,
              xticks: Sequence[tuple[float, str]] | None = None,
              yticks: Sequence[tuple[float, str]] | None = None,
              rotate_x: bool = False) -> None:
        """Axis box, ticks with grid lines, labels and title (drawn below the data).

        ``xticks`` / ``yticks`` are ``(value, label)`` pairs (category axes: layer names);
        ``rotate_x`` slants the x labels so long names do not overlap.
        """
        x0, y0, w, h = self.left, self.top, self.width, self.height
        out: list[Prim] = [_Rect(x0, y0, w, h, "none", "#333")]
        xt = list(xticks) if xticks is not None else [(t, _label(t)) for t in self._xticks()]
        if integer_x and xticks is None:
            xt = [(t, s) for t, s in xt if float(t).is_integer()] or xt
        grid: list[tuple[Point, Point]] = []
        for t, s in xt:
            px = self.sx(t)
            grid.append(((px, y0), (px, y0 + h)))
            if rotate_x:
                out.append(_Text(px + 3, y0 + h + 8, s, font - 1, "end", -40))
            else:
                out.append(_Text(px, y0 + h + font + 3, s, font - 1, "middle"))
        yt = list(yticks) if yticks is not None else []
        if yticks is None:  # auto ticks: labels never closer than a line of text
            for t in self._yticks():
                if all(abs(self.sy(t) - self.sy(u)) >= font + 2 for u, _ in yt):
                    yt.append((t, _label(t)))
        for t, s in yt:
            py = self.sy(t)
            grid.append(((x0, py), (x0 + w, py)))
            out.append(_Text(x0 - 4, py + 4, s, font - 1, "end"))
        out.insert(0, _Segments(tuple(grid), "#ddd"))
        if title:
            out.append(_Text(x0 + w / 2, y0 - 8, title, font + 1, "middle"))
        if xlabel and not rotate_x:
            out.append(_Text(x0 + w / 2, y0 + h + 2 * font + 8, xlabel, font, "middle"))
        if ylabel:
            cx, cy = x0 - 48, y0 + h / 2
            out.append(_Text(cx, cy, ylabel, font, "middle", -90))
        self.parts[:0] = out

    def _xticks(self) -> list[float]:
        if self.xscale == "log":
            return log_ticks(*self.xlim)
        return nice_ticks(*self.xlim)

    def _yticks(self) -> list[float]:
        lo_t, hi_t = self.tlim
        if self.yscale == "linear":
            return nice_ticks(lo_t, hi_t)
        most = max(3, int(self.height // 28))  # labels at least ~28 px apart
        if self.yscale == "log":
            return log_ticks(10 ** lo_t, 10 ** hi_t, most)
        c = self.linthresh  # symlog: 0 when in range, and the decades on either side

        def inv(t: float) -> float:
            return math.copysign(c * (10 ** abs(t) - 1), t)

        lo, hi = inv(lo_t), inv(hi_t)
        ticks = [0.0] if lo <= 0 <= hi else []
        for sign, a, b in ((1, lo, hi), (-1, -hi, -lo)):
            if b > c:
                side = log_ticks(max(a, c, b / 1e6), b, most - 1)
                ticks += [sign * t for t in side]
        return sorted(ticks)

    def svg(self) -> str:
        """The axes' primitives as SVG elements."""
        return "".join(_svg(p) for p in self.parts)
