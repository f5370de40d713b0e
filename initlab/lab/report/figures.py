"""The charts of a sweep's report, as SVG documents (drawn with :mod:`initlab.diagnosis.plot`).

Plots are SVG charts (a few milliseconds where matplotlib took about a second) embedded
as base64 ``data:image/svg+xml`` URIs in ``<img>`` tags, so ``report.html`` is one file
with no external resource. Curves show the mean over seeds with a band of ± one std.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from initlab.diagnosis.plot import PALETTE, Axes, figure

__all__ = ["figures", "axis_figure", "heatmap_figure"]


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    return np.convolve(y, kernel, mode="valid")


def _band(series: Sequence[Sequence[float] | np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
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


def _limits(values: Iterable[Any]) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return (min(vals), max(vals)) if vals else (0.0, 1.0)


def _thin(n: int, most: int = 800) -> np.ndarray:
    """At most ``most`` evenly spaced indices of ``n`` (the last one always kept)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def _loss_figure(groups: dict[str, list[dict[str, Any]]], window: int) -> str:
    lines: list[tuple[str, int, str, np.ndarray, np.ndarray, np.ndarray]] = []
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


def _final_mean(rs: list[dict[str, Any]], key: str = "test_acc") -> float:
    vals = [r["epochs"][-1].get(key) for r in rs if r["epochs"]]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def collapsed(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The curves that collapsed: far below the contenders in final test accuracy.

    Sorted by final mean accuracy, the curves are split at the largest gap when it is over
    10 points and over three times the spread of the curves above it; the ones below are
    collapsed (``zeros`` at 10% under contenders at 85%). Empty when nothing stands apart.
    """
    means = {k: _final_mean(rs) for k, rs in groups.items()}
    ranked = sorted((m, k) for k, m in means.items() if math.isfinite(m))
    best_gap, cut = 0.0, None
    for i in range(1, len(ranked)):
        gap = ranked[i][0] - ranked[i - 1][0]
        spread = ranked[-1][0] - ranked[i][0]
        if gap > 0.10 and gap > 3 * spread and gap > best_gap:
            best_gap, cut = gap, i
    return [k for _, k in ranked[:cut]] if cut else []


def _epoch_figure(groups: dict[str, list[dict[str, Any]]], key: str, *, title: str,
                  ylabel: str, pct: bool, only: list[str] | None = None,
                  note: str = "") -> str | None:
    """A per-epoch metric: each seed thin, the mean with ± std bars (inside [0, 100] for
    percentages), one colour per curve (colours stay those of the full legend)."""
    lines: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]] = []
    k = 100.0 if pct else 1.0
    for i, (init, rs) in enumerate(groups.items()):
        if only is not None and init not in only:
            continue
        per_seed = [[e.get(key) if e.get(key) is not None else math.nan for e in r["epochs"]]
                    for r in rs]
        if not any(math.isfinite(v) for p in per_seed for v in p):
            continue
        mean, std = _band(per_seed)
        if len(mean):
            m = k * mean
            err = np.minimum(k * std, np.minimum(m, 100 - m)) if pct else k * std
            lines.append((init, PALETTE[i % len(PALETTE)], np.arange(1, len(mean) + 1), m, err,
                          [k * np.asarray(p, float) for p in per_seed if len(p) > 1]))
    if not lines:
        return None
    n = max((len(x) for _, _, x, *_ in lines), default=1)
    vals = [v for _, _, _, m, s, seeds in lines for v in np.concatenate([m - s, m + s, *seeds])]
    lo, hi = _limits(vals)
    if pct:
        lo, hi = max(lo, 0.0), min(hi, 100.0)
    scale = "linear"
    pos = [v for v in vals if math.isfinite(v) and v > 0]
    if not pct and pos and lo > 0 and hi / lo > 50:
        scale = "log"  # a diverged run's loss: log scale, readable ticks
    ax = Axes(70, 30, 640, 300, xlim=(0.8, n + 0.2), ylim=(lo, hi), yscale=scale)
    for _, c, x, m, s, seeds in lines:
        for p in seeds:  # each seed, thin, under its mean
            ax.line(np.arange(1, len(p) + 1), p, c, width=0.6, alpha=0.6)
        ax.errorbar(x, m, s, c, clip=(0.0, 100.0) if pct else None)
    ax.frame(title=title, xlabel="epoch", ylabel=ylabel, integer_x=True)
    legend = [(name, c) for name, c, *_ in lines]
    if note:
        legend.append((note, "#ffffff"))
    return figure(720, 375, [ax], legend)


def _axis_name(key: str) -> str:
    return key.removeprefix("train.").replace("model_kwargs.", "model.")


def axis_figures(summary: list[dict[str, Any]], groups: list[dict[str, Any]]) -> dict[str, str]:
    """Final test accuracy against each swept setting, one line per init: ``{key: svg}``.

    With several axes a point is the mean over the other axes' values (the heatmap in the
    page shows two axes crossed). Numbers spanning 10x or more (a learning rate) get a log
    axis at their values; other settings are evenly spaced, labelled with their values.
    """
    keys = sorted({k for g in groups for k in g["config"]})
    if not keys or len(groups) < 2:
        return {}
    inits = list(dict.fromkeys(s["init"] for s in summary))
    where = {g["group"]: g["config"] for g in groups}
    out = {}
    for key in keys:
        values = list(dict.fromkeys(json.dumps(g["config"].get(key)) for g in groups))
        raw = [json.loads(v) for v in values]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        logx = numeric and min(raw) > 0 and max(raw) / min(raw) >= 10
        if numeric:
            order = sorted(range(len(raw)), key=lambda i: raw[i])
            values, raw = [values[i] for i in order], [raw[i] for i in order]
        xs = [float(v) for v in raw] if numeric else [float(i + 1) for i in range(len(raw))]
        ys: dict[str, list[float]] = {}
        for init in inits:
            ys[init] = []
            for v in values:
                accs = [100 * s["test_acc_mean"] for s in summary
                        if s["init"] == init and s["test_acc_mean"] is not None
                        and json.dumps(where.get(s["group"], {}).get(key)) == v]
                ys[init].append(float(np.mean(accs)) if accs else math.nan)
        lo, hi = _limits([y for v in ys.values() for y in v])
        xlim = (min(xs), max(xs))
        if not logx:
            pad = 0.2 if not numeric else 0.05 * (xlim[1] - xlim[0] or 1)
            xlim = (xlim[0] - pad, xlim[1] + pad)
        else:
            xlim = (xlim[0] / 1.3, xlim[1] * 1.3)
        ax = Axes(70, 30, 640, 300, xlim=xlim, ylim=(max(lo, 0.0), min(hi, 100.0)),
                  xscale="log" if logx else "linear")
        legend = []
        for i, init in enumerate(inits):
            c = PALETTE[i % len(PALETTE)]
            ax.line(xs, ys[init], c, marker=True)
            legend.append((init, c))
        ticks = None if numeric and logx is False and len(xs) > 8 else \
            [(x, v if len(v) <= 14 else v[:13] + "…") for x, v in zip(xs, values, strict=True)]
        name = _axis_name(key)
        over = " (mean over the other axes)" if len(keys) > 1 else ""
        ax.frame(title=f"Final test accuracy against {name}{over}", xlabel=name,
                 ylabel="test accuracy (%)", xticks=ticks)
        out[key] = figure(720, 375, [ax], legend)
    return out


def _short(label: str) -> str:
    return label if len(label) <= 10 else label[:9] + "…"


def heatmap_figure(summary: list[dict[str, Any]], groups: list[dict[str, Any]] | None
                   ) -> str | None:
    """Two swept settings: one heatmap per init (rows x columns = the two settings' values),
    each cell the mean final test accuracy (%) written in it and shaded from the worst
    (light) to the best (green) over all inits; an SVG document, None unless exactly two
    settings were swept."""
    keys = sorted({k for g in groups or [] for k in g["config"]})
    if len(keys) != 2 or not groups:
        return None
    rows_k, cols_k = keys
    rv = list(dict.fromkeys(json.dumps(g["config"].get(rows_k)) for g in groups))
    cv = list(dict.fromkeys(json.dumps(g["config"].get(cols_k)) for g in groups))
    where = {g["group"]: (json.dumps(g["config"].get(rows_k)), json.dumps(g["config"].get(cols_k)))
             for g in groups}
    accs = [s["test_acc_mean"] for s in summary if s["test_acc_mean"] is not None]
    lo, hi = (min(accs), max(accs)) if accs else (0.0, 1.0)
    inits = list(dict.fromkeys(s["init"] for s in summary))
    cell_w, cell_h = 64, 34
    pw, ph = max(200, cell_w * len(cv)), cell_h * len(rv)
    per_row = max(1, min(len(inits), 960 // (pw + 110)))
    panel_w, panel_h = pw + 110, ph + 80
    axes = []
    for n, init in enumerate(inits):
        cell = {where[s["group"]]: s["test_acc_mean"] for s in summary
                if s["init"] == init and s["group"] in where}
        ax = Axes(n % per_row * panel_w + 90, n // per_row * panel_h + 30, pw, ph,
                  xlim=(0.5, len(cv) + 0.5), ylim=(0.5, len(rv) + 0.5))
        for i, r in enumerate(rv):
            y = len(rv) - i  # the first row on top
            for j, c in enumerate(cv):
                v = cell.get((r, c))
                shade = 0.0 if v is None or hi == lo else (v - lo) / (hi - lo)
                ax.rect(j + 0.5, y - 0.5, j + 1.5, y + 0.5, "#2ea043",
                        alpha=0.12 + 0.6 * shade if v is not None else 0.0)
                ax.text(j + 1, y, "-" if v is None else f"{100 * v:.1f}", size=11)
        ax.frame(title=init, xlabel=_axis_name(cols_k), ylabel=_axis_name(rows_k), font=10,
                 xticks=[(j + 1, _short(c)) for j, c in enumerate(cv)],
                 yticks=[(len(rv) - i, _short(r)) for i, r in enumerate(rv)])
        axes.append(ax)
    rows = math.ceil(len(inits) / per_row)
    return figure(per_row * panel_w + 10, rows * panel_h, axes)


def axis_figure(summary: list[dict[str, Any]], groups: list[dict[str, Any]]) -> str | None:
    """The first of :func:`axis_figures` (None when no setting was swept)."""
    return next(iter(axis_figures(summary, groups).values()), None)


def _grad_figure(groups: dict[str, list[dict[str, Any]]],
                 norms: dict[str, dict[str, dict[int, list[float]]]]) -> str:
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
        ax.frame(title=layer, xlabel="step", font=10,
                 ylabel="grad norm" if j % cols == 0 else "")
        body.append(ax.svg())
    legend = [(init, colors[init]) for init in norms]
    return figure(cols * cell_w, rows * cell_h + 20, "".join(body), legend)


def figures(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Base64 SVGs of the sweep's curves (a key is absent when there is no data for it).

    ``loss`` (train loss per step), ``test_acc`` (per epoch, each seed and the mean),
    ``test_acc_zoom`` (only the contenders, when some runs collapsed: see
    :func:`collapsed`), ``train_acc``, ``test_loss``, ``grad_norms`` (first steps).
    """
    groups = _by_init(runs)
    if not groups:
        return {}
    out: dict[str, str | None] = {}
    longest = max((len(r.get("step_losses") or []) for r in runs), default=0)
    if longest:
        out["loss"] = _loss_figure(groups, max(1, longest // 100))
    if any(r["epochs"] for rs in groups.values() for r in rs):
        out["test_acc"] = _epoch_figure(
            groups, "test_acc", pct=True, ylabel="test accuracy (%)",
            title="Test accuracy per epoch: mean ± std (bars), each seed (thin)")
        down = collapsed(groups)
        if down:
            keep = [k for k in groups if k not in down]
            gone = ", ".join(f"{k} ({100 * _final_mean(groups[k]):.1f}%)" for k in down)
            out["test_acc_zoom"] = _epoch_figure(
                groups, "test_acc", pct=True, ylabel="test accuracy (%)", only=keep,
                title="Test accuracy, the contenders only (zoomed)",
                note=f"collapsed, not shown: {gone}")
        out["train_acc"] = _epoch_figure(
            groups, "train_acc", pct=True, ylabel="train accuracy (%)",
            title="Train accuracy per epoch: mean ± std (bars), each seed (thin)")
        out["test_loss"] = _epoch_figure(
            groups, "test_loss", pct=False, ylabel="test loss",
            title="Test loss per epoch: mean ± std (bars), each seed (thin)")
    norms = _grad_table(groups)
    if norms:
        out["grad_norms"] = _grad_figure(groups, norms)
    return {k: base64.b64encode(v.encode("utf-8")).decode("ascii")
            for k, v in out.items() if v is not None}


def _grad_table(groups: dict[str, list[dict[str, Any]]]
                ) -> dict[str, dict[str, dict[int, list[float]]]]:
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for init, rs in groups.items():
        for r in rs:
            for g in r.get("grad_norms") or []:
                if g["value"] is not None:
                    out.setdefault(init, {}).setdefault(g["layer"], {}).setdefault(
                        g["step"], []).append(g["value"])
    return out
