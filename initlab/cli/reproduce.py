"""``initlab reproduce NAME``: run a built-in reproduction and say which claims held.

Claims are PASS, FAIL or INCONCLUSIVE (statistical claims are decided over seeds; give
more with ``--seeds N``). Exit status: 0 when every claim passed, 1 when any failed, 3 when
none failed but some were inconclusive, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from initlab.errors import ConfigError

if TYPE_CHECKING:
    from initlab.reproductions import Result, Scenario

__all__ = ["command", "print_result"]


def _scenarios() -> list[Scenario]:
    import initlab.reproductions as scenarios

    scenarios.load_all()
    return [scenarios.get(n) for n in scenarios.available()]


def _listing() -> str:
    lines = []
    for s in _scenarios():
        runtime = f" [{s.full_runtime}]" if s.full_runtime else ""
        lines.append(f"  {s.name}: {s.summary}{runtime}")
    return "\n".join(lines)


class _ListingCommand(click.Command):
    """Appends the registered scenarios (with summaries) to ``--help``."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text("Scenarios:")
        for s in _scenarios():
            with formatter.indentation():
                formatter.write_text(f"{s.name}: {s.summary}")
        super().format_epilog(ctx, formatter)


@click.command("reproduce", cls=_ListingCommand)
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the scenarios and exit.")
@click.option("--fast", is_flag=True, help="The fast variant (what the test suite runs).")
@click.option("--dataset", default=None, help="Dataset for scenarios that train.")
@click.option("--data-dir", default=None, help="Look for the dataset here first.")
@click.option("--out", default=None, help="Write runs and report.html here.")
@click.option("--seeds", type=click.IntRange(min=1, max=1000), default=None,
              help="Seeds per init (claims over seeds need >= 3; more for small effects).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def command(name: str | None, list_: bool, fast: bool, dataset: str | None,
            data_dir: str | None, out: str | None, seeds: int | None, device: str, quiet: bool,
            as_json: bool) -> None:
    """Run the built-in reproduction NAME and print each claim, what was measured, PASS/FAIL."""
    import initlab.reproductions as scenarios

    if list_:
        if as_json:
            click.echo(json.dumps([{"name": s.name, "summary": s.summary, "source": s.source,
                                    "full_runtime": s.full_runtime} for s in _scenarios()]))
        else:
            click.echo(_listing())
        return
    if not name:
        raise ConfigError(f"No scenario given; expected one of {scenarios.available()}; "
                          "hint: initlab reproduce --list")
    sc = scenarios.get(name)
    ctx = scenarios.Context(fast=fast, out=Path(out) if out else None, dataset=dataset,
                            data_dir=data_dir, device=device, seeds=seeds,
                            progress=not quiet and not as_json)
    from initlab.lab.sweep.store import DB_NAME, store_errors

    with store_errors(Path(out or "(temporary folder)") / DB_NAME):
        result = sc.run(ctx)
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
    else:
        print_result(sc, result, fast)
    sys.exit(EXIT[result.status])


EXIT: dict[str, int] = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}
STYLE: dict[str, str] = {"PASS": "[green]PASS[/]", "FAIL": "[red]FAIL[/]", "INCONCLUSIVE": "[yellow]INCONCLUSIVE[/]"}


def print_result(sc: Scenario, result: Result, fast: bool) -> None:
    """Print a reproduction's result: the claims table, verdicts, groups, and the tally."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{sc.name}{' (fast)' if fast else ''}: {sc.source}",
                  show_lines=True)
    table.add_column("claim")
    table.add_column("measured")
    table.add_column("held", justify="center", no_wrap=True)
    for c in result.checks:
        table.add_row(c.claim, c.measured, STYLE[c.status])
    console.print(table)
    details = result.details
    for label, verdicts in (details.get("diagnose") or {}).items():
        names = ", ".join(v["name"] for v in verdicts) or "healthy"
        console.print(f"diagnose, {label}: {names}")
        for v in verdicts:
            console.print(f"  {v['name']}: {v['message']}", highlight=False)
    if details.get("report"):
        console.print(f"data: {details.get('dataset')}; report: {details['report']}")
    for g in details.get("groups") or []:
        console.print((f"{g['group']}: " if g["group"] else "") + g["verdict"], highlight=False)
    passed = sum(c.passed for c in result.checks)
    unsure = sum(c.status == "INCONCLUSIVE" for c in result.checks)
    console.print(f"{passed}/{len(result.checks)} claims held" +
                  (f", {unsure} inconclusive (try more --seeds)." if unsure else "."))
