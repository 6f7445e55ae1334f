"""How ``sweep run`` (numba backend, into Zarr) scales with chunk size and with workers:
Dask threads, and worker processes of a local ``dask.distributed`` cluster. (How it scales
with the number of points is the ``materialize`` rows at each size.)"""

from __future__ import annotations

from pathlib import Path

from sweep.benchmark import cases
from sweep.benchmark.timing import Timing


def _entry(kind: str, setting: str, points: int, t: Timing, **extra) -> dict:
    return {"kind": kind, "setting": setting, "points": points, "seconds": t.median,
            "times": list(t.times), "spread": t.spread, "points_per_s": points / t.median,
            **extra}


def chunk_size(points: int, chunk_bytes: int, repeat: int, workers: int, tmp: Path) -> dict:
    """``sweep run`` with chunks of about ``chunk_bytes`` per output (``chunks:`` in the
    file, chosen by the planner's own rule from the innermost axis outward)."""
    from sweep.planning.planner import auto_chunks, make_plan

    base = cases.make_spec(points)
    plan = make_plan(base, tmp / "s.zarr")
    shape = auto_chunks(plan.shape, plan.dtype.itemsize, target_bytes=chunk_bytes)
    spec = cases.make_spec(points, chunks=dict(zip(plan.dims, shape, strict=True)))
    store = tmp / "scaling-chunks.zarr"
    t, _ = cases.materialize(spec, "numba", repeat, workers, store)
    n_chunks = len(list(make_plan(spec, store).keys()))
    return _entry("chunk_size", f"{chunk_bytes / 2**20:g} MiB", plan.n_points, t,
                  chunk_shape=list(shape), n_chunks=n_chunks, workers=workers)


def threads(points: int, n: int, repeat: int, tmp: Path) -> dict:
    """``sweep run`` on Dask's threaded scheduler with ``n`` threads."""
    spec = cases.make_spec(points)
    t, _ = cases.materialize(spec, "numba", repeat, n, tmp / "scaling-threads.zarr")
    return _entry("workers", f"{n} thread(s)", _points(spec), t, workers=n)


def processes(points: int, n: int, repeat: int, tmp: Path) -> dict:
    """``sweep run`` on a local ``dask.distributed`` cluster of ``n`` single-threaded worker
    processes (started before timing; the warm-up run compiles in the workers)."""
    import logging

    from distributed import Client, LocalCluster

    spec = cases.make_spec(points)
    # the scheduler runs in this process and logs its life at INFO: keep the report clean
    chatty = logging.getLogger("distributed")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            t, _ = cases.materialize(spec, "numba", repeat, n, tmp / "scaling-procs.zarr",
                                     client=client)
    finally:
        chatty.setLevel(level)
    return _entry("workers", f"{n} process(es)", _points(spec), t, workers=n)


def _points(spec) -> int:
    from sweep.planning.planner import make_plan

    return make_plan(spec, "unused.zarr").n_points
