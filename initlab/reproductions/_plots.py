"""The learning-rate sweep chart the transfer reproductions share, drawn on initlab's one
plotting path (:mod:`initlab.diagnosis.plot`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from initlab.diagnosis.plot import PALETTE, Axes, chart

# one panel: its title and {line label: {log2 lr: loss}}
Panel = tuple[str, Mapping[str, Mapping[int, float]]]


def lr_sweep_chart(panels: Sequence[Panel], path: str | Path, *, clip: float = 3.0,
                   ylabel: str = "training loss") -> Path:
    """Loss against log2(learning rate), one line per label, panels side by side, saved to
    ``path`` (``.png`` through matplotlib, ``.svg`` as is). Losses above ``clip`` (diverged
    runs) are drawn at ``clip`` so the minima stay readable.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "lr.svg"
        >>> lr_sweep_chart([("SP", {"width 64": {-8: 0.5, -7: 0.4, -6: 9.0}})], out).suffix
        '.svg'
    """
    labels = list(dict.fromkeys(label for _, lines in panels for label in lines))
    ks = sorted({k for _, lines in panels for curve in lines.values() for k in curve})
    ys = [min(v, clip) for _, lines in panels for curve in lines.values() for v in curve.values()]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    width, axes = 300, []
    for i, (title, lines) in enumerate(panels):
        ax = Axes(60 + i * width, 40, width - 75, 220, xlim=(ks[0], ks[-1]) if ks else (0, 1),
                  ylim=(lo, hi))
        for label, curve in lines.items():
            xs = sorted(curve)
            ax.line(xs, [min(curve[k], clip) for k in xs], PALETTE[labels.index(label) % 10],
                    marker=True)
        ax.frame(title=title, xlabel="log2 learning rate (Adam)", font=10, integer_x=True,
                 ylabel=ylabel if i == 0 else "")
        axes.append(ax)
    legend = [(label, PALETTE[k % 10]) for k, label in enumerate(labels)]
    return chart(max(400, len(panels) * width + 20), 290, axes, legend).save(path)
