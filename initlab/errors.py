"""The exceptions initlab raises for problems a user can cause.

Every message says what went wrong, what was received, what is expected, and a
hint. The CLI prints ``Error: <message>`` for these and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["InitlabError", "UnknownNameError", "ConfigError", "DataError", "ConfigTypeError",
           "ConfigRuntimeError", "ConfigNotImplementedError", "ConfigZeroDivisionError",
           "ConfigIndexError", "ConfigAttributeError", "UnknownNonlinearityError", "compatible_error", "did_you_mean", "error_text", "shown"]


def shown(text: object, limit: int = 120) -> str:
    """User input for an error message: one line (escaped), at most ``limit`` characters."""
    text = str(text)
    flat = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def did_you_mean(value: object, choices: Iterable[object], *, prefix: str = "") -> str:
    """``" Did you mean 'X'?"`` for the closest of ``choices`` to ``value``, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" Did you mean '{prefix}{close[0]}'?" if close else ""


class InitlabError(Exception):
    """Base class of every error initlab raises on bad input.

    Examples:
        >>> issubclass(ConfigError, InitlabError), issubclass(UnknownNameError, KeyError)
        (True, True)
    """


class UnknownNameError(InitlabError, KeyError):
    """A name (initializer, policy, model, dataset, scenario, ...) is not registered.

    The message names the closest registered name and lists them all.

    Examples:
        >>> import initlab
        >>> try:
        ...     initlab.get("kaimnig_normal")
        ... except UnknownNameError as e:
        ...     print(str(e).split(" Available")[0])
        Unknown initializer 'kaimnig_normal'. Did you mean 'kaiming_normal'?
    """

    def __str__(self) -> str:  # KeyError would repr() the message, adding quotes
        return str(self.args[0]) if self.args else ""


class ConfigError(InitlabError, ValueError):
    """An argument or configuration value is invalid.

    Examples:
        >>> import initlab
        >>> try:
        ...     initlab.get("normal(std=)")
        ... except ConfigError as e:
        ...     print(type(e).__name__, isinstance(e, ValueError))
        ConfigError True
    """


class DataError(InitlabError, ValueError):
    """A data file is missing, truncated or corrupted.

    Examples:
        >>> err = DataError("Corrupted gzip file /data/t10k-images-idx3-ubyte.gz")
        >>> isinstance(err, InitlabError), str(err)
        (True, 'Corrupted gzip file /data/t10k-images-idx3-ubyte.gz')
    """


# --- classes compatible with the builtin exceptions torch raises ----------------------------
# ``initlab.init``'s drop-ins for ``torch.nn.init`` raise where torch raises, and an instance of
# the class torch raises, so ``except RuntimeError:`` in user code keeps working.


class ConfigTypeError(ConfigError, TypeError):
    """An argument has a type the operation cannot take (torch raises TypeError)."""


class ConfigRuntimeError(ConfigError, RuntimeError):
    """An argument torch's kernels refuse at run time (torch raises RuntimeError)."""


class ConfigNotImplementedError(ConfigRuntimeError, NotImplementedError):
    """An operation torch has no kernel for, e.g. a dtype (torch raises NotImplementedError)."""


class ConfigZeroDivisionError(ConfigError, ZeroDivisionError):
    """A zero fan or zero groups (torch raises ZeroDivisionError)."""


class ConfigIndexError(ConfigError, IndexError):
    """An index out of range, e.g. the centre of an empty kernel (torch raises IndexError)."""


class ConfigAttributeError(ConfigError, AttributeError):
    """An argument of the wrong type whose method torch calls, e.g. ``mode.lower()``."""


class UnknownNonlinearityError(UnknownNameError, ValueError):
    """An unknown nonlinearity name (torch's calculate_gain raises ValueError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# most specific first: the first base class an exception is an instance of decides
_COMPATIBLE: tuple[tuple[type[BaseException], type[ConfigError]], ...] = (
    (NotImplementedError, ConfigNotImplementedError),
    (RuntimeError, ConfigRuntimeError),
    (TypeError, ConfigTypeError),
    (ZeroDivisionError, ConfigZeroDivisionError),
    (IndexError, ConfigIndexError),
    (AttributeError, ConfigAttributeError),
    (ValueError, ConfigError),
)


def compatible_error(exc: BaseException) -> type[ConfigError] | None:
    """The initlab error class that is also an instance of ``exc``'s builtin class, or None.

    Args:
        exc: an exception raised by a torch operation.

    Returns:
        A ConfigError subclass for RuntimeError, NotImplementedError, TypeError,
        ZeroDivisionError, IndexError, AttributeError and ValueError; None for any other.
    """
    for base, cls in _COMPATIBLE:
        if isinstance(exc, base):
            return cls
    return None


def error_text(exc: BaseException) -> str:
    """One exception as its type and message, the way a failed run records it.

    Args:
        exc: any exception.

    Returns:
        ``"Type: message"`` (the last line of a traceback, without the stack).

    Examples:
        >>> error_text(ValueError("bad lr"))
        'ValueError: bad lr'
    """
    import traceback

    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
