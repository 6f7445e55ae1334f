"""Timing done the same way for every benchmark row: warm-up first, then the median of
repeats, with the spread kept."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed repeat (the warm-up excluded)."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median: 0 for perfectly repeatable runs."""
        return (max(self.times) - min(self.times)) / self.median if self.median > 0 else 0.0


def measure(fn: Callable[[], object], repeat: int, *, setup: Callable[[], object] | None = None,
            warm_up: bool = True, timer: Callable[[Callable[[], object]], float] | None = None
            ) -> Timing:
    """Time ``fn``: one untimed warm-up call (JIT compile, module load, first-touch), then
    ``repeat`` timed calls. ``setup`` runs untimed before every call (e.g. deleting the
    previous store). ``timer(fn) -> seconds`` replaces the wall clock, e.g. CUDA events
    around device work; by default ``time.perf_counter`` around the call, which for GPU
    work must synchronize inside ``fn``."""
    if repeat < 1:
        raise ValueError(f"repeat: {repeat!r}; expected a whole number >= 1")

    def wall(f: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0

    clock = timer or wall
    times = []
    for i in range(repeat + int(warm_up)):
        if setup is not None:
            setup()
        elapsed = clock(fn)
        if i >= int(warm_up):
            times.append(elapsed)
    return Timing(tuple(times))
