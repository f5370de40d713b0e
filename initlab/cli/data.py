"""``initlab data``: the datasets the lab knows, where each was found, how to get the rest."""

from __future__ import annotations

import json
from typing import Any

import click

from initlab.errors import ConfigError
from initlab.lab import data as lab_data
from initlab.lab.data.builtin import how_to_get

__all__ = ["command"]


def _rows(data_dir: str | None) -> list[dict[str, Any]]:
    rows = []
    for name, s in lab_data.DATASETS.items():
        where = lab_data.locate(name, data_dir)
        rows.append({"name": name, "title": s.title, "found": where is not None,
                     "path": str(where) if where else None,
                     "how_to_get": None if where else how_to_get(s, data_dir)})
    return rows


@click.command("data")
@click.argument("names", nargs=-1)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Look here first (then $INITLAB_DATA, ~/.cache/initlab, system folders).")
@click.option("--download", is_flag=True,
              help="Fetch the named datasets that are missing (official URLs, MD5 checked).")
@click.option("--check", is_flag=True,
              help="Load the named (or all found) datasets and print their shapes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")
def command(names: tuple[str, ...], data_dir: str | None, download: bool, check: bool,
            as_json: bool) -> None:
    """List the datasets and where each was found, or that it is missing and how to get it."""
    for name in names:
        lab_data.spec(name)  # unknown names fail early, with suggestions
    wanted = {lab_data.spec(n).name for n in names}
    if download and not wanted:
        raise ConfigError("initlab data --download needs dataset names; got none; expected "
                          f"some of {list(lab_data.DATASETS)}; hint: initlab data mnist "
                          "--download")
    if download or check:
        targets = wanted or {r["name"] for r in _rows(data_dir) if r["found"]}
        for name in sorted(targets):
            ds = lab_data.load(name, data_dir, download=download)
            if check or not as_json:
                click.echo(f"{name}: train {tuple(ds.train_x.shape)}, test "
                           f"{tuple(ds.test_x.shape)}, mean {ds.mean}, std {ds.std} "
                           f"({ds.source})", err=as_json)
    rows = [r for r in _rows(data_dir) if not wanted or r["name"] in wanted]
    if as_json:
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="initlab datasets")
    for col in ("name", "title", "status", "where / how to get it"):
        table.add_column(col, overflow="fold")
    for r in rows:
        status = "[green]found[/]" if r["found"] else "[red]missing[/]"
        table.add_row(r["name"], r["title"], status, r["path"] or r["how_to_get"])
    table.caption = "synthetic: always available (generated)"
    Console().print(table)
