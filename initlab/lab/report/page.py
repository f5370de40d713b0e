"""The self-contained HTML report of a sweep: summary, verdicts, plots, plans, configs.

The charts come from :mod:`initlab.lab.report.figures` as SVG, embedded as base64
``data:image/svg+xml`` URIs in ``<img>`` tags, so ``report.html`` is one file with no
external resource (it opens offline, and can be mailed).
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from initlab.lab.report.figures import axis_figures, figures, heatmap_figure

__all__ = ["render_html", "heatmap_html"]

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



def _num(v: float | None, pct: bool = False, digits: int = 4) -> str:
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


def heatmap_html(summary: list[dict[str, Any]], groups: list[dict[str, Any]] | None) -> str:
    """Two swept settings: a heatmap per init (:func:`~initlab.lab.report.figures.heatmap_figure`),
    rows x columns = the two settings' values, cells = mean final test accuracy (%)."""
    svg = heatmap_figure(summary, groups)
    if svg is None or not groups:
        return ""
    rows_k, cols_k = sorted({k for g in groups for k in g["config"]})
    name = {k: k.removeprefix("train.").replace("model_kwargs.", "model.") for k in (rows_k, cols_k)}
    title = f"{name[rows_k]} x {name[cols_k]}"
    return (f"<h2>Mean test accuracy (%) over {html.escape(title)}</h2>"
            f'<img alt="heatmap {html.escape(title)}" src="data:image/svg+xml;base64,'
            f'{_b64(svg)}">')


def _plan_html(plan: dict | None) -> str:
    if not plan:
        return "<p>no plan recorded</p>"
    cols = ("name", "shape", "init", "fan_in", "fan_out", "gain", "std", "reason")
    head = "".join(f"<th class=l>{c}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(
        f"<td class=l>{html.escape(str(r.get(c) if r.get(c) is not None else '-'))}</td>"
        for c in cols) + "</tr>" for r in plan.get("rows", []))
    return f"<table><tr>{head}</tr>{rows}</table>"


_CAPTIONS = {"loss": "Training loss per step", "test_acc": "Test accuracy per epoch",
             "test_acc_zoom": "Test accuracy of the contenders (collapsed runs apart)",
             "train_acc": "Train accuracy per epoch", "test_loss": "Test loss per epoch",
             "grad_norms": "Early gradient norms per layer"}


def _b64(svg: str) -> str:
    return base64.b64encode(svg.encode("utf-8")).decode("ascii")


def coord_check_html(result: Any) -> str:
    """The coordinate-check panel: its chart and its verdict (problems, one per line)."""
    from initlab.diagnosis.render import coord_check_chart

    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    problems = d.get("problems") or []
    verdict = ("<p>healthy: no activation or update scale drifts with width</p>"
               if d.get("healthy") else "<ul>" + "".join(
                   f"<li class=bad>{html.escape(p)}</li>" for p in problems) + "</ul>")
    return (f"<h2>Coordinate check ({html.escape(str(d.get('parametrization', '?')))})</h2>"
            f'<img alt="coord_check" src="data:image/svg+xml;base64,'
            f'{_b64(coord_check_chart(d).svg())}">{verdict}')


def render_html(summary: list[dict[str, Any]], runs: list[dict[str, Any]],
                title: str = "initlab sweep", groups: list[dict[str, Any]] | None = None, *,
                coord_check: Any = None) -> str:
    """The whole page as one string.

    Args:
        summary: the summary rows (:func:`~initlab.lab.report.summary.summarize`).
        runs: the runs with their curves (:func:`~initlab.lab.report.summary.collect`).
        title: the page title.
        groups: the verdict per experiment (:func:`~initlab.lab.report.summary.compare_rows`).
        coord_check: a coordinate-check result (or its ``to_dict()``) to show as a panel.

    Returns:
        The HTML document.
    """
    figs = figures(runs)
    imgs = "".join(f'<h3>{_CAPTIONS[k]}</h3><img alt="{k}" src="data:image/svg+xml;base64,{v}">'
                   for k, v in figs.items())
    for key, svg in axis_figures(summary, groups or []).items():
        name = key.removeprefix("train.").replace("model_kwargs.", "model.")
        imgs += (f"<h3>Final test accuracy against {html.escape(name)}</h3>"
                 f'<img alt="axis {html.escape(name)}" src="data:image/svg+xml;base64,'
                 f'{_b64(svg)}">')
    cc_html = coord_check_html(coord_check) if coord_check is not None else ""
    first: dict[str, dict[str, Any]] = {}
    for r in runs:
        first.setdefault(r["init"], r)
    plans = "".join(
        f"<details><summary>{html.escape(init)} (seed {r['seed']})</summary>"
        f"{_plan_html(r.get('plan'))}</details>" for init, r in first.items())
    config = _config(runs)
    varying = [g for g in groups or [] if g["config"]]
    if varying:
        config = {"shared": config, "groups": {g["group"]: g["config"] for g in varying}}
    env: dict[str, Any] = next((r["environment"] for r in runs if r.get("environment")), {})
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
<h2>Plots</h2>{imgs or "<p>no finished runs yet</p>"}{cc_html}
<h2>Diverged and failed runs</h2>{prob_html}
<h2>Plans (how each init was applied)</h2>{plans}
<h2>Configuration</h2><pre>{html.escape(json.dumps(config, indent=1))}</pre>
<h2>Environment</h2><pre>{html.escape(json.dumps(env, indent=1))}</pre>
</body></html>
"""
