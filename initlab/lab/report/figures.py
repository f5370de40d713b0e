"""The charts of a sweep's report, as SVG documents (drawn with :mod:`initlab.diagnosis.plot`).

Plots are SVG charts (a few milliseconds where matplotlib took about a second) embedded
as base64 ``data:image/svg+xml`` URIs in ``<img>`` tags, so ``report.html`` is one file
with no external resource. Curves show the mean over seeds with a band of ± one std.
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np

from initlab.diagnosis.plot import PALETTE, Axes, figure

__all__ = ["figures", "axis_figure"]


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    return np.convolve(y, kernel, mode="valid")


def _band(series: list[list[float]]):
    """Mean and std over seeds at every index (NaN-aware; shorter series simply end)."""
    n = max((len(s) for s in series), default=0)
    m = np.full((len(series), n), np.nan)
    for i, s in enumerate(series):
        m[i, :len(s)] = np.asarray(s, dtype=float)
    with np.errstate(all="ignore"):
        count = np.sum(np.isfinite(m), 0)
        mean = np.nanmean(np.where(np.isfinite(m), m, np.nan), 0) if n else m[0:0]
        std = np.nanstd(np.where(np.isfinite(m), m, np.nan), 0) if n else m[0:0]
    std = np.where(count > 1, std, 0.0)
    return mean, std


def _by_init(runs: list[dict]) -> dict[str, list[dict]]:
    """Finished runs per curve: per init, or per experiment and init when the sweep holds
    several (curves of different experiments are never averaged together)."""
    from initlab.lab.grouping import group_runs

    groups = group_runs(runs)
    out: dict[str, list[dict]] = {}
    for g in groups:
        for r in g.runs:
            if r["status"] in ("done", "diverged"):
                key = f"{g.label}: {r['init']}" if len(groups) > 1 else r["init"]
                out.setdefault(key, []).append(r)
    return out


def _limits(values) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return (min(vals), max(vals)) if vals else (0.0, 1.0)


def _thin(n: int, most: int = 800) -> np.ndarray:
    """At most ``most`` evenly spaced indices of ``n`` (the last one always kept)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def _loss_figure(groups, window: int) -> str:
    lines = []
    for i, (init, rs) in enumerate(groups.items()):
        series = [_smooth(np.asarray(r.get("step_losses") or [], float), window) for r in rs]
        mean, std = _band(series)
        keep = _thin(len(mean))
        x = (np.arange(len(mean)) + window)[keep]
        lines.append((init, len(rs), PALETTE[i % len(PALETTE)], x, mean[keep], std[keep]))
    xs = [v for *_, x, _, _ in lines for v in x]
    pos = [v for *_, m, s in lines for v in np.concatenate([m - s, m, m + s]) if v > 0]
    lo, hi = _limits(pos)
    ax = Axes(70, 30, 640, 300, xlim=(min(xs, default=0), max(xs, default=1)),
              ylim=(lo, hi), yscale="log")
    for _, _, c, x, m, s in lines:
        if np.nanmax(s, initial=0.0) > 0:  # one seed: no band to draw
            ax.band(x, np.maximum(m - s, lo), m + s, c)
        ax.line(x, m, c)
    ax.frame(title="Training loss, mean ± std over seeds", xlabel="step",
             ylabel=f"train loss (moving average of {window})")
    return figure(720, 375, ax.svg(), [(f"{n} (n={k})", c) for n, k, c, *_ in lines])


def _acc_figure(groups) -> str:
    lines = []
    for i, (init, rs) in enumerate(groups.items()):
        per_seed = [[e.get("test_acc") if e.get("test_acc") is not None else math.nan
                     for e in r["epochs"]] for r in rs]
        mean, std = _band(per_seed)
        if len(mean):
            m = 100 * mean
            err = np.minimum(100 * std, np.minimum(m, 100 - m))  # bars stay inside [0, 100]
            lines.append((init, PALETTE[i % len(PALETTE)], np.arange(1, len(mean) + 1), m, err,
                          [100 * np.asarray(p, float) for p in per_seed if len(p) > 1]))
    n = max((len(x) for _, _, x, *_ in lines), default=1)
    lo, hi = _limits([v for _, _, _, m, s, seeds in lines
                      for v in np.concatenate([m - s, m + s, *seeds])])
    ax = Axes(70, 30, 640, 300, xlim=(0.8, n + 0.2), ylim=(lo, hi))
    for _, c, x, m, s, seeds in lines:
        for p in seeds:  # each seed, thin, under its mean
            ax.line(np.arange(1, len(p) + 1), p, c, width=0.5)
        ax.errorbar(x, m, s, c)
    ax.frame(title="Test accuracy per epoch: mean ± std (bars), each seed (thin)",
             xlabel="epoch", ylabel="test accuracy (%)", integer_x=True)
    return figure(720, 375, ax.svg(), [(n, c) for n, c, *_ in lines])


def axis_figure(summary: list[dict], groups: list[dict]) -> str | None:
    """Final test accuracy against the one swept setting, one line per init (None unless
    exactly one config field varies between the experiments)."""
    keys = sorted({k for g in groups for k in g["config"]})
    if len(keys) != 1 or len(groups) < 2:
        return None
    key = keys[0]
    values = [g["config"][key] for g in groups]
    label = {g["group"]: i + 1 for i, g in enumerate(groups)}
    inits = list(dict.fromkeys(s["init"] for s in summary))
    ax = Axes(70, 30, 640, 300, xlim=(0.8, len(values) + 0.2),
              ylim=_limits([100 * s["test_acc_mean"] for s in summary
                            if s["test_acc_mean"] is not None]))
    legend = []
    for i, init in enumerate(inits):
        pts = sorted((label[s["group"]], 100 * s["test_acc_mean"]) for s in summary
                     if s["init"] == init and s["test_acc_mean"] is not None)
        c = PALETTE[i % len(PALETTE)]
        ax.line([x for x, _ in pts], [y for _, y in pts], c, marker=True)
        legend.append((init, c))
    name = key.removeprefix("train.").replace("model_kwargs.", "model.")
    ticks = ", ".join(f"{i + 1}: {json.dumps(v)}" for i, v in enumerate(values))
    ax.frame(title=f"Final test accuracy against {name} (mean over seeds)",
             xlabel=f"{name} ({ticks})", ylabel="test accuracy (%)", integer_x=True)
    return figure(720, 375, ax.svg(), legend)


def _grad_figure(groups, norms) -> str:
    layers = sorted({layer for d in norms.values() for layer in d})
    cols = min(3, len(layers))
    rows = math.ceil(len(layers) / cols)
    cell_w, cell_h = 300, 220
    colors = {init: PALETTE[i % len(PALETTE)] for i, init in enumerate(groups)}
    body = [f'<text x="{cols * cell_w / 2}" y="18" text-anchor="middle" font-size="12" '
            'font-family="DejaVu Sans,Arial,sans-serif">Gradient norm per layer, first steps '
            '(mean over seeds)</text>']
    for j, layer in enumerate(layers):
        pts = {init: sorted(per.get(layer, {}).items()) for init, per in norms.items()}
        xs = [s for p in pts.values() for s, _ in p]
        ys = {init: [float(np.mean(v)) for _, v in p] for init, p in pts.items()}
        ax = Axes(j % cols * cell_w + 62, j // cols * cell_h + 50, cell_w - 80, cell_h - 90,
                  xlim=(min(xs, default=0), max(xs, default=1)),
                  ylim=_limits([v for y in ys.values() for v in y]), yscale="symlog",
                  linthresh=1e-8)
        for init, p in pts.items():
            if p:
                ax.line([s for s, _ in p], ys[init], colors[init], marker=True)
        ax.frame(title=layer, xlabel="step", font=10)
        body.append(ax.svg())
    legend = [(init, colors[init]) for init in norms]
    return figure(cols * cell_w, rows * cell_h + 20, "".join(body), legend)


def figures(runs: list[dict]) -> dict[str, str]:
    """Base64 SVGs: ``loss``, ``test_acc``, ``grad_norms`` (absent when there is no data)."""
    groups = _by_init(runs)
    if not groups:
        return {}
    out = {}
    longest = max((len(r.get("step_losses") or []) for r in runs), default=0)
    if longest:
        out["loss"] = _loss_figure(groups, max(1, longest // 100))
    if any(r["epochs"] for rs in groups.values() for r in rs):
        out["test_acc"] = _acc_figure(groups)
    norms = _grad_table(groups)
    if norms:
        out["grad_norms"] = _grad_figure(groups, norms)
    return {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in out.items()}


def _grad_table(groups) -> dict[str, dict[str, dict[int, list[float]]]]:
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for init, rs in groups.items():
        for r in rs:
            for g in r.get("grad_norms") or []:
                if g["value"] is not None:
                    out.setdefault(init, {}).setdefault(g["layer"], {}).setdefault(
                        g["step"], []).append(g["value"])
    return out
