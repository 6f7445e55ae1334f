"""What every backend shares, with no backend in it: chunk statistics, output buffers, the
"unavailable" error. A leaf module, so that the CPU factory (``sweep.backends``) and the GPU
backends (``sweep.backends.gpu``) both import it and not each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChunkStats:
    """Per output of one chunk: NaN count, and min and max over the non-NaN values (NaN when
    every value is NaN)."""

    nan_counts: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray


def stats_of(values: np.ndarray) -> ChunkStats:
    """:class:`ChunkStats` of an (n_outputs, ...) array, with NumPy."""
    flat = values.reshape(len(values), -1)
    counts = np.isnan(flat).sum(axis=1).astype(np.int64)
    lo = np.fmin.reduce(flat, axis=1).astype(np.float64)  # fmin skips NaN; all-NaN gives NaN
    hi = np.fmax.reduce(flat, axis=1).astype(np.float64)
    return ChunkStats(counts, lo, hi)


def _output_array(buffer: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype
                  ) -> np.ndarray:
    """A C-contiguous array of ``shape``: a view of ``buffer`` when given, else a new one."""
    if buffer is None:
        return np.empty(shape, dtype=dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if buffer.dtype != dtype or buffer.size < n or not buffer.flags.c_contiguous:
        raise ValueError(f"output buffer of {buffer.size} {buffer.dtype} cannot hold "
                         f"{shape} {np.dtype(dtype)}")
    return buffer.reshape(-1)[:n].reshape(shape)


class BackendUnavailable(RuntimeError):
    """A backend was asked for that cannot run here; the message says what is missing."""
