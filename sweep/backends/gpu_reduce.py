"""Reduce mode on the GPU: the reduce engine of the ``cuda`` backend
(:meth:`sweep.backends.gpu.CudaBackend.fold`, Numba CUDA).

Each reduce block is split into its groups (the kept dims fixed, so that every point of a
launch belongs to one group); each group and output is one launch of
``sweep.kernels.cuda_reduce.reduce_kernel``, which leaves one partial per CUDA block. The
host merges those partials (Chan's formula, exact counts and extremes) into the block's
:class:`~sweep.backends.partials.Partials`, which the engine's tree reduction then merges like
the CPU's.
Each Dask thread uses its own device (round-robin) and stream, as in materialize mode.
"""

from __future__ import annotations

import itertools

import numpy as np

from sweep.backends.partials import Folding, Partials, concat, merge, take
from sweep.chunks import ChunkInputs


def partials_of_rows(rows: np.ndarray, n_below: int = 0, n_above: int = 0) -> Partials:
    """The kernel's per-block rows (columns named in ``sweep.kernels.cuda_reduce.FIELDS``)
    as :class:`Partials` of one output, one group per row."""
    from sweep.kernels import cuda_reduce as kr

    r = np.asarray(rows, dtype=np.float64).reshape(-1, kr.N_FIELDS)
    m = len(r)

    def col(f, dtype=np.float64):
        return r[:, f].astype(dtype)[:, None]

    return Partials(n=col(kr.F_N, np.int64), nan=col(kr.F_NAN, np.int64), w=col(kr.F_W),
                    mean=col(kr.F_MEAN), m2=col(kr.F_M2), lo=col(kr.F_LO), hi=col(kr.F_HI),
                    ilo=col(kr.F_ILO, np.int64), ihi=col(kr.F_IHI, np.int64),
                    hn=np.zeros((m, 1, 1), np.int64), hw=np.zeros((m, 1, 1)),
                    tb=r[:, kr.F_BELOW:kr.F_BELOW + n_below][:, None, :],
                    ta=r[:, kr.F_ABOVE:kr.F_ABOVE + n_above][:, None, :])


def merge_rows(rows: np.ndarray, n_below: int = 0, n_above: int = 0) -> Partials:
    """The kernel's per-block rows merged into one partial (one group, one output) by the
    same exact merge as every other partial (:func:`sweep.backends.partials.merge`), pairwise."""
    p = partials_of_rows(rows, n_below, n_above)
    while p.n.shape[0] > 1:
        if p.n.shape[0] % 2:
            p = concat(p, Partials.empty(1, 1, 0, n_below, n_above))
        p = merge(take(p, slice(0, None, 2)), take(p, slice(1, None, 2)))
    return p


#: Launch shape of the reduce kernel: threads per CUDA block and rows per thread, on a GPU
#: and in Numba's simulator (whose cost grows with the number of blocks and their size).
REDUCE_ROWS_PER_THREAD = 64
SIMULATOR_BLOCK_THREADS = 32
SIMULATOR_ROWS_PER_THREAD = 16


def fold(backend, inputs: ChunkInputs, start: tuple[int, ...], folding: Folding) -> Partials:
    """The :class:`~sweep.backends.partials.Partials` of one reduce block (``inputs`` at grid
    offset ``start``), computed on the GPU by ``backend`` (a
    :class:`~sweep.backends.gpu.CudaBackend`: its devices, round-robin, and per-thread
    streams)."""
    from sweep.kernels import cuda as kc
    from sweep.kernels import cuda_reduce as kr

    cuda = backend._cuda
    simulated = backend.simulated
    block_threads = SIMULATOR_BLOCK_THREADS if simulated else kr.BLOCK_THREADS
    rows_per_thread = SIMULATOR_ROWS_PER_THREAD if simulated else REDUCE_ROWS_PER_THREAD
    ctx = folding
    p = folding.empty()
    ndim = len(inputs.shape)
    kept = [d for d in range(ndim) if ctx.kept_stride[d] != 0]
    with cuda.gpus[backend._slots.device_for_thread()]:
        stream = backend._slots.get().stream
        for combo in itertools.product(*(range(inputs.shape[d]) for d in kept)):
            offset = [0] * ndim
            shape = list(inputs.shape)
            for d, i in zip(kept, combo, strict=True):
                offset[d], shape[d] = i, 1
            sub_start = tuple(a + o for a, o in zip(start, offset, strict=True))
            g = int(sum((start[d] + i) * ctx.kept_stride[d]
                        for d, i in zip(kept, combo, strict=True)))
            sub = inputs.window(tuple(offset), tuple(shape))
            shape = sub.shape
            outer = kc.outer_leaves(sub.model, sub.bind, len(shape))
            rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
            inner = shape[-1]
            grid, block, per_thread = kc.launch_config(
                rows, inner, block_threads, rows_per_thread)
            n_blocks = grid[0] * grid[1]
            weights = ctx.block_weights(sub_start, shape)
            args = [cuda.to_device(np.ascontiguousarray(a), stream=stream) for a in (
                sub.table, sub.bind, np.asarray(shape, np.int64),
                np.asarray(sub_start, np.int64), ctx.grid_stride, weights)]
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
                kernel = kr.kernel_for(sub.model, sub.model.outputs[int(code)], outer)
                call = (*args, per_thread, float(ctx.edges_lo[k]),
                        float(ctx.edges_inv[k]),
                        cuda.to_device(np.ascontiguousarray(ctx.edges[k]), stream=stream),
                        int(ctx.nb), bool(ctx.log_scale[k]),
                        cuda.to_device(below, stream=stream),
                        cuda.to_device(above, stream=stream), d_part, d_hn, d_hw)
                # one group per launch: small grids on purpose
                backend.launch(kernel[grid, block, stream], call, small=True)
                part = d_part.copy_to_host(stream=stream)
                hn = d_hn.copy_to_host(stream=stream)
                hw = d_hw.copy_to_host(stream=stream)
                stream.synchronize()
                merged = merge_rows(part, ctx.below.shape[1], ctx.above.shape[1])
                for f in ("n", "nan", "w", "mean", "m2", "lo", "ilo", "hi", "ihi",
                          "tb", "ta"):
                    getattr(p, f)[g, k] = getattr(merged, f)[0, 0]
                if ctx.nb:
                    p.hn[g, k] = hn
                    p.hw[g, k] = hw
    return p
