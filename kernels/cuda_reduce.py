"""Numba CUDA kernel for reduce mode: one launch folds one output over a sub-block of the grid
in which every point belongs to the same group (the kept dims fixed), so each thread keeps
its partial statistics in registers.

The output comes from the point evaluator generated from the model (one kernel per output
and binding, see :func:`kernel_for`). Layout as the materialize kernel
(``sweep.kernels.cuda``): ``threadIdx.x`` along the
innermost axis, each thread a column and a run of rows stepped by an odometer, visited in
increasing flat grid index (so a strict comparison keeps the first point reaching an
extreme, as NumPy's argmin). Per thread: count, NaN count, weighted mean and sum of squared
deviations (West's incremental update), extremes with their flat index, and the weight
below/above up to :data:`MAX_THRESHOLDS` thresholds. Per block, a tree reduction in shared
memory (Chan's merge; ties of extremes to the smaller index) leaves one partial per block,
written to ``partials[block]`` (no atomics: the host merges the blocks' partials, exactly).
Histogram counts and weights are added with global atomics.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import cuda

from sweep.kernels import cuda as kc
from sweep.kernels.cuda import next_row, row_inputs, start_thread
from sweep.kernels.reduce_cpu import bin_of, geometry
from sweep.model.graph import Model

BLOCK_THREADS = 128
MAX_THRESHOLDS = 4
#: Columns of ``partials`` (and rows of the shared-memory tree), by name: then the below
#: and above threshold weights, MAX_THRESHOLDS each from F_BELOW and F_ABOVE. Indices are
#: stored as float64 (exact below 2^53 points). The host reads them by these names.
FIELDS = ("n", "nan", "w", "mean", "m2", "lo", "ilo", "hi", "ihi")
F_N, F_NAN, F_W, F_MEAN, F_M2, F_LO, F_ILO, F_HI, F_IHI = range(len(FIELDS))
F_BELOW = len(FIELDS)
F_ABOVE = F_BELOW + MAX_THRESHOLDS
N_FIELDS = F_ABOVE + MAX_THRESHOLDS

# each compiled kernel gets its own copy of these (see kernel_for)
_hoist = None
_point = None
N_LEAVES = 1
N_OUT = 1
N_HOIST = 1


_bin_of = cuda.jit(device=True, inline="always")(bin_of)
_geometry = cuda.jit(device=True, inline="always")(geometry)


def _reduce_kernel(table, bind, shape, start, grid_stride, weights, rows_per_thread,
                   elo, einv, edges, nb, log_scale, below, above, partials, hn, hw):
    """Fold the kernel's output over one sub-block (one group). ``start``/``grid_stride``: the
    sub-block's offset in the grid and the grid's strides (for flat indices); ``weights``
    (ndim, width): per-position weights; ``below``/``above``: thresholds (NaN-padded to
    MAX_THRESHOLDS); ``partials`` (n_blocks, N_FIELDS) receives one row per block;
    ``hn``/``hw`` (nb + 2,) the histogram (nb = 0: none) on ``edges`` (nb + 1,)."""
    last, inner, rows = _geometry(shape)
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r0 = (cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y) * rows_per_thread
    r1 = min(rows, r0 + rows_per_thread)

    n = 0
    n_nan = 0
    wsum = 0.0
    mean = 0.0
    m2 = 0.0
    lo = math.nan
    hi = math.nan
    ilo = -1
    ihi = -1
    tb = cuda.local.array(MAX_THRESHOLDS, np.float64)
    ta = cuda.local.array(MAX_THRESHOLDS, np.float64)
    for t in range(MAX_THRESHOLDS):
        tb[t] = 0.0
        ta[t] = 0.0

    if j < inner and r0 < rows:
        v = cuda.local.array(N_LEAVES, np.float64)
        idx = cuda.local.array(N_LEAVES, np.int64)
        h = cuda.local.array(N_HOIST, np.float64)
        vals = cuda.local.array(N_OUT, np.float64)
        start_thread(v, idx, table, bind, shape, j, r0)
        _hoist(v, h)
        w_inner = weights[last, j]
        for _ in range(r0, r1):
            flat = (start[last] + j) * grid_stride[last]
            w_row = w_inner
            for d in range(last):
                flat += (start[d] + idx[d]) * grid_stride[d]
                w_row *= weights[d, idx[d]]
            row_inputs(v, idx, table, bind, last)
            _point(v, h, vals)
            x = vals[0]
            if x != x:
                n_nan += 1
            else:
                n += 1
                w_new = wsum + w_row
                if w_new > 0.0:
                    delta = x - mean
                    mean += delta * (w_row / w_new)
                    m2 += w_row * delta * (x - mean)
                wsum = w_new
                if not lo <= x:
                    lo = x
                    ilo = flat
                if not hi >= x:
                    hi = x
                    ihi = flat
                if nb > 0:
                    b = _bin_of(x, elo, einv, nb, log_scale, edges)
                    cuda.atomic.add(hn, b, 1)
                    cuda.atomic.add(hw, b, w_row)
                for t in range(MAX_THRESHOLDS):
                    if x < below[t]:
                        tb[t] += w_row
                    if x > above[t]:
                        ta[t] += w_row
            next_row(idx, shape, last)

    # one partial per block: a tree reduction in shared memory
    tid = cuda.threadIdx.y * cuda.blockDim.x + cuda.threadIdx.x
    s = cuda.shared.array((N_FIELDS, BLOCK_THREADS), np.float64)
    s[F_N, tid] = n
    s[F_NAN, tid] = n_nan
    s[F_W, tid] = wsum
    s[F_MEAN, tid] = mean
    s[F_M2, tid] = m2
    s[F_LO, tid] = lo
    s[F_ILO, tid] = ilo
    s[F_HI, tid] = hi
    s[F_IHI, tid] = ihi
    for t in range(MAX_THRESHOLDS):
        s[F_BELOW + t, tid] = tb[t]
        s[F_ABOVE + t, tid] = ta[t]
    cuda.syncthreads()
    step = (cuda.blockDim.x * cuda.blockDim.y) // 2
    while step > 0:
        if tid < step:
            o = tid + step
            wa = s[F_W, tid]
            wb = s[F_W, o]
            tot = wa + wb
            if wb > 0.0:
                if wa > 0.0:
                    delta = s[F_MEAN, o] - s[F_MEAN, tid]
                    s[F_MEAN, tid] += delta * (wb / tot)
                    s[F_M2, tid] += s[F_M2, o] + delta * delta * (wa * wb / tot)
                else:
                    s[F_MEAN, tid] = s[F_MEAN, o]
                    s[F_M2, tid] = s[F_M2, o]
            s[F_W, tid] = tot
            s[F_N, tid] += s[F_N, o]
            s[F_NAN, tid] += s[F_NAN, o]
            lo_b = s[F_LO, o]
            if lo_b == lo_b and (not s[F_LO, tid] <= lo_b
                                 or (lo_b == s[F_LO, tid] and s[F_ILO, o] < s[F_ILO, tid])):
                s[F_LO, tid] = lo_b
                s[F_ILO, tid] = s[F_ILO, o]
            hi_b = s[F_HI, o]
            if hi_b == hi_b and (not s[F_HI, tid] >= hi_b
                                 or (hi_b == s[F_HI, tid] and s[F_IHI, o] < s[F_IHI, tid])):
                s[F_HI, tid] = hi_b
                s[F_IHI, tid] = s[F_IHI, o]
            for t in range(F_BELOW, N_FIELDS):
                s[t, tid] += s[t, o]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        block = cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x
        for f in range(N_FIELDS):
            partials[block, f] = s[f, 0]


_KERNELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def kernel_for(model: Model, output: str, outer: frozenset[str]):
    """The reduce kernel of ``output`` (one launch folds one output), compiled lazily."""
    key = (model.fingerprint, output, outer)
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = kc.specialize(_reduce_kernel, "reduce", model, (output,), outer)
        return _KERNELS[key]


def signatures() -> dict[str, str]:
    """The kernel's signature, as launched by the engine."""
    args = ("float64[:, ::1], int64[::1], int64[::1], int64[::1], int64[::1], "
            "float64[:, ::1], int64, float64, float64, float64[::1], int64, boolean, "
            "float64[::1], float64[::1], float64[:, ::1], int64[::1], float64[::1]")
    return {"reduce": f"void({args})"}


def compile_ptx_all(cc: tuple[int, int] = (9, 0), model: Model | None = None
                    ) -> dict[str, str]:
    """PTX of the reduce kernel (first output of ``model``) for compute capability ``cc``
    (no GPU needed)."""
    model, outputs, outer = kc.example(model)
    fn = kc.specialize(_reduce_kernel, "reduce", model, outputs[1:2] or outputs[:1], outer,
                       jit=False)
    text, _ = cuda.compile_ptx(fn, signatures()["reduce"], cc=cc)
    return {"reduce_float64": text}
