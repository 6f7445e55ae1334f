"""Running a plan on Dask: one task per chunk key computes every output and writes it by region."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np

from sweep import store as zstore
from sweep.backends import Backend, ChunkStats, default_workers, get_backend
from sweep.config import SweepSpec
from sweep.planner import ChunkKey, Plan, make_plan
from sweep.progress import ChunkProgress

log = logging.getLogger(__name__)


class ChunkError(RuntimeError):
    """A chunk task failed; the message names the chunk, its region and the store."""


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
        """Grid points per second of the chunk phase (compute and write, all chunks)."""
        return self.plan.n_points / self.seconds if self.seconds > 0 else float("nan")


def compute_chunk(plan: Plan, key: ChunkKey, backend: Backend,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
    """Every requested output over one chunk, in memory, with its statistics."""
    return backend.compute(plan.chunk_inputs(key), plan.output_codes, plan.dtype, out)


class BufferPool:
    """One output buffer per worker thread, reused chunk after chunk for one run, and freed
    with the pool: a fresh allocation per chunk pays the kernel's first touch of every page
    (measured at about half the kernel's speed). The backend allocates it (pinned memory
    for the GPU backends), from the worker thread that uses it."""

    def __init__(self, size: int, dtype: np.dtype, backend: Backend | None = None):
        self.size = size
        self.dtype = dtype
        self._alloc = getattr(backend, "host_buffer", None)
        self._buffers: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self) -> np.ndarray:
        """The calling thread's buffer."""
        ident = threading.get_ident()
        with self._lock:
            buf = self._buffers.get(ident)
            if buf is None:
                buf = self._buffers[ident] = (
                    self._alloc(self.size, self.dtype) if self._alloc
                    else np.empty(self.size, dtype=self.dtype))
        return buf


def _chunk_task(plan: Plan, key: ChunkKey, backend: Backend, arrays: list,
                buffers: BufferPool) -> ChunkStats:
    try:
        values, stats = compute_chunk(plan, key, backend, buffers.get())
        zstore.write_chunk(plan, key, values, {"outputs": {
            name: {"nan_count": int(stats.nan_counts[k]), "min": _json_float(stats.minima[k]),
                   "max": _json_float(stats.maxima[k])}
            for k, name in enumerate(plan.outputs)
        }}, arrays)
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

    ``store`` overrides the file's ``store``; ``backend`` its ``backend``. See
    :func:`run_plan` for what happens, in which order.
    """
    return run_plan(make_plan(spec, store), backend=backend or spec.backend,
                    overwrite=overwrite, progress=progress, num_workers=num_workers)


def run_plan(
    plan: Plan,
    *,
    backend: str | Backend = "auto",
    overwrite: bool = False,
    progress: bool | None = None,
    num_workers: int | None = None,
) -> RunResult:
    """Run a :class:`~sweep.planner.Plan`: materialize every output into ``plan.store``.

    Order: the disk-space and target checks, the backend (and its JIT compilation), the
    template built in memory, and only then is the target replaced (with ``overwrite``) and
    the template written, so that a failure before computing leaves any existing store
    untouched. Chunks run on Dask's threaded
    scheduler with ``num_workers`` threads (default: one per core), each computing one chunk
    of every output in one kernel call and writing it by region, then its completion
    marker. The store is marked ``complete`` only after every chunk has its marker.

    ``progress``: ``True``/``False`` to force the progress bar; ``None`` shows it on a terminal.
    """
    wall0 = time.perf_counter()
    workers = num_workers or default_workers()
    plan.check_disk()
    plan.check_memory(workers)
    zstore.check_target(plan.store, overwrite)
    be = get_backend(backend) if isinstance(backend, str) else backend
    be.warm_up(plan.chunk_inputs(next(plan.keys())), plan.output_codes, plan.dtype)
    zstore.create(plan, be.name, be.device, overwrite=overwrite)
    arrays = zstore.open_outputs(plan)
    buffers = BufferPool(len(plan.outputs) * math.prod(plan.chunk_shape), plan.dtype, be)

    tasks = [
        dask.delayed(_chunk_task, pure=False)(plan, key, be, arrays, buffers,
                                              dask_key_name=f"chunk-{key.name}")
        for key in plan.keys()
    ]
    sizes = {f"chunk-{key.name}": key.size for key in plan.keys()}
    t0 = time.perf_counter()
    with ChunkProgress(sizes, enabled=progress, label=plan.spec.name):
        results = dask.compute(*tasks, scheduler="threads", num_workers=workers)
    seconds = time.perf_counter() - t0

    n_out = len(plan.outputs)
    nan_counts = np.zeros(n_out, dtype=np.int64)
    lo = np.full(n_out, np.nan)
    hi = np.full(n_out, np.nan)
    for s in results:
        nan_counts += s.nan_counts
        lo = np.fmin(lo, s.minima)   # fmin/fmax skip NaN (chunks with no finite value)
        hi = np.fmax(hi, s.maxima)
    result = RunResult(
        plan=plan,
        backend=be.name,
        seconds=seconds,
        nan_counts={o: int(c) for o, c in zip(plan.outputs, nan_counts, strict=True)},
        minima={o: float(v) for o, v in zip(plan.outputs, lo, strict=True)},
        maxima={o: float(v) for o, v in zip(plan.outputs, hi, strict=True)},
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
        "sweep_wall_s": round(time.perf_counter() - wall0, 3),
    })
    for o, c in result.nan_counts.items():
        if c:
            log.warning("%s: %d of %d point(s) hit a zero denominator and are NaN",
                        o, c, plan.n_points)
    return result


def _json_float(x: float) -> float | str | None:
    """JSON has no NaN or inf: NaN is null, infinities are strings."""
    if np.isnan(x):
        return None
    return float(x) if np.isfinite(x) else ("inf" if x > 0 else "-inf")
