"""Small SVG charts for the HTML report: lines, ± std bands, error bars, log/symlog axes.

Why not matplotlib: importing it and drawing three figures took 0.7-1.4 s of a 7 s
``initlab compare`` run (its first figure alone about 0.3 s); these charts take a few
milliseconds. They are plain SVG 1.1 with explicit ``width``/``height`` (so an ``<img>``
has a natural size), no script, no external resource, and text escaped.

Coordinates: :class:`Axes` maps data to pixels; ``yscale`` is ``linear``, ``log`` (values
<= 0 are left out) or ``symlog`` (``sign(y) * log10(1 + |y| / linthresh)``, so zero and
tiny values stay on the chart). Non-finite points break a line into separate segments.
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["PALETTE", "Axes", "nice_ticks", "log_ticks", "figure"]

# matplotlib's default colour cycle ("tab10"): the report looks as it did
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_FONT = 'font-family="DejaVu Sans,Arial,sans-serif"'


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round ticks (steps of 1, 2 or 5 x 10^k) covering ``[lo, hi]``."""
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


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (both > 0); 2x and 5x as well within one decade."""
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    ticks = [10.0 ** k for k in range(a, b + 1) if lo * (1 - 1e-9) <= 10.0 ** k <= hi * 1.000001]
    if len(ticks) < 2:
        ticks = sorted({m * 10.0 ** k for k in range(a - 1, b + 1) for m in (1, 2, 5)
                        if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9)})
    return ticks


def _label(v: float) -> str:
    return "0" if v == 0 else f"{v:g}"


class Axes:
    """One plot area at ``(left, top)`` of size ``width`` x ``height`` pixels."""

    def __init__(self, left: float, top: float, width: float, height: float, *,
                 xlim: tuple[float, float], ylim: tuple[float, float],
                 yscale: str = "linear", linthresh: float = 1.0):
        if yscale not in ("linear", "log", "symlog"):
            raise ValueError(f"yscale must be linear, log or symlog; got {yscale!r}")
        self.left, self.top, self.width, self.height = left, top, width, height
        self.yscale, self.linthresh = yscale, linthresh
        self.xlim = xlim if xlim[1] > xlim[0] else (xlim[0] - 0.5, xlim[0] + 0.5)
        lo, hi = self._t(ylim[0]), self._t(ylim[1])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        pad = (hi - lo) * 0.05 if hi > lo else 0.5
        self.tlim = (lo - pad, hi + pad)
        self.parts: list[str] = []

    def _t(self, y: float) -> float:
        if self.yscale == "log":
            return math.log10(y) if y > 0 else math.nan
        if self.yscale == "symlog":
            return math.copysign(math.log10(1 + abs(y) / self.linthresh), y)
        return y

    def sx(self, x: float) -> float:
        a, b = self.xlim
        return self.left + (x - a) / (b - a) * self.width

    def sy(self, y: float) -> float:
        a, b = self.tlim
        return self.top + self.height - (self._t(y) - a) / (b - a) * self.height

    def _points(self, xs, ys) -> list[list[tuple[float, float]]]:
        """Pixel polylines, split where a point is missing or off the scale."""
        runs, cur = [], []
        for x, y in zip(xs, ys):
            py = self.sy(float(y)) if y is not None and math.isfinite(float(y)) else math.nan
            if math.isfinite(py):
                cur.append((self.sx(float(x)), py))
            elif cur:
                runs.append(cur)
                cur = []
        return [*runs, cur] if cur else runs

    def line(self, xs, ys, color: str, *, width: float = 1.3, marker: bool = False) -> None:
        for run in self._points(xs, ys):
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            if len(run) > 1:  # a lone point shows only as a marker
                self.parts.append(f'<polyline fill="none" stroke="{color}" '
                                  f'stroke-width="{width}" stroke-linejoin="round" points="{pts}"/>')
            if marker:
                self.parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
                               for x, y in run]

    def band(self, xs, lo, hi, color: str, *, alpha: float = 0.2) -> None:
        """The area between ``lo`` and ``hi`` (e.g. mean ± std), one polygon per run."""
        for idx in self._runs_of(xs, lo, hi):
            up = [(self.sx(xs[i]), self.sy(hi[i])) for i in idx]
            down = [(self.sx(xs[i]), self.sy(lo[i])) for i in reversed(idx)]
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in up + down)
            self.parts.append(f'<polygon fill="{color}" fill-opacity="{alpha}" stroke="none" '
                              f'points="{pts}"/>')

    def _runs_of(self, xs, lo, hi) -> list[list[int]]:
        runs, cur = [], []
        for i in range(len(xs)):
            ok = all(v is not None and math.isfinite(float(v))
                     and math.isfinite(self.sy(float(v))) for v in (lo[i], hi[i]))
            if ok:
                cur.append(i)
            elif cur:
                runs.append(cur)
                cur = []
        return [r for r in [*runs, cur] if len(r) > 1]

    def errorbar(self, xs, ys, err, color: str) -> None:
        """Markers joined by a line, with ± ``err`` whiskers and caps."""
        self.line(xs, ys, color, marker=True)
        for x, y, e in zip(xs, ys, err):
            if not all(math.isfinite(float(v)) for v in (y, e)) or e <= 0:
                continue
            px, y0, y1 = self.sx(x), self.sy(y - e), self.sy(y + e)
            if math.isfinite(y0) and math.isfinite(y1):
                self.parts.append(
                    f'<path stroke="{color}" stroke-width="1.2" fill="none" d="M{px:.1f} '
                    f'{y0:.1f}V{y1:.1f}M{px - 3:.1f} {y0:.1f}h6M{px - 3:.1f} {y1:.1f}h6"/>')

    def frame(self, *, title: str = "", xlabel: str = "", ylabel: str = "",
              integer_x: bool = False, font: int = 11) -> None:
        """Axis box, ticks with grid lines, labels and title (drawn below the data)."""
        x0, y0, w, h = self.left, self.top, self.width, self.height
        out = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#333"/>']
        xt = nice_ticks(*self.xlim)
        if integer_x:
            xt = [t for t in xt if float(t).is_integer()] or xt
        for t in xt:
            px = self.sx(t)
            out.append(f'<path stroke="#ddd" d="M{px:.1f} {y0}V{y0 + h}"/><text x="{px:.1f}" '
                       f'y="{y0 + h + font + 3}" text-anchor="middle" font-size="{font - 1}" '
                       f'{_FONT}>{_label(t)}</text>')
        for t in self._yticks():
            py = self.sy(t)
            out.append(f'<path stroke="#ddd" d="M{x0} {py:.1f}H{x0 + w}"/><text x="{x0 - 4}" '
                       f'y="{py + 4:.1f}" text-anchor="end" font-size="{font - 1}" '
                       f'{_FONT}>{_label(t)}</text>')
        if title:
            out.append(f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" '
                       f'font-size="{font + 1}" {_FONT}>{escape(title)}</text>')
        if xlabel:
            out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 2 * font + 8}" '
                       f'text-anchor="middle" font-size="{font}" {_FONT}>{escape(xlabel)}</text>')
        if ylabel:
            cx, cy = x0 - 48, y0 + h / 2
            out.append(f'<text x="{cx}" y="{cy}" text-anchor="middle" font-size="{font}" '
                       f'transform="rotate(-90 {cx} {cy})" {_FONT}>{escape(ylabel)}</text>')
        self.parts[:0] = out

    def _yticks(self) -> list[float]:
        lo_t, hi_t = self.tlim
        if self.yscale == "linear":
            return nice_ticks(lo_t, hi_t)
        if self.yscale == "log":
            return log_ticks(10 ** lo_t, 10 ** hi_t)
        c = self.linthresh  # symlog: 0 when in range, and the decades on either side
        inv = lambda t: math.copysign(c * (10 ** abs(t) - 1), t)  # noqa: E731
        lo, hi = inv(lo_t), inv(hi_t)
        ticks = [0.0] if lo <= 0 <= hi else []
        for sign, a, b in ((1, lo, hi), (-1, -hi, -lo)):
            if b > c:
                side = log_ticks(max(a, c, b / 1e6), b)
                ticks += [sign * t for t in side[::max(1, math.ceil(len(side) / 6))]]
        return sorted(ticks)

    def svg(self) -> str:
        return "".join(self.parts)


def figure(width: int, height: int, body: str, legend: list[tuple[str, str]] = (),
           *, legend_top: float | None = None, font: int = 11) -> str:
    """A whole SVG document: ``body`` plus a legend (label, colour) in rows below it."""
    rows, x, y = [], 12.0, (legend_top if legend_top is not None else height) + 4
    for label, color in legend:
        w = 28 + 0.62 * font * len(label)
        if x + w > width and x > 12:
            x, y = 12.0, y + font + 7
        rows.append(f'<path stroke="{color}" stroke-width="2.5" d="M{x:.0f} {y + font / 2:.1f}'
                    f'h18"/><text x="{x + 23:.0f}" y="{y + font - 1:.1f}" font-size="{font}" '
                    f'{_FONT}>{escape(label)}</text>')
        x += w + 10
    total = int(math.ceil(y + font + 10)) if legend else height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
            f'viewBox="0 0 {width} {total}"><rect width="100%" height="100%" fill="#fff"/>'
            f"{body}{''.join(rows)}</svg>")

