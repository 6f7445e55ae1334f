"""Numba CUDA kernels: every requested output of one chunk, one thread per point.

The same scalar formulas as the CPU kernels (``sweep.formulas``), compiled as CUDA device
functions and inlined. Layout of a launch (see :func:`launch_config`):

* ``threadIdx.x`` runs along the innermost axis, so a warp writes 32 consecutive values
  of a row: stores coalesce;
* each thread owns one column ``j`` of the chunk and a short run of consecutive rows. It
  decodes its first row's outer indices once and then steps an odometer (no integer
  division per point); the inputs bound to the innermost axis are read once per thread,
  those of outer axes once per row, from the small per-axis table (categorical axes are
  lookup tables there too), and the capital recovery factor is recomputed only when the
  rate or the lifetime changes;
* NaN counts and extremes per output are folded per thread, reduced per block in shared
  memory and merged with one atomic per block and output.

Everything is float64 arithmetic; the output array's dtype (float32 or float64) rounds
only the stored value, and no ``fastmath`` (it may compile the NaN checks away).

This module imports ``numba.cuda`` (the ``numba-cuda`` package): import it lazily.
Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernel runs in Numba's CUDA simulator.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from sweep.formulas import IN, INPUTS, OUTPUTS, compile_formulas

#: Threads per block: blocks are (TX, 128 // TX) with TX = 32, 64 or 128 (see launch_config).
BLOCK_THREADS = 128
#: Rows each thread computes (more when the grid's y-dimension limit requires it).
ROWS_PER_THREAD = 4
MAX_GRID_Y = 65535

_NIN = len(INPUTS)
_NOUT = len(OUTPUTS)
_RATE = IN.COST_OF_CAPITAL
_LIFE = IN.LIFETIME_YEARS
# every input is bound to at most one axis and every axis binds at least one input
_MAX_DIMS = _NIN

# Device functions must be inlined ("always"): compile_ptx without a driver cannot link
# separately compiled device functions.
_F = compile_formulas(cuda.jit(device=True, inline="always"))
_crf = _F.capital_recovery_factor
_output_value = _F.output_value


@cuda.jit(device=True, inline="always")
def start_thread(v, idx, table, bind, shape, j, r0):
    """A thread's setup: the inputs that are constant or vary along the innermost axis (at
    column ``j``) into ``v``, and the outer indices of its first row ``r0`` into ``idx``
    (decoded once; later rows step them with :func:`next_row`)."""
    last = shape.shape[0] - 1
    for i in range(_NIN):
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
    for i in range(_NIN):
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


@cuda.jit
def materialize_kernel(table, bind, shape, codes, out, nan_counts, minima, maxima,
                       rows_per_thread):
    """Fill ``out[k, r, j]`` with output ``codes[k]`` at row ``r``, column ``j`` of the chunk.

    ``table``/``bind``/``shape`` as in ``sweep.planner.ChunkInputs``; ``out`` is
    (n_outputs, rows, inner). ``nan_counts``, ``minima`` and ``maxima`` (length n_outputs,
    initialised to 0, NaN, NaN) receive the NaN count and the extremes of the non-NaN values
    of each output, in float64 (the caller rounds them to the output dtype: rounding is
    monotonic, so the extremes of the stored values are the rounded extremes).
    """
    ndim = shape.shape[0]
    last = ndim - 1
    inner = shape[last]
    rows = out.shape[1]
    n_out = codes.shape[0]

    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r0 = (cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y) * rows_per_thread
    r1 = min(rows, r0 + rows_per_thread)

    count = cuda.local.array(_NOUT, np.int64)
    lo = cuda.local.array(_NOUT, np.float64)
    hi = cuda.local.array(_NOUT, np.float64)
    for k in range(n_out):
        count[k] = 0
        lo[k] = math.nan
        hi[k] = math.nan

    if j < inner and r0 < rows:
        v = cuda.local.array(_NIN, np.float64)
        idx = cuda.local.array(_MAX_DIMS, np.int64)
        start_thread(v, idx, table, bind, shape, j, r0)
        rate = math.nan
        life = math.nan
        crf = math.nan
        for r in range(r0, r1):
            row_inputs(v, idx, table, bind, last)
            if not (v[_RATE] == rate and v[_LIFE] == life):
                rate = v[_RATE]
                life = v[_LIFE]
                crf = _crf(rate, life)
            for k in range(n_out):
                value = _output_value(codes[k], v[0], v[1], crf, v[4], v[5], v[6], v[7],
                                      v[8], v[9], v[10], v[11])
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


def signatures() -> dict[str, str]:
    """The kernel's signatures by output dtype, as launched by the engine (C-contiguous)."""
    args = ("float64[:, ::1], int64[::1], int64[::1], int64[::1], {t}[:, :, ::1], "
            "int64[::1], float64[::1], float64[::1], int64")
    return {t: f"void({args.format(t=t)})" for t in ("float32", "float64")}


def compile_ptx_all(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """PTX of every kernel of this module for compute capability ``cc``, by name.

    Needs the CUDA toolkit's NVVM (the ``numba-cuda[cu13]`` and ``cuda-toolkit`` wheels) but
    no GPU and no driver. Not available under the CUDA simulator.
    """
    ptx = {}
    for dtype, sig in signatures().items():
        text, _ = cuda.compile_ptx(materialize_kernel.py_func, sig, cc=cc)
        ptx[f"materialize_{dtype}"] = text
    return ptx
