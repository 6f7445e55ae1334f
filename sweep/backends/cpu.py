"""The CPU backends: ``numpy`` (the reference: NumPy broadcasting in float64) and ``numba``
(one fused kernel per chunk), each with its reduce engine (``fold``, ``ratio``)."""

from __future__ import annotations

import numpy as np

from sweep.backends.base import ChunkStats, _output_array, stats_of
from sweep.backends.partials import Folding, Partials, RatioBins, ratio_stats
from sweep.chunks import ChunkInputs


class _HostMemory:
    """``host_buffer`` for the CPU backends: plain NumPy memory."""

    def host_buffer(self, size: int, dtype: np.dtype) -> np.ndarray:
        return np.empty(size, dtype=dtype)


# --------------------------------------------------------------------------- numpy


def broadcast_inputs(inputs: ChunkInputs) -> dict[str, np.ndarray]:
    """Each leaf as an array that broadcasts against the chunk's shape (no full-size copies)."""
    ndim = len(inputs.shape)
    out = {}
    for i, name in enumerate(inputs.model.leaves):
        axis = int(inputs.bind[i])
        if axis < 0:
            out[name] = np.float64(inputs.table[i, 0])
        else:
            n = inputs.shape[axis]
            shape = [1] * ndim
            shape[axis] = n
            out[name] = inputs.table[i, :n].reshape(shape)
    return out


class NumpyBackend(_HostMemory):
    """The reference: plain NumPy broadcasting in float64, obviously right, one thread.

    Each family's hand-written NumPy oracle (e.g. :func:`sweep.model.cost.reference`) and,
    for a file's derived outputs, a NumPy interpreter of their checked expressions."""

    name = "numpy"
    device = "cpu"

    def compute(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype,
                out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        x = broadcast_inputs(inputs)
        out = _output_array(out, (len(codes), *inputs.shape), dtype)
        # Zero denominators are masked explicitly; what is left is IEEE arithmetic (overflow
        # to inf on absurd inputs, as in the compiled kernels), so NumPy's warnings are off.
        with np.errstate(all="ignore"):
            nodes = inputs.model.reference_nodes(x)
            for k, code in enumerate(codes):
                values = nodes[inputs.model.outputs[int(code)]]()
                out[k] = np.broadcast_to(values, inputs.shape)
        return out, stats_of(out)

    def warm_up(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype) -> None:
        pass

    def fold(self, inputs: ChunkInputs, start: tuple[int, ...], folding: Folding) -> Partials:
        """The reduce partials of one block (see :mod:`sweep.backends.reduce_numpy`)."""
        from sweep.backends import reduce_numpy

        return reduce_numpy.fold(self, inputs, start, folding)

    def ratio(self, inputs_a: ChunkInputs, inputs_b: ChunkInputs, weights: np.ndarray,
              code: int, bins: RatioBins) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A comparison's partials over one block (see :mod:`sweep.backends.reduce_numpy`)."""
        from sweep.backends import reduce_numpy

        return reduce_numpy.ratio(self, inputs_a, inputs_b, weights, code, bins)


# --------------------------------------------------------------------------- numba


class NumbaBackend(_HostMemory):
    """Fused Numba CPU kernel (``sweep.kernels.cpu``).

    ``parallel=False`` (the engine's default) runs one thread per call and releases the
    GIL, so Dask's threaded scheduler supplies the parallelism; ``parallel=True`` uses
    Numba's own threads for in-memory use outside Dask. One level, never both.
    """

    device = "cpu"

    def __init__(self, parallel: bool = False):
        from sweep.kernels import cpu  # lazy: compiling needs numba only when used

        self._cpu = cpu
        self.parallel = parallel
        self.name = "numba"

    def compute(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype,
                out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        shape = inputs.shape
        inner = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        out = _output_array(out, (len(codes), rows, inner), dtype)
        # the kernel also folds the extremes of the stored values, row by row while each
        # row is in cache (integer keys: see sweep.kernels.cpu.row_keys)
        counts, lo, hi = self._cpu.materialize(
            inputs.model, inputs.table, inputs.bind, np.asarray(shape, dtype=np.int64),
            np.ascontiguousarray(codes, dtype=np.int64), out, parallel=self.parallel,
        )
        return out.reshape((len(codes), *shape)), ChunkStats(counts, lo, hi)

    def warm_up(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype) -> None:
        # the kernel is specialized on which inputs vary along the innermost axis and on the
        # set of outputs: a one-point chunk with the same bindings compiles the same kernel
        tiny = inputs.one_point()
        self.compute(tiny, codes, np.dtype(dtype))

    def fold(self, inputs: ChunkInputs, start: tuple[int, ...], folding: Folding) -> Partials:
        """The reduce partials of one block, by the fused fold kernel
        (``sweep.kernels.reduce_cpu.fold_block``; compiled once per model, bindings and
        nodes, cached on disk)."""
        from sweep.kernels import reduce_cpu

        f = folding
        p = f.empty()
        reduce_cpu.fold_block(
            inputs.model, inputs.table, inputs.bind, np.asarray(inputs.shape, np.int64),
            np.asarray(start, np.int64), f.codes, f.kept_stride, f.grid_stride,
            f.block_weights(start, inputs.shape), f.edges_lo, f.edges_inv, f.edges, f.nb,
            f.log_scale, f.below, f.above, f.full, p.n, p.nan, p.w, p.mean, p.m2, p.lo, p.hi,
            p.ilo, p.ihi, p.hn, p.hw, p.tb, p.ta)
        return p

    def ratio(self, inputs_a: ChunkInputs, inputs_b: ChunkInputs, weights: np.ndarray,
              code: int, bins: RatioBins) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A comparison's partials over one block, by the fused comparison kernel
        (``sweep.kernels.reduce_cpu.ratio_block``)."""
        from sweep.kernels import reduce_cpu

        stats = ratio_stats()
        hn = np.zeros(bins.nb + 2, np.int64)
        hw = np.zeros(bins.nb + 2)
        reduce_cpu.ratio_block(inputs_a.model, inputs_a.table, inputs_b.table, inputs_a.bind,
                               np.asarray(inputs_a.shape, np.int64), weights, bins.elo,
                               bins.einv, bins.edges, bins.nb, code, stats, hn, hw)
        return stats, hn, hw
