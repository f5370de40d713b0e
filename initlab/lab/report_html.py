"""The self-contained HTML report of a sweep: summary, plots (embedded PNG), plans, configs.

Plots are drawn with matplotlib's Agg backend and embedded as base64 ``data:`` URIs, so
``report.html`` is one file with no external resource (it opens offline, and can be
mailed). Curves show the mean over seeds with a band of ± one standard deviation.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math

import numpy as np

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


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
    out: dict[str, list[dict]] = {}
    for r in runs:
        if r["status"] in ("done", "diverged"):
            out.setdefault(r["init"], []).append(r)
    return out


def figures(runs: list[dict]) -> dict[str, str]:
    """Base64 PNGs: ``loss``, ``test_acc``, ``grad_norms`` (absent when there is no data)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    groups = _by_init(runs)
    if not groups:
        return {}
    out = {}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    longest = max((len(r.get("step_losses") or []) for r in runs), default=0)
    if longest:
        window = max(1, longest // 100)
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for i, (init, rs) in enumerate(groups.items()):
            series = [_smooth(np.asarray(r.get("step_losses") or [], float), window) for r in rs]
            mean, std = _band(series)
            x = np.arange(len(mean)) + window
            c = colors[i % len(colors)]
            ax.plot(x, mean, color=c, label=f"{init} (n={len(rs)})", lw=1.3)
            ax.fill_between(x, mean - std, mean + std, color=c, alpha=0.2, lw=0)
        ax.set(xlabel="step", ylabel=f"train loss (moving average of {window})",
               title="Training loss, mean ± std over seeds")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        out["loss"] = _png(fig)
    if any(r["epochs"] for rs in groups.values() for r in rs):
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for i, (init, rs) in enumerate(groups.items()):
            mean, std = _band([[e.get("test_acc") if e.get("test_acc") is not None
                                else math.nan for e in r["epochs"]] for r in rs])
            if not len(mean):
                continue
            x = np.arange(1, len(mean) + 1)
            c = colors[i % len(colors)]
            ax.errorbar(x, 100 * mean, yerr=100 * std, color=c, marker="o", capsize=3,
                        label=init, lw=1.3)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel="test accuracy (%)",
               title="Test accuracy per epoch, mean ± std over seeds")
        ax.legend(fontsize=8)
        out["test_acc"] = _png(fig)
    norms = _grad_table(groups)
    if norms:
        layers = sorted({layer for d in norms.values() for layer in d})
        cols = min(3, len(layers))
        rows = math.ceil(len(layers) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        for j, layer in enumerate(layers):
            ax = axes[j // cols][j % cols]
            for i, (init, per_layer) in enumerate(norms.items()):
                pts = sorted(per_layer.get(layer, {}).items())
                if pts:
                    ys = [float(np.mean(v)) for _, v in pts]
                    ax.plot([s for s, _ in pts], ys, marker=".", color=colors[i % len(colors)],
                            label=init)
            ax.set_title(layer, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.set_yscale("symlog", linthresh=1e-8)
        for j in range(len(layers), rows * cols):
            axes[j // cols][j % cols].axis("off")
        axes[0][0].legend(fontsize=7)
        fig.suptitle("Gradient norm per layer, first steps (mean over seeds)")
        fig.tight_layout()
        out["grad_norms"] = _png(fig)
    return out


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
    head = ("<tr><th class=l>init</th><th>seeds</th><th>test acc % (mean ± std)</th>"
            "<th>final train loss</th><th>steps to target</th><th>diverged</th>"
            "<th>failed</th><th>pending</th></tr>")
    body = []
    for s in summary:
        acc = _num(s["test_acc_mean"], pct=True) + (
            f" ± {_num(s['test_acc_std'], pct=True)}" if s["test_acc_std"] is not None else "")
        loss = _num(s["train_loss_mean"]) + (
            f" ± {_num(s['train_loss_std'])}" if s["train_loss_std"] is not None else "")
        stt = "-" if s["steps_to_target_mean"] is None else \
            f"{s['steps_to_target_mean']:.0f} ({s['reached']}/{s['seeds']})"
        bad = ' class="bad"' if s["diverged"] or s["failed"] else ""
        body.append(f"<tr><td class=l>{html.escape(s['init'])}</td><td>{s['seeds']}</td>"
                    f"<td>{acc}</td><td>{loss}</td><td>{stt}</td><td{bad}>{s['diverged']}</td>"
                    f"<td{bad}>{s['failed']}</td><td>{s['pending']}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _plan_html(plan: dict | None) -> str:
    if not plan:
        return "<p>no plan recorded</p>"
    cols = ("name", "shape", "init", "fan_in", "fan_out", "gain", "std", "reason")
    head = "".join(f"<th class=l>{c}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(
        f"<td class=l>{html.escape(str(r.get(c) if r.get(c) is not None else '-'))}</td>"
        for c in cols) + "</tr>" for r in plan.get("rows", []))
    return f"<table><tr>{head}</tr>{rows}</table>"


def render_html(summary: list[dict], runs: list[dict], title: str = "initlab sweep") -> str:
    """The whole page as one string."""
    figs = figures(runs)
    captions = {"loss": "Training loss per step", "test_acc": "Test accuracy per epoch",
                "grad_norms": "Early gradient norms per layer"}
    imgs = "".join(f"<h3>{captions[k]}</h3><img alt=\"{k}\" src=\"data:image/png;base64,{v}\">"
                   for k, v in figs.items())
    first = {}
    for r in runs:
        first.setdefault(r["init"], r)
    plans = "".join(
        f"<details><summary>{html.escape(init)} (seed {r['seed']})</summary>"
        f"{_plan_html(r.get('plan'))}</details>" for init, r in first.items())
    config = next((r["config"] for r in runs if r.get("config")), {})
    config = {k: v for k, v in config.items() if k not in ("init", "seed")}
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
<p>{len(runs)} runs; figures are the last evaluation of each finished run, mean ± sample std
over seeds.</p>
<h2>Summary</h2>{_summary_html(summary)}
<h2>Plots</h2>{imgs or "<p>no finished runs yet</p>"}
<h2>Diverged and failed runs</h2>{prob_html}
<h2>Plans (how each init was applied)</h2>{plans}
<h2>Configuration</h2><pre>{html.escape(json.dumps(config, indent=1))}</pre>
<h2>Environment</h2><pre>{html.escape(json.dumps(env, indent=1))}</pre>
</body></html>
"""
