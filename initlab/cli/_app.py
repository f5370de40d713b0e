"""The ``initlab`` click group and its console entry point ``main``.

Each command lives in ``initlab/cli/<module>.py`` and exposes a click command named
``command``; the group imports a command's module only when it runs (fast ``--help``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from initlab._version import __version__
from initlab.errors import InitlabError

# (module under initlab.cli, command name); order is the --help order.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("list_", "list"),
    ("plan", "plan"),
    ("diagnose", "diagnose"),
    ("audit", "audit"),
    ("coord_check", "coord-check"),
    ("compare", "compare"),
    ("report", "report"),
    ("reproduce", "reproduce"),
    ("demo", "demo"),
    ("data", "data"),
)


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used (fast ``--help`` and start-up)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for _, name in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module, name in COMMANDS:
            if name == cmd_name:
                command: click.Command = importlib.import_module(f"initlab.cli.{module}").command
                return command
        return None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="initlab")
def cli() -> None:
    """initlab: initialize, diagnose and compare neural-network initializations."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``initlab`` command line (the console entry point).

    User errors (an :class:`~initlab.errors.InitlabError`, a missing or unreadable file)
    print one line, ``Error: ...``, on stderr and exit with status 2; ``INITLAB_DEBUG=1``
    raises them instead. Commands that decide something (``diagnose``, ``audit``, ...)
    exit with their own status.

    Args:
        argv: The arguments after ``initlab``; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status of a command that returns normally (0 unless it returned one).

    Raises:
        SystemExit: For every other outcome: a command's own status, 2 on user errors,
            130 when interrupted.

    Examples:
        >>> from initlab.cli import main
        >>> main(["list", "zeros", "--json"])  # doctest: +ELLIPSIS
        [{"name": "zeros", ...}]
        0
    """
    try:
        return int(cli.main(args=list(argv) if argv is not None else None, prog_name="initlab",
                            standalone_mode=False) or 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (InitlabError, FileNotFoundError, PermissionError) as exc:
        if os.environ.get("INITLAB_DEBUG"):
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
