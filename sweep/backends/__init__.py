"""Compute backends by name: ``numpy`` (the reference), ``numba`` (fused CPU); one factory."""

from __future__ import annotations

import logging
import os
from typing import Protocol

import numpy as np

from sweep.backends.base import (  # noqa: F401 - ChunkStats, stats_of: part of this API
    BackendUnavailable,
    ChunkStats,
    _output_array,
    stats_of,
)
from sweep.planning.planner import ChunkInputs

log = logging.getLogger(__name__)

BACKENDS = ("numpy", "numba", "cuda", "cupy")


class Backend(Protocol):
    """What the engine needs from a backend."""

    name: str
    device: str

    def compute(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype,
                out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        """Every output ``codes[k]`` (an index into ``inputs.model.outputs``) over the chunk:
        an array (n_outputs, *shape) of ``dtype`` and its :class:`ChunkStats`. ``out``, if
        given, is a C-contiguous buffer of at least that many elements of ``dtype`` to write
        into (the engine reuses one per thread)."""
        ...

    def warm_up(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype) -> None:
        """Compile and load what chunks like ``inputs`` (same bindings) computing ``codes``
        need, so that the first chunk does not pay for it."""
        ...

    def host_buffer(self, size: int, dtype: np.dtype) -> np.ndarray:
        """A host buffer of ``size`` elements for ``compute``'s ``out``, allocated by (and
        for) the calling worker thread: plain memory on the CPU, pinned memory on a GPU."""
        ...


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


# --------------------------------------------------------------------------- factory


#: Up to this many points, ``auto`` takes the NumPy reference: compiling (or loading from
#: Numba's cache) and starting a GPU would take longer than computing. Measured on the
#: 2-core CPU machine (bench/tiny_crossover.py, bench/RESULTS.md): whole ``sweep run``
#: processes are faster on NumPy up to 10^6 points even with Numba's cache warm (0.5 s),
#: and 5.6 s faster with it cold; at 10^7 numba is ahead by 0.8 s (warm).
AUTO_NUMPY_POINTS = 1_000_000


def choose_auto(points: int | None = None) -> str:
    """The backend ``auto`` means here: ``numpy`` for ``points`` up to
    :data:`AUTO_NUMPY_POINTS` (where compiling would dominate), else a GPU backend when one
    is usable, else ``numba``.

    The reason is logged at INFO (``sweep run -v`` shows it). Numba's CUDA simulator never
    counts as a usable GPU.
    """
    if points is not None and points <= AUTO_NUMPY_POINTS:
        log.info("backend auto -> numpy (%s point(s), at most %s: compiling a kernel would "
                 "take longer than computing them)", f"{points:,}", f"{AUTO_NUMPY_POINTS:,}")
        return "numpy"
    try:
        from sweep.backends import gpu
    except ImportError as exc:  # pragma: no cover - sweep.backends.gpu imports nothing optional
        log.info("backend auto -> numba (GPU backends unavailable: %s)", exc)
        return "numba"
    choice, why = gpu.usable_gpu_backend()
    if choice is None:
        log.info("backend auto -> numba (%s)", why)
        return "numba"
    log.info("backend auto -> %s (%s)", choice, why)
    return choice


def get_backend(name: str = "auto", *, parallel: bool = False,
                points: int | None = None) -> Backend:
    """A backend by name: ``auto``, ``numpy``, ``numba``, ``cuda`` or ``cupy``; ``points``:
    how many points the caller will evaluate, for ``auto`` (see :func:`choose_auto`).

    Raises
    ------
    BackendUnavailable
        for a backend that cannot run here, with one line saying what is missing (no
        driver, no cupy, no device); never a silent fallback to another backend.
    """
    if name == "auto":
        name = choose_auto(points)
    if name == "numpy":
        return NumpyBackend()
    if name == "numba":
        return NumbaBackend(parallel=parallel)
    if name == "cuda":
        from sweep.backends.gpu import CudaBackend

        return CudaBackend()
    if name == "cupy":
        from sweep.backends.gpu import CupyBackend

        return CupyBackend()
    raise BackendUnavailable(f"unknown backend {name!r}; expected one of auto, "
                             + ", ".join(BACKENDS))


def default_workers() -> int:
    """Dask threads for the local scheduler: one per core."""
    return max(1, os.cpu_count() or 1)
