"""Rendering of reports: signal-propagation plot, self-contained HTML, rich terminal table.

Kept apart from the statistics: nothing here computes anything but layout, and it reads
reports without importing :mod:`initlab.diagnosis.report` (the data imports the rendering,
never the other way). Plots are :class:`~initlab.diagnosis.plot.Chart` objects, initlab's
one plotting path; the HTML embeds them as base64 SVG.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from initlab.diagnosis.plot import PALETTE, Axes, Chart, chart
from initlab.diagnosis.summary import summary

if TYPE_CHECKING:
    from initlab.diagnosis.report import DiagnosisReport

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


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _present(rows: Sequence[Mapping[str, Any]],
             columns: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [c for c in columns if any(c[0] in r for r in rows)]


# ----------------------------------------------------------------------------- plot
def _layer_order(reports: Mapping[str, DiagnosisReport]) -> list[str]:
    """Every layer with an output std, in execution order (the first report's order first)."""
    return list(dict.fromkeys(r["layer"] for rep in reports.values() for r in rep.layers
                              if _positive(r.get("std")) or _positive(r.get("grad_norm"))))


def _positive(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


def plot_reports(reports: Mapping[str, DiagnosisReport], path: str | Path | None = None) -> Chart:
    """Activation std and output-gradient norm per layer, one line per report (log scale).

    The x axis is the layers in execution order, named (every layer with a finite std, not
    only the activations: a two-activation CNN still shows its convolutions and linears).

    Args:
        reports: label -> report.
        path: also save it here (``.svg``; ``.png`` / ``.pdf`` via matplotlib).

    Returns:
        The :class:`~initlab.diagnosis.plot.Chart`.
    """
    layers = _layer_order(reports)
    pos = {name: i for i, name in enumerate(layers)}
    n = max(1, len(layers))
    longest = max((len(name) for name in layers), default=4)
    bottom = min(150, 30 + 6 * longest)  # room for slanted layer names
    cell_w = max(380, min(760, 60 + 16 * n))
    axes = []
    step = max(1, math.ceil(n / 40))  # at most ~40 names per panel: no overlap
    ticks = [(float(i), name) for i, name in enumerate(layers) if i % step == 0]
    for j, (stat, title, ylabel) in enumerate((
            ("std", "activation std per layer", "output std (log scale)"),
            ("grad_norm", "output-gradient norm per layer", "gradient norm (log scale)"))):
        vals = [r[stat] for rep in reports.values() for r in rep.layers if _positive(r.get(stat))]
        lo, hi = (min(vals), max(vals)) if vals else (0.1, 10.0)
        ax = Axes(j * (cell_w + 20) + 75, 40, cell_w - 90, 260, xlim=(-0.5, n - 0.5),
                  ylim=(lo / 1.5, hi * 1.5), yscale="log")
        for k, rep in enumerate(reports.values()):
            pts = sorted({pos[r["layer"]]: r[stat] for r in reversed(rep.layers)
                          if r["layer"] in pos and _positive(r.get(stat))}.items())
            ax.line([x for x, _ in pts], [y for _, y in pts], PALETTE[k % len(PALETTE)],
                    marker=True)
        ax.frame(title=title, ylabel=ylabel, xticks=ticks, rotate_x=True)
        axes.append(ax)
    width = 2 * cell_w + 20
    legend = [(str(label), PALETTE[k % len(PALETTE)]) for k, label in enumerate(reports)]
    out = chart(width, 40 + 260 + bottom, axes, legend,
                title="signal propagation at init (layers in execution order)")
    if path is not None:
        out.save(path)
    return out


def _svg_base64(reports: Mapping[str, DiagnosisReport]) -> str:
    return base64.b64encode(plot_reports(reports).svg().encode("utf-8")).decode("ascii")


# ----------------------------------------------------------------------------- HTML
def _html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    cols = _present(rows, columns)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k), f))}</td>" for k, _, f in cols)
        + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_verdicts(label: str, report: DiagnosisReport) -> str:
    if report.healthy:
        return f"<p class='ok'>{html.escape(label)}: healthy (no verdict fired)</p>"
    items = "".join(
        f"<li><b>{html.escape(v.name)}</b> ({html.escape(', '.join(v.layers))}): "
        f"{html.escape(v.message)}<br><i>{html.escape(v.suggestion)}</i></li>"
        for v in report.verdicts
    )
    return f"<p class='bad'>{html.escape(label)}:</p><ul>{items}</ul>"


def _headline(report: DiagnosisReport) -> str:
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


def _html_notes(report: DiagnosisReport) -> str:
    lines = [_headline(report), *(f"note: {n}" for n in report.notes)]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
          "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
          ".ok{color:#070}.bad{color:#a00;font-weight:bold}img{max-width:100%}")


def html_page(reports: Mapping[str, DiagnosisReport], title: str = "initlab diagnose") -> str:
    """One self-contained page: verdicts, plot (embedded PNG), summary and layer tables."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             "<h2>Verdicts</h2>"]
    parts += [_html_verdicts(str(label), r) + _html_notes(r) for label, r in reports.items()]
    parts.append(f"<h2>Signal propagation</h2><img alt='signal propagation plot' "
                 f"src='data:image/svg+xml;base64,{_svg_base64(reports)}'>")
    rows = [{"run": str(label), **summary(r)} for label, r in reports.items()]
    parts.append("<h2>Summary</h2>" + _html_table(rows, (("run", "run", "{}"),) + _SUMMARY_COLUMNS))
    for label, report in reports.items():
        parts.append(f"<h2>Layers: {html.escape(str(label))}</h2>")
        parts.append(_html_table(report.layers, COLUMNS))
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- rich
_TEXT = ("layer", "type", "run", "verdicts")  # fold to fit; every other column holds numbers
_KEYS = ("depth", "layer", "run")  # repeated in every part of a table split to fit
_TEXT_MIN = 10  # a text column folds down to this many cells (or its longest cell) ...
_KEY_MIN = 24  # ... a key column to this many


class _FitTable:
    """A rich renderable: the table laid out at the width it is printed at.

    Numbers are never cut: a numeric column is as wide as its longest value (its header
    wraps at word boundaries); text columns (layer names, types) fold. When the columns do
    not fit side by side, the table is split into parts, each repeating the key columns
    (``#`` and ``layer``, or ``run``).
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]],
                 columns: Sequence[tuple[str, str, str]], title: str) -> None:
        cells = {k: [_fmt(r.get(k), f) for r in rows] for k, _, f in _present(rows, columns)}
        self.cols = [c for c in columns if c[0] in cells and any(cells[c[0]])]  # no empty one
        self.cells = cells
        self.rows = len(rows)
        self.title = title

    def _need(self, key: str, header: str) -> tuple[int, int]:
        """(narrowest, natural) width of a column's content."""
        from rich.cells import cell_len

        longest = max((cell_len(c) for c in self.cells[key]), default=0)
        word = max((cell_len(w) for w in header.split()), default=1)
        if key in _TEXT:
            least = _KEY_MIN if key in _KEYS else _TEXT_MIN
            return max(min(longest, least), min(word, least), 1), max(longest, word, 1)
        return max(longest, word, 1), max(longest, cell_len(header), 1)

    def parts(self, width: int) -> list[Any]:
        """The tables (one, or several parts) that fit in ``width`` cells."""
        from rich.table import Table
        from rich.text import Text

        need = {k: self._need(k, h) for k, h, _ in self.cols}
        keys = [c for c in self.cols if c[0] in _KEYS]
        rest = [c for c in self.cols if c[0] not in _KEYS]
        base = 1 + sum(need[k][0] + 3 for k, _, _ in keys)  # a column: its cells + 3 (padding, border)
        chunks: list[list[tuple[str, str, str]]] = []
        used = base
        for col in rest:
            w = need[col[0]][0] + 3
            if chunks and chunks[-1] and used + w <= width:
                chunks[-1].append(col)
                used += w
            else:
                chunks.append([col])
                used = base + w
        tables = []
        for i, chunk in enumerate(chunks or [[]]):
            cols = keys + chunk
            widths = {k: need[k][0] for k, _, _ in cols}
            spare = width - (1 + sum(w + 3 for w in widths.values()))
            for k, _, _ in cols:  # text columns grow to their natural width while room is left
                if k in _TEXT and spare > 0:
                    grow = min(spare, need[k][1] - widths[k])
                    widths[k] += grow
                    spare -= grow
            title = self.title if i == 0 else f"{self.title} (continued)"
            table = Table(title=title, show_lines=False)
            for k, header, _ in cols:
                table.add_column(header, justify="left" if k in _TEXT else "right",
                                 width=widths[k], overflow="fold")
            for j in range(self.rows):
                table.add_row(*[Text(self.cells[k][j]) for k, _, _ in cols])
            tables.append(table)
        return tables

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from self.parts(options.max_width)


def _rich_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]],
                title: str) -> Any:
    return _FitTable(rows, columns, title)


def _rich_verdicts(report: DiagnosisReport) -> Any:
    from rich.text import Text

    if report.healthy:
        return Text("healthy: no verdict fired", style="bold green")
    text = Text()
    for v in report.verdicts:
        text.append(f"{v.name}", style="bold red")
        text.append(f" [{', '.join(v.layers)}] {v.message}\n  -> {v.suggestion}\n")
    return text


def rich_report(report: DiagnosisReport) -> Any:
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


def rich_summary(reports: Mapping[str, DiagnosisReport]) -> Any:
    """A renderable: one summary row per report, then each report's verdicts."""
    from rich.console import Group
    from rich.text import Text

    rows = [{"run": str(label), **summary(r)} for label, r in reports.items()]
    parts = [_rich_table(rows, (("run", "run", "{}"),) + _SUMMARY_COLUMNS, "diagnose: compare")]
    for label, r in reports.items():
        parts += [Text(f"{label}:", style="bold"), _rich_verdicts(r)]
    return Group(*parts)


# ----------------------------------------------------------------------------- coord check
def coord_check_chart(result: Any, *, layers: Sequence[str] | None = None,
                      stat: str = "act") -> Chart:
    """The coordinate check: ``stat`` (activation RMS) against width, one panel per step.

    Log-log axes, one line per layer (at most ten: the output and layers spread over the
    depth, unless ``layers`` names them). A healthy setup has flat lines.

    Args:
        result: a :class:`~initlab.scaling.coord_check.CoordCheck` or its ``to_dict()``.
        layers: the layers to draw (default: up to ten, the output first).
        stat: ``act`` (activation RMS) or ``delta`` (RMS of the output's change).

    Returns:
        The :class:`~initlab.diagnosis.plot.Chart`.

    Examples:
        >>> recs = [{"width": w, "step": t, "layer": "<output>", "stat": "act",
        ...          "value": 1.0 + 0.1 * t} for w in (64, 128) for t in (0, 1)]
        >>> c = coord_check_chart({"widths": [64, 128], "steps": 1, "records": recs,
        ...                        "parametrization": "mup", "healthy": True})
        >>> c.lines, "coordinate check: mup (healthy)" in c.texts
        (2, True)
    """
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    recs = [r for r in d.get("records", []) if r.get("stat") == stat]
    widths = sorted({float(w) for w in d.get("widths", [])} | {float(r["width"]) for r in recs})
    steps = int(d.get("steps", 0))
    names = list(dict.fromkeys(r["layer"] for r in recs))
    if layers is None:
        names = sorted(names, key=lambda n: n != "<output>")
        if len(names) > 10:
            idx = sorted({0, *(round(i * (len(names) - 1) / 8) for i in range(1, 9))})
            names = [names[i] for i in idx]
    else:
        names = list(layers)
    vals = [r["value"] for r in recs if _positive(float(r["value"]))]
    lo, hi = (min(vals), max(vals)) if vals else (0.1, 10.0)
    panel_w, axes = 300, []
    xlim = (min(widths, default=1.0) / 1.3, max(widths, default=2.0) * 1.3)
    for t in range(steps + 1):
        ax = Axes(70 + t * panel_w, 45, panel_w - 80, 220, xlim=xlim, ylim=(lo / 1.3, hi * 1.3),
                  xscale="log", yscale="log")
        for k, name in enumerate(names):
            pts = sorted((float(r["width"]), float(r["value"])) for r in recs
                         if r["layer"] == name and int(r["step"]) == t)
            ax.line([x for x, _ in pts], [y for _, y in pts], PALETTE[k % len(PALETTE)],
                    marker=True)
        ax.frame(title=f"t = {t}", xlabel="width", font=10,
                 ylabel=("activation RMS" if stat == "act" else "update RMS") if t == 0 else "",
                 xticks=[(w, f"{w:g}") for w in widths])
        axes.append(ax)
    verdict = "healthy" if d.get("healthy") else "UNHEALTHY"
    legend = [(name, PALETTE[k % len(PALETTE)]) for k, name in enumerate(names)]
    return chart(max(400, (steps + 1) * panel_w + 20), 300, axes, legend,
                 title=f"coordinate check: {d.get('parametrization', '?')} ({verdict})")
