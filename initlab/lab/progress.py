"""The sweep's progress display: one rich display (runs done/total with ETA, current run).

Silent when stderr is not a terminal or when disabled (``--quiet``).
"""

from __future__ import annotations

from initlab.lab.sweep import Progress

__all__ = ["RichProgress"]


class RichProgress(Progress):
    """One rich display: runs done/total (with ETA), current runs' epoch, step and loss."""

    def __init__(self, enabled: bool):
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

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        # the description shrinks (ellipsis) so the bar, count and ETA always fit the width
        text = TextColumn("{task.description}", table_column=Column(
            ratio=1, no_wrap=True, overflow="ellipsis", min_width=8))
        self.bar = Bar(text, BarColumn(bar_width=16), MofNCompleteColumn(),
                       TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                       disable=not self.enabled, transient=False, expand=True)
        self.runs = self.current = None
        self.label = ""

    def start(self, total: int, finished: int) -> None:
        self.bar.start()
        self.runs = self.bar.add_task("runs", total=total, completed=finished)

    def run_started(self, labels, seed, steps) -> None:
        if self.current is not None:
            self.bar.remove_task(self.current)
        name = ", ".join(labels)
        name = name if len(name) < 50 else name[:47] + "..."
        self.label = f"  seed {seed}: {name}"
        self.current = self.bar.add_task(self.label, total=steps)

    def step(self, epoch: int, step: int, loss: float) -> None:
        if self.current is not None:
            self.bar.update(self.current, completed=step,
                            description=f"{self.label}, epoch {epoch}, loss {loss:.4f}")

    def run_finished(self, n: int) -> None:
        self.bar.advance(self.runs, n)

    def status(self, queued: int, running: int, done: int) -> None:
        """Executors with many runs in flight (Ray): counts instead of one current run."""
        if self.runs is not None:
            self.bar.update(self.runs, description=f"runs (queued {queued}, running {running},"
                                                   f" done {done})")

    def stop(self) -> None:
        self.bar.stop()
