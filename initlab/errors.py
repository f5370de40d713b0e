"""The exceptions initlab raises for problems a user can cause.

Every message says what went wrong, what was received, what is expected, and a
hint. The CLI prints ``Error: <message>`` for these and exits with status 2.
"""

from __future__ import annotations

__all__ = ["InitlabError", "UnknownNameError", "ConfigError", "DataError"]


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
