"""Numba CUDA kernels: every requested output of one chunk, one thread per point.

The same scalar formulas as the CPU kernels (the model's families, :mod:`sweep.model`),
compiled as CUDA device functions and inlined through evaluators generated from the model's
graph (:func:`sweep.model.codegen.point_source`). Layout of a launch (see
:func:`launch_config`):

* ``threadIdx.x`` runs along the innermost axis, so a warp writes 32 consecutive values
  of a row: stores coalesce;
* each thread owns one column ``j`` of the chunk and a short run of consecutive rows. It
  decodes its first row's outer indices once and then steps an odometer (no integer
  division per point); the inputs bound to the innermost axis are read once per thread,
  those of outer axes once per row, from the small per-axis table (categorical axes are
  lookup tables there too), and every node that reads only leaves fixed for the thread
  (constants, and the innermost axis) is computed once per thread, not once per point;
* NaN counts and extremes per output are folded per thread, reduced per block in shared
  memory and merged with one atomic per block and output.

Everything is float64 arithmetic; the output array's dtype (float32 or float64) rounds
only the stored value, and no ``fastmath`` (it may compile the NaN checks away).

This module imports ``numba.cuda`` (the ``numba-cuda`` package): import it lazily.
Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernel runs in Numba's CUDA simulator.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import cuda

from sweep.model import codegen
from sweep.model.graph import Model

#: Threads per block: blocks are (TX, 128 // TX) with TX = 32, 64 or 128 (see launch_config).
BLOCK_THREADS = 128
#: Rows each thread computes (more when the grid's y-dimension limit requires it).
ROWS_PER_THREAD = 4
MAX_GRID_Y = 65535
TARGET = "cuda"

# Device functions must be inlined ("always"): compile_ptx without a driver cannot link
# separately compiled device functions.
JIT_DEVICE = cuda.jit(device=True, inline="always")

# Each compiled kernel gets its own copy of these globals (see kernel_for): the generated
# evaluator and the sizes of its local arrays (leaves, outputs, hoisted nodes).
_hoist = None
_point = None
N_LEAVES = 1
N_OUT = 1
N_HOIST = 1


@cuda.jit(device=True, inline="always")
def start_thread(v, idx, table, bind, shape, j, r0):
    """A thread's setup: the inputs that are constant or vary along the innermost axis (at
    column ``j``) into ``v``, and the outer indices of its first row ``r0`` into ``idx``
    (decoded once; later rows step them with :func:`next_row`)."""
    last = shape.shape[0] - 1
    for i in range(bind.shape[0]):
        a = bind[i]
        if a < 0:
            v[i] = table[i, 0]
        elif a == last:
            v[i] = table[i, j]
    rem = r0
    for d in range(last - 1, -1, -1):
        idx[d] = rem % shape[d]
        rem //= shape[d]


@cuda.jit(device=True, inline="always")
def row_inputs(v, idx, table, bind, last):
    """The inputs bound to outer axes, at the current row's indices, into ``v``."""
    for i in range(bind.shape[0]):
        a = bind[i]
        if a >= 0 and a != last:
            v[i] = table[i, idx[a]]


@cuda.jit(device=True, inline="always")
def next_row(idx, shape, last):
    """Step the outer indices to the next row (an odometer: no division)."""
    d = last - 1
    while d >= 0:
        idx[d] += 1
        if idx[d] < shape[d]:
            break
        idx[d] = 0
        d -= 1


def _materialize_kernel(table, bind, shape, out, nan_counts, minima, maxima, rows_per_thread):
    """Fill ``out[k, r, j]`` with requested output k at row ``r``, column ``j`` of the chunk.

    ``table``/``bind``/``shape`` as in ``sweep.planning.planner.ChunkInputs``; ``out`` is
    (n_outputs, rows, inner). ``nan_counts``, ``minima`` and ``maxima`` (length n_outputs,
    initialised to 0, NaN, NaN) receive the NaN count and the extremes of the non-NaN values
    of each output, in float64 (the caller rounds them to the output dtype: rounding is
    monotonic, so the extremes of the stored values are the rounded extremes).
    """
    ndim = shape.shape[0]
    last = ndim - 1
    inner = shape[last]
    rows = out.shape[1]
    n_out = out.shape[0]

    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r0 = (cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y) * rows_per_thread
    r1 = min(rows, r0 + rows_per_thread)

    count = cuda.local.array(N_OUT, np.int64)
    lo = cuda.local.array(N_OUT, np.float64)
    hi = cuda.local.array(N_OUT, np.float64)
    for k in range(n_out):
        count[k] = 0
        lo[k] = math.nan
        hi[k] = math.nan

    if j < inner and r0 < rows:
        v = cuda.local.array(N_LEAVES, np.float64)
        idx = cuda.local.array(N_LEAVES, np.int64)   # every axis binds at least one leaf
        h = cuda.local.array(N_HOIST, np.float64)
        vals = cuda.local.array(N_OUT, np.float64)
        start_thread(v, idx, table, bind, shape, j, r0)
        _hoist(v, h)
        for r in range(r0, r1):
            row_inputs(v, idx, table, bind, last)
            _point(v, h, vals)
            for k in range(n_out):
                value = vals[k]
                out[k, r, j] = value
                if value != value:
                    count[k] += 1
                else:
                    if not lo[k] <= value:
                        lo[k] = value
                    if not hi[k] >= value:
                        hi[k] = value
            next_row(idx, shape, last)

    # per block: a tree reduction in shared memory, then one atomic per output
    tid = cuda.threadIdx.y * cuda.blockDim.x + cuda.threadIdx.x
    n_threads = cuda.blockDim.x * cuda.blockDim.y
    s_count = cuda.shared.array(BLOCK_THREADS, np.int64)
    s_lo = cuda.shared.array(BLOCK_THREADS, np.float64)
    s_hi = cuda.shared.array(BLOCK_THREADS, np.float64)
    for k in range(n_out):
        s_count[tid] = count[k]
        s_lo[tid] = lo[k]
        s_hi[tid] = hi[k]
        cuda.syncthreads()
        step = n_threads // 2
        while step > 0:
            if tid < step:
                s_count[tid] += s_count[tid + step]
                other = s_lo[tid + step]
                if not s_lo[tid] <= other:   # NaN (no value yet) loses to anything
                    s_lo[tid] = other if other == other else s_lo[tid]
                other = s_hi[tid + step]
                if not s_hi[tid] >= other:
                    s_hi[tid] = other if other == other else s_hi[tid]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            if s_count[0] != 0:
                cuda.atomic.add(nan_counts, k, s_count[0])
            if s_lo[0] == s_lo[0]:
                cuda.atomic.nanmin(minima, k, s_lo[0])
                cuda.atomic.nanmax(maxima, k, s_hi[0])
        cuda.syncthreads()


def launch_config(rows: int, inner: int, block_threads: int = BLOCK_THREADS,
                  rows_per_thread: int = ROWS_PER_THREAD
                  ) -> tuple[tuple[int, int], tuple[int, int], int]:
    """``(grid, block, rows_per_thread)`` for a chunk of ``rows`` x ``inner`` points.

    Blocks hold ``block_threads`` threads (a power of two, at most :data:`BLOCK_THREADS`),
    ``TX`` along the innermost axis (at least a warp, 32, and no more than the innermost
    axis needs, so short innermost axes waste fewer lanes) and the rest along rows. Each
    thread computes ``rows_per_thread`` rows, or more when the grid's y-dimension (at most
    65535 blocks) would otherwise overflow. Blocks smaller than a warp, and many rows per
    thread, are for the CUDA simulator, whose cost grows with the number of blocks and the
    threads per block.
    """
    if not (0 < block_threads <= BLOCK_THREADS and block_threads & (block_threads - 1) == 0):
        raise ValueError(f"block_threads must be a power of two up to {BLOCK_THREADS}, "
                         f"not {block_threads}")
    tx = min(block_threads, 32)
    while tx < block_threads and tx < inner:
        tx *= 2
    ty = block_threads // tx
    per_thread = max(1, rows_per_thread, -(-rows // (MAX_GRID_Y * ty)))
    batches = -(-rows // per_thread)
    grid = (-(-inner // tx), max(1, -(-batches // ty)))
    return grid, (tx, ty), per_thread


_KERNELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def outer_leaves(model: Model, bind: np.ndarray, ndim: int) -> frozenset[str]:
    """The leaves bound to outer axes: those that change from row to row of a thread."""
    last = ndim - 1
    return frozenset(n for n, a in zip(model.leaves, bind, strict=True)
                     if 0 <= int(a) != last)


def specialize(template, kind: str, model: Model, outputs: tuple[str, ...],
               outer: frozenset[str], jit=None):
    """``template`` with the evaluator generated for ``outputs`` (the leaves ``outer``
    changing from row to row) as its globals; compiled with ``jit`` (default ``cuda.jit``;
    ``None`` entries of the cache are Python functions, for ``compile_ptx``)."""
    ev = codegen.evaluator(model, "point", outputs, outer, JIT_DEVICE, TARGET)
    glob = dict(template.__globals__)
    glob.update(_hoist=ev.function("_hoist"), _point=ev.function("_point"),
                N_LEAVES=max(1, len(model.leaves)), N_OUT=len(outputs),
                N_HOIST=ev.namespace["N_HOIST"])
    fn = codegen.clone(template, glob, f"{kind}_{ev.fingerprint[:16]}")
    return fn if jit is False else (jit or cuda.jit)(fn)


def kernel_for(model: Model, outputs: tuple[str, ...], outer: frozenset[str]):
    """The materialize kernel for ``outputs`` of ``model`` (compiled lazily per dtype by
    Numba, once per kind of sweep)."""
    key = (model.fingerprint, outputs, outer)
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = specialize(_materialize_kernel, "materialize", model, outputs,
                                       outer)
        return _KERNELS[key]


def signatures() -> dict[str, str]:
    """The kernel's signatures by output dtype, as launched by the engine (C-contiguous)."""
    args = ("float64[:, ::1], int64[::1], int64[::1], {t}[:, :, ::1], "
            "int64[::1], float64[::1], float64[::1], int64")
    return {t: f"void({args.format(t=t)})" for t in ("float32", "float64")}


def example(model: Model | None = None) -> tuple[Model, tuple[str, ...], frozenset[str]]:
    """A model, every output of it and one leaf on an outer axis: what the compile checks
    build when no sweep names a kernel."""
    from sweep.model import default_model

    model = model or default_model()
    return model, model.outputs, frozenset(model.leaves[:1])


def compile_ptx_all(cc: tuple[int, int] = (9, 0), model: Model | None = None
                    ) -> dict[str, str]:
    """PTX of the materialize kernel (every output of ``model``, default the registered
    families) for compute capability ``cc``, by name.

    Needs the CUDA toolkit's NVVM (the ``numba-cuda[cu13]`` and ``cuda-toolkit`` wheels) but
    no GPU and no driver. Not available under the CUDA simulator.
    """
    model, outputs, outer = example(model)
    fn = specialize(_materialize_kernel, "materialize", model, outputs, outer, jit=False)
    ptx = {}
    for dtype, sig in signatures().items():
        text, _ = cuda.compile_ptx(fn, sig, cc=cc)
        ptx[f"materialize_{dtype}"] = text
    return ptx
