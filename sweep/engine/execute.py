"""Running a plan on Dask: one task per chunk key computes every output and writes it by region.

Locally on Dask's threaded scheduler (the default), or on a ``dask.distributed`` cluster
(``client``): a running scheduler or a LocalCluster of worker processes. Runs resume: the
chunks that have a marker for the same config are skipped, the others recomputed in full.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np

from sweep.backends import Backend, ChunkStats, default_workers, get_backend
from sweep.engine import faults
from sweep.planning import preflight
from sweep.planning.planner import ChunkKey, Plan
from sweep.storage import store as zstore
from sweep.storage.location import StoreURL

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
    n_computed: int = 0
    n_skipped: int = 0
    points_computed: int | None = None

    @property
    def store(self) -> Path | StoreURL:
        """Where the result was written."""
        return self.plan.store

    @property
    def points_per_second(self) -> float:
        """Grid points per second of the chunk phase (compute and write of the chunks this
        run computed)."""
        points = self.plan.n_points if self.points_computed is None else self.points_computed
        return points / self.seconds if self.seconds > 0 else float("nan")

    @property
    def resumed(self) -> bool:
        """Whether some chunks were already done (a resumed run)."""
        return self.n_skipped > 0


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
                buffers: BufferPool) -> str:
    try:
        faults.before_chunk(key.name)
        values, stats = compute_chunk(plan, key, backend, buffers.get())
        zstore.write_chunk(plan, key, values, {"backend": backend.name, "outputs": {
            name: {"nan_count": int(stats.nan_counts[k]), "min": _json_float(stats.minima[k]),
                   "max": _json_float(stats.maxima[k])}
            for k, name in enumerate(plan.outputs)
        }}, arrays)
    except Exception as exc:
        raise ChunkError(f"chunk {_where(plan, key)}: {_cause(exc)}; the chunks that finished "
                         "are recorded: fix the cause and rerun with --resume") from exc
    faults.after_marker(key.name)
    return key.name


def _cause(exc: BaseException) -> str:
    """An error in a chunk task, in one line: an object store's through
    :func:`sweep.storage.objects.reason` (its first line, no secret), others as raised."""
    from sweep.storage import objects

    if objects.is_library_error(exc):
        return objects.reason(exc)
    return objects.mask(f"{type(exc).__name__}: {exc}")


def _where(plan: Plan, key: ChunkKey) -> str:
    region = ", ".join(f"{d}[{s.start}:{s.stop}]" for d, s in key.region(plan.dims).items())
    return f"{key.name} ({region}) of {plan.store}"


# One backend, output arrays and buffer pool per worker process of a distributed run (for
# the run in progress only: a new run replaces them).
_PROCESS_STATE: dict[tuple[str, str, str], tuple[Backend, list, BufferPool]] = {}
_PROCESS_LOCK = threading.Lock()


def _remote_chunk_task(plan: Plan, key: ChunkKey, backend_name: str) -> str:
    ident = (str(plan.store), plan.config_hash, backend_name)
    with _PROCESS_LOCK:
        state = _PROCESS_STATE.get(ident)
        if state is None:
            _PROCESS_STATE.clear()
            be = get_backend(backend_name)
            state = _PROCESS_STATE[ident] = (
                be, zstore.open_outputs(plan),
                BufferPool(len(plan.outputs) * math.prod(plan.chunk_shape), plan.dtype, be))
    return _chunk_task(plan, key, *state)


def config_differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted paths where two normalized configs differ (``Plan.normalized()``)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for k in sorted(set(stored) | set(current), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in stored or k not in current:
                out.append(path)
            else:
                out.extend(config_differences(stored[k], current[k], path))
        return out
    return [] if stored == current else [prefix or "(config)"]


def check_same_config(plan: Plan, attrs: dict) -> None:
    """Refuse to add to a store written from another config, naming what differs."""
    if attrs.get("sweep_config_hash") == plan.config_hash:
        return
    try:
        stored = json.loads(attrs.get("sweep_config", "{}"))
    except ValueError:
        stored = {}
    diff = config_differences(stored, plan.normalized())
    shown = ", ".join(diff[:8]) + (f" and {len(diff) - 8} more" if len(diff) > 8 else "")
    raise zstore.StoreError(
        f"{plan.store} was written from another config (hash "
        f"{str(attrs.get('sweep_config_hash'))[:16]}, this file gives {plan.config_hash[:16]}); "
        f"refusing to resume into it. Differing: {shown or 'unknown'}. Run with --overwrite "
        "to start again, or write to another --store")


def check_resumable(plan: Plan) -> None:
    """Refuse to resume into something at ``plan.store`` that is not a Zarr store (nothing
    there is a fresh run)."""
    if zstore.exists(plan.store) and not zstore.is_store(plan.store):
        raise zstore.StoreError(
            f"{plan.store} exists and is not a Zarr store; nothing to resume"
            + ("; its creation was interrupted: rerun with --overwrite"
               if zstore.interrupted_creation(plan.store) else ""))


def check_cluster_memory(plan: Plan, client, fraction: float = 0.6) -> None:
    """Refuse chunks whose tasks, one per worker thread, would pass ``fraction`` (Dask's
    default target) of a worker's memory limit."""
    preflight.worker_memory(plan.bytes_per_task(), client, f"chunks of {plan.chunk_shape}",
                            "use smaller `chunks` or workers with more memory", fraction)


def run_plan(
    plan: Plan,
    *,
    backend: str | Backend = "auto",
    overwrite: bool = False,
    resume: bool = False,
    redo: set[str] | frozenset[str] = frozenset(),
    progress: bool | None = None,
    num_workers: int | None = None,
    client=None,
    disk_budget: int | None = None,
    max_chunks: int | None = None,
    executor=None,
    callbacks: list | None = None,
    checked: bool = False,
) -> RunResult:
    """Run a :class:`~sweep.planning.planner.Plan`: materialize every output into ``plan.store``.

    Order: the pre-flight checks (chunk count against ``max_chunks``, output size against
    the disk's free space or ``disk_budget``, per-task memory against this machine or each
    worker of ``client``, the target), the backend (and its JIT compilation), and only then
    a write. A fresh run builds the template in memory before it replaces any existing store
    (with ``overwrite``). With ``resume`` and an existing store, the store's config hash must
    equal the plan's (else :class:`~sweep.storage.store.StoreError`, nothing written) and only the
    chunks without a marker (and those named in ``redo``) are computed, in full.

    Chunks run on Dask's threaded scheduler with ``num_workers`` threads (default: one per
    core), or on the ``dask.distributed`` ``client``'s workers; each task computes one chunk
    of every output in one kernel call, writes it by region, then its marker. The store is
    marked ``complete`` only after every chunk has its marker. A failed chunk raises
    :class:`ChunkError` naming it; the chunks already written keep their markers, so the run
    can be resumed.

    ``executor``: an :class:`~sweep.executors.Executor` or its name (see
    :func:`sweep.executors.create_executor`; ``client`` is the same as a
    ``DistributedExecutor`` of it). ``progress``: ``True``/``False`` to force the progress
    bar; ``None`` shows it on a terminal; ``callbacks`` replace it
    (:class:`sweep.executors.Callback`). ``checked``: the caller has made the pre-flight
    checks already (a mode's :meth:`~sweep.modes.base.Mode.checks`, run once by
    :func:`sweep.modes.base.preflight`): they are not repeated.
    """
    from sweep.executors import DistributedExecutor, create_executor

    if plan.spec.mode not in ("materialize", "sample"):
        raise preflight.PlanError(
            f"run_plan stores grids and sample grids; {plan.spec.name!r} is a "
            f"{plan.spec.mode}-mode file (it writes only a small result): run it with "
            "sweep.run(spec) or `sweep run FILE`")
    wall0 = time.perf_counter()
    workers = num_workers or default_workers()
    owned = isinstance(executor, str)
    if owned:
        executor = create_executor(executor, workers=workers)
    elif executor is None:
        executor = (DistributedExecutor(client) if client is not None
                    else create_executor(workers=workers))
    client = executor.client
    try:
        return _run(plan, executor, backend, overwrite, resume, redo, progress, callbacks,
                    workers, disk_budget, max_chunks, wall0, checked)
    finally:
        if owned:
            executor.close()


def _run(plan: Plan, executor, backend, overwrite: bool, resume: bool, redo, progress,
         callbacks, workers: int, disk_budget, max_chunks, wall0: float,
         checked: bool = False) -> RunResult:
    client = executor.client
    if not checked:
        plan.check_chunk_count(max_chunks)
    resuming = resume and zstore.is_store(plan.store)
    if resume and not resuming:
        check_resumable(plan)
    if resuming:
        attrs = zstore.store_attrs(plan.store)
        check_same_config(plan, attrs)
        zstore.open_outputs(plan)   # the arrays exist and line up with the plan: else refuse
        if not zstore.has_marker_group(plan.store):
            raise zstore.StoreError(f"{plan.store} has no {zstore.MARKERS} folder: it was not "
                                    "created completely; rerun with --overwrite")
        backend = _resume_backend(plan, attrs, backend)
        todo = zstore.todo(plan, redo=redo)
        if not checked:
            plan.check_disk(disk_budget, points=sum(k.size for k in todo))
    else:
        if not checked:
            plan.check_disk(disk_budget)
            zstore.check_target(plan.store, overwrite)
        todo = list(plan.keys())
    if not checked:
        if client is not None:
            check_cluster_memory(plan, client)
        else:
            plan.check_memory(workers)
    be = (get_backend(backend, points=sum(k.size for k in todo))
          if isinstance(backend, str) else backend)
    if hasattr(be, "check_memory") and client is None:
        be.check_memory(plan, workers)
    if todo:
        be.warm_up(plan.chunk_inputs(todo[0]), plan.output_codes, plan.dtype)
    if resuming:
        if todo:   # `running` first: a kill from here on never leaves `complete` behind
            zstore.set_status(plan.store, zstore.STATUS_RUNNING)
        for name in redo:
            zstore.remove_marker(plan.store, name)
        log.info("resuming %s: %d of %d chunk(s) to compute", plan.store, len(todo),
                 plan.n_chunks)
    else:
        zstore.create(plan, be.name, be.device, overwrite=overwrite)

    t0 = time.perf_counter()
    from sweep.executors import tracker

    sizes = {f"chunk-{key.name}": key.size for key in todo}
    with tracker(plan.spec.name, sizes, progress, callbacks) as track:
        if client is None:
            _run_local(plan, todo, be, executor, track)
        else:
            _run_distributed(plan, todo, be.name, client, track)
    seconds = time.perf_counter() - t0
    return _finish(plan, be.name, seconds, todo, wall0)


def _resume_backend(plan: Plan, attrs: dict, backend: str | Backend) -> str | Backend:
    """The backend a resume must use: the one that wrote the store (``auto`` means it);
    another one is refused, since backends differ in the last bits and the store would no
    longer equal an uninterrupted run."""
    stored = attrs.get("sweep_backend")
    name = backend if isinstance(backend, str) else backend.name
    if name == "auto" or not stored:
        return stored or backend
    if name != stored:
        raise zstore.StoreError(
            f"{plan.store} was written by backend {stored!r}; resume or repair it with "
            f"--backend {stored} (or omit --backend), not {name!r}: backends differ in the "
            "last bits, and a mixed store would not equal an uninterrupted run")
    return backend


def _run_local(plan: Plan, keys: list[ChunkKey], be: Backend, executor, track) -> None:
    arrays = zstore.open_outputs(plan)
    buffers = BufferPool(len(plan.outputs) * math.prod(plan.chunk_shape), plan.dtype, be)
    tasks = [
        dask.delayed(_chunk_task, pure=False)(plan, key, be, arrays, buffers,
                                              dask_key_name=f"chunk-{key.name}")
        for key in keys
    ]
    executor.compute(tasks, track)


def _run_distributed(plan: Plan, keys: list[ChunkKey], backend_name: str, client,
                     bar) -> None:
    """Every chunk as a future on the cluster; waits for all of them, so that a failing
    chunk (even one that keeps killing workers) leaves every other chunk recorded."""
    import dataclasses

    from distributed import as_completed

    # workers may run elsewhere: the store's absolute path (a URL is the same everywhere).
    # The plan travels with each task (not scattered once: scattered data dies with the
    # workers that hold it)
    if isinstance(plan.store, Path):
        plan = dataclasses.replace(plan, store=plan.store.absolute())
    tag = plan.config_hash[:12]
    failed: list[tuple[ChunkKey, BaseException]] = []
    futures = {
        client.submit(_remote_chunk_task, plan, key, backend_name, pure=False,
                      key=f"chunk-{key.name}-{tag}"): key
        for key in keys
    }
    for future in as_completed(futures):
        key = futures[future]
        if future.status == "error":
            failed.append((key, future.exception()))
        elif future.status == "cancelled":
            failed.append((key, RuntimeError("the task was cancelled on the cluster")))
        else:
            bar.done(f"chunk-{key.name}")
    # When a worker dies, every task assigned to it counts as suspect, so a chunk that
    # kills workers can take innocent chunks down with it. Chunks lost that way get one
    # more try each, alone on the cluster: only the culprit fails again.
    killed = [key for key, exc in failed if _is_killed_worker(exc)]
    failed = [(key, exc) for key, exc in failed if not _is_killed_worker(exc)]
    for attempt, key in enumerate(sorted(killed)):
        future = client.submit(_remote_chunk_task, plan, key, backend_name, pure=False,
                               key=f"chunk-{key.name}-{tag}-alone{attempt}")
        try:
            future.result()
            bar.done(f"chunk-{key.name}")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failed.append((key, exc))
    if failed:
        key, exc = min(failed, key=lambda kv: kv[0])
        if _is_killed_worker(exc):
            why = ("its task killed every worker that ran it (KilledWorker: out of memory, or "
                   "a crash in the kernel)")
        elif isinstance(exc, ChunkError):   # already names the chunk: keep only the cause
            why = str(exc).split(": ", 1)[-1].split("; the chunks that finished")[0]
        else:   # raised outside the chunk task (opening the store on a worker, say)
            why = _cause(exc)
        others = ", ".join(k.name for k, _ in sorted(failed, key=lambda kv: kv[0])[1:6])
        raise ChunkError(
            f"chunk {_where(plan, key)}: {why}"
            + (f"; {len(failed) - 1} more chunk(s) failed ({others})" if len(failed) > 1
               else "")
            + f"; the other {len(keys) - len(failed)} chunk(s) are recorded: fix the cause "
            "and rerun with --resume")


def _is_killed_worker(exc: BaseException) -> bool:
    return type(exc).__name__ == "KilledWorker"


def _finish(plan: Plan, backend: str, seconds: float, computed: list[ChunkKey],
            wall0: float) -> RunResult:
    """Aggregate the markers' statistics, mark the store complete, build the result."""
    markers = zstore.read_markers(plan.store)
    n_out = len(plan.outputs)
    nan_counts = np.zeros(n_out, dtype=np.int64)
    lo = np.full(n_out, np.nan)
    hi = np.full(n_out, np.nan)
    for key in plan.keys():
        stats = markers.get(key.name, {}).get("outputs", {})
        for k, name in enumerate(plan.outputs):
            s = stats.get(name, {})
            nan_counts[k] += int(s.get("nan_count", 0))
            lo[k] = np.fmin(lo[k], _from_json(s.get("min")))   # fmin/fmax skip NaN
            hi[k] = np.fmax(hi[k], _from_json(s.get("max")))
    result = RunResult(
        plan=plan,
        backend=backend,
        seconds=seconds,
        nan_counts={o: int(c) for o, c in zip(plan.outputs, nan_counts, strict=True)},
        minima={o: float(v) for o, v in zip(plan.outputs, lo, strict=True)},
        maxima={o: float(v) for o, v in zip(plan.outputs, hi, strict=True)},
        n_computed=len(computed),
        n_skipped=plan.n_chunks - len(computed),
        points_computed=sum(k.size for k in computed),
    )
    summary = {
        o: {"nan_count": result.nan_counts[o], "min": _json_float(result.minima[o]),
            "max": _json_float(result.maxima[o])}
        for o in plan.outputs
    }
    zstore.finalize(plan, markers=markers, extra_attrs={
        "sweep_summary": summary,
        "sweep_elapsed_s": round(seconds, 3),
        "sweep_points_per_s": round(result.points_per_second, 1),
        "sweep_wall_s": round(time.perf_counter() - wall0, 3),
        "sweep_chunks_computed_last_run": len(computed),
    })
    why = ("hit a zero denominator or fall outside a measured frontier"
           if getattr(plan.spec, "frontier_points", 0) else "hit a zero denominator")
    for o, c in result.nan_counts.items():
        if c:
            log.warning("%s: %d of %d point(s) %s and are NaN", o, c, plan.n_points, why)
    return result


def _json_float(x: float) -> float | str | None:
    """JSON has no NaN or inf: NaN is null, infinities are strings."""
    if np.isnan(x):
        return None
    return float(x) if np.isfinite(x) else ("inf" if x > 0 else "-inf")


def _from_json(x: float | str | None) -> float:
    """The inverse of :func:`_json_float`."""
    return np.nan if x is None else float(x)
