"""The NumPy reduce engine: a block's nodes evaluated by the NumPy reference backend, then
folded into :class:`~sweep.backends.partials.Partials` with array operations. No compiler:
a small reduce or ``best:`` file answers at once. It is the oracle the compiled engines
(``sweep.kernels.reduce_cpu``, ``sweep.kernels.cuda_reduce``) are tested against: counts,
NaN counts, extremes and their first flat index, histogram counts and ``best:`` are exact
and the same in any blocks; sums (weights, means, deviations) agree to rounding.

A block is evaluated in windows of at most :data:`WINDOW_POINTS` points (so that memory
stays small whatever the plan's block size), each folded on its own and merged by the same
exact merge as the partials of two blocks.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sweep.backends.partials import (
    RATIO_FIELDS,
    Folding,
    Partials,
    RatioBins,
    merge,
    merge_ratio,
    ratio_stats,
)
from sweep.chunks import ChunkInputs

#: The most points one window of a block is evaluated over (float64: 8 MiB per node).
WINDOW_POINTS = 2**20


def windows(shape: tuple[int, ...], limit: int = WINDOW_POINTS):
    """``(offset, shape)`` of windows of at most ``limit`` points covering ``shape`` in
    row-major order (the outer dims are cut first)."""
    sub = list(shape)
    for d in range(len(sub)):
        while math.prod(sub) > limit and sub[d] > 1:
            sub[d] = -(-sub[d] // 2)
    for offset in itertools.product(*(range(0, n, s) for n, s in zip(shape, sub, strict=True))):
        yield offset, tuple(min(s, n - a) for a, s, n in zip(offset, sub, shape, strict=True))


def _along(values: list[np.ndarray], shape: tuple[int, ...], op) -> np.ndarray:
    """``op``-combined per-dim vectors broadcast over ``shape``, dim 0 first."""
    out = None
    for d, v in enumerate(values):
        v = v.reshape([-1 if e == d else 1 for e in range(len(shape))])
        out = v if out is None else op(out, v)
    return np.broadcast_to(out, shape)


def _as_rows(a: np.ndarray, kept: list[int], over: list[int]) -> np.ndarray:
    """An array over the block as (groups of the block, points of each group): the kept
    dims first (row-major), the folded dims after."""
    t = np.transpose(a, kept + over)
    g = math.prod(a.shape[d] for d in kept)
    return t.reshape(g, -1)


def _bins(x: np.ndarray, edges: np.ndarray, log_scale: bool) -> np.ndarray:
    """The histogram bin of each value, as ``sweep.kernels.reduce_cpu.bin_of``: b in 1..nb
    holds ``edges[b-1] <= x < edges[b]``, 0 below (or not positive on a log scale),
    nb + 1 at or above the last edge."""
    b = np.searchsorted(edges, x, side="right")
    if log_scale:
        b = np.where(x > 0, b, 0)
    return b


def fold_values(values: np.ndarray, start: tuple[int, ...], folding: Folding) -> Partials:
    """Fold ``values`` (n_nodes, *shape: the folded nodes over a block at ``start``) into
    partials of every group."""
    shape = values.shape[1:]
    ndim = len(shape)
    kept = [d for d in range(ndim) if folding.kept_stride[d] != 0]
    over = [d for d in range(ndim) if d not in kept]
    pos = [np.arange(start[d], start[d] + shape[d]) for d in range(ndim)]
    groups = _as_rows(_along([pos[d] * folding.kept_stride[d] for d in range(ndim)], shape,
                             np.add), kept, over)[:, 0]
    flat = _as_rows(_along([pos[d] * folding.grid_stride[d] for d in range(ndim)], shape,
                           np.add), kept, over)
    # the kernels' order of products: the outer dims' weights, then the innermost's
    weight = _as_rows(_along([np.ones(1), *(folding.weights[d][pos[d]] for d in range(ndim))],
                             (1, *shape), np.multiply)[0], kept, over)
    p = folding.empty()
    for k in range(len(folding.codes)):
        _fold_node(_as_rows(values[k], kept, over), flat, weight, groups, k, folding, p)
    return p


def _fold_node(x: np.ndarray, flat: np.ndarray, weight: np.ndarray, groups: np.ndarray,
               k: int, folding: Folding, p: Partials) -> None:
    ok = ~np.isnan(x)
    cnt = ok.sum(axis=1)
    p.n[groups, k] = cnt
    p.nan[groups, k] = x.shape[1] - cnt
    with np.errstate(all="ignore"):
        lo = np.fmin.reduce(x, axis=1)
        hi = np.fmax.reduce(x, axis=1)
    none = np.iinfo(np.int64).max
    has = cnt > 0
    p.lo[groups, k], p.hi[groups, k] = lo, hi
    p.ilo[groups, k] = np.where(has, np.where(x == lo[:, None], flat, none).min(axis=1), -1)
    p.ihi[groups, k] = np.where(has, np.where(x == hi[:, None], flat, none).min(axis=1), -1)
    if not folding.full[k]:   # best:'s node: counts and extremes only
        return
    wt = np.where(ok, weight, 0.0)
    xz = np.where(ok, x, 0.0)
    sw = wt.sum(axis=1)
    with np.errstate(all="ignore"):
        mu = (wt * xz).sum(axis=1) / sw
        m2 = (wt * np.where(ok, x - mu[:, None], 0.0) ** 2).sum(axis=1)
    weighted = sw > 0
    p.w[groups, k] = np.where(weighted, sw, 0.0)
    p.mean[groups, k] = np.where(weighted, mu, 0.0)
    p.m2[groups, k] = np.where(weighted, m2, 0.0)
    for t in range(folding.below.shape[1]):
        p.tb[groups, k, t] = (wt * (x < folding.below[k, t])).sum(axis=1)
    for t in range(folding.above.shape[1]):
        p.ta[groups, k, t] = (wt * (x > folding.above[k, t])).sum(axis=1)
    if folding.nb:
        nbins = folding.nb + 2
        b = _bins(x, folding.edges[k], bool(folding.log_scale[k]))
        rows = np.broadcast_to(np.arange(len(groups))[:, None], x.shape)
        cell = (rows * nbins + b)[ok]
        size = len(groups) * nbins
        p.hn[groups, k] = np.bincount(cell, minlength=size).reshape(-1, nbins)
        p.hw[groups, k] = np.bincount(cell, weights=wt[ok], minlength=size).reshape(-1, nbins)


def fold(backend, inputs: ChunkInputs, start: tuple[int, ...], folding: Folding,
         limit: int = WINDOW_POINTS) -> Partials:
    """The partials of one block (``inputs`` at grid offset ``start``), its nodes evaluated
    by ``backend`` (the NumPy reference) window by window."""
    total = None
    for offset, shape in windows(inputs.shape, limit):
        sub = inputs.window(offset, shape) if shape != inputs.shape else inputs
        values, _ = backend.compute(sub, folding.codes, np.dtype(np.float64))
        part = fold_values(values, tuple(a + o for a, o in zip(start, offset, strict=True)),
                           folding)
        total = part if total is None else merge(total, part)
    return total


def ratio_values(a: np.ndarray, b: np.ndarray, weight: np.ndarray, bins: RatioBins
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comparison partials ``(stats, hist counts, hist weights)`` of two labels' values
    ``a`` and ``b`` at the same points, weighted by ``weight`` (see
    ``sweep.kernels.reduce_cpu.ratio_block``)."""
    f = {name: i for i, name in enumerate(RATIO_FIELDS)}
    stats = ratio_stats()
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b, w = a[ok], b[ok], weight[ok]
    stats[f["nan"]] = ok.size - a.size
    stats[f["n"]] = a.size
    stats[f["w"]] = w.sum()
    stats[f["w_lower"]] = w[a < b].sum()
    stats[f["w_equal"]] = w[a == b].sum()
    nz = b != 0.0
    with np.errstate(all="ignore"):
        q = a[nz] / b[nz]
    wq = w[nz]
    if q.size:
        stats[f["min"]], stats[f["max"]] = np.fmin.reduce(q), np.fmax.reduce(q)
    pos = q > 0.0
    stats[f["wlog"]] = (wq[pos] * np.log(q[pos])).sum()
    stats[f["wpos"]] = wq[pos].sum()
    hn = np.zeros(bins.nb + 2, np.int64)
    hw = np.zeros(bins.nb + 2)
    if bins.nb:
        k = _bins(q, bins.edges, True)
        hn += np.bincount(k, minlength=bins.nb + 2)
        hw += np.bincount(k, weights=wq, minlength=bins.nb + 2)
    return stats, hn, hw


def ratio(backend, inputs_a: ChunkInputs, inputs_b: ChunkInputs, weights: np.ndarray,
          code: int, bins: RatioBins, limit: int = WINDOW_POINTS
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comparison partials of one block: ``code``'s values under ``inputs_a`` against
    ``inputs_b`` (the same block, the compare axis at the two labels), window by window;
    ``weights`` as :meth:`~sweep.backends.partials.Folding.block_weights`."""
    codes = np.asarray([code], np.int64)
    total = None
    for offset, shape in windows(inputs_a.shape, limit):
        whole = shape == inputs_a.shape
        va, vb = (backend.compute(x if whole else x.window(offset, shape), codes,
                                  np.dtype(np.float64))[0][0] for x in (inputs_a, inputs_b))
        w = _along([np.ones(1), *(weights[d, a:a + n]
                                  for d, (a, n) in enumerate(zip(offset, shape, strict=True)))],
                   (1, *shape), np.multiply)[0]
        part = ratio_values(va, vb, w, bins)
        total = part if total is None else merge_ratio(total, part)
    return total
