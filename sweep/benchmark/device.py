"""GPU rows of ``sweep bench``: the device's own ceilings (device-to-device and
device-to-host copies) and the Numba CUDA kernel on the device alone, timed with CUDA events.

In Numba's CUDA simulator (tests) events do not time, so the wall clock around a
synchronized launch is used there; such numbers measure the simulator, not a GPU, and the
report says so.
"""

from __future__ import annotations

import math
import time

import numpy as np

from sweep.benchmark.timing import Timing, measure


class _Events:
    """Seconds of device work on ``stream``: CUDA events around ``launches`` repeats (one
    synchronized wall-clock call in the simulator)."""

    def __init__(self, cuda, stream, launches: int):
        self.cuda, self.stream = cuda, stream
        self.sim = bool(cuda.config.ENABLE_CUDASIM)
        self.launches = 1 if self.sim else launches

    def __call__(self, fn) -> float:
        if self.sim:
            t0 = time.perf_counter()
            fn()
            self.stream.synchronize()
            return time.perf_counter() - t0
        start, stop = self.cuda.event(), self.cuda.event()
        start.record(self.stream)
        for _ in range(self.launches):
            fn()
        stop.record(self.stream)
        stop.synchronize()
        return self.cuda.event_elapsed_time(start, stop) / 1e3 / self.launches


def copy_ceilings(n_bytes: int, repeat: int) -> dict[str, Timing]:
    """``d2d_copy``: a device-to-device copy of ``n_bytes`` (its traffic is twice that: read
    plus write); ``d2h_copy``: a device-to-host copy into pinned memory (the bound of any
    backend that brings its results back to the host)."""
    from numba import cuda

    n = max(1, n_bytes // 4)
    stream = cuda.stream()
    events = _Events(cuda, stream, launches=5)
    src = cuda.device_array(n, dtype=np.float32, stream=stream)
    dst = cuda.device_array(n, dtype=np.float32, stream=stream)
    d2d = measure(lambda: events(lambda: dst.copy_to_device(src, stream=stream)), repeat,
                  timer=lambda f: f())
    dst = None  # free the device memory before the next copy
    host = cuda.pinned_array(n, dtype=np.float32)
    d2h = measure(lambda: events(lambda: src.copy_to_host(host, stream=stream)), repeat,
                  timer=lambda f: f())
    return {"d2d_copy": d2d, "d2h_copy": d2h}


def cuda_device_kernel(plan, repeat: int) -> Timing:
    """The Numba CUDA materialize kernel over the whole grid in one launch into device
    memory (no copy back): the number to hold against ``d2d_copy``. The result is checked
    against the NumPy reference on the grid's first and last rows."""
    from numba import cuda

    from sweep.kernels import cuda as kc
    from sweep.planning.planner import ChunkKey

    key = ChunkKey(index=(0,) * len(plan.shape), start=(0,) * len(plan.shape), stop=plan.shape)
    inputs = plan.chunk_inputs(key)
    codes = plan.output_codes
    rows, inner = math.prod(plan.shape[:-1]), plan.shape[-1]
    stream = cuda.stream()
    events = _Events(cuda, stream, launches=5)
    d_out = cuda.device_array((len(codes), rows, inner), dtype=plan.dtype, stream=stream)
    args = [cuda.to_device(np.ascontiguousarray(inputs.table), stream=stream),
            cuda.to_device(inputs.bind, stream=stream),
            cuda.to_device(np.asarray(plan.shape, dtype=np.int64), stream=stream)]
    stats = [cuda.to_device(np.zeros(len(codes), np.int64), stream=stream),
             cuda.to_device(np.full(len(codes), np.nan), stream=stream),
             cuda.to_device(np.full(len(codes), np.nan), stream=stream)]
    grid, block, per_thread = kc.launch_config(rows, inner, 32 if events.sim
                                               else kc.BLOCK_THREADS)
    outputs = tuple(plan.outputs)
    kernel = kc.kernel_for(inputs.model, outputs, kc.outer_leaves(
        inputs.model, inputs.bind, len(plan.shape)))[grid, block, stream]
    from sweep.quiet import quiet

    with quiet("Grid size .* under-utilization"):
        # the statistics accumulate over launches: harmless for timing
        timing = measure(lambda: events(lambda: kernel(*args, d_out, *stats, per_thread)),
                         repeat, timer=lambda f: f())
    got = d_out.copy_to_host(stream=stream)
    stream.synchronize()
    _check_rows(plan, inputs, got)
    return timing


def _check_rows(plan, inputs, got: np.ndarray) -> None:
    """The first and last rows of a whole-grid device result against the NumPy reference."""
    from sweep.backends import NumpyBackend
    from sweep.planning.planner import ChunkInputs

    shape = plan.shape
    for r in {0, got.shape[1] - 1}:
        idx = np.unravel_index(r, shape[:-1])
        table, bind = inputs.table.copy(), inputs.bind.copy()
        for i, axis in enumerate(bind):
            if 0 <= axis < len(shape) - 1:
                table[i, 0] = inputs.table[i, idx[axis]]
                bind[i] = -1
        bind = np.where(bind == len(shape) - 1, 0, bind)
        ref, _ = NumpyBackend().compute(ChunkInputs(table=table, bind=bind, shape=(shape[-1],),
                                                    model=inputs.model),
                                        plan.output_codes, np.dtype(np.float64))
        np.testing.assert_allclose(got[:, r, :], ref.astype(plan.dtype), rtol=1e-6,
                                   err_msg=f"cuda device kernel: row {r} differs from NumPy")
