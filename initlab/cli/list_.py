"""``initlab list``: the registered initializers (with aliases) or the gain table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

from initlab.init import available, gain, get, resolve_name
from initlab.init.gains import GAINS

__all__ = ["command"]


def _init_rows(names: Iterable[str]) -> list[dict[str, Any]]:
    wanted = [resolve_name(n) for n in names] or available()
    rows = []
    for name in wanted:
        spec = get(name)
        if spec is None:  # "none": no initializer
            continue
        rows.append({"name": name, "aliases": list(spec.aliases), "default": str(spec),
                     "description": spec.description,
                     "torch": f"torch.nn.init.{spec.torch_equivalent}" if spec.torch_equivalent
                     else None,
                     "random": spec.random, "elementwise": spec.elementwise})
    return rows


def _policy_rows() -> list[dict[str, Any]]:
    from initlab.policy.presets import get_policy, policies

    rows = []
    for name in policies():
        pol = get_policy(name)
        rows.append({"name": name, "on_unmatched": pol.on_unmatched,
                     "rules": [{"label": r.label, "init": str(r.init), "role": r.role,
                                "type": r.type, "name": r.name} for r in pol.rules]})
    return rows


def _gain_rows() -> list[dict[str, Any]]:
    return [{"name": n, "gain": gain(n), "convention": c,
             "exact": gain(n, exact=True)} for n, c in GAINS.items()]


@click.command("list")
@click.argument("names", nargs=-1)
@click.option("--gains", "show_gains", is_flag=True,
              help="List the activation gains (torch's constants and exact ones) instead.")
@click.option("--policies", "show_policies", is_flag=True,
              help="List the policies (presets and registered ones) and their rules instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")
def command(names: tuple[str, ...], show_gains: bool, show_policies: bool,
            as_json: bool) -> None:
    """List the registered initializers (or only NAMES): aliases, defaults, descriptions.

    `initlab list --policies` (or `initlab list policies`) lists the policies instead.
    """
    if tuple(names) == ("policies",):
        show_policies, names = True, ()
    if show_policies:
        rows = _policy_rows()
    else:
        rows = _gain_rows() if show_gains else _init_rows(names)
    if as_json:
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if show_policies:
        table = Table(title=f"initlab policies ({len(rows)}): first matching rule wins")
        for col in ("policy", "rules (label: init)", "unmatched"):
            table.add_column(col, overflow="fold")
        for r in rows:
            rules = "; ".join(f"{x['label'] or '-'}: {x['init']}" for x in r["rules"])
            table.add_row(r["name"], escape(rules), r["on_unmatched"])
        table.caption = escape("'@name' inits are choosers that decide per layer (initlab plan "
                               "--model M --policy P shows what each one picked, and why)")
    elif show_gains:
        table = Table(title=escape("initlab gains: gain(name) and the exact 1/sqrt(E[f(z)^2])"))
        for col in ("name", "gain(name)", "convention", "exact"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["name"], f"{r['gain']:.6g}", r["convention"], f"{r['exact']:.6g}")
    else:
        table = Table(title=f"initlab initializers ({len(rows)})")
        for col in ("name", "aliases", "spec (defaults)", "what it does", "torch"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["name"], ", ".join(r["aliases"]), escape(r["default"]),
                          escape(r["description"]), r["torch"] or "-")
        table.caption = escape("A spec string works wherever an init is taken: initlab.get("
                               "\"kaiming_normal(mode='fan_out', nonlinearity='relu')\")")
    Console().print(table)
