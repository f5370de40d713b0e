"""The worker contract: what an executor is given (a :class:`GroupTask`), what it gives back
(one :class:`RunOutcome` per run, in a :class:`Completed`), and the :class:`Executor` type.

A *group* is the runs of one seed and one grid point that train together. The dispatch loop
(:mod:`initlab.lab.sweep.dispatch`) claims a group's runs, submits its task to an executor,
renews the claims while it trains and records what comes back; executors only train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from initlab.errors import InitlabError, error_text
from initlab.lab.train.loop import RunResult, StepCallback

__all__ = ["GroupTask", "RunOutcome", "Completed", "Executor"]


@dataclass(frozen=True)
class GroupTask:
    """One group of runs to train: their identities, the stacking mode and the device.

    Examples:
        >>> GroupTask(identities=[], stack=True, device="cpu").device
        'cpu'
    """

    identities: list[dict[str, Any]]
    stack: bool | str
    device: str


@dataclass(frozen=True)
class RunOutcome:
    """What training one run gave: its result and executed plan, or the error text.

    Examples:
        >>> RunOutcome.failure("ValueError: bad").ok
        False
    """

    result: RunResult | None = None
    plan: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run trained (done or diverged), False when it failed."""
        return self.error is None and self.result is not None

    @classmethod
    def failure(cls, error: str) -> RunOutcome:
        """A failed run with ``error`` (one line, ``Type: message``).

        Args:
            error: what went wrong.

        Returns:
            The outcome.
        """
        return cls(error=error)


@dataclass
class Completed:
    """A finished submission: the group's outcomes, or the exception that ended it.

    ``env`` is where the group ran when the executor knows it better than the driver
    (a Ray worker on another machine); None means the driver's environment.
    """

    ticket: int
    outcomes: list[RunOutcome] = field(default_factory=list)
    env: dict[str, Any] | None = None
    error: BaseException | None = None


class Executor:
    """Where groups train. The dispatch loop is the only caller and the only store writer.

    Subclasses implement :meth:`submit` and :meth:`wait`. ``slots`` is how many groups may be
    in flight at once; ``live`` means groups train in this process while ``submit`` runs (the
    loop then passes a step callback that shows progress and renews the claims); ``retries``
    is how often a group whose worker died is submitted again.
    """

    slots: int = 1
    live: bool = False
    retries: int = 0

    def submit(self, ticket: int, task: GroupTask, on_step: StepCallback | None) -> None:
        """Start training ``task``; its result comes back from :meth:`wait` as ``ticket``."""
        raise NotImplementedError

    def wait(self, timeout: float) -> list[Completed]:
        """The submissions finished within ``timeout`` seconds (possibly none)."""
        raise NotImplementedError

    def user_error(self, exc: BaseException) -> InitlabError | None:
        """The initlab error (bad input: stops the sweep) inside ``exc``, if it is one."""
        return exc if isinstance(exc, InitlabError) else None

    def worker_died(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the process running the group went away (retryable)."""
        return False

    def failure_text(self, exc: BaseException, attempt: int) -> str:
        """The error recorded for every run of a group that ended with ``exc``."""
        return error_text(exc)

    def cancel(self) -> None:
        """Stop what is in flight (the sweep is being interrupted)."""

    def close(self) -> None:
        """Release the executor's resources (processes, a Ray instance it started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.cancel()
        self.close()
