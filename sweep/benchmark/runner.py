"""``sweep bench``: every available backend in every mode at every size, the ceilings that
bound them and how time scales, in one run; the report as a dictionary (see
:mod:`sweep.benchmark.report` for the files)."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sweep.benchmark import cases
from sweep.benchmark.machine import describe
from sweep.benchmark.timing import Timing

BACKENDS = ("numpy", "numba", "cuda", "cupy")
MODES = ("kernel", "materialize", "reduce")
DEFAULT_SIZES = (1e6, 1e7, 1e8)
#: Chunk sizes (bytes per output chunk) of the scaling study.
SCALING_CHUNK_BYTES = (2**20, 4 * 2**20, 16 * 2**20, 64 * 2**20)
#: Largest grid of the scaling study (it runs at the largest size up to this).
SCALING_MAX_POINTS = 1e7


@dataclass
class BenchOptions:
    """What to run. ``backends``/``modes``: subsets of :data:`BACKENDS`/:data:`MODES`;
    ``sizes``: grid points per size; ``scaling``: add the chunk-size and worker studies."""

    backends: tuple[str, ...] = BACKENDS
    sizes: tuple[float, ...] = DEFAULT_SIZES
    modes: tuple[str, ...] = MODES
    repeat: int = 3
    workers: int | None = None
    scaling: bool = True
    explicit_backends: bool = False
    command: str = ""
    tmp_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: which benchmark grid (``sweep.benchmark.cases.GRIDS``)
    grid: str = "cost"

    def check(self) -> None:
        """Refuse bad options with the option, the value and what was expected."""
        bad = [b for b in self.backends if b not in BACKENDS]
        if bad:
            raise ValueError(f"--backends: {', '.join(bad)}; expected some of "
                             f"{', '.join(BACKENDS)}")
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"--modes: {', '.join(bad)}; expected some of {', '.join(MODES)}")
        if not self.backends or not self.modes or not self.sizes:
            raise ValueError("--backends, --modes and --sizes each need at least one value")
        bad = [s for s in self.sizes if not (math.isfinite(s) and 16 <= s <= 1e12)]
        if bad:
            raise ValueError(f"--sizes: {', '.join(map(str, bad))}; expected grid sizes "
                             "from 16 to 1e12 points")
        if self.grid not in cases.GRIDS:
            raise ValueError(f"--grid: {self.grid}; expected one of {', '.join(cases.GRIDS)}")
        if self.repeat < 1:
            raise ValueError(f"--repeat: {self.repeat}; expected a whole number >= 1")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers: {self.workers}; expected a whole number >= 1")


def backend_problems(names: tuple[str, ...], explicit: bool) -> dict[str, str | None]:
    """Each backend's reason for not running here (None: it runs). The CUDA simulator counts
    only for a backend named explicitly (its numbers time the simulator, not a GPU)."""
    from sweep.backends.gpu import cuda_problem, cupy_problem

    out: dict[str, str | None] = {}
    for name in names:
        if name == "cuda":
            out[name] = cuda_problem(allow_simulator=explicit)
        elif name == "cupy":
            out[name] = cupy_problem()
        else:
            out[name] = None
    return out


class _Steps:
    """A rich progress bar over the benchmark's steps (on terminals), naming the current one."""

    def __init__(self, total: int, enabled: bool | None):
        import sys

        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total = total
        self._progress = None

    def __enter__(self) -> _Steps:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn("[bold]bench"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.description}"),
                                      console=Console(stderr=True))
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress.update(self._task, description=text)
        yield
        if self._progress is not None:
            self._progress.advance(self._task)


def _row(mode: str, backend: str, points: int, bytes_out: int, t: Timing, **extra) -> dict:
    return {"mode": mode, "backend": backend, "points": points, "bytes_out": bytes_out,
            "seconds": t.median, "times": list(t.times), "spread": t.spread,
            "points_per_s": points / t.median, "gb_per_s": bytes_out / t.median / 1e9,
            **extra}


def _ceiling(name: str, size: int, traffic_bytes: int, t: Timing, bytes_per_point: int,
             what: str, **extra) -> dict:
    # a ceiling is the best the machine did: the fastest repeat, not the median
    gbs = traffic_bytes / min(t.times) / 1e9
    return {"name": name, "size": size, "bytes": traffic_bytes, "seconds": min(t.times),
            "times": list(t.times), "spread": t.spread, "gb_per_s": gbs,
            "points_per_s": gbs * 1e9 / bytes_per_point, "what": what, **extra}


#: Which ceiling bounds each (mode, device) pair.
BOUND_BY = {("kernel", "cpu"): "host_fill", ("kernel", "gpu"): "d2h_copy",
            ("device", "gpu"): "d2d_copy", ("materialize", "cpu"): "zarr_write",
            ("materialize", "gpu"): "zarr_write"}


def _annotate(results: list[dict], ceilings: list[dict]) -> None:
    """Each row as a percentage of the ceiling that bounds it (same size) and as a speed-up
    over the numpy row of the same mode and size."""
    by_ceiling = {(c["name"], c["size"]): c for c in ceilings}
    numpy = {(r["mode"], r["size"]): r for r in results if r["backend"] == "numpy"}
    for r in results:
        device = "gpu" if r["backend"] in ("cuda", "cupy") else "cpu"
        name = BOUND_BY.get((r["mode"], device))
        c = by_ceiling.get((name, r["size"])) if name else None
        r["ceiling"] = name if c else None
        r["pct_of_ceiling"] = 100 * r["points_per_s"] / c["points_per_s"] if c else None
        ref = numpy.get((r["mode"], r["size"]))
        r["speedup_vs_numpy"] = r["points_per_s"] / ref["points_per_s"] if ref else None


def run_bench(opts: BenchOptions, progress: bool | None = None,
              log: Callable[[str], None] = lambda s: None) -> dict:
    """Run the benchmark described by ``opts`` and return the report (see the README's
    "Benchmarking this machine" for what each row and ceiling means)."""
    from sweep.backends import default_workers

    opts.check()
    workers = opts.workers or default_workers()
    problems = backend_problems(opts.backends, opts.explicit_backends)
    usable = [b for b in opts.backends if problems[b] is None]
    skipped = {b: p for b, p in problems.items() if p is not None}
    sizes = sorted({int(s) for s in opts.sizes})

    steps: list[tuple[str, Callable[[], None]]] = []
    results: list[dict] = []
    ceilings: list[dict] = []
    scaling: list[dict] = []
    notes = list(opts.notes)
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-", dir=opts.tmp_dir))

    for size in sizes:
        steps += _size_steps(size, opts, usable, workers, tmp, results, ceilings, notes)
    if opts.scaling and "numba" in usable:
        steps += _scaling_steps(sizes, opts, workers, tmp, scaling)

    started = dt.datetime.now(dt.UTC)
    machine = describe()   # before the steps: the load average is the machine's, not ours
    try:
        _run_steps(steps, progress, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _annotate(results, ceilings)
    return {
        "date": started.isoformat(timespec="seconds"),
        "seconds": (dt.datetime.now(dt.UTC) - started).total_seconds(),
        "command": opts.command,
        "machine": machine,
        "simulated_gpu": "cuda" in usable and _simulated(),
        "workers": workers,
        "repeat": opts.repeat,
        "sizes": sizes,
        "modes": list(opts.modes),
        "backends": {"ran": usable, "skipped": skipped},
        "grid": {"name": opts.grid,
                 "outputs": list(cases.make_spec(16, grid=opts.grid).outputs),
                 "dtype": "float32", "bytes_per_point": 8,
                 "axes": list(cases.make_spec(16, grid=opts.grid).axes)},
        "results": results,
        "ceilings": ceilings,
        "scaling": scaling,
        "notes": notes,
    }


def _run_steps(steps: list[tuple[str, Callable[[], None]]], progress: bool | None,
               log: Callable[[str], None]) -> None:
    """Run each step in turn, logging its text and advancing the progress bar."""
    with _Steps(len(steps), progress) as bar:
        for text, fn in steps:
            log(text)
            with bar.step(text):
                fn()


def _size_steps(size: int, opts: BenchOptions, usable: list[str], workers: int, tmp: Path,
                results: list[dict], ceilings: list[dict],
                notes: list[str]) -> list[tuple[str, Callable[[], None]]]:
    """The steps of one grid size: its ceilings, then each usable backend in each mode (and
    the CUDA device-only kernel)."""
    from sweep.planning.planner import make_plan

    plan = make_plan(cases.make_spec(size, grid=opts.grid), tmp / "plan.zarr")
    gpu_usable = any(b in ("cuda", "cupy") for b in usable)
    steps = [(f"{size:.0e} points: ceilings",
              _ceilings_step(size, plan, opts, workers, tmp, gpu_usable, ceilings))]
    for backend in usable:
        for mode in opts.modes:
            steps.append((f"{size:.0e} points: {backend} {mode}",
                          _mode_step(mode, backend, size, plan, opts, workers, tmp,
                                     results, skipped_rows=notes)))
        if backend == "cuda" and "kernel" in opts.modes:
            steps.append((f"{size:.0e} points: cuda device",
                          _device_step(size, plan, opts, results)))
    return steps


def _ceilings_step(size: int, plan, opts: BenchOptions, workers: int, tmp: Path,
                   gpu_usable: bool, ceilings: list[dict]) -> Callable[[], None]:
    """The step that measures the ceilings of one size: the host fill, the Zarr write (with
    materialize mode) and the device copies (with a usable GPU backend)."""
    nbytes = plan.bytes_total
    bpp = nbytes // plan.n_points

    def add_ceilings() -> None:
        t = cases.host_fill(plan, opts.repeat, workers)
        ceilings.append(_ceiling("host_fill", size, nbytes, t, bpp,
                                 f"write-only fill of the kernel rows' buffers, chunk by "
                                 f"chunk, {workers} Dask thread(s)"))
        if "materialize" in opts.modes:
            t, pts, stored = cases.zarr_write(plan, opts.repeat, workers, tmp)
            ceilings.append(_ceiling("zarr_write", size, pts * bpp, t, bpp,
                                     f"Zarr encode + write, codec {plan.spec.codec}, "
                                     f"{workers} thread(s)", stored_bytes=stored,
                                     points_written=pts))
        if gpu_usable:
            from sweep.benchmark.device import copy_ceilings

            for name, t in copy_ceilings(nbytes, opts.repeat).items():
                traffic = 2 * nbytes if name == "d2d_copy" else nbytes
                ceilings.append(_ceiling(name, size, traffic, t, bpp,
                                         "device-to-device copy (read + write)"
                                         if name == "d2d_copy" else
                                         "device-to-host copy into pinned memory"))

    return add_ceilings


def _device_step(size: int, plan, opts: BenchOptions,
                 results: list[dict]) -> Callable[[], None]:
    """The step that times the CUDA kernel into device memory, with no copy back."""
    n, nbytes = plan.n_points, plan.bytes_total

    def device_row() -> None:
        from sweep.benchmark.device import cuda_device_kernel

        t = cuda_device_kernel(plan, opts.repeat)
        results.append(_row("device", "cuda", n, nbytes, t, size=size,
                            what="one launch over the whole grid into device "
                                 "memory, no copy back (CUDA events)"))

    return device_row


def _scaling_steps(sizes: list[int], opts: BenchOptions, workers: int, tmp: Path,
                   scaling: list[dict]) -> list[tuple[str, Callable[[], None]]]:
    """The steps of the scaling study (numba, at the largest size up to
    :data:`SCALING_MAX_POINTS`, else the smallest): chunk sizes, threads, processes."""
    from sweep.benchmark import scaling as sc

    at = int(max(s for s in sizes if s <= SCALING_MAX_POINTS) if
             any(s <= SCALING_MAX_POINTS for s in sizes) else min(sizes))
    steps: list[tuple[str, Callable[[], None]]] = []
    for chunk_bytes in SCALING_CHUNK_BYTES:
        steps.append((f"scaling: chunks of {chunk_bytes >> 20} MiB",
                      lambda cb=chunk_bytes: scaling.append(
                          sc.chunk_size(at, cb, opts.repeat, workers, tmp))))
    for threads in sorted({1, workers}):
        steps.append((f"scaling: {threads} thread(s)",
                      lambda k=threads: scaling.append(
                          sc.threads(at, k, opts.repeat, tmp))))
    for procs in (1, 2):
        steps.append((f"scaling: {procs} process(es)",
                      lambda k=procs: scaling.append(
                          sc.processes(at, k, opts.repeat, tmp))))
    return steps


def _simulated() -> bool:
    from sweep.backends.gpu import simulated

    return simulated()


def _mode_step(mode: str, backend: str, size: int, plan, opts: BenchOptions, workers: int,
               tmp: Path, results: list[dict], skipped_rows: list[str]) -> Callable[[], None]:
    from sweep.backends import get_backend

    n, nbytes = plan.n_points, plan.bytes_total

    def step() -> None:
        if mode == "kernel":
            t = cases.kernel(plan, get_backend(backend), opts.repeat, workers)
            results.append(_row(mode, backend, n, nbytes, t, size=size,
                                what=f"compute every chunk, {workers} Dask thread(s), "
                                     "reused buffers, no store"))
        elif mode == "materialize":
            spec = cases.make_spec(size, tmp / f"{backend}.zarr", grid=opts.grid)
            t, facts = cases.materialize(spec, backend, opts.repeat, workers,
                                         tmp / f"{backend}.zarr")
            results.append(_row(mode, backend, n, nbytes, t, size=size,
                                what="sweep.run end to end into Zarr", **facts))
        elif backend == "cupy":
            skipped_rows.append("reduce mode has no cupy backend (numba and cuda only)")
        else:
            best = " + best: (cheapest at >= 20 tokens/s/user)" if opts.grid != "cost" else ""
            if backend == "numpy":
                t = cases.reduce_numpy(size, opts.repeat, opts.grid)
                what = "NumPy materialize-then-reduce per chunk, merged" + best
            else:
                t = cases.reduce(size, backend, opts.repeat, workers, opts.grid)
                what = "run_reduce: stats + 256-bin log histogram of usd_per_mtok" + best
            # the same grid with one output, and nothing written: no bytes
            results.append(_row(mode, backend, n, 0, t, size=size, what=what))

    return step
