"""initlab's one plotting path: small charts drawn once, written as SVG or as PNG.

Every plot initlab draws (the sweep report, ``DiagnosisReport.plot``, the coordinate check)
is built here from a handful of primitives (lines, polygons, markers, rectangles, text) in
pixel coordinates. A :class:`Chart` renders them as a plain SVG 1.1 document (explicit
``width``/``height``, no script, no external resource, text escaped) for the HTML reports,
or saves them to a file: ``.svg`` as is, any other suffix (``.png``, ``.pdf``) through
matplotlib's Agg canvas, imported only then. Why not matplotlib for everything: importing
it and drawing three figures took 0.7-1.4 s of a 7 s ``initlab compare`` run; SVG charts
take a few milliseconds.

Coordinates: :class:`Axes` maps data to pixels; each axis is ``linear``, ``log`` (values
<= 0 are left out) or ``symlog`` (``sign(y) * log10(1 + |y| / linthresh)``, so zero and
tiny values stay on the chart). Non-finite points break a line into separate segments.
Log axes get at most about eight labelled ticks, however many decades they span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Values = Sequence[Any] | np.ndarray[Any, Any]  # the data of a series: a list or an array

__all__ = ["PALETTE", "Axes", "Chart", "nice_ticks", "log_ticks", "figure", "chart"]

# matplotlib's default colour cycle ("tab10"): the report looks as it did
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_FONT = 'font-family="DejaVu Sans,Arial,sans-serif"'
_SCALES = ("linear", "log", "symlog")
Point = tuple[float, float]


# ----------------------------------------------------------------------------- primitives
@dataclass(frozen=True)
class _Line:
    points: tuple[Point, ...]
    color: str
    width: float = 1.3
    alpha: float = 1.0


@dataclass(frozen=True)
class _Segments:  # separate strokes in one path (grid lines, whiskers)
    segments: tuple[tuple[Point, Point], ...]
    color: str
    width: float = 1.0


@dataclass(frozen=True)
class _Polygon:
    points: tuple[Point, ...]
    color: str
    alpha: float = 0.2


@dataclass(frozen=True)
class _Circle:
    x: float
    y: float
    r: float
    color: str


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = "none"
    stroke: str | None = None
    alpha: float = 1.0


@dataclass(frozen=True)
class _Text:
    x: float
    y: float
    text: str
    size: float = 11
    anchor: str = "start"  # start | middle | end
    rotate: float = 0.0    # degrees, clockwise as in SVG
    color: str = "#222"


Prim = _Line | _Segments | _Polygon | _Circle | _Rect | _Text
_ANCHOR_HA = {"start": "left", "middle": "center", "end": "right"}


def _pts(points: Sequence[Point]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _svg(p: Prim) -> str:
    if isinstance(p, _Line):
        op = f' stroke-opacity="{p.alpha}"' if p.alpha < 1 else ""
        return (f'<polyline fill="none" stroke="{p.color}" stroke-width="{p.width}"{op} '
                f'stroke-linejoin="round" points="{_pts(p.points)}"/>')
    if isinstance(p, _Segments):
        d = "".join(f"M{a[0]:.1f} {a[1]:.1f}L{b[0]:.1f} {b[1]:.1f}" for a, b in p.segments)
        return f'<path stroke="{p.color}" stroke-width="{p.width}" fill="none" d="{d}"/>'
    if isinstance(p, _Polygon):
        return (f'<polygon fill="{p.color}" fill-opacity="{p.alpha}" stroke="none" '
                f'points="{_pts(p.points)}"/>')
    if isinstance(p, _Circle):
        return f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{p.r}" fill="{p.color}"/>'
    if isinstance(p, _Rect):
        stroke = f' stroke="{p.stroke}"' if p.stroke else ""
        op = f' fill-opacity="{p.alpha:.2f}"' if p.alpha < 1 else ""
        return (f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.w:.1f}" height="{p.h:.1f}" '
                f'fill="{p.fill}"{op}{stroke}/>')
    rot = f' transform="rotate({p.rotate:g} {p.x:.1f} {p.y:.1f})"' if p.rotate else ""
    fill = f' fill="{p.color}"' if p.color != "#222" else ""
    return (f'<text x="{p.x:.1f}" y="{p.y:.1f}" text-anchor="{p.anchor}" '
            f'font-size="{p.size:g}"{fill}{rot} {_FONT}>{escape(p.text)}</text>')


# ----------------------------------------------------------------------------- ticks
def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round ticks (steps of 1, 2 or 5 x 10^k) covering ``[lo, hi]``.

    Args:
        lo: the lower end of the range.
        hi: the upper end of the range.
        n: about how many ticks.

    Returns:
        The ticks, ascending.

    Examples:
        >>> nice_ticks(0.13, 0.87)
        [0.2, 0.4, 0.6, 0.8]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (both > 0), at most ``most`` of them (every k-th decade
    when the range spans more); 2x and 5x as well within one decade.

    Args:
        lo: the lower end (> 0).
        hi: the upper end (> lo).
        most: the most ticks to return.

    Returns:
        The ticks, ascending.

    Examples:
        >>> log_ticks(0.05, 20)
        [0.1, 1.0, 10.0]
        >>> len(log_ticks(1e-3, 1e44))
        8
    """
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    exps = [k for k in range(a, b + 1) if lo * (1 - 1e-9) <= 10.0 ** k <= hi * 1.000001]
    if len(exps) > most:
        step = math.ceil(len(exps) / most)
        exps = [k for k in exps if k % step == 0] or exps[::step]
    ticks = [10.0 ** k for k in exps]
    if len(ticks) < 2:
        ticks = sorted({m * 10.0 ** k for k in range(a - 1, b + 1) for m in (1, 2, 5)
                        if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9)})
    return ticks


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        exp = math.floor(math.log10(abs(v)) + 1e-9)
        mant = v / 10.0 ** exp
        return f"1e{exp}" if abs(abs(mant) - 1) < 1e-9 else f"{mant:.2g}e{exp}"
    return f"{v:g}"


# ----------------------------------------------------------------------------- axes
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


# ----------------------------------------------------------------------------- charts
@dataclass
class Chart:
    """A whole picture: primitives on a ``width`` x ``height`` pixel canvas.

    ``svg()`` gives the SVG document; ``save(path)`` writes ``.svg`` directly and any
    other format (``.png``, ``.pdf``) through matplotlib. In a notebook it shows itself.

    Examples:
        >>> ax = Axes(40, 20, 200, 100, xlim=(0, 2), ylim=(0, 1))
        >>> ax.line([0, 1, 2], [0.0, 1.0, 0.5], PALETTE[0])
        >>> c = chart(260, 150, [ax], [("a", PALETTE[0])])
        >>> c.svg().startswith("<svg") and c.width
        260
    """

    width: int
    height: int
    items: list[Prim] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """Every text on the chart (titles, ticks, labels, legend), in drawing order."""
        return [p.text for p in self.items if isinstance(p, _Text)]

    @property
    def lines(self) -> int:
        """How many polylines the chart draws."""
        return sum(isinstance(p, _Line) for p in self.items)

    def svg(self) -> str:
        """The chart as a standalone SVG document."""
        body = "".join(_svg(p) for p in self.items)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">'
                f'<rect width="100%" height="100%" fill="#fff"/>{body}</svg>')

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path: str | Path, *, scale: float = 1.5) -> Path:
        """Write the chart to ``path``: ``.svg`` as text, else by matplotlib (PNG, PDF...).

        Args:
            path: the file; its suffix picks the format.
            scale: pixels per chart pixel in raster formats.

        Returns:
            The path written.
        """
        path = Path(path)
        if path.suffix.lower() == ".svg":
            path.write_text(self.svg(), encoding="utf-8")
        else:
            self._matplotlib(scale).savefig(path, dpi=100, facecolor="white")
        return path

    def _matplotlib(self, scale: float) -> Any:
        """The primitives drawn on a matplotlib Figure at pixel positions (no pyplot)."""
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, Polygon, Rectangle
        from matplotlib.transforms import IdentityTransform

        k, H = scale, self.height * scale
        fig = Figure(figsize=(self.width * k / 100, H / 100), dpi=100)
        ident = IdentityTransform()
        pt = 0.72 * k  # one chart pixel in points at dpi 100

        def xy(p: Point) -> Point:
            return p[0] * k, H - p[1] * k

        for p in self.items:
            if isinstance(p, _Line):
                xs, ys = zip(*(xy(q) for q in p.points), strict=True)
                fig.add_artist(Line2D(xs, ys, color=p.color, lw=p.width * pt, alpha=p.alpha,
                                      transform=ident, solid_joinstyle="round"))
            elif isinstance(p, _Segments):
                for a, b in p.segments:
                    (xa, ya), (xb, yb) = xy(a), xy(b)
                    fig.add_artist(Line2D((xa, xb), (ya, yb), color=p.color, lw=p.width * pt,
                                          transform=ident))
            elif isinstance(p, _Polygon):
                fig.add_artist(Polygon([xy(q) for q in p.points], closed=True, facecolor=p.color,
                                       alpha=p.alpha, edgecolor="none", transform=ident))
            elif isinstance(p, _Circle):
                fig.add_artist(Circle(xy((p.x, p.y)), p.r * k, color=p.color, transform=ident))
            elif isinstance(p, _Rect):
                fig.add_artist(Rectangle(xy((p.x, p.y + p.h)), p.w * k, p.h * k,
                                         facecolor=p.fill if p.fill != "none" else "none",
                                         alpha=p.alpha if p.fill != "none" else None,
                                         edgecolor=p.stroke or "none", transform=ident))
            else:
                x, y = xy((p.x, p.y))
                fig.text(x, y, p.text, fontsize=p.size * pt, color=p.color,
                         ha=_ANCHOR_HA[p.anchor], va="baseline", rotation=-p.rotate,
                         rotation_mode="anchor", transform=ident, family="DejaVu Sans")
        return fig


def _legend(width: int, top: float, legend: Sequence[tuple[str, str]],
            font: int) -> tuple[list[Prim], float]:
    """Legend entries (swatch, label) in rows from ``top``; returns them and the bottom."""
    out: list[Prim] = []
    x, y = 12.0, top + 4
    for label, color in legend:
        w = 28 + 0.62 * font * len(label)
        if x + w > width and x > 12:
            x, y = 12.0, y + font + 7
        out.append(_Segments((((x, y + font / 2), (x + 18, y + font / 2)),), color, 2.5))
        out.append(_Text(x + 23, y + font - 1, label, font))
        x += w + 10
    return out, (y + font + 10) if legend else top


def chart(width: int, height: int, axes: Sequence[Axes], legend: Sequence[tuple[str, str]] = (),
          *, title: str = "", font: int = 11) -> Chart:
    """A :class:`Chart` of ``axes`` with a legend (label, colour) in rows below them.

    Args:
        width: the canvas width in pixels.
        height: the height above the legend.
        axes: the plot areas, drawn in order.
        legend: ``(label, colour)`` pairs.
        title: a title centred at the top.
        font: the legend's font size.

    Returns:
        The chart (its height grows by the legend's rows).
    """
    items: list[Prim] = [p for ax in axes for p in ax.parts]
    if title:
        items.append(_Text(width / 2, 16, title, font + 1, "middle"))
    rows, bottom = _legend(width, height, legend, font)
    return Chart(width, int(math.ceil(bottom)) if legend else height, items + rows)


def figure(width: int, height: int, body: str | Sequence[Axes],
           legend: Sequence[tuple[str, str]] = (), *, font: int = 11) -> str:
    """A whole SVG document: ``body`` (SVG text or axes) plus a legend in rows below it."""
    if not isinstance(body, str):
        return chart(width, height, body, legend, font=font).svg()
    rows, bottom = _legend(width, height, legend, font)
    total = int(math.ceil(bottom)) if legend else height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
            f'viewBox="0 0 {width} {total}"><rect width="100%" height="100%" fill="#fff"/>'
            f"{body}{''.join(_svg(p) for p in rows)}</svg>")
