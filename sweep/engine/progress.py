"""Progress of a run: a rich progress bar (chunks, points/s, ETA) fed by Dask's local callbacks."""

from __future__ import annotations

import sys
from typing import Any

from dask.callbacks import Callback
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _PointsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        points = task.fields.get("points", 0)
        elapsed = task.elapsed or 0.0
        rate = points / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate / 1e6:,.1f} Mpoints/s", style="progress.data.speed")


class ChunkProgress(Callback):
    """A Dask callback that shows chunks done, points/s and ETA on a terminal.

    ``sizes`` maps each chunk task's key to its number of points. ``enabled=None`` shows
    the bar only when stderr is a terminal, so logs and CI output stay clean.
    """

    def __init__(self, sizes: dict[str, int], enabled: bool | None = None, label: str = "sweep"):
        super().__init__()
        self.sizes = sizes
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self._progress: Progress | None = None
        self._task: Any = None
        self._points = 0

    def __enter__(self) -> ChunkProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("chunks"),
                _PointsPerSecond(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=len(self.sizes), points=0)
        return super().__enter__()

    def __exit__(self, *args: object) -> None:
        super().__exit__(*args)
        if self._progress is not None:
            self._progress.stop()

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        self.done(key)

    def done(self, key: str) -> None:
        """Count task ``key`` as finished (called by Dask's local schedulers, or by hand for
        futures on a distributed cluster)."""
        if self._progress is None or key not in self.sizes:
            return
        self._points += self.sizes[key]
        self._progress.update(self._task, advance=1, points=self._points)
