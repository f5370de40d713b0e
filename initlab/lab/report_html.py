"""The self-contained HTML report of a sweep: summary, plots (embedded PNG), plans, configs.

Plots are SVG charts (:mod:`initlab.lab.report_svg`, a few milliseconds where matplotlib
took about a second) embedded as base64 ``data:image/svg+xml`` URIs in ``<img>`` tags, so
``report.html`` is one file with no external resource (it opens offline, and can be
mailed). Curves show the mean over seeds with a band of ± one standard deviation.
"""

from __future__ import annotations

import base64
import html
import json
import math

import numpy as np

from initlab.lab.report_svg import PALETTE, Axes, figure

__all__ = ["render_html", "figures"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:12px}
.bad{color:#b00020;font-weight:bold}details{margin:.4em 0}
"""


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


def _num(v, pct=False, digits=4) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if pct else f"{v:.{digits}g}"


def _summary_html(summary: list[dict]) -> str:
    grouped = any(s.get("group") for s in summary)
    head = ("<tr>" + ("<th class=l>group</th>" if grouped else "") +
            "<th class=l>init</th><th>n</th><th>test acc % (mean ± std)</th><th>95% CI</th>"
            "<th>final train loss</th><th>steps to target</th><th>diverged</th>"
            "<th>failed</th><th>pending</th></tr>")
    body = []
    for s in summary:
        acc = _num(s["test_acc_mean"], pct=True) + (
            f" ± {_num(s['test_acc_std'], pct=True)}" if s["test_acc_std"] is not None else "")
        ci = s.get("test_acc_ci95")
        ci = f"[{_num(ci[0], pct=True)}, {_num(ci[1], pct=True)}]" if ci else "-"
        loss = _num(s["train_loss_mean"]) + (
            f" ± {_num(s['train_loss_std'])}" if s["train_loss_std"] is not None else "")
        stt = "-" if s["steps_to_target_mean"] is None else \
            f"{s['steps_to_target_mean']:.0f} ({s['reached']}/{s['seeds']})"
        bad = ' class="bad"' if s["diverged"] or s["failed"] else ""
        group = f"<td class=l>{html.escape(s.get('group') or '-')}</td>" if grouped else ""
        body.append(f"<tr>{group}<td class=l>{html.escape(s['init'])}</td>"
                    f"<td>{s.get('n', s['seeds'])}</td><td>{acc}</td><td>{ci}</td>"
                    f"<td>{loss}</td><td>{stt}</td><td{bad}>{s['diverged']}</td>"
                    f"<td{bad}>{s['failed']}</td><td>{s['pending']}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _groups_html(groups: list[dict] | None) -> str:
    if not groups:
        return ""
    items = "".join(f"<li>{html.escape((g['group'] + ': ') if g['group'] else '')}"
                    f"{html.escape(g['verdict'])}</li>" for g in groups)
    return f"<h2>Verdict (paired t-tests over seeds, Holm-corrected)</h2><ul>{items}</ul>"


def _config(runs: list[dict]) -> dict:
    """The config all runs share (the group tables show the fields that differ)."""
    from initlab.lab.grouping import flatten

    flats = [{k: v for k, v in flatten(r.get("config") or {}).items()
              if k.split(".")[0] not in ("init", "seed")} for r in runs]
    if not flats:
        return {}
    shared = dict(flats[0])
    for f in flats[1:]:
        shared = {k: v for k, v in shared.items() if k in f and f[k] == v}
    return shared


def heatmap_html(summary: list[dict], groups: list[dict] | None) -> str:
    """Two swept settings: one table per init, rows x columns = the two settings' values,
    cells = mean final test accuracy, shaded from the worst (white) to the best (green)."""
    keys = sorted({k for g in groups or [] for k in g["config"]})
    if len(keys) != 2:
        return ""
    rows_k, cols_k = keys
    rv = list(dict.fromkeys(json.dumps(g["config"].get(rows_k)) for g in groups))
    cv = list(dict.fromkeys(json.dumps(g["config"].get(cols_k)) for g in groups))
    where = {g["group"]: (json.dumps(g["config"].get(rows_k)), json.dumps(g["config"].get(cols_k)))
             for g in groups}
    accs = [s["test_acc_mean"] for s in summary if s["test_acc_mean"] is not None]
    lo, hi = (min(accs), max(accs)) if accs else (0.0, 1.0)
    name = {k: k.removeprefix("train.").replace("model_kwargs.", "model.") for k in keys}
    out = [f"<h2>Mean test accuracy (%) over {html.escape(name[rows_k])} x "
           f"{html.escape(name[cols_k])}</h2>"]
    for init in dict.fromkeys(s["init"] for s in summary):
        cell = {where[s["group"]]: s["test_acc_mean"] for s in summary
                if s["init"] == init and s["group"] in where}
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cv)
        body = []
        for r in rv:
            tds = []
            for c in cv:
                v = cell.get((r, c))
                shade = 0.0 if v is None or hi == lo else (v - lo) / (hi - lo)
                tds.append(f'<td style="background:rgba(46,160,67,{0.15 + 0.6 * shade:.2f})">'
                           f"{_num(v, pct=True)}</td>")
            body.append(f"<tr><th class=l>{html.escape(r)}</th>{''.join(tds)}</tr>")
        out.append(f"<h3>{html.escape(init)}</h3><table><tr><th class=l>"
                   f"{html.escape(name[rows_k])} \\ {html.escape(name[cols_k])}</th>{head}"
                   f"</tr>{''.join(body)}</table>")
    return "".join(out)


def _plan_html(plan: dict | None) -> str:
    if not plan:
        return "<p>no plan recorded</p>"
    cols = ("name", "shape", "init", "fan_in", "fan_out", "gain", "std", "reason")
    head = "".join(f"<th class=l>{c}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(
        f"<td class=l>{html.escape(str(r.get(c) if r.get(c) is not None else '-'))}</td>"
        for c in cols) + "</tr>" for r in plan.get("rows", []))
    return f"<table><tr>{head}</tr>{rows}</table>"


def render_html(summary: list[dict], runs: list[dict], title: str = "initlab sweep",
                groups: list[dict] | None = None) -> str:
    """The whole page as one string (``groups``: the verdict per experiment)."""
    figs = figures(runs)
    axis = axis_figure(summary, groups or [])
    if axis is not None:
        figs["axis"] = base64.b64encode(axis.encode("utf-8")).decode("ascii")
    captions = {"loss": "Training loss per step", "test_acc": "Test accuracy per epoch",
                "grad_norms": "Early gradient norms per layer",
                "axis": "Final test accuracy against the swept setting"}
    imgs = "".join(f'<h3>{captions[k]}</h3><img alt="{k}" src="data:image/svg+xml;base64,{v}">'
                   for k, v in figs.items())
    first = {}
    for r in runs:
        first.setdefault(r["init"], r)
    plans = "".join(
        f"<details><summary>{html.escape(init)} (seed {r['seed']})</summary>"
        f"{_plan_html(r.get('plan'))}</details>" for init, r in first.items())
    config = _config(runs)
    varying = [g for g in groups or [] if g["config"]]
    if varying:
        config = {"shared": config, "groups": {g["group"]: g["config"] for g in varying}}
    env = next((r["environment"] for r in runs if r.get("environment")), {})
    problems = [r for r in runs if r["status"] in ("diverged", "failed")]
    prob_html = "".join(
        f"<tr><td class=l>{html.escape(r['init'])}</td><td>{r['seed']}</td>"
        f"<td class=l>{r['status']}</td><td>{r['diverged_at'] or '-'}</td>"
        f"<td class=l>{html.escape((r.get('error') or '')[:300])}</td></tr>" for r in problems)
    prob_html = (f"<table><tr><th class=l>init</th><th>seed</th><th class=l>status</th>"
                 f"<th>diverged at step</th><th class=l>error</th></tr>{prob_html}</table>"
                 if problems else "<p>none</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="icon" href="data:,"><style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(runs)} runs; figures are the last evaluation of each run, mean ± sample std over
seeds with a 95% Student-t CI; a diverged seed counts as accuracy 0; runs with different
configs are separate groups, never pooled.</p>
<h2>Summary</h2>{_summary_html(summary)}{_groups_html(groups)}{heatmap_html(summary, groups)}
<h2>Plots</h2>{imgs or "<p>no finished runs yet</p>"}
<h2>Diverged and failed runs</h2>{prob_html}
<h2>Plans (how each init was applied)</h2>{plans}
<h2>Configuration</h2><pre>{html.escape(json.dumps(config, indent=1))}</pre>
<h2>Environment</h2><pre>{html.escape(json.dumps(env, indent=1))}</pre>
</body></html>
"""
