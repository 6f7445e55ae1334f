"""GPU benchmark: materialize mode on the device, against a device-to-device copy, and end to
end into Zarr against the CPU kernel. Part of the one-shot GPU check (bench/gpu_check.sh).

Rows (float32, two outputs ``usd_per_mtok`` and ``tokens_per_s_per_mw``, the grid of
``bench_materialize.py``: ``gpu_hour_usd x tokens_per_s_per_gpu x utilization x
electricity_usd_per_kwh``, innermost axis ~10^4 values):

* ``d2d_copy``: a device-to-device copy of as many bytes as the outputs take
  (``cuMemcpyDtoD`` through Numba); its GB/s count bytes read plus bytes written.
* ``cuda_device`` / ``cupy_device``: the backend's kernel over the whole grid in one launch
  into device memory (no copy back); GB/s count the bytes written (8 per point), and the
  ratio to ``d2d_copy`` is the issue's target (>= 70 %).
* ``cuda_chunks_to_host``: the engine's device path without the store: every chunk of the
  plan computed on the device and copied back into pinned host memory, one chunk per Dask
  task on ``--workers`` threads (each with its own stream).
* ``sweep_run_cuda`` / ``sweep_run_numba``: ``sweep.run`` end to end into Zarr at
  ``--e2e-points``, wall clock; ``gpu_share`` = (chunk time of ``cuda_chunks_to_host``) /
  (chunk phase of ``sweep_run_cuda``): well under 1 means the device is not the bottleneck.
* ``reduce_cuda`` / ``reduce_numba``: reduce mode (statistics and a 256-bin log histogram,
  every dim folded) at ``--reduce-points`` on the GPU and 1/100 of that on the CPU.

Method: one untimed warm-up (JIT compile, module load), then the median of ``--repeat``
runs. Device rows are timed with CUDA events around the work on the stream (wall clock
with a synchronize in the CUDA simulator, where events do not time). Each size gets fresh
inputs. Writes ``results.json`` and ``results.md`` to ``--out``.

Usage::

    python bench/bench_gpu.py --out bench/out/gpu                     # 1e8 and 1e9 points
    NUMBA_ENABLE_CUDASIM=1 python bench/bench_gpu.py --points 2e3 --e2e-points 2e3 \\
        --reduce-points 2e3 --repeat 1 --out /tmp/gpu-smoke           # plumbing check, no GPU
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUTPUTS = ["usd_per_mtok", "tokens_per_s_per_mw"]


def grid_spec(points: float, inner: int = 10_000) -> dict:
    """The benchmark grid of about ``points`` points (as in bench_materialize.py)."""
    inner = int(min(inner, max(2, points / 8)))
    outer = max(8, round(points / inner))
    a = max(2, round(outer ** (1 / 3)))
    b = max(2, round(math.sqrt(outer / a)))
    c = max(2, round(outer / (a * b)))
    return {
        "name": "bench-gpu",
        "axes": {
            "gpu_hour_usd": {"linspace": {"start": 1.0, "stop": 4.0, "num": a}},
            "tokens_per_s_per_gpu": {"linspace": {"start": 50.0, "stop": 8000.0, "num": b}},
            "utilization": {"linspace": {"start": 0.3, "stop": 1.0, "num": c}},
            "electricity_usd_per_kwh": {"linspace": {"start": 0.02, "stop": 0.3, "num": inner}},
        },
        "constants": {"kw_per_gpu": 1.0, "pue": 1.2},
        "outputs": OUTPUTS,
        "dtype": "float32",
    }


class Timer:
    """Times device work on a Numba stream with CUDA events (wall clock in the simulator)."""

    def __init__(self, cuda, stream):
        self.cuda = cuda
        self.stream = stream
        self.sim = bool(cuda.config.ENABLE_CUDASIM)

    def time(self, fn, launches: int = 1) -> float:
        """Seconds per call of ``fn``, from ``launches`` back-to-back calls between one pair
        of events (so that host-side dispatch overlaps device work, as in a real run)."""
        if self.sim:
            t0 = time.perf_counter()
            for _ in range(launches):
                fn()
            self.stream.synchronize()
            return (time.perf_counter() - t0) / launches
        start, stop = self.cuda.event(), self.cuda.event()
        start.record(self.stream)
        for _ in range(launches):
            fn()
        stop.record(self.stream)
        stop.synchronize()
        return self.cuda.event_elapsed_time(start, stop) / 1e3 / launches


def median_of(fn, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = [fn() for _ in range(repeat)]
    return statistics.median(times), times


def whole_grid_inputs(spec):
    """The whole grid as one chunk's kernel inputs."""
    from sweep.planning.planner import make_plan

    plan = make_plan(spec, "unused.zarr")
    full = plan.shape
    from sweep.planning.planner import ChunkKey

    key = ChunkKey(index=(0,) * len(full), start=(0,) * len(full), stop=full)
    return plan, plan.chunk_inputs(key)


def bench_device(points: float, repeat: int, rows: list[dict]) -> None:
    from numba import cuda

    from sweep.backends.gpu import cupy_problem
    from sweep.kernels import cuda as kc
    from sweep.spec.config import spec_from_dict

    spec = spec_from_dict(grid_spec(points))
    plan, inputs = whole_grid_inputs(spec)
    n = plan.n_points
    shape = inputs.shape
    rows_n = int(np.prod(shape[:-1]))
    inner = shape[-1]
    codes = plan.output_codes
    out_bytes = n * len(codes) * 4
    stream = cuda.stream()
    timer = Timer(cuda, stream)

    src = cuda.device_array(out_bytes // 4, dtype=np.float32, stream=stream)
    dst = cuda.device_array(out_bytes // 4, dtype=np.float32, stream=stream)
    launches = 1 if timer.sim else 5
    t, times = median_of(lambda: timer.time(lambda: dst.copy_to_device(src, stream=stream),
                                            launches), repeat)
    copy_gbs = 2 * out_bytes / t / 1e9
    rows.append({"row": "d2d_copy", "points": n, "seconds": t, "times": times,
                 "gb_per_s": copy_gbs, "note": "bytes read + written"})
    src = None  # free the device memory before the kernel rows

    d_out = dst.reshape((len(codes), rows_n, inner))
    args = [cuda.to_device(inputs.table, stream=stream),
            cuda.to_device(inputs.bind, stream=stream),
            cuda.to_device(np.asarray(shape, dtype=np.int64), stream=stream)]
    block = 32 if timer.sim else kc.BLOCK_THREADS
    grid, blk, per_thread = kc.launch_config(rows_n, inner, block)

    stats = [cuda.to_device(np.zeros(len(codes), np.int64), stream=stream),
             cuda.to_device(np.full(len(codes), np.nan), stream=stream),
             cuda.to_device(np.full(len(codes), np.nan), stream=stream)]
    kernel = kc.kernel_for(inputs.model, tuple(plan.outputs), kc.outer_leaves(
        inputs.model, inputs.bind, len(shape)))[grid, blk, stream]

    def launch():
        # the statistics accumulate over launches (min/max/count): harmless for timing
        return timer.time(lambda: kernel(*args, d_out, *stats, per_thread), launches)

    t, times = median_of(launch, repeat)
    gbs = out_bytes / t / 1e9
    rows.append({"row": "cuda_device", "points": n, "seconds": t, "times": times,
                 "points_per_s": n / t, "gb_per_s": gbs, "pct_of_copy": 100 * gbs / copy_gbs,
                 "launch": {"grid": grid, "block": blk, "rows_per_thread": per_thread}})
    host = d_out.copy_to_host(stream=stream)
    stream.synchronize()
    check_values(plan, inputs, host, "cuda_device")
    d_out = dst = host = None

    problem = cupy_problem()
    if problem:
        rows.append({"row": "cupy_device", "points": n, "skipped": problem})
        return
    import cupy as cp

    from sweep.backends.gpu import cuda_c_source

    module = cp.RawModule(code=cuda_c_source(), options=("--std=c++17",))
    kernel = module.get_function("materialize_f32")
    c_out = cp.empty((len(codes), n), dtype=cp.float32)
    c_args = (cp.asarray(inputs.table), np.int64(inputs.table.shape[1]),
              cp.asarray(inputs.bind), cp.asarray(np.asarray(shape, np.int64)),
              np.int32(len(shape)), cp.asarray(codes), np.int32(len(codes)), c_out,
              np.int64(n))
    threads = 256
    blocks = int(min(-(-n // threads), 65535 * 16))

    def c_launch():
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(launches):
            kernel((blocks,), (threads,), c_args)
        stop.record()
        stop.synchronize()
        return cp.cuda.get_elapsed_time(start, stop) / 1e3 / launches

    t, times = median_of(c_launch, repeat)
    gbs = out_bytes / t / 1e9
    rows.append({"row": "cupy_device", "points": n, "seconds": t, "times": times,
                 "points_per_s": n / t, "gb_per_s": gbs, "pct_of_copy": 100 * gbs / copy_gbs})
    check_values(plan, inputs, c_out.get().reshape(len(codes), rows_n, inner), "cupy_device")
    c_out = None


def check_values(plan, inputs, got, label: str) -> None:
    """Spot-check a device result against the NumPy reference on a few rows."""
    from sweep.backends import NumpyBackend
    from sweep.planning.planner import ChunkInputs

    shape = inputs.shape
    rows = got.shape[1]
    pick = np.unique(np.linspace(0, rows - 1, 5).astype(np.int64))
    for r in pick:
        idx = np.unravel_index(int(r), shape[:-1])
        table = inputs.table.copy()
        bind = inputs.bind.copy()
        for i, axis in enumerate(bind):
            if 0 <= axis < len(shape) - 1:
                table[i, 0] = inputs.table[i, idx[axis]]
                bind[i] = -1
        bind = np.where(bind == len(shape) - 1, 0, bind)
        row_inputs = ChunkInputs(table=table, bind=bind, shape=(shape[-1],),
                                                    model=inputs.model)
        ref, _ = NumpyBackend().compute(row_inputs, plan.output_codes, np.dtype(np.float64))
        np.testing.assert_allclose(got[:, r, :], ref.astype(np.float32), rtol=1e-6,
                                   err_msg=f"{label}: row {r} differs from the reference")


def bench_chunks_and_runs(points: float, repeat: int, workers: int, out: Path,
                          rows: list[dict]) -> None:
    import dask

    from sweep import run
    from sweep.backends.gpu import CudaBackend
    from sweep.engine.execute import BufferPool, compute_chunk
    from sweep.planning.planner import make_plan
    from sweep.spec.config import spec_from_dict

    spec = spec_from_dict(grid_spec(points))
    plan = make_plan(spec, out / "unused.zarr")
    be = CudaBackend()
    be.warm_up(plan.chunk_inputs(next(plan.keys())), plan.output_codes, plan.dtype)
    pool = BufferPool(len(plan.outputs) * math.prod(plan.chunk_shape), plan.dtype, be)

    def chunks():
        tasks = [dask.delayed(lambda key: compute_chunk(plan, key, be, pool.get())[1],
                              pure=False)(key) for key in plan.keys()]
        t0 = time.perf_counter()
        dask.compute(*tasks, scheduler="threads", num_workers=workers)
        return time.perf_counter() - t0

    t_chunks, times = median_of(chunks, repeat)
    rows.append({"row": "cuda_chunks_to_host", "points": plan.n_points, "seconds": t_chunks,
                 "times": times, "points_per_s": plan.n_points / t_chunks,
                 "chunks": plan.n_chunks, "workers": workers})

    tmp = Path(tempfile.mkdtemp(prefix="bench-gpu-"))   # never under --out (it is shipped back)
    try:
        for backend in ("cuda", "numba"):
            results = []

            def once(backend=backend, results=results):
                t0 = time.perf_counter()
                res = run(spec, store=tmp / f"{backend}.zarr", backend=backend,
                          overwrite=True, progress=False, num_workers=workers)
                results.append(res)
                return time.perf_counter() - t0

            t, times = median_of(once, repeat)
            chunk_phase = statistics.median(r.seconds for r in results[1:])
            row = {"row": f"sweep_run_{backend}", "points": plan.n_points, "seconds": t,
                   "times": times, "points_per_s": plan.n_points / t,
                   "chunk_phase_s": chunk_phase, "workers": workers}
            if backend == "cuda":
                row["gpu_share"] = t_chunks / chunk_phase
            rows.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_reduce_rows(points: float, cpu_points: float, repeat: int, workers: int,
                      rows: list[dict]) -> None:
    """Reduce mode (issue 4): ``sweep.engine.reduce.run_reduce`` with the cuda backend at ``points``
    and the numba backend at ``cpu_points``, every dim folded, one 256-bin log histogram of
    usd_per_mtok (bounds given), wall clock around the call."""
    from sweep.engine.reduce import run_reduce
    from sweep.spec.config import spec_from_dict

    def spec(n):
        d = grid_spec(n)
        d["outputs"] = ["usd_per_mtok"]
        d["reduce"] = {"over": list(d["axes"]),
                       "histogram": {"bins": 256, "scale": "log",
                                     "range": {"usd_per_mtok": [0.01, 1000.0]}}}
        return spec_from_dict(d)

    for backend, n in (("cuda", points), ("numba", cpu_points)):
        def once(backend=backend, n=n):
            t0 = time.perf_counter()
            run_reduce(spec(n), write=False, progress=False, backend=backend,
                       num_workers=workers)
            return time.perf_counter() - t0

        run_reduce(spec(1e5), write=False, progress=False, backend=backend)   # compile
        t, times = median_of(once, repeat)
        rows.append({"row": f"reduce_{backend}", "points": n, "seconds": t, "times": times,
                     "points_per_s": n / t, "note": "stats + 256-bin log histogram"})


def machine() -> dict:
    from numba import cuda

    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "simulator": bool(cuda.config.ENABLE_CUDASIM)}
    if not info["simulator"]:
        gpus = []
        for i in range(len(cuda.gpus)):
            g = cuda.gpus[i]
            name = g.name.decode() if isinstance(g.name, bytes) else str(g.name)
            gpus.append({"name": name, "cc": list(g.compute_capability)})
        info["gpus"] = gpus
        info["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
        info["nvrtc"] = ".".join(map(str, cuda.runtime.get_version()))  # numba reports NVRTC
    versions = {}
    for mod in ("numpy", "numba", "numba_cuda", "cupy", "dask", "zarr", "xarray"):
        try:
            versions[mod] = getattr(__import__(mod), "__version__", "?")
        except Exception:  # noqa: BLE001 - not installed
            versions[mod] = None
    info["versions"] = versions
    return info


def markdown(results: dict) -> str:
    lines = [f"GPU benchmark, {results['date']}, `{results['command']}`", "",
             f"machine: {json.dumps(results['machine'])}", "",
             "| row | points | median s | G points/s | GB/s | % of d2d copy | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['row']} | {r['points']:.3g} | | | | | not run: {r['skipped']} |")
            continue
        pps = r.get("points_per_s")
        note = r.get("note", "")
        if "gpu_share" in r:
            note = f"chunk phase {r['chunk_phase_s']:.3g} s; GPU share {r['gpu_share']:.2f}"
        elif "chunk_phase_s" in r:
            note = f"chunk phase {r['chunk_phase_s']:.3g} s"
        gbs = f"{r['gb_per_s']:.4g}" if "gb_per_s" in r else ""
        pct = f"{r['pct_of_copy']:.0f}" if "pct_of_copy" in r else ""
        gpps = "" if pps is None else f"{pps / 1e9:.3g}"
        lines.append(f"| {r['row']} | {r['points']:.3g} | {r['seconds']:.4g} | {gpps} | "
                     f"{gbs} | {pct} | {note} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", default="1e8,1e9", help="device-row sizes (comma-separated)")
    p.add_argument("--e2e-points", type=float, default=1e8, help="end-to-end size")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--reduce-points", type=float, default=1e11,
                   help="reduce-mode size on the GPU (the CPU row uses 1/100 of it)")
    p.add_argument("--out", type=Path, default=Path("bench/out/gpu"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from sweep.backends.gpu import cuda_problem

    problem = cuda_problem()
    if problem:
        print(f"bench_gpu: the cuda backend cannot run here: {problem}", file=sys.stderr)
        return 2
    rows: list[dict] = []
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
               "machine": machine(), "rows": rows}

    def save() -> None:   # after every step: a run cut short still leaves its rows
        (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))

    for points in (float(x) for x in args.points.split(",")):
        bench_device(points, args.repeat, rows)
        save()
        print(markdown({**results, "rows": rows[-3:]}), flush=True)
    bench_chunks_and_runs(args.e2e_points, args.repeat, args.workers, args.out, rows)
    save()
    bench_reduce_rows(args.reduce_points, max(1e4, args.reduce_points / 100), args.repeat,
                      args.workers, rows)
    save()
    text = markdown(results)
    (args.out / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
