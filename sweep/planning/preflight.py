"""Pre-flight checks, in one place: what every mode verifies before anything is written.

Disk (the uncompressed output against the free space and ``--disk-budget``), chunk count
(``--max-chunks``), memory per task on this machine (``workers`` tasks at once), per
worker of a Dask cluster, and per GPU (the backend's own ``check_memory``). Each raises
:class:`~sweep.planning.planner.PlanError` with what to change; :class:`Check` names one for
``sweep plan`` and ``--dry-run``, which run them all and report each.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Default cap on the number of chunk tasks of one run (``--max-chunks``): each is a Dask
#: task, a file per output and a marker; past this the graph and the file count dominate.
DEFAULT_MAX_CHUNKS = 100_000


class PlanError(RuntimeError):
    """A plan that must not run (too big for the disk, ...); raised before anything is written."""


def human_bytes(n: float) -> str:
    """A byte count for people: ``'32.0 MiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing ancestor (absolute)."""
    found = Path(path).absolute()
    while not found.exists():
        found = found.parent
    return found


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (``None`` where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def disk(target: Path, need: int, what: str, budget: int | None = None) -> None:
    """Refuse ``need`` bytes (described by ``what``) over ``budget`` or over the free space
    of the disk that holds ``target``."""
    fix = "use fewer points or outputs, dtype: float32, or another store location"
    if budget is not None and need > budget:
        raise PlanError(f"the sweep needs {what}, over the disk budget of "
                        f"{human_bytes(budget)}; {fix}, or raise --disk-budget")
    if not isinstance(target, Path):   # an object store: no free space to read
        return
    parent = nearest_existing(target)
    free = shutil.disk_usage(parent).free
    if need > free:
        raise PlanError(f"the sweep needs {what} but {parent} has {human_bytes(free)} free; "
                        f"{fix}")


def chunk_count(n_chunks: int, cap: int | None, chunk_shape: tuple[int, ...],
                bigger: dict[str, int]) -> None:
    """Refuse more than ``cap`` chunks (default :data:`DEFAULT_MAX_CHUNKS`); ``bigger``
    suggests a chunking with fewer."""
    cap = DEFAULT_MAX_CHUNKS if cap is None else cap
    if n_chunks > cap:
        raise PlanError(
            f"the plan has {n_chunks:,} chunks of {chunk_shape}, over the cap of {cap:,} "
            f"(--max-chunks); use bigger chunks (e.g. `chunks:` {bigger}) or raise "
            "--max-chunks")


def task_memory(need: int, workers: int, what: str, fix: str, fraction: float = 0.5) -> None:
    """Refuse ``workers`` tasks of ``need`` bytes each (``what`` they hold) that together
    pass ``fraction`` of this machine's memory; ``fix`` says what to change."""
    total = machine_memory()
    if total is None:
        return
    if need * workers > fraction * total:
        raise PlanError(f"{what} need {human_bytes(need * workers)} for {workers} parallel "
                        f"task(s), over {fraction:.0%} of this machine's {human_bytes(total)}; "
                        f"{fix}")


def worker_memory(need: int, client, what: str, fix: str, fraction: float = 0.6) -> None:
    """Refuse tasks of ``need`` bytes, one per worker thread, that would pass ``fraction``
    (Dask's default target) of a cluster worker's memory limit."""
    for addr, w in client.scheduler_info().get("workers", {}).items():
        limit, threads = w.get("memory_limit") or 0, w.get("nthreads") or 1
        if limit and need * threads > fraction * limit:
            raise PlanError(
                f"{what} need {human_bytes(need)} per task, {human_bytes(need * threads)} for "
                f"the {threads} thread(s) of worker {addr}, over {fraction:.0%} of its memory "
                f"limit {human_bytes(limit)}; {fix}")


@dataclass(frozen=True)
class Check:
    """One named pre-flight check: ``run()`` raises when refused; ``what`` says what passed."""

    name: str
    run: Callable[[], None]
    what: str


def report(checks: list[Check], errors: tuple[type[BaseException], ...], out) -> int:
    """Run every check, print one line each to ``out``; return how many were refused."""
    failed = 0
    for c in checks:
        try:
            c.run()
            print(f"  {c.name:<9} ok ({c.what})", file=out)
        except errors as exc:
            failed += 1
            print(f"  {c.name:<9} REFUSED: {exc}", file=out)
    return failed


def defaults_line(defaults: dict[str, dict] | None) -> str:
    """``defaults (not set by the file; ...): kw_per_gpu=1 kW, pue=1.2, ...``: the inputs
    a run left at their defaults (``{name: {"value", "unit"}}``), one line; empty when
    there are none."""
    if not defaults:
        return ""
    parts = [f"{n}={d['value']:g}" + (f" {d['unit']}" if d["unit"] not in ("", "1") else "")
             for n, d in defaults.items()]
    return "defaults (not set by the file; set them to change): " + ", ".join(parts)
