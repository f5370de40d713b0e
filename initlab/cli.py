"""The ``initlab`` command: a thin shell over the library.

Each subcommand lives in ``initlab/commands/<name>.py`` and exposes a click command
named ``command``. Errors a user can cause print one line (``Error: ...``) and exit 2;
``INITLAB_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from initlab.errors import InitlabError

# (module under initlab.commands, command name); order is the --help order.
COMMANDS = (
    ("list_", "list"),
    ("plan", "plan"),
    ("diagnose", "diagnose"),
    ("audit", "audit"),
    ("coord_check", "coord-check"),
    ("compare", "compare"),
    ("report", "report"),
    ("reproduce", "reproduce"),
    ("data", "data"),
)


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used (fast ``--help`` and start-up)."""

    def list_commands(self, ctx):
        return [name for _, name in COMMANDS]

    def get_command(self, ctx, name):
        for module, cmd_name in COMMANDS:
            if cmd_name == name:
                return importlib.import_module(f"initlab.commands.{module}").command
        return None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="initlab")
def cli():
    """initlab: initialize, diagnose and compare neural-network initializations."""


def main(argv=None):
    """Console entry point: runs the CLI, turning user errors into one line and exit 2."""
    try:
        return cli.main(args=argv, prog_name="initlab", standalone_mode=False) or 0
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


if __name__ == "__main__":
    sys.exit(main())
