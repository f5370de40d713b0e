"""The primitives of initlab's charts (lines, polygons, markers, rectangles, text) as SVG.

Each primitive is a frozen dataclass in pixel coordinates; :func:`_svg` writes one as an SVG
1.1 element (text escaped). :mod:`initlab.diagnosis.plot_axes` places them,
:mod:`initlab.diagnosis.plot` assembles them into charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Point", "Prim"]

_FONT = 'font-family="DejaVu Sans,Arial,sans-serif"'
Point = tuple[float, float]


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
