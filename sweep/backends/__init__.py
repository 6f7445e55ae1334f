"""Compute backends by name: ``numpy`` (the reference), ``numba`` (fused CPU), ``cuda`` and
``cupy`` (:mod:`sweep.backends.gpu`); one factory (:func:`get_backend`). Each computes a
chunk's outputs (``compute``, materialize mode); ``numpy``, ``numba`` and ``cuda`` also fold
a block into reduce partials (``fold``, ``ratio``: the reduce engines, chosen by
:func:`choose_reduce`)."""

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
from sweep.backends.cpu import (  # noqa: F401 - part of this package's API
    NumbaBackend,
    NumpyBackend,
    broadcast_inputs,
)
from sweep.chunks import ChunkInputs

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


class ReduceEngine(Protocol):
    """What reduce mode needs from a backend that has a reduce engine (``numpy``,
    ``numba``, ``cuda``)."""

    def fold(self, inputs: ChunkInputs, start: tuple[int, ...], folding) -> object:
        """The :class:`~sweep.backends.partials.Partials` of one block (``inputs`` at grid
        offset ``start``) under a plan's resolved
        :class:`~sweep.backends.partials.Folding`."""
        ...

    def ratio(self, inputs_a: ChunkInputs, inputs_b: ChunkInputs, weights: np.ndarray,
              code: int, bins) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One comparison's partials over a block: ``(stats, hist counts, hist weights)``
        of ``code`` under ``inputs_a`` over ``inputs_b``."""
        ...


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


#: Up to this many points, ``auto`` reduces with the NumPy engine: compiling the fold
#: kernel would take longer than folding. Measured on the 2-core CPU machine with whole
#: ``sweep run`` processes of the shipped ``best:`` study (bench/reduce_crossover.py,
#: bench/RESULTS.md): NumPy even with Numba's cache warm up to 10^6 points, 0.6 s behind
#: it near 5 x 10^6 and 1.4 s at 10^7, where an empty cache costs numba 22 s more.
AUTO_NUMPY_REDUCE_POINTS = 5_000_000
#: The backends that have a reduce engine.
REDUCE_ENGINES = ("numpy", "numba", "cuda")


def choose_reduce(name: str | None, points: int) -> str:
    """The reduce engine ``name`` means here for a grid of ``points`` points: ``auto`` (or
    None) takes ``numpy`` up to :data:`AUTO_NUMPY_REDUCE_POINTS` points, else ``cuda`` on a
    real GPU, else ``numba``; the reason is logged at INFO. ``numpy``, ``numba`` and
    ``cuda`` are taken as they are (``cuda`` checked: also Numba's simulator).

    Raises
    ------
    BackendUnavailable
        for a backend with no reduce engine (``cupy``), or ``cuda`` where it cannot run.
    """
    if name in (None, "auto"):
        if points <= AUTO_NUMPY_REDUCE_POINTS:
            log.info("reduce engine auto -> numpy (%s point(s), at most %s: compiling the "
                     "fold kernel would take longer than folding them)", f"{points:,}",
                     f"{AUTO_NUMPY_REDUCE_POINTS:,}")
            return "numpy"
        from sweep.backends import gpu

        problem = gpu.cuda_problem(allow_simulator=False)
        choice = "numba" if problem else "cuda"
        log.info("reduce engine auto -> %s (%s point(s); %s)", choice, f"{points:,}",
                 problem or "a GPU is usable")
        return choice
    if name == "cuda":
        from sweep.backends import gpu

        problem = gpu.cuda_problem()
        if problem:
            raise BackendUnavailable(f"backend 'cuda' is not available: {problem}")
    if name not in REDUCE_ENGINES:
        raise BackendUnavailable(f"reduce mode runs on the numpy, numba or cuda backend, not "
                                 f"{name!r}")
    return name


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
