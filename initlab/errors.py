"""The exceptions initlab raises for problems a user can cause.

Every message says what went wrong, what was received, what is expected, and a
hint. The CLI prints ``Error: <message>`` for these and exits with status 2.
"""

from __future__ import annotations

import difflib

__all__ = ["InitlabError", "UnknownNameError", "ConfigError", "DataError", "did_you_mean", "shown"]


def shown(text, limit: int = 120) -> str:
    """User input for an error message: one line (escaped), at most ``limit`` characters."""
    text = str(text)
    flat = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def did_you_mean(value, choices, *, prefix: str = "") -> str:
    """``" Did you mean 'X'?"`` for the closest of ``choices`` to ``value``, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" Did you mean '{prefix}{close[0]}'?" if close else ""


class InitlabError(Exception):
    """Base class of every error initlab raises on bad input."""


class UnknownNameError(InitlabError, KeyError):
    """A name (initializer, policy, model, dataset, scenario, ...) is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message, adding quotes
        return str(self.args[0]) if self.args else ""


class ConfigError(InitlabError, ValueError):
    """An argument or configuration value is invalid."""


class DataError(InitlabError, ValueError):
    """A data file is missing, truncated or corrupted."""
