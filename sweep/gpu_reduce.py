"""Reduce mode on the GPU: the ``cuda`` backend of ``sweep.reduce`` (Numba CUDA).

Each reduce block is split into its groups (the kept dims fixed, so that every point of a
launch belongs to one group); each group and output is one launch of
``sweep.kernels.cuda_reduce.reduce_kernel``, which leaves one partial per CUDA block. The
host merges those partials (Chan's formula, exact counts and extremes) into the block's
:class:`~sweep.reduce.Partials`, which the Dask tree reduction then merges like the CPU's.
Each Dask thread uses its own device (round-robin) and stream, as in materialize mode.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np

from sweep.partials import Partials
from sweep.planner import ChunkKey, Plan


def merge_rows(p: np.ndarray) -> np.ndarray:
    """Merge partial rows (n, nan, w, mean, m2, lo, ilo, hi, ihi, thresholds...) into one,
    as the kernel's block reduction does: Chan for the moments, extremes with ties to the
    smaller flat index, sums for the rest. Pairwise, vectorized."""
    p = np.asarray(p, dtype=np.float64)
    while len(p) > 1:
        if len(p) % 2:
            p = np.vstack([p, _empty_row(p.shape[1])])
        a, b = p[0::2].copy(), p[1::2]
        wa, wb = a[:, 2], b[:, 2]
        tot = wa + wb
        both = (wa > 0) & (wb > 0)
        only_b = (wa <= 0) & (wb > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = b[:, 3] - a[:, 3]
            safe = np.where(tot > 0, tot, 1.0)
            a[:, 3] = np.where(both, a[:, 3] + delta * wb / safe,
                               np.where(only_b, b[:, 3], a[:, 3]))
            a[:, 4] = np.where(both, a[:, 4] + b[:, 4] + delta * delta * wa * wb / safe,
                               np.where(only_b, b[:, 4], a[:, 4]))
        a[:, 2] = tot
        a[:, 0] += b[:, 0]
        a[:, 1] += b[:, 1]
        take = ~np.isnan(b[:, 5]) & (np.isnan(a[:, 5]) | (b[:, 5] < a[:, 5])
                                     | ((b[:, 5] == a[:, 5]) & (b[:, 6] < a[:, 6])))
        a[take, 5], a[take, 6] = b[take, 5], b[take, 6]
        take = ~np.isnan(b[:, 7]) & (np.isnan(a[:, 7]) | (b[:, 7] > a[:, 7])
                                     | ((b[:, 7] == a[:, 7]) & (b[:, 8] < a[:, 8])))
        a[take, 7], a[take, 8] = b[take, 7], b[take, 8]
        a[:, 9:] += b[:, 9:]
        p = a
    return p[0]


def _empty_row(n_fields: int) -> np.ndarray:
    row = np.zeros((1, n_fields))
    row[0, 5] = row[0, 7] = np.nan
    row[0, 6] = row[0, 8] = -1
    return row


class CudaReducer:
    """Per-thread device state and the block task of the cuda reduce backend."""

    _SIMULATOR_LOCK = threading.Lock()

    def __init__(self):
        from numba import cuda

        from sweep.kernels import cuda as kc
        from sweep.kernels import cuda_reduce as kr

        self._cuda = cuda
        self._kc = kc
        self._kr = kr
        self.simulated = bool(cuda.config.ENABLE_CUDASIM)
        self.block_threads = 32 if self.simulated else kr.BLOCK_THREADS
        self.rows_per_thread = 16 if self.simulated else 64
        self._n_devices = max(1, len(cuda.gpus))
        self._next = itertools.count()
        self._local = threading.local()

    def _device(self) -> int:
        dev = getattr(self._local, "device", None)
        if dev is None:
            dev = self._local.device = next(self._next) % self._n_devices
        return dev

    def block_task(self, plan: Plan, key: ChunkKey, ctx):
        """The :class:`~sweep.reduce.Partials` of one reduce block, computed on the GPU."""
        import warnings

        cuda = self._cuda
        kr = self._kr
        p = Partials.empty(ctx.n_groups, len(ctx.codes), ctx.nb, ctx.below.shape[1],
                           ctx.above.shape[1])
        kept = [d for d in range(len(plan.shape)) if ctx.kept_stride[d] != 0]
        with cuda.gpus[self._device()]:
            stream = getattr(self._local, "stream", None)
            if stream is None:
                stream = self._local.stream = cuda.stream()
            for combo in itertools.product(*(range(key.start[d], key.stop[d]) for d in kept)):
                start = list(key.start)
                stop = list(key.stop)
                for d, i in zip(kept, combo, strict=True):
                    start[d], stop[d] = i, i + 1
                sub = ChunkKey(key.index, tuple(start), tuple(stop))
                g = int(sum(i * ctx.kept_stride[d] for d, i in zip(kept, combo, strict=True)))
                inputs = plan.chunk_inputs(sub)
                shape = inputs.shape
                outer = self._kc.outer_leaves(inputs.model, inputs.bind, len(shape))
                rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
                inner = shape[-1]
                grid, block, per_thread = self._kc.launch_config(
                    rows, inner, self.block_threads, self.rows_per_thread)
                n_blocks = grid[0] * grid[1]
                weights = np.ones((len(shape), max(shape)))
                for d in range(len(shape)):
                    weights[d, : shape[d]] = ctx.weights[d][start[d]:stop[d]]
                args = [cuda.to_device(np.ascontiguousarray(a), stream=stream) for a in (
                    inputs.table, inputs.bind, np.asarray(shape, np.int64),
                    np.asarray(start, np.int64), ctx.grid_stride, weights)]
                for k, code in enumerate(ctx.codes):
                    below = np.full(kr.MAX_THRESHOLDS, np.nan)
                    above = np.full(kr.MAX_THRESHOLDS, np.nan)
                    below[: ctx.below.shape[1]] = ctx.below[k]
                    above[: ctx.above.shape[1]] = ctx.above[k]
                    d_part = cuda.device_array((n_blocks, kr.N_FIELDS), np.float64,
                                               stream=stream)
                    nbins = ctx.nb + 2 if ctx.nb else 1
                    d_hn = cuda.to_device(np.zeros(nbins, np.int64), stream=stream)
                    d_hw = cuda.to_device(np.zeros(nbins), stream=stream)
                    kernel = kr.kernel_for(inputs.model, inputs.model.outputs[int(code)],
                                           outer)
                    launch = kernel[grid, block, stream]
                    call = (*args, per_thread, float(ctx.edges_lo[k]),
                            float(ctx.edges_inv[k]),
                            cuda.to_device(np.ascontiguousarray(ctx.edges[k]), stream=stream),
                            int(ctx.nb), bool(ctx.log_scale),
                            cuda.to_device(below, stream=stream),
                            cuda.to_device(above, stream=stream), d_part, d_hn, d_hw)
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message="Grid size .* under-util")
                        if self.simulated:
                            with self._SIMULATOR_LOCK:
                                launch(*call)
                        else:
                            launch(*call)
                    part = d_part.copy_to_host(stream=stream)
                    hn = d_hn.copy_to_host(stream=stream)
                    hw = d_hw.copy_to_host(stream=stream)
                    stream.synchronize()
                    row = merge_rows(part)
                    p.n[g, k], p.nan[g, k] = int(row[0]), int(row[1])
                    p.w[g, k], p.mean[g, k], p.m2[g, k] = row[2], row[3], row[4]
                    p.lo[g, k], p.ilo[g, k] = row[5], int(row[6])
                    p.hi[g, k], p.ihi[g, k] = row[7], int(row[8])
                    nt = kr.MAX_THRESHOLDS
                    p.tb[g, k] = row[9:9 + ctx.below.shape[1]]
                    p.ta[g, k] = row[9 + nt:9 + nt + ctx.above.shape[1]]
                    if ctx.nb:
                        p.hn[g, k] = hn
                        p.hw[g, k] = hw
        return p
