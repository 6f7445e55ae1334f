"""The accumulators of a comparison of two labels (``r = a / b`` per point), by name: the
layout the CPU comparison kernel (:func:`sweep.kernels.reduce_cpu.ratio_block`) fills and
the reduce engines merge (:mod:`sweep.backends.partials`). No Numba here: the NumPy engine
reads it without loading a compiler."""

from __future__ import annotations

import numpy as np

#: Points, NaN points, weight, weight where a < b, weight where a == b, min and max of
#: r = a / b, sum of w log r over positive r, weight of positive r.
RATIO_FIELDS = ("n", "nan", "w", "w_lower", "w_equal", "min", "max", "wlog", "wpos")
R_N, R_NAN, R_W, R_W_LOWER, R_W_EQUAL, R_MIN, R_MAX, R_WLOG, R_WPOS = range(len(RATIO_FIELDS))


def ratio_stats() -> np.ndarray:
    """Empty accumulators (extremes NaN: no point yet)."""
    stats = np.zeros(len(RATIO_FIELDS))
    stats[R_MIN] = stats[R_MAX] = np.nan
    return stats
