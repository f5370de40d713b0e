"""Options that mean the same in every command, and the deprecated aliases of old flags.

* ``--json`` prints the result as JSON on stdout (instead of the table); ``--json-out PATH``
  writes it to a file. (``--json PATH`` was a file in ``plan``, ``diagnose``, ``audit`` and
  ``coord-check``: it still works for one release, with a warning.)
* An old flag kept for one release is a hidden option; using it prints one ``Warning:`` line
  on stderr and then works as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from initlab.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

STDOUT = "-"


def warn_deprecated(old: str, new: str) -> None:
    """Print the one-line deprecation warning for flag ``old`` (use ``new``) on stderr."""
    click.echo(f"Warning: {old} is deprecated and will be removed in the next release; "
               f"use {new}.", err=True)


def pick(new_value: Any, old_value: Any, *, new: str, old: str) -> Any:
    """The value of option ``new``, or of its deprecated alias ``old`` (which warns).

    Both given is a :class:`~initlab.errors.ConfigError`.
    """
    if old_value is None or old_value == ():
        return new_value
    warn_deprecated(old, new)
    if new_value is not None and new_value != ():
        raise ConfigError(f"Give {new} or its deprecated alias {old}, not both; "
                          f"got {new} {new_value} and {old} {old_value}. Hint: keep {new}")
    return old_value


def json_options(what: str) -> Callable[[F], F]:
    """Adds ``--json`` (print WHAT as JSON on stdout) and ``--json-out PATH`` to a command.

    The command receives ``json_flag`` and ``json_out``; pass them to :func:`json_target`.
    """
    def decorate(func: F) -> F:
        func = click.option("--json-out", "json_out", default=None,
                            type=click.Path(dir_okay=False),
                            help=f"Also write {what} as JSON to this file.")(func)
        func = click.option("--json", "json_flag", is_flag=False, flag_value=STDOUT,
                            default=None, metavar="",
                            help=f"Print {what} as JSON on stdout instead of the table.")(func)
        return func
    return decorate


def json_target(json_flag: str | None, json_out: str | None) -> tuple[bool, str | None]:
    """(print JSON on stdout?, the file to write it to or None) from ``--json``/``--json-out``.

    ``--json PATH`` (the old spelling of ``--json-out PATH``) warns and writes the file.
    """
    if json_flag is None or json_flag == STDOUT:
        return json_flag == STDOUT, json_out
    warn_deprecated("--json PATH", "--json-out PATH (--json alone prints JSON on stdout)")
    if json_out is not None:
        raise ConfigError(f"Give --json-out once; got --json {json_flag} and --json-out "
                          f"{json_out}. Hint: --json-out {json_out}")
    return False, json_flag


def emit_json(data: Any, *, to_stdout: bool, path: str | None, indent: int | None = 1) -> None:
    """Print ``data`` as JSON on stdout and/or write it to ``path`` (saying so on stderr)."""
    if to_stdout:
        click.echo(json.dumps(data, default=str))
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=indent, default=str)
        click.echo(f"wrote {path}", err=True)
