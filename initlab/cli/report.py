"""``initlab report OUT``: the summary of a sweep as a table, JSON or CSV (and report.html)."""

from __future__ import annotations

import json

import click

__all__ = ["command"]

FORMATS = ("table", "json", "csv")


@click.command("report")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: terminal table; json: {summary, runs} for scripts; csv: summary.")
@click.option("--no-html", is_flag=True, help="Do not (re)write OUT/report.html and the CSVs.")
@click.option("--baseline", default=None, metavar="POLICY",
              help="Compare every init with this one (default: each group's best).")
def command(out: str, fmt: str, no_html: bool, baseline: str | None) -> None:
    """Summarize the sweep in OUT (an `initlab compare --out` directory); a read-only
    sweep is read, its report files left as they are."""
    from pathlib import Path

    from initlab.lab.report import report_dict, table_text, to_csv, write_reports
    from initlab.lab.sweep.store import DB_NAME, store_errors

    with store_errors(Path(out) / DB_NAME):
        data = report_dict(out, baseline=baseline)  # one-line error when OUT holds no sweep
        paths = None
        if not no_html:
            try:
                paths = write_reports(out)
            except OSError as exc:  # read-only media: the numbers still come out
                click.echo(f"note: report files not written in {out} ({exc.strerror})",
                           err=True)
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt == "csv":
        click.echo(to_csv(data["summary"]), nl=False)
    else:
        click.echo(table_text(data["summary"], title=f"sweep {out}", width=None,
                              groups=data["groups"]), nl=False)
        if paths:
            click.echo(f"Report: {paths['html']}")
