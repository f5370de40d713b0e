"""``initlab report OUT``: the summary of a sweep as a table, JSON or CSV (and report.html)."""

from __future__ import annotations

import json

import click

FORMATS = ("table", "json", "csv")


@click.command("report")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: terminal table; json: {summary, runs} for scripts; csv: summary.")
@click.option("--no-html", is_flag=True, help="Do not (re)write OUT/report.html and the CSVs.")
def command(out, fmt, no_html):
    """Summarize the sweep in OUT (an `initlab compare --out` directory)."""
    from initlab.lab.report import report_dict, summarize, table_text, to_csv, write_reports

    data = report_dict(out)  # raises a one-line error when OUT holds no sweep
    paths = None if no_html else write_reports(out)
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt == "csv":
        click.echo(to_csv(summarize(data["runs"])), nl=False)
    else:
        click.echo(table_text(data["summary"], title=f"sweep {out}"))
        if paths:
            click.echo(f"Report: {paths['html']}")
