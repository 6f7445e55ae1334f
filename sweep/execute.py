"""Running a plan on Dask: one task per chunk key computes every output and writes it by region."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np

from sweep import store as zstore
from sweep.backends import Backend, default_workers, get_backend
from sweep.config import SweepSpec
from sweep.plan import ChunkKey, Plan, make_plan
from sweep.progress import ChunkProgress

log = logging.getLogger(__name__)


class ChunkError(RuntimeError):
    """A chunk task failed; the message names the chunk, its region and the store."""


@dataclass
class ChunkStats:
    """What a chunk task reports: NaN count, min and max per output."""

    nan_counts: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray


@dataclass
class RunResult:
    """The outcome of :func:`run`."""

    plan: Plan
    backend: str
    seconds: float
    nan_counts: dict[str, int]
    minima: dict[str, float] = field(default_factory=dict)
    maxima: dict[str, float] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        """Where the result was written."""
        return self.plan.store

    @property
    def points_per_second(self) -> float:
        """Grid points per wall-clock second, end to end."""
        return self.plan.n_points / self.seconds if self.seconds > 0 else float("nan")


def _chunk_stats(values: np.ndarray, nan_counts: np.ndarray) -> ChunkStats:
    n = len(values)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    size = values[0].size if n else 0
    for k in range(n):
        if nan_counts[k] < size:
            lo[k] = float(np.nanmin(values[k]))
            hi[k] = float(np.nanmax(values[k]))
    return ChunkStats(nan_counts, lo, hi)


def compute_chunk(plan: Plan, key: ChunkKey, backend: Backend) -> tuple[np.ndarray, ChunkStats]:
    """Every requested output over one chunk, in memory, with its statistics."""
    values, nan_counts = backend.compute(plan.chunk_inputs(key), plan.output_codes, plan.dtype)
    return values, _chunk_stats(values, nan_counts)


def _chunk_task(plan: Plan, key: ChunkKey, backend: Backend) -> ChunkStats:
    try:
        values, stats = compute_chunk(plan, key, backend)
        zstore.write_chunk(plan, key, values, {"outputs": {
            name: {"nan_count": int(stats.nan_counts[k]), "min": _json_float(stats.minima[k]),
                   "max": _json_float(stats.maxima[k])}
            for k, name in enumerate(plan.outputs)
        }})
    except Exception as exc:
        region = ", ".join(f"{d}[{s.start}:{s.stop}]" for d, s in key.region(plan.dims).items())
        raise ChunkError(f"chunk {key.name} ({region}) of {plan.store}: "
                         f"{type(exc).__name__}: {exc}") from exc
    return stats


def run(
    spec: SweepSpec,
    *,
    store: str | Path | None = None,
    backend: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    num_workers: int | None = None,
) -> RunResult:
    """Materialize every output of ``spec`` over its grid into a Zarr store.

    Checks (plan, disk space, backend) come first; only then is the target replaced (with
    ``overwrite``) and the template written. Chunks run on Dask's threaded scheduler with
    ``num_workers`` threads (default: one per core), each computing one chunk of every
    output in one kernel call and writing it by region, then its completion marker. The
    store is marked ``complete`` only after every chunk has its marker.

    ``progress``: ``True``/``False`` to force the progress bar; ``None`` shows it on a terminal.
    """
    plan = make_plan(spec, store)
    plan.check_disk()
    be = get_backend(backend or spec.backend)
    zstore.prepare_target(plan.store, overwrite)
    be.warm_up(plan.dtype)
    zstore.create(plan, be.name, be.device)

    tasks = [
        dask.delayed(_chunk_task, pure=False)(plan, key, be, dask_key_name=f"chunk-{key.name}")
        for key in plan.keys()
    ]
    sizes = {f"chunk-{key.name}": key.size for key in plan.keys()}
    t0 = time.perf_counter()
    with ChunkProgress(sizes, enabled=progress, label=spec.name):
        results = dask.compute(*tasks, scheduler="threads",
                               num_workers=num_workers or default_workers())
    seconds = time.perf_counter() - t0

    n_out = len(plan.outputs)
    nan_counts = np.zeros(n_out, dtype=np.int64)
    lo = np.full(n_out, np.inf)
    hi = np.full(n_out, -np.inf)
    for s in results:
        nan_counts += s.nan_counts
        lo = np.fmin(lo, s.minima)
        hi = np.fmax(hi, s.maxima)
    result = RunResult(
        plan=plan,
        backend=be.name,
        seconds=seconds,
        nan_counts={o: int(c) for o, c in zip(plan.outputs, nan_counts, strict=True)},
        minima={o: float(v) if np.isfinite(v) else float("nan")
                for o, v in zip(plan.outputs, lo, strict=True)},
        maxima={o: float(v) if np.isfinite(v) else float("nan")
                for o, v in zip(plan.outputs, hi, strict=True)},
    )
    summary = {
        o: {"nan_count": result.nan_counts[o], "min": _json_float(result.minima[o]),
            "max": _json_float(result.maxima[o])}
        for o in plan.outputs
    }
    zstore.finalize(plan, {
        "sweep_summary": summary,
        "sweep_elapsed_s": round(seconds, 3),
        "sweep_points_per_s": round(result.points_per_second, 1),
    })
    for o, c in result.nan_counts.items():
        if c:
            log.warning("%s: %d of %d point(s) hit a zero denominator and are NaN",
                        o, c, plan.n_points)
    return result


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)
