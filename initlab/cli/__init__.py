"""The ``initlab`` command line: one module per command, a thin shell over the library.

``initlab.cli:main`` is the console entry point (``initlab ...``, ``python -m initlab ...``,
``python -m initlab.cli ...``); ``initlab.cli.<command>`` holds each command's click object,
named ``command``. Errors a user can cause print one line (``Error: ...``) and exit 2;
``INITLAB_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

from initlab.cli._app import COMMANDS, cli, main

__all__ = ["COMMANDS", "cli", "main"]
