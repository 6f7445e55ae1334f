"""Peer benchmark: token-sweep against what a user would otherwise write.

For each size in ``--sizes`` the shared benchmark grid (``sweep.benchmark.grid``: a 4-D
float32 sweep ``gpu_hour_usd x tokens_per_s_per_gpu x utilization x
electricity_usd_per_kwh`` of about that many points, innermost axis ~10^4 long,
``kw_per_gpu = 1``, ``pue = 1.2``) is planned by the engine (``sweep.plan``), and both
outputs are computed, in float32, by each row below. With those constants the formulas
reduce to::

    usd_per_mtok        = (gpu_hour_usd + kw_per_gpu * pue * electricity_usd_per_kwh)
                          / (tokens_per_s_per_gpu * utilization * 3600) * 1e6
    tokens_per_s_per_mw = tokens_per_s_per_gpu * 1000 / (kw_per_gpu * pue)

which is what the peers write by hand.

Rows (peers first, then token-sweep):

- ``numpy``: plain NumPy broadcasting of the four float32 1-D axes, as a user writes it
  (one thread, full-size temporaries); ``tokens_per_s_per_mw`` is broadcast to the full
  shape and materialized (``np.broadcast_to(...).copy()``).
- ``numexpr``: ``numexpr.evaluate`` of the same expressions on full-shape broadcast views
  (zero-stride, nothing copied), its own threads (``numexpr.set_num_threads(--workers)``);
  the constants are passed as float32 variables, since numexpr's double literals would
  turn the whole expression into float64.
- ``xarray``: DataArray arithmetic on 1-D coordinate DataArrays (broadcast by dimension
  name), transposed to the grid's dimension order, ``tokens_per_s_per_mw`` broadcast with
  ``broadcast_like`` and copied: a NumPy-backed Dataset, materialized.
- ``xarray_dask``: the same on Dask-backed DataArrays (each axis chunked like the engine's
  plan, the Dataset then chunked to the plan's chunks), ``.compute()`` on Dask's threaded
  scheduler with ``--workers`` threads (chunks concatenated into one array per output).
- ``xarray_to_zarr``: ``Dataset.to_zarr(zarr_format=3, consolidated=False)`` of that naive
  Dask-backed Dataset, with the engine's chunks and codec (``sweep.storage.store.codec("zstd")``,
  given as the zarr v3 ``compressors`` encoding): compute and store, ``--workers`` threads.
- ``sweep_kernel`` (token-sweep): ``get_backend("numba", parallel=True).compute(...)`` over
  every chunk of the plan, results kept in memory (one array per chunk), Numba's threads.
- ``sweep_kernel_dask`` (token-sweep): the serial Numba backend, one chunk per task on
  Dask's threaded scheduler with ``--workers`` threads, each thread writing into one
  reused buffer as the engine does; results discarded (the engine's compute, no store).
- ``sweep_run`` (token-sweep): ``sweep.run(spec, store=..., overwrite=True, progress=False,
  backend="numba", num_workers=--workers)`` end to end, wall clock around the call (the
  engine's own ``RunResult.seconds`` is kept in the JSON).

Method: each row gets one untimed warm-up call (JIT compile, imports, first touch), then
the median of ``--repeat`` timed calls (``sweep.benchmark.timing.measure``); spread is
(slowest - fastest) / median. Every timed call builds its inputs from the plan's axes and
allocates its own outputs; the previous call's result is dropped untimed before the next.
Stores are written to a temporary folder under ``--out`` (page cache, no fsync), the
previous repeat's store deleted untimed; all are deleted at the end. points/s counts grid
points; GB/s counts uncompressed output (points x 2 outputs x 4 B). Speed-up is the peer's
seconds over token-sweep's matching row: ``sweep_kernel`` for the in-memory rows,
``sweep_run`` for ``xarray_to_zarr``.

Every row's values (the stores read back, for the Zarr rows; ``sweep_kernel_dask``
discards its results and is checked for NaNs only) are compared, chunk by chunk, with the
engine's serial Numba kernel: a maximum relative difference of 1e-5 or more stops the
benchmark. A peer whose library is not installed (numexpr is optional: ``pip install
token-sweep[bench]``) is skipped with a printed reason.

Results go to ``--out/results.json`` and ``--out/results.md`` (the tables are also
printed), with the machine (``sweep.benchmark.machine.describe()``), the exact command,
this method and the date.

Caveats: at 10^6 points everything fits in the CPU caches; threaded rows suffer most from
other load on the machine; the linspace grid compresses far better than real sweeps.
At 10^8 points one copy of both outputs is 0.8 GB: rows run one at a time and each
result is freed before the next row.

Usage::

    .venv/bin/python bench/peers.py                         # 1e6, 1e7, 1e8 points, 3 repeats
    .venv/bin/python bench/peers.py --sizes 1e6,1e7         # quick run
    .venv/bin/python bench/peers.py --workers 8 --out /tmp/peers
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import math
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

import sweep
from sweep.backends import get_backend
from sweep.benchmark.grid import KW_PER_GPU, OUTPUTS, PUE, grid_spec
from sweep.benchmark.machine import describe, one_line
from sweep.benchmark.report import save_results
from sweep.benchmark.timing import Timing, measure
from sweep.planning.planner import ChunkKey, Plan
from sweep.spec.config import SweepSpec, spec_from_dict
from sweep.storage import store as zstore

ROOT = Path(__file__).resolve().parent.parent
DTYPE = np.dtype(np.float32)
#: Largest relative difference from the engine's kernel that any row may show.
TOLERANCE = 1e-5
DEFAULT_SIZES = "1e6,1e7,1e8"

METHOD = (
    "each row: one untimed warm-up call, then the median of --repeat timed calls "
    "(sweep.benchmark.timing.measure); spread = (slowest - fastest) / median; float32, both "
    "outputs (usd_per_mtok, tokens_per_s_per_mw) over the full grid in every call; previous "
    "result or store dropped untimed between calls; stores in the page cache (no fsync); "
    "GB/s = points x 2 outputs x 4 B / seconds; speed-up = peer seconds / token-sweep "
    "seconds (sweep_kernel for in-memory rows, sweep_run for xarray_to_zarr); every row "
    f"checked chunk by chunk against the engine's serial Numba kernel (max relative "
    f"difference < {TOLERANCE:g})"
)

#: Expressions, by input name, shared by the NumPy, numexpr and xarray rows.
USD_EXPR = ("(gpu_hour_usd + kw_pue * electricity_usd_per_kwh)"
            " / (tokens_per_s_per_gpu * utilization * s_per_h) * per_mtok")
TPM_EXPR = "tokens_per_s_per_gpu * w_per_kw / kw_pue"
#: The formulas' constants, float32 (numexpr would compute in float64 with double literals).
CONSTANTS = {"kw_pue": np.float32(KW_PER_GPU * PUE), "s_per_h": np.float32(3600),
             "per_mtok": np.float32(1e6), "w_per_kw": np.float32(1000)}


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: who computes, with what, compared with which token-sweep row."""

    name: str
    side: str                  # "peer" or "token-sweep"
    what: str
    requires: tuple[str, ...]  # importable modules it needs
    compare_with: str | None = None


ROWS = (
    RowSpec("numpy", "peer", "NumPy float32 broadcasting of the 1-D axes, one thread",
            ("numpy",), "sweep_kernel"),
    RowSpec("numexpr", "peer", "numexpr.evaluate on broadcast views, numexpr threads",
            ("numexpr",), "sweep_kernel"),
    RowSpec("xarray", "peer", "xarray arithmetic on 1-D coordinate DataArrays, NumPy-backed",
            ("xarray",), "sweep_kernel"),
    RowSpec("xarray_dask", "peer", "the same, Dask-backed with the plan's chunks, .compute() "
            "on Dask threads", ("xarray", "dask"), "sweep_kernel"),
    RowSpec("xarray_to_zarr", "peer", "Dataset.to_zarr (v3) of the Dask-backed result, "
            "engine's chunks and codec, Dask threads", ("xarray", "dask", "zarr"), "sweep_run"),
    RowSpec("sweep_kernel", "token-sweep", "engine's Numba kernel, Numba threads, plan's "
            "chunks kept in memory", ("numba",)),
    RowSpec("sweep_kernel_dask", "token-sweep", "serial Numba kernel per chunk on Dask "
            "threads, reused buffers, results discarded", ("numba", "dask")),
    RowSpec("sweep_run", "token-sweep", "sweep.run end to end (compute + Zarr store), "
            "backend numba", ("numba", "dask", "zarr")),
)


@dataclass
class Row:
    """A timed row."""

    spec: RowSpec
    timing: Timing
    n_points: int
    bytes_out: int
    max_rel_diff: float | None
    extra: dict = field(default_factory=dict)
    speedup: float | None = None

    @property
    def seconds(self) -> float:
        return self.timing.median

    @property
    def points_per_s(self) -> float:
        return self.n_points / self.seconds

    @property
    def gb_per_s(self) -> float:
        return self.bytes_out / self.seconds / 1e9

    def as_dict(self) -> dict:
        return {"name": self.spec.name, "side": self.spec.side, "what": self.spec.what,
                "compare_with": self.spec.compare_with, "seconds": self.seconds,
                "times": list(self.timing.times), "spread": self.timing.spread,
                "points_per_s": self.points_per_s, "gb_per_s": self.gb_per_s,
                "speedup": self.speedup, "max_rel_diff": self.max_rel_diff, **self.extra}


def missing_module(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that cannot be imported, or None."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None


# --------------------------------------------------------------------------- peers


def numpy_axes(plan: Plan) -> dict[str, np.ndarray]:
    """Each axis as a float32 array shaped to broadcast along its own dimension."""
    nd = len(plan.axes)
    out = {}
    for d, axis in enumerate(plan.axes):
        shape = [1] * nd
        shape[d] = len(axis)
        out[axis.name] = np.asarray(axis.coord, dtype=DTYPE).reshape(shape)
    return out


def peer_numpy(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The formulas as a user writes them: float32 NumPy broadcasting."""
    x = numpy_axes(plan)
    c = CONSTANTS
    usd = ((x["gpu_hour_usd"] + c["kw_pue"] * x["electricity_usd_per_kwh"])
           / (x["tokens_per_s_per_gpu"] * x["utilization"] * c["s_per_h"]) * c["per_mtok"])
    tpm = np.broadcast_to(x["tokens_per_s_per_gpu"] * c["w_per_kw"] / c["kw_pue"],
                          plan.shape).copy()
    return usd, tpm


def peer_numexpr(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """``numexpr.evaluate`` of the same expressions on full-shape broadcast views."""
    import numexpr

    views = {k: np.broadcast_to(v, plan.shape) for k, v in numpy_axes(plan).items()}
    local = views | CONSTANTS
    usd = numexpr.evaluate(USD_EXPR, local_dict=local)
    tpm = numexpr.evaluate(TPM_EXPR, local_dict=local)
    return usd, tpm


def xarray_dataset(plan: Plan, chunked: bool):
    """The outputs as a user writes them with xarray: arithmetic on 1-D coordinate
    DataArrays, broadcast by name, in the grid's dimension order; Dask-backed with the
    plan's chunks when ``chunked`` (lazy), else NumPy-backed (materialized)."""
    import xarray as xr

    x = {}
    for d, axis in enumerate(plan.axes):
        values = np.asarray(axis.coord, dtype=DTYPE)
        da = xr.DataArray(values, coords={axis.name: values}, dims=axis.name)
        x[axis.name] = da.chunk({axis.name: plan.chunk_shape[d]}) if chunked else da
    c = CONSTANTS
    usd = ((x["gpu_hour_usd"] + c["kw_pue"] * x["electricity_usd_per_kwh"])
           / (x["tokens_per_s_per_gpu"] * x["utilization"] * c["s_per_h"]) * c["per_mtok"])
    usd = usd.transpose(*plan.dims)
    tpm = (x["tokens_per_s_per_gpu"] * c["w_per_kw"] / c["kw_pue"]).broadcast_like(usd)
    tpm = tpm.transpose(*plan.dims)
    if not chunked:
        tpm = tpm.copy()  # broadcast_like is a read-only view: materialize it
    ds = xr.Dataset({OUTPUTS[0]: usd, OUTPUTS[1]: tpm})
    if chunked:  # the broadcast output has one chunk along its new dimensions: split them
        ds = ds.chunk(dict(zip(plan.dims, plan.chunk_shape, strict=True)))
    return ds


def peer_xarray(plan: Plan):
    return xarray_dataset(plan, chunked=False)


def peer_xarray_dask(plan: Plan, workers: int):
    return xarray_dataset(plan, chunked=True).compute(scheduler="threads",
                                                      num_workers=workers)


def peer_xarray_to_zarr(plan: Plan, workers: int, path: Path) -> None:
    """Compute and store the naive Dask-backed Dataset, with the engine's chunks and codec."""
    import dask

    ds = xarray_dataset(plan, chunked=True)
    codec = zstore.codec("zstd")
    encoding = {name: {"chunks": plan.chunk_shape,
                       "compressors": (codec,) if codec is not None else None}
                for name in OUTPUTS}
    with dask.config.set(scheduler="threads", num_workers=workers):
        ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=encoding)


# --------------------------------------------------------------------------- token-sweep


def sweep_kernel(plan: Plan, backend) -> dict[ChunkKey, np.ndarray]:
    """The engine's Numba kernel with its own threads, every chunk, kept in memory."""
    codes, dtype = plan.output_codes, plan.dtype
    return {key: backend.compute(plan.chunk_inputs(key), codes, dtype)[0]
            for key in plan.keys()}


#: One output buffer per worker thread, kept across repeats as the engine keeps its own.
_BUFFERS = threading.local()


def sweep_kernel_dask(plan: Plan, backend, workers: int) -> int:
    """The serial kernel, one chunk per task on Dask's threaded scheduler, each thread
    writing into one reused buffer; results dropped. Returns the number of NaNs."""
    import dask

    codes, dtype = plan.output_codes, plan.dtype
    size = len(codes) * math.prod(plan.chunk_shape)

    def task(key: ChunkKey) -> int:
        buf = getattr(_BUFFERS, "buf", None)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = _BUFFERS.buf = np.empty(size, dtype=dtype)
        _, stats = backend.compute(plan.chunk_inputs(key), codes, dtype, buf)
        return int(stats.nan_counts.sum())

    tasks = [dask.delayed(task, pure=False)(key) for key in plan.keys()]
    return sum(dask.compute(*tasks, scheduler="threads", num_workers=workers))


# --------------------------------------------------------------------------- checks


def max_rel_diff(plan: Plan, chunk_of: Callable[[ChunkKey], np.ndarray]) -> float:
    """Largest relative difference, over every chunk, between ``chunk_of(key)`` (an
    (n_outputs, *key.shape) array) and the engine's serial Numba kernel (inf for a NaN)."""
    ref_backend = get_backend("numba")
    codes, dtype = plan.output_codes, plan.dtype
    worst = 0.0
    for key in plan.keys():
        ref = ref_backend.compute(plan.chunk_inputs(key), codes, dtype)[0].astype(np.float64)
        got = np.asarray(chunk_of(key), dtype=np.float64)
        if got.shape != ref.shape:
            raise SystemExit(f"chunk {key.name}: shape {got.shape}, expected {ref.shape}")
        diff = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-30)))
        if math.isnan(diff):
            return math.inf
        worst = max(worst, diff)
    return worst


def arrays_chunk_of(arrays) -> Callable[[ChunkKey], np.ndarray]:
    """``chunk_of`` for full-grid arrays (one per output, in :data:`OUTPUTS` order)."""
    return lambda key: np.stack([np.asarray(a[key.slices]) for a in arrays])


def store_chunk_of(path: Path) -> Callable[[ChunkKey], np.ndarray]:
    """``chunk_of`` reading a Zarr v3 store's outputs."""
    import zarr

    group = zarr.open_group(path, mode="r", zarr_format=3)
    arrays = [group[name] for name in OUTPUTS]
    return lambda key: np.stack([a[key.slices] for a in arrays])


# --------------------------------------------------------------------------- one size


def run_size(points: int, repeat: int, workers: int, tmp: Path) -> dict:
    """Every row at about ``points`` points; the size's part of the report."""
    store = tmp / "sweep_run.zarr"
    spec: SweepSpec = spec_from_dict(grid_spec(points) | {"store": str(store)})
    plan = sweep.plan(spec, store)
    n, nbytes = plan.n_points, plan.n_points * len(OUTPUTS) * DTYPE.itemsize
    print(f"\n{n:,} points: grid {plan.shape}, chunks {plan.chunk_shape} x {plan.n_chunks}, "
          f"{nbytes / 1e9:.2f} GB out, {workers} worker(s)", flush=True)

    rows: list[Row] = []
    skipped: list[dict] = []
    notes: list[str] = []
    if plan.n_chunks < workers:
        notes.append(f"only {plan.n_chunks} chunk(s) for {workers} worker(s): the chunked "
                     "rows cannot use every thread at this size")

    parallel = get_backend("numba", parallel=True)
    serial = get_backend("numba")
    first = plan.chunk_inputs(next(plan.keys()))
    parallel.warm_up(first, plan.output_codes, plan.dtype)
    serial.warm_up(first, plan.output_codes, plan.dtype)

    def timed_kept(fn: Callable[[], object], setup: Callable[[], object] | None = None
                   ) -> tuple[Timing, object]:
        """``measure`` that keeps the last call's result (dropped before each call)."""
        kept: list[object] = []

        def before() -> None:
            kept.clear()
            if setup is not None:
                setup()

        timing = measure(lambda: kept.append(fn()), repeat, setup=before)
        return timing, kept[0]

    def remove(path: Path) -> Callable[[], None]:
        return lambda: shutil.rmtree(path, ignore_errors=True)

    def add(row_spec: RowSpec, timing: Timing, diff: float | None, **extra) -> None:
        if diff is not None and not diff < TOLERANCE:
            raise SystemExit(f"{row_spec.name} at {n:,} points disagrees with token-sweep's "
                             f"kernel: max relative difference {diff:.3g} >= {TOLERANCE:g}")
        row = Row(row_spec, timing, n, nbytes, diff, extra)
        rows.append(row)
        check = "unchecked" if diff is None else f"max rel diff {diff:.1e}"
        print(f"  {row_spec.name:18s} {row.seconds:9.4f} s  {row.points_per_s / 1e6:9.1f} M "
              f"points/s  {row.gb_per_s:6.2f} GB/s  spread {timing.spread:5.1%}  {check}",
              flush=True)

    def run_row(row_spec: RowSpec) -> None:
        """Time one row, check its values, record it; its result is freed on return."""
        name = row_spec.name
        if name in ("numpy", "numexpr"):
            if name == "numexpr":
                import numexpr

                numexpr.set_num_threads(workers)
            fn = peer_numpy if name == "numpy" else peer_numexpr
            timing, result = timed_kept(lambda: fn(plan))
            if any(a.dtype != DTYPE or a.shape != plan.shape for a in result):
                raise SystemExit(f"{name}: got {[(a.dtype, a.shape) for a in result]}, "
                                 f"expected float32 {plan.shape}")
            add(row_spec, timing, max_rel_diff(plan, arrays_chunk_of(result)))
        elif name in ("xarray", "xarray_dask"):
            timing, result = timed_kept((lambda: peer_xarray(plan)) if name == "xarray"
                                        else (lambda: peer_xarray_dask(plan, workers)))
            arrays = [result[o].data for o in OUTPUTS]
            if any(not isinstance(a, np.ndarray) or a.dtype != DTYPE for a in arrays):
                raise SystemExit(f"{name}: outputs are {[type(a) for a in arrays]}, "
                                 f"{[getattr(a, 'dtype', None) for a in arrays]}")
            add(row_spec, timing, max_rel_diff(plan, arrays_chunk_of(arrays)))
        elif name == "xarray_to_zarr":
            path = tmp / "xarray_to_zarr.zarr"
            timing = measure(lambda: peer_xarray_to_zarr(plan, workers, path), repeat,
                             setup=remove(path))
            add(row_spec, timing, max_rel_diff(plan, store_chunk_of(path)),
                stored_bytes=du(path))
            shutil.rmtree(path, ignore_errors=True)
        elif name == "sweep_kernel":
            timing, result = timed_kept(lambda: sweep_kernel(plan, parallel))
            add(row_spec, timing, max_rel_diff(plan, result.__getitem__),
                threading_layer=numba.threading_layer())
        elif name == "sweep_kernel_dask":
            timing, nans = timed_kept(lambda: sweep_kernel_dask(plan, serial, workers))
            if nans:
                raise SystemExit(f"sweep_kernel_dask produced {nans} NaN(s)")
            add(row_spec, timing, None, nan_count=nans)
        elif name == "sweep_run":
            engine_seconds: list[float] = []

            def run_sweep() -> None:
                res = sweep.run(spec, store=store, overwrite=True, progress=False,
                                backend="numba", num_workers=workers)
                engine_seconds.append(res.seconds)

            timing = measure(run_sweep, repeat, setup=remove(store))
            add(row_spec, timing, max_rel_diff(plan, store_chunk_of(store)),
                engine_seconds=engine_seconds[1:], stored_bytes=du(store))
            shutil.rmtree(store, ignore_errors=True)
        else:  # pragma: no cover - ROWS and this dispatch go together
            raise AssertionError(name)

    for row_spec in ROWS:
        missing = missing_module(row_spec.requires)
        if missing is not None:
            reason = f"{missing} is not installed"
            skipped.append({"name": row_spec.name, "reason": reason})
            print(f"  {row_spec.name:18s} skipped: {reason}", flush=True)
            continue
        run_row(row_spec)
        gc.collect()  # the row's result is gone: give its memory back before the next row

    by = {r.spec.name: r for r in rows}
    for r in rows:
        other = by.get(r.spec.compare_with) if r.spec.compare_with else None
        if other is not None:
            r.speedup = r.seconds / other.seconds
    return {
        "requested_points": points,
        "n_points": n,
        "shape": list(plan.shape),
        "dims": list(plan.dims),
        "chunk_shape": list(plan.chunk_shape),
        "n_chunks": plan.n_chunks,
        "bytes_out": nbytes,
        "rows": [r.as_dict() for r in rows],
        "skipped": skipped,
        "notes": notes,
    }


def du(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- report


def size_table(size: dict) -> list[str]:
    """The markdown table of one size."""
    lines = [
        f"### {size['n_points']:,} points",
        "",
        (f"grid {' x '.join(map(str, size['shape']))} ({', '.join(size['dims'])}), float32, "
         f"2 outputs ({size['bytes_out'] / 1e9:.2f} GB); chunks {tuple(size['chunk_shape'])} "
         f"x {size['n_chunks']}"),
        "",
        "| row | side | seconds | M points/s | GB/s | spread | token-sweep speed-up |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in size["rows"]:
        speed = (f"{r['speedup']:.2f}x (vs {r['compare_with']})" if r["speedup"] is not None
                 else "")
        lines.append(f"| {r['name']} | {r['side']} | {r['seconds']:.4f} | "
                     f"{r['points_per_s'] / 1e6:,.1f} | {r['gb_per_s']:.2f} | "
                     f"{r['spread']:.1%} | {speed} |")
    for s in size["skipped"]:
        lines.append(f"| {s['name']} | skipped: {s['reason']} | | | | | |")
    if size["notes"]:
        lines += ["", *(f"- {note}" for note in size["notes"])]
    return lines


def markdown(report: dict) -> str:
    m = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [
        f"## token-sweep vs its peers ({report['date']})",
        "",
        f"- machine: {one_line(m)}; load average at start {m['loadavg']}",
        f"- packages: {packages}",
        f"- command: `{report['command']}`",
        f"- {report['workers']} worker thread(s), median of {report['repeat']} after a warm-up",
        f"- method: {report['method']}",
        "",
        "Rows:",
        "",
        *(f"- `{r.name}` ({r.side}): {r.what}" for r in ROWS),
        "",
    ]
    for size in report["sizes"]:
        lines += [*size_table(size), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_sizes(text: str) -> list[int]:
    """``"1e6,1e7"`` -> ``[1000000, 10000000]``."""
    try:
        sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r}: {exc}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--sizes: {text!r}; expected numbers >= 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                    help=f"comma-separated grid sizes in points (default {DEFAULT_SIZES})")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row (median)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="threads: Dask workers, numexpr's and Numba's threads")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "peers",
                    help="folder for results.json, results.md and the temporary Zarr stores")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.workers < 1:
        ap.error("--repeat and --workers must be >= 1")
    command = shlex.join(["python", "bench/peers.py",
                          *(sys.argv[1:] if argv is None else argv)])

    machine = describe()
    numba.set_num_threads(min(args.workers, numba.config.NUMBA_NUM_THREADS))
    print(one_line(machine), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-zarr-", dir=args.out))
    try:
        sizes = [run_size(points, args.repeat, args.workers, tmp) for points in args.sizes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "method": METHOD,
        "workers": args.workers,
        "repeat": args.repeat,
        "rows": {r.name: {"side": r.side, "what": r.what, "compare_with": r.compare_with}
                 for r in ROWS},
        "sizes": sizes,
    }
    save_results(args.out, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
