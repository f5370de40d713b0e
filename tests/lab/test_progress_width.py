"""The progress display fits an 80-column terminal: bar, count and ETA always shown."""

from __future__ import annotations

import io
import re

import rich.console

from initlab.lab.progress import Progress


def test_progress_fits_80_columns(monkeypatch):
    buf = io.StringIO()
    real = rich.console.Console
    monkeypatch.setattr(rich.console, "Console",
                        lambda **kw: real(file=buf, force_terminal=True, width=80))
    p = Progress(enabled=True)
    p.start(total=12, finished=3)
    p.run_started(["kaiming_normal(mode='fan_out', nonlinearity='relu')", "xavier_normal",
                   "normal(std=0.01)"], 7, 1000)
    p.step(3, 500, 0.123456)
    p.stop()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert all(len(ln) <= 80 for ln in lines), lines
    assert any("3/12" in ln for ln in lines) and any("500/1000" in ln for ln in lines)
    assert any("━" in ln for ln in lines)  # the bar
