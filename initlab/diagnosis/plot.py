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

This module holds the charts (:class:`Chart`, :func:`chart`, :func:`figure`); the plot area
is :mod:`initlab.diagnosis.plot_axes`, the ticks :mod:`initlab.diagnosis.plot_ticks`, the
primitives :mod:`initlab.diagnosis.plot_primitives` (their names are re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.diagnosis.plot_axes import Axes
from initlab.diagnosis.plot_primitives import (
    _ANCHOR_HA,
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
from initlab.diagnosis.plot_ticks import log_ticks, nice_ticks

__all__ = ["PALETTE", "Axes", "Chart", "nice_ticks", "log_ticks", "figure", "chart"]

# matplotlib's default colour cycle ("tab10"): the report looks as it did
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


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
