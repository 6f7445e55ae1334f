"""Materializing benchmark: how fast token-sweep turns a grid into stored numbers, and why.

One run measures, in float32, the two outputs ``usd_per_mtok`` and ``tokens_per_s_per_mw``
over a 4-D grid of about ``--points`` points::

    gpu_hour_usd x tokens_per_s_per_gpu x utilization x electricity_usd_per_kwh

(the innermost axis is long, ~10^4 values; the three outer ones share the rest), with
``kw_per_gpu = 1``, ``pue = 1.2`` and no capex or opex, so that the formulas reduce to
``usd_per_mtok = (gpu_hour_usd + kw*pue*elec) / (tps*util*3600) * 1e6`` and
``tokens_per_s_per_mw = tps*1000 / (kw*pue)``. The grid is planned by the engine
(``sweep.plan``, i.e. ``sweep.planning.planner.make_plan``), so every in-memory and Zarr
measurement uses the engine's own chunks.

What is timed (each: one untimed warm-up run, which also pays any JIT compile, then the
median of ``--repeat`` timed runs; output bytes are ``points x 2 outputs x 4 B``):

1. ``ceiling_*``: write-only fill of the same bytes, the limit for materializing:
   ``ndarray.fill`` into a preallocated (already touched) array (the like-for-like ceiling
   for the engine, which reuses one output buffer per thread), into a freshly allocated one
   (first-touch page faults included: what the in-memory API pays per call), and a Numba
   ``prange`` fill of a fresh array (all threads).
2. ``numpy_plain``: the formulas as a user writes them, plain NumPy broadcasting of
   float32 1-D axes (one thread, full-size temporaries).
3. ``numba_parallel``: ``get_backend("numba", parallel=True).compute(...)`` over the plan's
   chunks, whole grid kept in memory; ``numba_dask``: the serial kernel, one chunk per task
   on Dask's threaded scheduler with ``--workers`` threads, results discarded (the engine's
   real configuration, without the store).
4. ``zarr_write_*``: Zarr v3 writes of precomputed chunks (the kernel's results) into a new
   store under ``--out``, same shape and chunks, ``--workers`` threads, one chunk per task:
   with each of the engine's codecs (``sweep.storage.store.codec(name)``) and with none.
5. ``sweep_run``: ``sweep.run(spec, store=..., overwrite=True, progress=False,
   backend="numba", num_workers=--workers)`` end to end, wall clock around the call
   (the engine's own ``RunResult.seconds``, compute + write only, is kept in the JSON).

Zarr stores are written to a temporary folder under ``--out`` (page cache; nothing is
fsynced); the previous repeat's store is deleted untimed, and all are deleted at the end.
Results go to ``--out/results.json`` and ``--out/results.md`` (the table is also printed)
with the machine, load average, package versions and the exact command.

Caveats: at small sizes everything fits in the CPU caches, and a "fresh" array under
glibc's mmap threshold (up to 32 MiB) may be recycled heap memory that faults nothing, so
run at 10^7 points or more for numbers that mean anything; threaded rows suffer most from
other load on the machine; the linspace grid compresses far better than real sweeps,
which flatters the codec rows.

Ratios reported (throughput over throughput): kernel / ceiling (target >= 60 %),
kernel / numpy_plain (target >= 3.5x), sweep_run / zarr_write with the engine's codec
(target >= 80 %).

Usage::

    .venv/bin/python bench/bench_materialize.py                  # 1e8 points, 3 repeats
    .venv/bin/python bench/bench_materialize.py --points 1e7     # quick run
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import functools
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dask
import numba
import numpy as np
import xarray as xr
import zarr

import sweep
from sweep.backends import get_backend
from sweep.benchmark.report import save_results
from sweep.planning.planner import ChunkKey, Plan
from sweep.spec.config import spec_from_dict
from sweep.storage import store as zstore

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ("usd_per_mtok", "tokens_per_s_per_mw")
KW_PER_GPU = 1.0
PUE = 1.2
INNER = 10_000  # length of the innermost (contiguous) axis
DTYPE = np.dtype(np.float32)


# --------------------------------------------------------------------------- grid


def grid_axes(points: int) -> dict[str, int]:
    """Axis lengths (outermost first) whose product is about ``points``: the innermost
    axis ~10^4 long, the three outer ones about equal."""
    inner = max(1, min(INNER, points))
    outer = max(1, round(points / inner))
    a = max(1, round(outer ** (1 / 3)))
    b = max(1, round(math.sqrt(outer / a)))
    c = max(1, round(outer / (a * b)))
    return {"gpu_hour_usd": a, "tokens_per_s_per_gpu": b, "utilization": c,
            "electricity_usd_per_kwh": inner}


def make_spec(lengths: dict[str, int], store: Path) -> sweep.SweepSpec:
    """The sweep, through the public config API."""
    ranges = {"gpu_hour_usd": (1.0, 10.0), "tokens_per_s_per_gpu": (50.0, 10_000.0),
              "utilization": (0.05, 1.0), "electricity_usd_per_kwh": (0.0, 0.30)}
    axes = {}
    for name, n in lengths.items():
        lo, hi = ranges[name]
        axes[name] = {"linspace": {"start": lo, "stop": hi if n > 1 else lo, "num": n}}
    return spec_from_dict({
        "name": "bench-materialize",
        "axes": axes,
        "constants": {"kw_per_gpu": KW_PER_GPU, "pue": PUE, "capex_usd_per_gpu": 0.0,
                      "opex_usd_per_gpu_hour": 0.0},
        "outputs": list(OUTPUTS),
        "dtype": "float32",
        "chunks": "auto",
        "backend": "numba",
        "store": str(store),
    })


# --------------------------------------------------------------------------- timing


@dataclass
class Result:
    """One benchmark: median seconds over the repeats, and what it wrote."""

    name: str
    what: str
    times: list[float]
    n_points: int
    bytes_out: int
    extra: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def points_per_s(self) -> float:
        return self.n_points / self.seconds

    @property
    def gb_per_s(self) -> float:
        return self.bytes_out / self.seconds / 1e9

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds": self.seconds, "points_per_s": self.points_per_s,
                "gb_per_s": self.gb_per_s}


def measure(fn: Callable[[], object], repeat: int,
            setup: Callable[[], object] | None = None) -> tuple[list[float], object]:
    """Run ``fn`` once untimed (warm-up), then ``repeat`` times timed; ``setup`` runs untimed
    before every run. Returns the times and the last run's result."""
    times: list[float] = []
    last = None
    for i in range(repeat + 1):
        last = None  # drop the previous result before the next run allocates its own
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        last = fn()
        elapsed = time.perf_counter() - t0
        if i > 0:
            times.append(elapsed)
    return times, last


# --------------------------------------------------------------------------- benchmarks


@numba.njit(parallel=True, nogil=True)
def _parallel_fill(a, value):
    for i in numba.prange(a.size):
        a[i] = value


def bench_ceiling(n_values: int, repeat: int) -> list[tuple[str, str, list[float]]]:
    """Write-only fills of ``n_values`` float32: preallocated, fresh, fresh + all threads."""
    one = DTYPE.type(1.0)
    pre = np.empty(n_values, dtype=DTYPE)
    pre.fill(0)  # touch every page once: the timed fills pay no page faults

    t_pre, _ = measure(functools.partial(pre.fill, one), repeat)
    del pre

    def fresh():
        a = np.empty(n_values, dtype=DTYPE)
        a.fill(one)
        return a

    def fresh_parallel():
        a = np.empty(n_values, dtype=DTYPE)
        _parallel_fill(a, one)
        return a

    t_fresh, _ = measure(fresh, repeat)
    t_par, _ = measure(fresh_parallel, repeat)
    return [
        ("ceiling_fill_prealloc", "ndarray.fill, preallocated and touched array", t_pre),
        ("ceiling_fill_fresh", "ndarray.fill, freshly allocated array (page faults in)", t_fresh),
        ("ceiling_fill_fresh_parallel", "Numba prange fill, fresh array, all threads", t_par),
    ]


def numpy_plain(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The formulas as written, float32 NumPy broadcasting ("what a user writes")."""
    g, tps, util, elec = (a.coord.astype(np.float32) for a in plan.axes)
    g = g[:, None, None, None]
    tps = tps[None, :, None, None]
    util = util[None, None, :, None]
    elec = elec[None, None, None, :]
    kw, pue = KW_PER_GPU, PUE
    usd_per_mtok = (g + kw * pue * elec) / (tps * util * 3600) * 1e6
    tokens_per_s_per_mw = np.broadcast_to(tps * 1000 / (kw * pue), plan.shape).copy()
    return usd_per_mtok, tokens_per_s_per_mw


def numpy_meshgrid(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The formulas evaluated on full-size input grids (``np.meshgrid``), float32: the
    other thing a user writes, with a full-size temporary per operation."""
    g, tps, util, elec = np.meshgrid(*(a.coord.astype(np.float32) for a in plan.axes),
                                     indexing="ij")
    kw, pue = np.float32(KW_PER_GPU), np.float32(PUE)
    usd_per_gpu_hour = g + kw * pue * elec
    usd_per_mtok = usd_per_gpu_hour / (tps * util * np.float32(3600)) * np.float32(1e6)
    tokens_per_s_per_mw = tps * np.float32(1000) / (kw * pue)
    return usd_per_mtok, tokens_per_s_per_mw


def numba_parallel(plan: Plan, backend) -> list[tuple[ChunkKey, np.ndarray]]:
    """The engine's Numba kernel with its own threads, every chunk, kept in memory."""
    codes, dtype = plan.output_codes, plan.dtype
    return [(key, backend.compute(plan.chunk_inputs(key), codes, dtype)[0])
            for key in plan.keys()]  # noqa: SIM118 (a Plan, not a dict)


#: One output buffer per worker thread, kept across repeats as the engine keeps its own.
_BUFFERS = threading.local()


def _each_chunk_on_dask(plan: Plan, workers: int, body) -> None:
    """Run ``body(key, buffer)`` for every chunk, one Dask task each, on the threaded
    scheduler; ``buffer`` is the calling thread's reused output buffer."""
    size = len(plan.outputs) * math.prod(plan.chunk_shape)

    def task(key: ChunkKey) -> int:
        buf = getattr(_BUFFERS, "buf", None)
        if buf is None or buf.size < size or buf.dtype != plan.dtype:
            buf = _BUFFERS.buf = np.empty(size, dtype=plan.dtype)
        return body(key, buf)

    tasks = [dask.delayed(task, pure=False)(key) for key in plan.keys()]  # noqa: SIM118
    dask.compute(*tasks, scheduler="threads", num_workers=workers)


def numba_dask(plan: Plan, backend, workers: int) -> None:
    """The serial kernel, one chunk per task on Dask's threaded scheduler, each thread
    writing into one reused buffer as the engine does; results dropped."""
    codes, dtype = plan.output_codes, plan.dtype

    def body(key: ChunkKey, buf: np.ndarray) -> int:
        _, stats = backend.compute(plan.chunk_inputs(key), codes, dtype, buf)
        return int(stats.nan_counts.sum())

    _each_chunk_on_dask(plan, workers, body)


def numba_kernel_only(plan: Plan, workers: int) -> None:
    """The bare compiled kernel (``sweep.kernels.cpu.materialize``: values and NaN counts,
    no extremes, no Python-side statistics), one chunk per task on Dask's threads, reused
    buffers: how much of ``numba_dask`` is the arithmetic itself."""
    from sweep.kernels import cpu

    codes = plan.output_codes

    def body(key: ChunkKey, buf: np.ndarray) -> int:
        inputs = plan.chunk_inputs(key)
        rows = math.prod(key.shape[:-1])
        out = buf[: len(codes) * key.size].reshape(len(codes), rows, key.shape[-1])
        return int(cpu.materialize(inputs.model, inputs.table, inputs.bind,
                                   np.asarray(key.shape), codes, out)[0].sum())

    _each_chunk_on_dask(plan, workers, body)


def zarr_write(path: Path, plan: Plan, chunks: list[tuple[ChunkKey, np.ndarray]],
               compressors, workers: int) -> None:
    """Create a Zarr v3 store with the plan's arrays, then write every chunk (threads)."""
    group = zarr.open_group(path, mode="w", zarr_format=3)
    arrays = [group.create_array(name, shape=plan.shape, chunks=plan.chunk_shape,
                                 dtype=plan.dtype, compressors=compressors,
                                 fill_value=np.nan, dimension_names=plan.dims)
              for name in plan.outputs]

    def write(item: tuple[ChunkKey, np.ndarray]) -> None:
        key, values = item
        for k, arr in enumerate(arrays):
            arr[key.slices] = values[k]

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(write, chunks))


def du(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- checks


def max_rel_diff(ref: tuple[np.ndarray, np.ndarray],
                 chunks: list[tuple[ChunkKey, np.ndarray]]) -> float:
    """Largest relative difference between NumPy's arrays and the kernel's chunks."""
    worst = 0.0
    for key, values in chunks:
        for k in range(len(ref)):
            a = ref[k][key.slices].astype(np.float64)
            b = values[k].astype(np.float64)
            worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30))))
    return worst


# --------------------------------------------------------------------------- machine


def machine(loadavg: list[float] | None) -> dict:
    """CPU, cores, memory, packages, engine commit: what the numbers depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {"numpy": np.__version__, "numba": numba.__version__,
                     "zarr": zarr.__version__, "dask": dask.__version__,
                     "xarray": xr.__version__, "token-sweep": sweep.__version__},
        "numba_threads": numba.get_num_threads(),
        "loadavg_at_start": loadavg,
        "engine_commit": commit,
    }


# --------------------------------------------------------------------------- report


def ratios(by: dict[str, Result]) -> list[dict]:
    """Throughput ratios, with the issue's targets where it sets one."""
    rows = [  # numerator, denominator, target, shown as "%" or "x"
        ("numba_parallel", "ceiling_fill_fresh", 0.60, "%"),
        ("numba_parallel", "ceiling_fill_prealloc", 0.60, "%"),
        ("numba_parallel", "ceiling_fill_fresh_parallel", None, "%"),
        ("numba_dask", "ceiling_fill_fresh", None, "%"),
        ("numba_parallel", "numpy_plain", 3.5, "x"),
        ("numba_dask", "numpy_plain", 3.5, "x"),
        ("numba_kernel_only", "numpy_plain", None, "x"),
        ("numba_dask", "numpy_meshgrid", None, "x"),
        ("numba_kernel_only", "ceiling_fill_fresh", None, "%"),
        ("sweep_run", "zarr_write_codec", 0.80, "%"),
        ("zarr_write_codec", "zarr_write_none", None, "%"),
        ("zarr_write_zstd_bitshuffle", "zarr_write_codec", None, "%"),
        ("zarr_write_lz4", "zarr_write_codec", None, "%"),
        ("zarr_write_codec", "zarr_write_zarr_default", None, "%"),
    ]
    out = []
    for num, den, target, unit in rows:
        value = by[num].points_per_s / by[den].points_per_s
        out.append({"ratio": f"{num} / {den}", "value": value, "target": target, "unit": unit,
                    "met": None if target is None else value >= target})
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    g = report["grid"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [
        f"## Materializing benchmark ({report['date']})",
        "",
        (f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['platform']}; "
         f"load average at start {m['loadavg_at_start']}"),
        f"- packages: Python {m['python']}, {pk}; engine {m['engine_commit']}",
        f"- command: `{report['command']}`",
        (f"- grid: {' x '.join(f'{k}={v}' for k, v in g['lengths'].items())} = "
         f"{g['n_points']:,} points, float32, {len(OUTPUTS)} outputs "
         f"({g['bytes_out'] / 1e9:.2f} GB); chunks {tuple(g['chunk_shape'])} "
         f"-> {g['n_chunks']} chunk(s); {report['workers']} worker thread(s); "
         f"median of {report['repeat']} after a warm-up"),
        "",
        "| benchmark | seconds | G points/s | GB/s | what |",
        "|---|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['name']} | {r['seconds']:.4f} | {r['points_per_s'] / 1e9:.3f} | "
                     f"{r['gb_per_s']:.2f} | {r['what']} |")
    lines += ["", "| ratio (throughput) | value | target | met |", "|---|---:|---:|---|"]
    for r in report["ratios"]:
        fmt = (lambda v: f"{v:.0%}") if r["unit"] == "%" else (lambda v: f"{v:.2f}x")
        tgt = "" if r["target"] is None else f">= {fmt(r['target'])}"
        met = "" if r["met"] is None else "yes" if r["met"] else "**no**"
        lines.append(f"| {r['ratio']} | {fmt(r['value'])} | {tgt} | {met} |")
    lines += ["", *(f"- {n}" for n in report["notes"])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=float, default=1e8, help="about this many grid points")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per benchmark (median)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out",
                    help="folder for results.json, results.md and the temporary Zarr stores")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="threads: Dask workers, Zarr writers, Numba's parallel kernel")
    args = ap.parse_args(argv)
    if args.points < 1 or args.repeat < 1 or args.workers < 1:
        ap.error("--points, --repeat and --workers must be >= 1")

    loadavg = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    numba.set_num_threads(min(args.workers, numba.config.NUMBA_NUM_THREADS))
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-zarr-", dir=args.out))
    repeat, workers = args.repeat, args.workers
    try:
        lengths = grid_axes(int(args.points))
        spec = make_spec(lengths, tmp / "sweep_run.zarr")
        plan = sweep.plan(spec, tmp / "sweep_run.zarr")
        n = plan.n_points
        nbytes = plan.bytes_total
        notes: list[str] = []
        if plan.n_chunks < workers:
            notes.append(f"only {plan.n_chunks} chunk(s) for {workers} worker(s): the Dask, "
                         "Zarr and sweep_run rows cannot use every thread at this size")
        print(f"grid {plan.shape} = {n:,} points, chunks {plan.chunk_shape} x "
              f"{plan.n_chunks}, {nbytes / 1e9:.2f} GB out, {workers} worker(s)", flush=True)

        results: list[Result] = []

        def add(name: str, what: str, times: list[float], **extra) -> Result:
            r = Result(name, what, times, n, nbytes, extra)
            results.append(r)
            print(f"  {name:30s} {r.seconds:9.4f} s  {r.points_per_s / 1e9:7.3f} G points/s  "
                  f"{r.gb_per_s:6.2f} GB/s", flush=True)
            return r

        # 1. ceiling
        for name, what, times in bench_ceiling(n * len(OUTPUTS), repeat):
            add(name, what, times)

        # 2. plain NumPy
        times, ref = measure(lambda: numpy_plain(plan), repeat)
        add("numpy_plain", "formulas as written, NumPy float32 broadcasting, one thread", times)
        times, _ = measure(lambda: numpy_meshgrid(plan), repeat)
        add("numpy_meshgrid", "formulas on full-size np.meshgrid inputs, float32, one thread",
            times)

        # 3. the engine's kernel, in memory
        par = get_backend("numba", parallel=True)
        par.warm_up(plan.chunk_inputs(next(plan.keys())), plan.output_codes, plan.dtype)
        times, chunks = measure(lambda: numba_parallel(plan, par), repeat)
        add("numba_parallel", "engine kernel, Numba threads, plan's chunks, kept in memory",
            times, threading_layer=numba.threading_layer())
        diff = max_rel_diff(ref, chunks)
        del ref
        notes.append(f"numpy_plain vs numba_parallel: max relative difference {diff:.2e}")
        if not diff < 1e-5:
            raise SystemExit(f"the kernel disagrees with plain NumPy (max rel. diff {diff:.2e})")

        ser = get_backend("numba")
        ser.warm_up(plan.chunk_inputs(next(plan.keys())), plan.output_codes, plan.dtype)
        times, _ = measure(lambda: numba_dask(plan, ser, workers), repeat)
        add("numba_dask", f"serial kernel, Dask threads ({workers}), results discarded", times)
        times, _ = measure(lambda: numba_kernel_only(plan, workers), repeat)
        add("numba_kernel_only", f"bare compiled kernel (no extremes), Dask threads ({workers})",
            times)

        # 4. Zarr writes of the precomputed chunks
        for label, name, what in (
            ("codec", "zstd", "engine's default codec `zstd` (Blosc zstd-1 + shuffle)"),
            ("zstd_bitshuffle", "zstd-bitshuffle", "codec `zstd-bitshuffle` (Blosc zstd-1 + "
             "bitshuffle)"),
            ("lz4", "lz4", "codec `lz4` (Blosc lz4-5 + shuffle)"),
            ("none", "none", "no compression"),
            ("zarr_default", "zarr-default", "zarr's own default compressor (Zstd level 0)"),
        ):
            if name == "zarr-default":
                compressors = "auto"
            else:
                compressor = zstore.codec(name)
                compressors = (compressor,) if compressor is not None else None
            path = tmp / f"zarr_write_{label}.zarr"
            times, _ = measure(
                functools.partial(zarr_write, path, plan, chunks, compressors, workers), repeat,
                setup=functools.partial(shutil.rmtree, path, ignore_errors=True))
            stored = du(path)
            add(f"zarr_write_{label}", f"Zarr v3 write of precomputed chunks, {what}, "
                f"{workers} thread(s)", times, stored_bytes=stored,
                compression_ratio=nbytes / stored)
            shutil.rmtree(path, ignore_errors=True)
        del chunks

        # 5. the engine, end to end
        engine_seconds: list[float] = []

        def run_sweep():
            res = sweep.run(spec, store=plan.store, overwrite=True, progress=False,
                            backend="numba", num_workers=workers)
            engine_seconds.append(res.seconds)
            return res

        # delete the previous store untimed, as for zarr_write (overwrite=True is then a no-op)
        times, res = measure(run_sweep, repeat,
                             setup=functools.partial(shutil.rmtree, plan.store, ignore_errors=True))
        if any(res.nan_counts.values()):
            raise SystemExit(f"sweep_run produced NaNs: {res.nan_counts}")
        stored = du(plan.store)
        add("sweep_run", f"sweep.run end to end (wall clock), backend numba, {workers} worker(s)",
            times, engine_seconds=engine_seconds[1:], stored_bytes=stored,
            compression_ratio=nbytes / stored)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    by = {r.name: r for r in results}
    notes.append("points/s and GB/s count uncompressed output (points x 2 x 4 B); Zarr writes "
                 "go to the page cache (no fsync)")
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "machine": machine(loadavg),
        "workers": workers,
        "repeat": repeat,
        "grid": {"lengths": lengths, "shape": list(plan.shape), "n_points": n,
                 "chunk_shape": list(plan.chunk_shape), "n_chunks": plan.n_chunks,
                 "dtype": str(plan.dtype), "outputs": list(OUTPUTS), "bytes_out": nbytes},
        "results": [r.as_dict() for r in results],
        "ratios": ratios(by),
        "notes": notes,
    }
    save_results(args.out, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
