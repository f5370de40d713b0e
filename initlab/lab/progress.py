"""Progress displays: what a sweep reports while it runs (:class:`Progress`), and the
download bar of a dataset fetch (:func:`download_bar`).

:class:`Progress` is what the dispatch loop calls (start, a group started, a training step,
runs finished, counts of queued/running/done, stop). ``Progress()`` is silent;
``Progress(enabled=True)`` draws one rich display on stderr (runs done/total with ETA, and
the current group's epoch, step and loss), silent anyway when stderr is not a terminal.
The display fits the terminal's width: the description shrinks (ellipsis) so the bar,
count and ETA always show, at 80 columns too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Progress", "download_bar"]

_NAME_CHARS = 50


class Progress:
    """A sweep's progress: silent by default, a rich display when ``enabled``.

    Args:
        enabled: draw the display (``--quiet`` turns it off); it is drawn only when
            stderr is a terminal.

    Examples:
        >>> p = Progress()  # silent: every call is a no-op
        >>> p.start(total=4, finished=1); p.run_started(["zeros"], 0, 10); p.step(1, 5, 0.5)
        >>> p.run_finished(1); p.stop(); p.enabled
        False
    """

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = False
        self.label = ""
        self._bar: Any = None
        self._runs: Any = None
        self._current: Any = None
        if enabled:
            self._make_bar()

    def _make_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar
        from rich.table import Column

        console = Console(stderr=True)
        self.enabled = console.is_terminal
        text = TextColumn("{task.description}", table_column=Column(
            ratio=1, no_wrap=True, overflow="ellipsis", min_width=8))
        self._bar = Bar(text, BarColumn(bar_width=16), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=not self.enabled, transient=False, expand=True)

    def start(self, total: int, finished: int) -> None:
        """The sweep has ``total`` runs, ``finished`` of them already recorded."""
        if self._bar is not None:
            self._bar.start()
            self._runs = self._bar.add_task("runs", total=total, completed=finished)

    def run_started(self, labels: list[str], seed: int, steps: int | None) -> None:
        """A group of runs (these init labels, one seed) started, ``steps`` steps long."""
        if self._bar is None:
            return
        if self._current is not None:
            self._bar.remove_task(self._current)
        name = ", ".join(labels)
        name = name if len(name) < _NAME_CHARS else name[:_NAME_CHARS - 3] + "..."
        self.label = f"  seed {seed}: {name}"
        self._current = self._bar.add_task(self.label, total=steps)

    def step(self, epoch: int, step: int, loss: float) -> None:
        """The current group reached global ``step`` of ``epoch`` with ``loss``."""
        if self._bar is not None and self._current is not None:
            self._bar.update(self._current, completed=step,
                             description=f"{self.label}, epoch {epoch}, loss {loss:.4f}")

    def run_finished(self, n: int) -> None:
        """``n`` more runs are recorded."""
        if self._bar is not None and self._runs is not None:
            self._bar.advance(self._runs, n)

    def status(self, queued: int, running: int, done: int) -> None:
        """Executors with many groups in flight: counts instead of one current group."""
        if self._bar is not None and self._runs is not None:
            self._bar.update(self._runs, description=f"runs (queued {queued}, running "
                                                     f"{running}, done {done})")

    def stop(self) -> None:
        """The sweep ended (or was interrupted): leave the display as it is."""
        if self._bar is not None:
            self._bar.stop()


def download_bar(show: bool) -> Any:
    """The transient rich bar of one download (bytes, speed, ETA), or None when not shown.

    Args:
        show: whether to draw it.

    Returns:
        A ``rich.progress.Progress`` (use it as a context manager, ``add_task``, ``advance``)
        or None.

    Examples:
        >>> download_bar(False) is None
        True
    """
    if not show:
        return None
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    return Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn(), transient=True)
