"""Numba CPU kernels for reduce mode: evaluate a block of the grid and fold every point into
per-group partial statistics, never into a full-size array.

A block is walked row by row as in materialize mode (``sweep.kernels.cpu``): a row's outer
indices are decoded once, the row evaluator generated from the model
(:mod:`sweep.model.codegen`) writes every requested output's row into small row buffers,
and each buffer is folded into the partials of its group (the flat index over the kept
dims). When the innermost dim is folded, a whole row belongs to
one group and is folded as a unit: its weighted mean and sum of squared deviations by two
passes over the row, merged into the group by Chan's formula; when the innermost dim is
kept, every point is merged on its own (the same formula with one point).

Partials, per group ``g`` and output ``k`` (all float64 or int64):

``n[g, k]``        points that are not NaN; ``nan[g, k]``: NaN points
``w[g, k]``        sum of weights of the non-NaN points
``mean``, ``m2``   weighted mean and sum of weighted squared deviations (Chan/West)
``lo``, ``hi``     extremes; ``ilo``, ``ihi``: flat grid index of the first point reaching them
``hn``, ``hw``     histogram counts and weights, bins ``0..nb+1`` (0: below the range, or
                   not positive on a log scale; nb+1: above)
``tb``, ``ta``     weight of the points below / above each threshold

Merging two partials (:func:`merge_into`) is exact for counts, extremes and histograms and
is Chan's parallel formula for mean and m2, so results do not depend on the chunking
beyond floating-point rounding.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np

from sweep.kernels import cpu, ratio
from sweep.kernels.cpu import decode_row, fill_block, row_scalars
from sweep.kernels.ratio import (  # noqa: F401 - RATIO_FIELDS, ratio_stats: this API
    R_MAX,
    R_MIN,
    R_N,
    R_NAN,
    R_W,
    R_W_EQUAL,
    R_W_LOWER,
    R_WLOG,
    R_WPOS,
    RATIO_FIELDS,
    ratio_stats,
)
from sweep.model import codegen
from sweep.model.graph import Model

# cached on disk like the materialize kernel, named after the evaluator's fingerprint and
# this file's, the comparison layout's and the CPU kernel's (whose row functions it inlines)
_DIGEST = cpu._file_digest(__file__) + cpu._file_digest(ratio.__file__) + cpu._KERNEL_DIGEST
#: Float64 extremes as integer keys (see ``sweep.kernels.cpu.row_keys``).
KEY_MASK = np.int64(0x7FFFFFFFFFFFFFFF)
KEY_TOP = np.int64(np.iinfo(np.int64).max)
KEY_BOTTOM = np.int64(np.iinfo(np.int64).min)


def bin_of(x, lo, inv_width, nb, log_scale, edges):
    """Histogram bin of ``x`` against ``edges`` (nb + 1 increasing values): bin b in 1..nb
    holds ``edges[b-1] <= x < edges[b]``; 0 below ``edges[0]`` (or not positive on a log
    scale); nb + 1 at or above ``edges[nb]``. The index is first estimated from ``lo`` and
    ``inv_width`` (in log space on a log scale), then corrected against the edges, so that
    the counts agree exactly with the stored edges. Plain Python, compiled for the CPU here
    and for CUDA in ``sweep.kernels.cuda_reduce``."""
    if log_scale and not x > 0.0:
        return 0
    t = ((math.log(x) if log_scale else x) - lo) * inv_width
    if t < 0.0:
        b = 0
    elif t >= nb:
        b = nb + 1
    else:
        b = int(t) + 1
    while b > 0 and x < edges[b - 1]:
        b -= 1
    while b <= nb and x >= edges[b]:
        b += 1
    return b


_bin_of = numba.njit(inline="always", error_model="numpy")(bin_of)


def geometry(shape):
    """``(last, inner, rows)`` of a chunk shape: the innermost dim, its length, and the
    number of rows (the product of the other lengths). Plain Python, compiled for the CPU
    here and for CUDA in ``sweep.kernels.cuda_reduce``."""
    last = shape.shape[0] - 1
    rows = 1
    for d in range(last):
        rows *= shape[d]
    return last, shape[last], rows


_geometry = numba.njit(inline="always", error_model="numpy")(geometry)


def _merge(n, w, mean, m2, g, k, nb_, wb, meanb, m2b):
    # Chan et al.: fold (nb_, wb, meanb, m2b) into the partial of group g, output k
    if wb <= 0.0:
        n[g, k] += nb_
        return
    wa = w[g, k]
    if wa <= 0.0:
        n[g, k] += nb_
        w[g, k] = wb
        mean[g, k] = meanb
        m2[g, k] = m2b
        return
    tot = wa + wb
    delta = meanb - mean[g, k]
    mean[g, k] += delta * (wb / tot)
    m2[g, k] += m2b + delta * delta * (wa * wb / tot)
    w[g, k] = tot
    n[g, k] += nb_


_merge = numba.njit(inline="always", error_model="numpy")(_merge)


# The row evaluator of a kernel, its column evaluator and the rows that adds to the
# scratch table: each compiled kernel gets its own, generated for the model, the wanted
# outputs and the leaves of the innermost and the other axes (see _kernel).
_row_eval = None
_column_eval = None
N_COLUMNS = 0


def _fold_block(table, bind, shape, start, kept_stride, grid_stride, weights,
                edges_lo, edges_inv, edges, nb, log_scale, below, above, full,
                n, nan, w, mean, m2, lo, hi, ilo, ihi, hn, hw, tb, ta):
    """Fold every point of one block into the partials (see the module docstring).

    ``start[d]`` is the block's offset in the grid along dim d; ``kept_stride[d]`` the
    stride of dim d in the flat group index (0 for folded dims); ``grid_stride[d]`` its
    stride in the flat grid index; ``weights[d, i]`` the weight of position i of the block
    along dim d (1 where unweighted). ``edges_lo[k]``/``edges_inv[k]``: the histogram's
    lower edge (its log on a log scale) and bins per unit for output k (nb bins; nb = 0:
    no histogram); ``edges[k]`` its nb + 1 edges (see :func:`bin_of`); ``log_scale[k]``
    whether output k is binned on a log scale. ``below``/``above``:
    thresholds (NaN-padded), shape (n_out, n_thr). ``full[k]``: 1 for every statistic of
    output k; 0 for its counts and extremes only (``best:``'s node: no weights, mean, m2,
    histogram or thresholds).
    """
    ndim = shape.shape[0]
    last, inner, rows = _geometry(shape)
    n_out = n.shape[1]
    n_leaves = table.shape[0]
    work = np.empty((n_leaves + N_COLUMNS, inner), dtype=np.float64)
    rv = np.empty(n_leaves, dtype=np.float64)
    idx = np.zeros(ndim, dtype=np.int64)
    bufs = np.empty((n_out, 1, inner), dtype=np.float64)
    cnt = np.zeros(n_out, dtype=np.int64)
    winner = np.empty(inner, dtype=np.float64)
    for j in range(inner):
        winner[j] = weights[last, j]
    fill_block(work, table, bind, inner, last)
    row_scalars(rv, table, bind, idx, last)   # the constants, for the column nodes
    _column_eval(work, rv, inner)
    inner_kept = kept_stride[last] != 0
    for r in range(rows):
        decode_row(idx, r, shape, last)
        g_row = 0
        flat_row = 0
        w_row = 1.0
        for d in range(last):
            g_row += (start[d] + idx[d]) * kept_stride[d]
            flat_row += (start[d] + idx[d]) * grid_stride[d]
            w_row *= weights[d, idx[d]]
        flat_row += start[last] * grid_stride[last]
        row_scalars(rv, table, bind, idx, last)
        _row_eval(work, rv, bufs, 0, cnt)
        for k in range(n_out):
            buf = bufs[k, 0]
            if inner_kept:
                for j in range(inner):
                    g = g_row + (start[last] + j) * kept_stride[last]
                    _fold_points(buf, j, j + 1, g, k, w_row, winner, flat_row,
                                 grid_stride[last], edges_lo[k], edges_inv[k], edges[k], nb,
                                 log_scale[k], below, above, full[k], n, nan, w, mean, m2, lo,
                                 hi, ilo, ihi, hn, hw, tb, ta)
            else:
                _fold_points(buf, 0, inner, g_row, k, w_row, winner, flat_row,
                             grid_stride[last], edges_lo[k], edges_inv[k], edges[k], nb,
                             log_scale[k], below, above, full[k], n, nan, w, mean, m2, lo, hi,
                             ilo, ihi, hn, hw, tb, ta)


def _fold_points(buf, j0, j1, g, k, w_row, winner, flat_row, inner_stride, elo, einv, edges_k,
                 nb, log_scale, below, above, full, n, nan, w, mean, m2, lo, hi, ilo, ihi, hn,
                 hw, tb, ta):
    if not full:   # counts and extremes only
        _fold_extremes(buf, j0, j1, g, k, flat_row, inner_stride, n, nan, lo, hi, ilo, ihi)
        return
    # pass 1 (branch-light, so that it vectorizes): counts, weight, weighted sum, extremes
    n_thr_b = below.shape[1]
    n_thr_a = above.shape[1]
    cnt = 0
    n_nan = 0
    sw = 0.0
    swx = 0.0
    rlo = np.inf
    rhi = -np.inf
    for j in range(j0, j1):
        x = buf[j]
        ok = x == x
        wt = w_row * winner[j] if ok else 0.0
        cnt += ok
        n_nan += not ok
        sw += wt
        swx += wt * x if ok else 0.0
        rlo = min(rlo, x) if ok else rlo
        rhi = max(rhi, x) if ok else rhi
    if cnt > 0:
        _keep_extremes(buf, j0, j1, g, k, rlo, rhi, flat_row, inner_stride, lo, hi, ilo, ihi)
        if nb > 0:   # pass 1b: the histogram, on 1-D views of this group/output
            _histogram_run(buf, j0, j1, w_row, winner, elo, einv, nb, log_scale, edges_k,
                           hn[g, k], hw[g, k])
        for t in range(n_thr_b):
            thr = below[k, t]
            acc = 0.0
            for j in range(j0, j1):
                x = buf[j]
                acc += w_row * winner[j] if x < thr else 0.0
            tb[g, k, t] += acc
        for t in range(n_thr_a):
            thr = above[k, t]
            acc = 0.0
            for j in range(j0, j1):
                x = buf[j]
                acc += w_row * winner[j] if x > thr else 0.0
            ta[g, k, t] += acc
    nan[g, k] += n_nan
    if cnt == 0:
        return
    if sw > 0.0:
        mu = swx / sw
        s2 = 0.0   # pass 2: squared deviations from the row's own mean (no cancellation)
        for j in range(j0, j1):
            x = buf[j]
            if x == x:
                d = x - mu
                s2 += w_row * winner[j] * d * d
        _merge(n, w, mean, m2, g, k, cnt, sw, mu, s2)
    else:
        n[g, k] += cnt


def _fold_extremes(buf, j0, j1, g, k, flat_row, inner_stride, n, nan, lo, hi, ilo, ihi):
    # the counts and extremes of _fold_points, with the same first-index rule, for a row
    # that may be mostly NaN (best:'s infeasible points): the extremes as integer keys
    # (see sweep.kernels.cpu.row_keys; NaN gives the neutral key), which vectorize where
    # float min/max do not
    bits = buf.view(np.int64)
    cnt = 0
    klo = KEY_TOP
    khi = KEY_BOTTOM
    for j in range(j0, j1):
        x = bits[j]
        ok = buf[j] == buf[j]
        key = x ^ ((x >> 63) & KEY_MASK)
        klo = min(klo, key if ok else KEY_TOP)
        khi = max(khi, key if ok else KEY_BOTTOM)
        cnt += ok
    nan[g, k] += (j1 - j0) - cnt
    if cnt == 0:
        return
    n[g, k] += cnt
    conv = np.empty(2, dtype=np.int64)   # the keys back to floats (once per row)
    values = conv.view(np.float64)
    conv[0] = klo ^ ((klo >> 63) & KEY_MASK)
    conv[1] = khi ^ ((khi >> 63) & KEY_MASK)
    _keep_extremes(buf, j0, j1, g, k, values[0], values[1], flat_row, inner_stride, lo, hi,
                   ilo, ihi)


def _keep_extremes(buf, j0, j1, g, k, rlo, rhi, flat_row, inner_stride, lo, hi, ilo, ihi):
    # a row's extremes into the group's, each with the first point of the row reaching it,
    # only when it beats the group's (strictly: earlier rows have smaller flat indices)
    if not lo[g, k] <= rlo:
        lo[g, k] = rlo
        for j in range(j0, j1):
            if buf[j] == rlo:
                ilo[g, k] = flat_row + j * inner_stride
                break
    if not hi[g, k] >= rhi:
        hi[g, k] = rhi
        for j in range(j0, j1):
            if buf[j] == rhi:
                ihi[g, k] = flat_row + j * inner_stride
                break


_keep_extremes = numba.njit(inline="always", error_model="numpy")(_keep_extremes)
_fold_extremes = numba.njit(inline="always", error_model="numpy")(_fold_extremes)
_fold_points = numba.njit(inline="always", error_model="numpy")(_fold_points)


def _histogram_run(buf, j0, j1, w_row, winner, elo, einv, nb, log_scale, edges, hn, hw):
    # Rows are smooth: consecutive points mostly fall in the bin of the point before. So
    # each point is first tested against the current bin's own edges (two comparisons, the
    # same test bin_of ends with), and only a point that leaves it pays for bin_of (a log
    # on a log scale); the counts and weights of a run of points in one bin are added once,
    # which also frees the loop of the store-to-load chain of repeated increments of one
    # bin. Exactly the bins of bin_of, point by point.
    b = -1
    lo_b = 0.0
    hi_b = 0.0
    run_n = 0
    run_w = 0.0
    for j in range(j0, j1):
        x = buf[j]
        if x == x:
            if not (lo_b <= x < hi_b) or b < 0:
                if run_n > 0:
                    hn[b] += run_n
                    hw[b] += run_w
                b = _bin_of(x, elo, einv, nb, log_scale, edges)
                lo_b = edges[b - 1] if b > 0 else -np.inf
                hi_b = edges[b] if b <= nb else np.inf
                run_n = 0
                run_w = 0.0
            run_n += 1
            run_w += w_row * winner[j]
    if run_n > 0:
        hn[b] += run_n
        hw[b] += run_w


_histogram_run = numba.njit(inline="always", error_model="numpy")(_histogram_run)



def _ratio_block(table_a, table_b, bind, shape, weights, elo, einv, edges, nb,
                 stats, hn, hw):
    """Compare two labels over one block (the compare axis fixed in each table): per point
    ``r = a / b``. ``stats`` accumulates the fields of :data:`RATIO_FIELDS`; ``hn``/``hw``
    a log-scale histogram of r (bins as in :func:`fold_block`)."""
    ndim = shape.shape[0]
    last, inner, rows = _geometry(shape)
    n_leaves = table_a.shape[0]
    work_a = np.empty((n_leaves + N_COLUMNS, inner), dtype=np.float64)
    work_b = np.empty((n_leaves + N_COLUMNS, inner), dtype=np.float64)
    rv_a = np.empty(n_leaves, dtype=np.float64)
    rv_b = np.empty(n_leaves, dtype=np.float64)
    idx = np.zeros(ndim, dtype=np.int64)
    bufs_a = np.empty((1, 1, inner), dtype=np.float64)
    bufs_b = np.empty((1, 1, inner), dtype=np.float64)
    cnt = np.zeros(1, dtype=np.int64)
    va = bufs_a[0, 0]
    vb = bufs_b[0, 0]
    fill_block(work_a, table_a, bind, inner, last)
    fill_block(work_b, table_b, bind, inner, last)
    row_scalars(rv_a, table_a, bind, idx, last)   # the constants, for the column nodes
    row_scalars(rv_b, table_b, bind, idx, last)
    _column_eval(work_a, rv_a, inner)
    _column_eval(work_b, rv_b, inner)
    for r in range(rows):
        decode_row(idx, r, shape, last)
        w_row = 1.0
        for d in range(last):
            w_row *= weights[d, idx[d]]
        row_scalars(rv_a, table_a, bind, idx, last)
        row_scalars(rv_b, table_b, bind, idx, last)
        _row_eval(work_a, rv_a, bufs_a, 0, cnt)
        _row_eval(work_b, rv_b, bufs_b, 0, cnt)
        for j in range(inner):
            a = va[j]
            b = vb[j]
            if a != a or b != b:
                stats[R_NAN] += 1
                continue
            wt = w_row * weights[last, j]
            stats[R_N] += 1
            stats[R_W] += wt
            if a < b:
                stats[R_W_LOWER] += wt
            elif a == b:
                stats[R_W_EQUAL] += wt
            if b != 0.0:
                q = a / b
                if not stats[R_MIN] <= q:
                    stats[R_MIN] = q
                if not stats[R_MAX] >= q:
                    stats[R_MAX] = q
                if q > 0.0:
                    stats[R_WLOG] += wt * math.log(q)
                    stats[R_WPOS] += wt
                if nb > 0:
                    bb = _bin_of(q, elo, einv, nb, True, edges)
                    hn[bb] += 1
                    hw[bb] += wt


_KERNELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def _kernel(kind: str, model: Model, outputs: tuple[str, ...], inner: frozenset[str],
            outer: frozenset[str]):
    key = (kind, model.fingerprint, outputs, inner,
           codegen.column_nodes(model, outputs, inner, outer))
    with _LOCK:
        if key in _KERNELS:
            return _KERNELS[key]
    ev = codegen.evaluator(model, "row", outputs, inner, cpu.JIT_INLINE, cpu.TARGET,
                           outer=outer)
    template = _fold_block if kind == "fold" else _ratio_block
    kernel = cpu.specialize(template, kind, ev, _DIGEST, **cpu.row_globals(ev))
    with _LOCK:
        return _KERNELS.setdefault(key, kernel)


def fold_block(model, table, bind, shape, start, codes, *args):
    """Compile (once per model, binding and set of outputs, cached on disk) and run the fold
    kernel; ``codes`` index ``model.outputs``; other arguments as :func:`_fold_block`."""
    outputs = tuple(model.outputs[int(c)] for c in codes)
    ndim = shape.shape[0]
    _kernel("fold", model, outputs, cpu.inner_leaves(model, bind, ndim),
            cpu.outer_leaves(model, bind, ndim))(table, bind, shape, start, *args)


def ratio_block(model, table_a, table_b, bind, shape, weights, elo, einv, edges, nb, code,
                stats, hn, hw):
    """Compile (cached) and run the comparison kernel for output ``code``; arguments as
    :func:`_ratio_block`."""
    ndim = shape.shape[0]
    _kernel("ratio", model, (model.outputs[int(code)],), cpu.inner_leaves(model, bind, ndim),
            cpu.outer_leaves(model, bind, ndim))(
        table_a, table_b, bind, shape, weights, elo, einv, edges, nb, stats, hn, hw)
