"""What ``sweep bench`` times, one function per row kind.

Modes (each on the benchmark grid of :mod:`sweep.benchmark.grid`, float32, two outputs):

* ``kernel``: the backend's ``compute`` over every chunk of the engine's plan, one Dask
  task per chunk on the threaded scheduler, each thread writing into one reused output
  buffer (pinned memory for the GPU backends, so their rows include the copy back): the
  engine without the store. ``cuda`` also gets a ``device`` row: one launch over the whole
  grid into device memory, no copy back.
* ``materialize``: ``sweep.run`` end to end into a new Zarr store (wall clock).
* ``reduce``: ``sweep.engine.reduce.run_reduce`` of ``usd_per_mtok`` with every dim folded
  (count, extremes and their positions, mean, std, a 256-bin log histogram), nothing
  stored; the ``numpy`` row is materialize-then-reduce with NumPy on the engine's chunks.

Ceilings, measured in the same run on the same bytes:

* ``host_fill``: a write-only fill of the same bytes through the same reused per-thread
  buffers, chunk by chunk on the same Dask threads (:func:`host_fill`);
* ``zarr_write``: Zarr's own encode-and-write of the kernel's precomputed chunks with the
  engine's codec, chunks and threads (at most 10^8 points' worth of chunks);
* on a GPU: ``d2d_copy`` and ``d2h_copy`` (:mod:`sweep.benchmark.device`).
"""

from __future__ import annotations

import concurrent.futures
import math
import shutil
import threading
from pathlib import Path

import numba
import numpy as np

from sweep.benchmark.grid import grid_spec, throughput_grid_spec
from sweep.benchmark.timing import Timing, measure

#: Most points whose chunks the Zarr ceiling holds in memory at once.
ZARR_MAX_POINTS = 10**8
#: The reduce rows' histogram range for usd_per_mtok (the grid spans about 0.036 to 81).
REDUCE_RANGE = (0.01, 1000.0)
REDUCE_BINS = 256


#: The benchmark grids (``sweep bench --grid``): the cost model over given throughput, and
#: the throughput family's roofline (derived throughput, concurrency innermost).
GRIDS = ("cost", "throughput")
#: The throughput grid's reduce rows: ``best:`` at this interactivity target.
BEST_SLO = 20.0


def _grid(points: float, grid: str) -> dict:
    if grid not in GRIDS:
        raise ValueError(f"--grid: {grid!r}; expected one of {', '.join(GRIDS)}")
    return grid_spec(points) if grid == "cost" else throughput_grid_spec(points)


def make_spec(points: float, store: Path | None = None, chunks: dict[str, int] | None = None,
              grid: str = "cost"):
    """The benchmark sweep of about ``points`` points (materialize mode) on ``grid``."""
    from sweep.spec.config import spec_from_dict

    d = _grid(points, grid)
    if store is not None:
        d["store"] = str(store)
    if chunks:
        d["chunks"] = chunks
    return spec_from_dict(d)


def reduce_spec(points: float, grid: str = "cost"):
    """The benchmark sweep of about ``points`` points folded to statistics of usd_per_mtok;
    on the throughput grid also ``best:`` (the cheapest point with at least
    :data:`BEST_SLO` tokens/s per user, per value of the outermost axis)."""
    from sweep.spec.config import spec_from_dict

    d = _grid(points, grid)
    d["outputs"] = ["usd_per_mtok"]
    d["reduce"] = {"over": list(d["axes"]),
                   "histogram": {"bins": REDUCE_BINS, "scale": "log",
                                 "range": {"usd_per_mtok": list(REDUCE_RANGE)}}}
    if grid == "throughput":
        d["reduce"]["best"] = {"minimize": "usd_per_mtok",
                               "subject_to": {"tokens_per_s_per_user": {"min": BEST_SLO}}}
    return spec_from_dict(d)


#: Per-thread output buffers, reused across chunks and repeats as the engine reuses its own.
_BUFFERS = threading.local()

# --------------------------------------------------------------------------- ceilings


@numba.njit(nogil=True, cache=True)
def _fill(a, value):
    for i in range(a.size):
        a[i] = value


def host_fill(plan, repeat: int, workers: int) -> Timing:
    """The ``kernel`` rows' write pattern without their arithmetic: every chunk of ``plan``
    is a Dask task (``workers`` threads) that fills its thread's reused buffer (as large as
    the chunk's outputs) with a constant, in a compiled loop that releases the GIL. Same
    bytes, same buffers, same scheduling: the like-for-like write ceiling. Small grids stay
    in the CPU caches, as the kernel rows do."""
    import dask
    import dask.threaded

    size = len(plan.outputs) * math.prod(plan.chunk_shape)
    value = plan.dtype.type(1.0)

    def task(key) -> int:
        buf = getattr(_BUFFERS, "fill", None)
        if buf is None or buf.size != size or buf.dtype != plan.dtype:
            buf = _BUFFERS.fill = np.empty(size, dtype=plan.dtype)
        _fill(buf[: len(plan.outputs) * key.size], value)
        return key.size

    def run() -> None:
        tasks = [dask.delayed(task, pure=False)(key) for key in plan.keys()]  # noqa: SIM118
        dask.compute(*tasks, scheduler=dask.threaded.get, num_workers=workers)

    return measure(run, repeat)


def zarr_write(plan, repeat: int, workers: int, tmp: Path) -> tuple[Timing, int, int]:
    """Zarr v3's encode-and-write of the kernel's own chunks (computed untimed beforehand)
    with the engine's codec, chunk shape and ``workers`` threads, into a new store each
    repeat. At most :data:`ZARR_MAX_POINTS` points of chunks are used. Returns the timing,
    the points written and the bytes stored."""
    import zarr

    from sweep.backends import get_backend
    from sweep.storage import store as zstore

    backend = get_backend("numba")
    chunks, points = [], 0
    for key in plan.keys():  # noqa: SIM118 (a Plan, not a dict)
        if points and points + key.size > ZARR_MAX_POINTS:
            break
        values, _ = backend.compute(plan.chunk_inputs(key), plan.output_codes, plan.dtype)
        chunks.append((key, values))
        points += key.size
    compressor = zstore.codec(plan.spec.codec)
    compressors = (compressor,) if compressor is not None else None
    path = tmp / "ceiling.zarr"

    def write() -> None:
        group = zarr.open_group(path, mode="w", zarr_format=3)
        arrays = [group.create_array(name, shape=plan.shape, chunks=plan.chunk_shape,
                                     dtype=plan.dtype, compressors=compressors,
                                     fill_value=np.nan, dimension_names=plan.dims)
                  for name in plan.outputs]

        def one(item) -> None:
            key, values = item
            for k, arr in enumerate(arrays):
                arr[key.slices] = values[k]

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, chunks))

    timing = measure(write, repeat, setup=lambda: shutil.rmtree(path, ignore_errors=True))
    stored = _du(path)
    shutil.rmtree(path, ignore_errors=True)
    return timing, points, stored


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- modes


def kernel(plan, backend, repeat: int, workers: int) -> Timing:
    """``backend.compute`` over every chunk, one Dask task each on ``workers`` threads,
    each thread reusing one output buffer from ``backend.host_buffer``; results dropped
    (their NaN counts are kept so the work cannot be skipped)."""
    import dask
    import dask.threaded

    size = len(plan.outputs) * math.prod(plan.chunk_shape)
    codes, dtype = plan.output_codes, plan.dtype
    slot = f"buf_{backend.name}_{id(plan)}"

    def task(key) -> int:
        buf = getattr(_BUFFERS, slot, None)
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = backend.host_buffer(size, dtype)
            setattr(_BUFFERS, slot, buf)
        _, stats = backend.compute(plan.chunk_inputs(key), codes, dtype, buf)
        return int(stats.nan_counts.sum())

    def run() -> None:
        tasks = [dask.delayed(task, pure=False)(key) for key in plan.keys()]  # noqa: SIM118
        nans = sum(dask.compute(*tasks, scheduler=dask.threaded.get, num_workers=workers))
        if nans:
            raise RuntimeError(f"backend {backend.name} gave {nans} NaN(s) on the bench grid")

    backend.warm_up(plan.chunk_inputs(next(plan.keys())), codes, dtype)
    return measure(run, repeat)


def materialize(spec, backend: str, repeat: int, workers: int, store: Path,
                client=None) -> tuple[Timing, dict]:
    """``sweep.run`` end to end into ``store`` (deleted untimed before each repeat).
    Returns the timing and facts of the last run (stored bytes, the engine's own seconds)."""
    from sweep.api import run

    last = {}

    def once() -> None:
        res = run(spec, store=store, backend=backend, overwrite=True, progress=False,
                  num_workers=workers, client=client)
        if any(res.nan_counts.values()):
            raise RuntimeError(f"sweep.run with backend {backend} produced NaNs: "
                               f"{res.nan_counts}")
        last["engine_seconds"] = res.seconds

    timing = measure(once, repeat, setup=lambda: shutil.rmtree(store, ignore_errors=True))
    last["stored_bytes"] = _du(store)
    shutil.rmtree(store, ignore_errors=True)
    return timing, last


def reduce(points: float, backend: str, repeat: int, workers: int, grid: str = "cost"
           ) -> Timing:
    """Reduce mode with ``backend`` (numba or cuda): statistics and the histogram of
    usd_per_mtok over the whole grid (and ``best:`` on the throughput grid), nothing
    written."""
    from sweep.engine.reduce import run_reduce

    spec = reduce_spec(points, grid)
    return measure(lambda: run_reduce(spec, write=False, progress=False, backend=backend,
                                      num_workers=workers), repeat)


def reduce_numpy(points: float, repeat: int, grid: str = "cost") -> Timing:
    """The NumPy reference for reduce mode: the engine's NumPy backend materializes each
    chunk (float64), then NumPy computes the same statistics and histogram per chunk and
    they are merged (Chan's formula for mean and variance); on the throughput grid also the
    cheapest point meeting the interactivity target. One thread, as NumPy runs."""
    from sweep.backends import NumpyBackend
    from sweep.planning.planner import make_plan

    plan = make_plan(make_spec(points, grid=grid), "unused.zarr")
    k = plan.outputs.index("usd_per_mtok")
    best = grid == "throughput"
    codes = plan.output_codes if best else plan.output_codes[k:k + 1]
    edges = np.geomspace(*REDUCE_RANGE, REDUCE_BINS + 1)
    be = NumpyBackend()

    def once() -> tuple:
        count, mean, m2 = 0, 0.0, 0.0
        lo, hi = math.inf, -math.inf
        hist = np.zeros(REDUCE_BINS, np.int64)
        for key in plan.keys():  # noqa: SIM118
            values, _ = be.compute(plan.chunk_inputs(key), codes, np.dtype(np.float64))
            v = values[k] if best else values[0]
            if best:   # the masked minimum and its position, as best: finds them
                with np.errstate(invalid="ignore"):
                    feasible = np.where(values[1 - k] >= BEST_SLO, v, np.nan)
                if not np.isnan(feasible).all():
                    _ = np.nanargmin(feasible)
            ok = v[~np.isnan(v)]
            if not ok.size:
                continue
            lo, hi = min(lo, float(ok.min())), max(hi, float(ok.max()))
            _ = np.nanargmin(v), np.nanargmax(v)   # positions, as run_reduce finds them
            hist += np.histogram(ok, bins=edges)[0]
            c, mu = ok.size, float(ok.mean())
            sq = float(((ok - mu) ** 2).sum())
            delta, total = mu - mean, count + c
            mean += delta * c / total
            m2 += sq + delta * delta * count * c / total
            count = total
        return count, mean, m2, lo, hi, hist

    return measure(once, repeat)
