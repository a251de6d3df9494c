"""Progress of long steps: a rich progress bar with rows/s, or nothing."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>10,.0f} rows/s" if speed else "       … rows/s", style="cyan")


class TaskHandle:
    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=rows)

    def finish(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=self.done, completed=self.done)


class Reporter:
    """Prints step lines and progress bars; ``quiet`` for library use and tests."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self._progress: Progress | None = None

    def __enter__(self) -> Reporter:
        if not self.quiet:
            self._progress = Progress(
                TextColumn("{task.description:<28}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RowsPerSecond(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def step(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[bold]•[/] {message}")

    def task(self, description: str, total: int | None) -> TaskHandle:
        if self._progress is None:
            return TaskHandle(None, None)
        return TaskHandle(self._progress, self._progress.add_task(description, total=total))
