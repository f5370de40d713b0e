"""Rendering of reports: signal-propagation plot, self-contained HTML, rich terminal table.

Kept apart from the statistics: nothing here computes anything but layout. matplotlib
runs on its Agg backend (no display needed); the HTML embeds the plot as a base64 PNG.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

from initlab.diagnosis.report import summary
from initlab.diagnosis.verdicts import signal_path

__all__ = ["plot_reports", "html_page", "rich_report", "rich_summary", "COLUMNS"]

# (row key, header, format) of the layer table, terminal and HTML alike
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("depth", "#", "{}"),
    ("layer", "layer", "{}"),
    ("type", "type", "{}"),
    ("shape", "shape", "{}"),
    ("std", "out std", "{:.3g}"),
    ("pre_std", "pre-act std", "{:.3g}"),
    ("dead_frac", "dead", "{:.1%}"),
    ("saturated_frac", "saturated", "{:.1%}"),
    ("dup_units_frac", "dup units", "{:.1%}"),
    ("grad_norm", "grad norm", "{:.3g}"),
    ("weight.std", "w std", "{:.3g}"),
    ("weight.expected_std", "w expected", "{:.3g}"),
    ("weight.grad_ratio", "grad/w rms", "{:.3g}"),
    ("weight.stuck_rows_frac", "stuck rows", "{:.1%}"),
)
# the terminal is narrow: the columns that tell most
_TERMINAL = ("depth", "layer", "type", "std", "dead_frac", "saturated_frac", "grad_norm",
             "weight.std", "weight.expected_std", "weight.stuck_rows_frac")
_SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("healthy", "healthy", "{}"),
    ("verdicts", "verdicts", "{}"),
    ("std_last_over_first", "std last/first", "{:.3g}"),
    ("grad_first_over_last", "grad first/last", "{:.3g}"),
    ("max_dead_frac", "max dead", "{:.1%}"),
    ("max_saturated_frac", "max saturated", "{:.1%}"),
    ("spectrum_frac_in_0.5_2", "sv in (0.5,2)", "{:.1%}"),
)


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _present(rows: list[dict], columns) -> list[tuple[str, str, str]]:
    return [c for c in columns if any(c[0] in r for r in rows)]


# ----------------------------------------------------------------------------- plot
def plot_reports(reports: dict, path: str | Path | None = None):
    """Activation std and gradient norm vs depth, one line per report; saved to ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, stat, title in ((axes[0], "std", "activation std"),
                            (axes[1], "grad_norm", "output-gradient norm")):
        for label, report in reports.items():
            pts = [(r["depth"], r[stat]) for r in signal_path(report.layers)
                   if isinstance(r.get(stat), float) and math.isfinite(r[stat]) and r[stat] > 0]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", markersize=3, label=str(label))
        ax.set_yscale("log")
        ax.set_xlabel("depth (execution order)")
        ax.set_title(f"{title} vs depth")
        ax.grid(True, which="both", alpha=0.3)
        if reports:
            ax.legend(fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def _png_base64(reports: dict) -> str:
    buf = io.BytesIO()
    plot_reports(reports).savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ----------------------------------------------------------------------------- HTML
def _html_table(rows: list[dict], columns) -> str:
    cols = _present(rows, columns)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k), f))}</td>" for k, _, f in cols)
        + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_verdicts(label: str, report) -> str:
    if report.healthy:
        return f"<p class='ok'>{html.escape(label)}: healthy (no verdict fired)</p>"
    items = "".join(
        f"<li><b>{html.escape(v.name)}</b> ({html.escape(', '.join(v.layers))}): "
        f"{html.escape(v.message)}<br><i>{html.escape(v.suggestion)}</i></li>"
        for v in report.verdicts
    )
    return f"<p class='bad'>{html.escape(label)}:</p><ul>{items}</ul>"


def _headline(report) -> str:
    """The loss used and, for a classifier or LM, loss / ln C and the logit std."""
    meta = report.meta
    text = f"loss: {meta.get('loss', '?')}"
    value, classes = meta.get("loss_value"), meta.get("num_classes")
    if isinstance(value, float) and math.isfinite(value):
        text += f" = {value:.4g}"
        if classes and classes >= 2:
            text += f" ({value / math.log(classes):.3g} x ln C, C={classes})"
    std = meta.get("logit_std")
    if isinstance(std, float) and math.isfinite(std):
        text += f"; output logit std {std:.3g}"
    return text


def _html_notes(report) -> str:
    lines = [_headline(report), *(f"note: {n}" for n in report.notes)]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
          "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
          ".ok{color:#070}.bad{color:#a00;font-weight:bold}img{max-width:100%}")


def html_page(reports: dict, title: str = "initlab diagnose") -> str:
    """One self-contained page: verdicts, plot (embedded PNG), summary and layer tables."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             "<h2>Verdicts</h2>"]
    parts += [_html_verdicts(str(label), r) + _html_notes(r) for label, r in reports.items()]
    parts.append(f"<h2>Signal propagation</h2><img alt='signal propagation plot' "
                 f"src='data:image/png;base64,{_png_base64(reports)}'>")
    rows = [{"run": str(label), **summary(r)} for label, r in reports.items()]
    parts.append("<h2>Summary</h2>" + _html_table(rows, (("run", "run", "{}"),) + _SUMMARY_COLUMNS))
    for label, report in reports.items():
        parts.append(f"<h2>Layers: {html.escape(str(label))}</h2>")
        parts.append(_html_table(report.layers, COLUMNS))
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- rich
def _rich_table(rows: list[dict], columns, title: str):
    from rich.table import Table

    cols = _present(rows, columns)
    table = Table(title=title, show_lines=False)
    for _, header, _ in cols:
        table.add_column(header, justify="right" if header not in ("layer", "type", "run") else "left")
    for r in rows:
        table.add_row(*[_fmt(r.get(k), f) for k, _, f in cols])
    return table


def _rich_verdicts(report):
    from rich.text import Text

    if report.healthy:
        return Text("healthy: no verdict fired", style="bold green")
    text = Text()
    for v in report.verdicts:
        text.append(f"{v.name}", style="bold red")
        text.append(f" [{', '.join(v.layers)}] {v.message}\n  -> {v.suggestion}\n")
    return text


def rich_report(report):
    """A renderable: the layer table, the spectrum line, the verdicts."""
    from rich.console import Group
    from rich.text import Text

    columns = tuple(c for c in COLUMNS if c[0] in _TERMINAL)
    parts = [_rich_table(report.layers, columns, f"diagnose: {report.meta.get('model', '')}")]
    if report.spectrum:
        s = report.spectrum
        parts.append(Text(f"Jacobian spectrum ({s['method']}, {s['samples']} samples): "
                          f"{s['frac_in_0.5_2']:.1%} of singular values in (0.5, 2), "
                          f"max {s['max']:.3g}"))
    parts.append(Text(_headline(report)))
    parts += [Text(f"note: {n}", style="yellow") for n in report.notes]
    parts.append(_rich_verdicts(report))
    return Group(*parts)


def rich_summary(reports: dict):
    """A renderable: one summary row per report, then each report's verdicts."""
    from rich.console import Group
    from rich.text import Text

    rows = [{"run": str(label), **summary(r)} for label, r in reports.items()]
    parts = [_rich_table(rows, (("run", "run", "{}"),) + _SUMMARY_COLUMNS, "diagnose: compare")]
    for label, r in reports.items():
        parts += [Text(f"{label}:", style="bold"), _rich_verdicts(r)]
    return Group(*parts)
