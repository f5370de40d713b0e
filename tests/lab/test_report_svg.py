"""The report's SVG charts: ticks, scales, broken lines, escaping, well-formed documents."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from initlab.diagnosis.plot import Axes, figure, log_ticks, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("lo,hi", [(0, 1), (0.13, 0.87), (-3.2, 47.0), (9, 938), (84.1, 88.7)])
def test_nice_ticks_are_round_and_cover_the_range(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert 3 <= len(ticks) <= 11
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks)
    assert ticks[0] - lo < step and hi - ticks[-1] < step


def test_log_ticks():
    assert log_ticks(0.05, 20) == [0.1, 1, 10]
    assert log_ticks(0.25, 0.9) == [0.5]        # within one decade: 1, 2, 5 multiples
    assert log_ticks(0.15, 0.9) == [0.2, 0.5]


def test_scales_map_monotonically_and_log_breaks_lines():
    ax = Axes(0, 0, 100, 100, xlim=(0, 3), ylim=(0.01, 100), yscale="log")
    assert ax.sy(0.01) > ax.sy(1) > ax.sy(100)          # up is smaller y in SVG
    assert ax.sy(1) == pytest.approx(50)                # log midpoint of [0.01, 100]
    assert math.isnan(ax.sy(0.0))
    ax.line([0, 1, 2, 3], [1.0, 2.0, -1.0, 3.0], "#000")       # -1 is off a log scale
    ax.line([0, 1, 2], [1.0, float("nan"), 1.0], "#000")        # NaN breaks the line
    assert ax.svg().count("<polyline") == 1  # single points make no line segment pair
    lines = [p for p in ax.svg().split("<polyline")[1:]]
    assert lines[0].count(",") == 2


def test_symlog_keeps_zero_and_ticks_stay_in_range():
    ax = Axes(0, 0, 100, 100, xlim=(0, 1), ylim=(0.0, 5.0), yscale="symlog", linthresh=1e-3)
    assert math.isfinite(ax.sy(0.0)) and ax.sy(0.0) > ax.sy(1e-3) > ax.sy(5.0)
    ticks = ax._yticks()
    assert 0.0 in ticks and all(-1e-12 <= t <= 5.5 for t in ticks)


def test_figure_is_well_formed_and_escaped():
    ax = Axes(60, 30, 300, 200, xlim=(1, 5), ylim=(80, 90))
    ax.errorbar([1, 2, 3], [81.0, 85.0, 89.0], [1.0, 0.0, 0.5], "#1f77b4")
    ax.frame(title="a <b> & c", xlabel="epoch", ylabel="acc", integer_x=True)
    doc = figure(400, 270, ax.svg(), [("kaiming_normal(mode='fan_out') <x>", "#1f77b4")])
    root = ET.fromstring(doc)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a <b> & c" in texts and "kaiming_normal(mode='fan_out') <x>" in texts
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}path")) >= 2  # whiskers where err > 0 (two of three)
    assert int(root.get("height")) > 270          # the legend row is added below


def test_log_ticks_stay_readable_over_many_decades():
    ticks = log_ticks(1e-3, 1e44)  # a diverged run's loss: 47 decades
    assert len(ticks) <= 8 and ticks[0] >= 1e-3 and ticks[-1] <= 1e44
    ax = Axes(0, 0, 300, 120, xlim=(0, 1), ylim=(1e-3, 1e44), yscale="log")
    assert len(ax._yticks()) <= 120 // 28


def test_chart_saves_svg_and_png(tmp_path):
    from initlab.diagnosis.plot import chart

    ax = Axes(50, 20, 200, 100, xlim=(1, 3), ylim=(0, 1))
    ax.line([1, 2, 3], [0.1, 0.5, 0.9], "#1f77b4", marker=True)
    ax.frame(title="t", ylabel="y")
    c = chart(300, 160, [ax], [("a", "#1f77b4")])
    assert ET.parse(c.save(tmp_path / "c.svg")).getroot().get("width") == "300"
    assert c.save(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert c.texts[-1] == "a" and c.lines == 1
