"""Reduce mode: statistics over huge grids without materializing them.

A sweep file with a ``reduce:`` section folds the ``over`` dims away and keeps the others.
The grid is cut into large blocks (kept dims whole, so every block's partials cover every
group); each block is evaluated and folded into partial statistics by a fused kernel
(``sweep.kernels.reduce_cpu``), and the partials are merged by a Dask tree reduction. The
result is a small xarray Dataset, written to the sweep's store and printed as a table.

Statistics per output and kept coordinate: count of non-NaN points and of NaN points, sum
of weights, min and max with the coordinates of the first point reaching them (argmin /
argmax), weighted mean and standard deviation (float64, Chan's merge), a histogram on fixed
bins (linear or log; bounds given, or the extremes of a first pass over a subsampled grid,
with under/overflow bins), quantiles read from the histogram with the bin that brackets
each (the error bound), and the weight fraction below/above thresholds. Comparisons of two
labels of a categorical axis over every other dim: the weight fraction where the first is
smaller, and the distribution of the ratio first/second. Weights: a probability per value
of a folded axis, so that statistics become expectations; uniform when absent.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.threaded
import numpy as np
import xarray as xr

from sweep.engine.best import best_variables
from sweep.engine.partials import Partials, merge_all
from sweep.engine.progress import ChunkProgress
from sweep.model.user import BEST_NODE
from sweep.planning.planner import (
    ChunkInputs,
    ChunkKey,
    Plan,
    fill_inputs,
    histogram_scales,
)
from sweep.planning.reduce_plan import (  # noqa: F401 - this module's API before the move
    BLOCK_POINTS,
    FAN_IN,
    MAX_TASKS,
    PARTIAL_BYTES_MAX,
    SAMPLE_BLOCK,
    check_reduce_memory,
    describe_plan,
    folded,
    input_unit,
    make_reduce_plan,
    partial_bytes,
)
from sweep.spec.config import SweepSpec
from sweep.storage import provenance
from sweep.storage import store as zstore
from sweep.storage.location import StoreURL

log_ = logging.getLogger(__name__)

#: Points of the subsampled grid that finds histogram bounds when none are given.
PILOT_POINTS = 2**18


def _weights(plan: Plan) -> list[np.ndarray]:
    """Per dim, the weight of each value: the given weights normalized to sum 1; when some
    folded axis is weighted, the other folded axes uniform (1/n), so that weights are
    probabilities; ones everywhere when nothing is weighted (weights are then counts)."""
    red = plan.spec.reduce
    out = []
    for a in plan.axes:
        given = red.weights.get(a.name)
        if given is None:
            uniform = red.weights and a.name in red.over
            out.append(np.full(len(a), 1.0 / len(a)) if uniform else np.ones(len(a)))
        else:
            w = np.asarray(given, dtype=np.float64)
            out.append(w / w.sum())
    return out


# --------------------------------------------------------------------------- partials


@dataclass
class _Context:
    """What every block task of a reduce run shares."""

    codes: np.ndarray
    kept_stride: np.ndarray
    grid_stride: np.ndarray
    weights: list[np.ndarray]
    edges_lo: np.ndarray
    edges_inv: np.ndarray
    edges: np.ndarray
    nb: int
    #: per folded node, whether its histogram is on a log scale
    log_scale: np.ndarray
    below: np.ndarray
    above: np.ndarray
    n_groups: int
    #: per folded node, 1 for every statistic, 0 for counts and extremes only (best:'s)
    full: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(0, np.int64))


def _block_weights(plan: Plan, key: ChunkKey, weights: list[np.ndarray]) -> np.ndarray:
    width = max(key.shape)
    out = np.ones((len(key.shape), width))
    for d, (a, b) in enumerate(zip(key.start, key.stop, strict=True)):
        out[d, : b - a] = weights[d][a:b]
    return out


def _block_task(plan: Plan, key: ChunkKey, ctx: _Context) -> Partials:
    from sweep.kernels import reduce_cpu

    inputs = plan.chunk_inputs(key)
    p = Partials.empty(ctx.n_groups, len(ctx.codes), ctx.nb, ctx.below.shape[1],
                       ctx.above.shape[1])
    reduce_cpu.fold_block(
        inputs.model, inputs.table, inputs.bind, np.asarray(inputs.shape, np.int64),
        np.asarray(key.start, np.int64), ctx.codes, ctx.kept_stride, ctx.grid_stride,
        _block_weights(plan, key, ctx.weights), ctx.edges_lo, ctx.edges_inv, ctx.edges, ctx.nb,
        ctx.log_scale, ctx.below, ctx.above, ctx.full, p.n, p.nan, p.w, p.mean, p.m2, p.lo,
        p.hi,
        p.ilo, p.ihi, p.hn, p.hw, p.tb, p.ta)
    return p


# --------------------------------------------------------------------------- pilot


def _subsampled_inputs(plan: Plan, points: int = PILOT_POINTS,
                       at: dict[int, int] | None = None) -> list[ChunkInputs]:
    """The grid thinned to about ``points`` points, evenly spaced indices (ends included),
    with the dims of ``at`` (``{dim: index}``) held at one index. In sample mode the labels
    are thinned as a grid and the first samples of the design (drawn in one go) take the
    rest of the budget. One part, or, where the distributions depend on the labels, one
    per label of those dims (always in the same order)."""
    sampled = bool(plan.sampled)
    dims = plan.shape[:-1] if sampled else plan.shape
    per_axis = max(2, int(points ** (1 / max(1, len(dims)))))
    picks = [np.unique(np.linspace(0, n - 1, min(n, per_axis)).round().astype(np.int64))
             for n in dims]
    if sampled:
        rest = max(2, points // math.prod(len(p) for p in picks))
        picks.append(np.arange(min(plan.shape[-1], rest)))
    at = dict(at or {})
    split = [d for d in plan.by_label if d not in at]
    if sampled:   # the same uniforms for every label: drawn once
        from sweep.planning.sampling import sample_uniforms

        u = sample_uniforms(plan.spec, 0, len(picks[-1]))
    parts = []
    for combo in itertools.product(*(picks[d] for d in split)):
        fixed = {**at, **dict(zip(split, combo, strict=True))}
        sub = [np.asarray([fixed[d]]) if d in fixed else p for d, p in enumerate(picks)]
        shape = tuple(len(p) for p in sub)
        along = [(d, {name: np.asarray(values)[sub[d]] for name, values in axis.binds.items()})
                 for d, axis in enumerate(plan.axes)]
        if sampled:
            where = tuple(int(p[0]) for p in sub)
            along.append((len(shape) - 1, plan.sample_values(0, shape[-1], where, u)))
        parts.append(fill_inputs(plan.constants, along, shape, plan.model))
    return parts


def _pilot_values(plan: Plan, codes: np.ndarray, at: dict[int, int] | None = None
                  ) -> np.ndarray:
    """The nodes ``codes`` over the thinned grid (:func:`_subsampled_inputs`), by the numba
    backend: ``(len(codes), points)``, float64."""
    from sweep.backends import get_backend

    be = get_backend("numba")
    out = [be.compute(part, codes, np.dtype(np.float64))[0].reshape(len(codes), -1)
           for part in _subsampled_inputs(plan, at=at)]
    return np.concatenate(out, axis=1)


def _edges_for(values: np.ndarray, log_scale: bool) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if log_scale:
        v = v[v > 0]
    if v.size == 0:
        return (1e-6, 1.0) if log_scale else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = (lo / 2, hi * 2) if log_scale else (lo - 0.5, hi + 0.5)
    return lo, hi


def bin_edges(lo: float, hi: float, bins: int, log_scale: bool) -> np.ndarray:
    """``bins + 1`` increasing edges from ``lo`` to ``hi`` exactly, evenly spaced (on a log
    scale: evenly spaced logarithms). The kernels bin against these very values."""
    if log_scale:
        edges = np.exp(np.linspace(math.log(lo), math.log(hi), bins + 1))
    else:
        edges = np.linspace(lo, hi, bins + 1)
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(edges)


def histogram_ranges(plan: Plan, scales: dict[str, str] | None = None
                     ) -> dict[str, tuple[float, float]]:
    """Histogram bounds per output: given in the file, else the extremes of a first pass over
    a subsampled grid (:data:`PILOT_POINTS` points; the top edge just above its maximum, so
    that the maximum falls inside). ``scales`` (from
    :func:`sweep.planning.planner.histogram_scales`) is completed in place: an ``auto``
    output is ``log`` where its given range, else the first pass, has nothing <= 0, else
    ``linear``."""
    scales = scales if scales is not None else histogram_scales(plan.spec, plan.model)
    h = plan.spec.reduce.histogram
    out = {name: (float(b[0]), float(b[1])) for name, b in h.range.items()}
    if plan.spec.reduce.best is not None:
        out[BEST_NODE] = (1.0, 2.0)   # folded for its extremes only: no histogram
    for name, (lo, _) in out.items():
        if scales.get(name) == "auto":
            scales[name] = "log" if lo > 0 else "linear"
    missing = [o for o in folded(plan) if o not in out]
    if missing:
        codes = np.asarray([plan.model.code(o) for o in missing], np.int64)
        values = _pilot_values(plan, codes)
        for k, name in enumerate(missing):
            v = values[k].ravel()
            if scales.get(name) == "auto":
                finite = v[np.isfinite(v)]
                scales[name] = "log" if finite.size and finite.min() > 0 else "linear"
            lo, hi = _edges_for(v, scales.get(name) == "log")
            out[name] = (lo, float(np.nextafter(hi, np.inf)))
    return out


# --------------------------------------------------------------------------- run


@dataclass
class ReduceResult:
    """The outcome of :func:`run_reduce`."""

    plan: Plan
    dataset: xr.Dataset
    seconds: float
    store: Path | StoreURL | None

    @property
    def points_per_second(self) -> float:
        """Grid points folded per second (main pass; comparisons not counted)."""
        return self.plan.n_points / self.seconds if self.seconds > 0 else float("nan")


def _strides(shape: tuple[int, ...], dims: list[int]) -> np.ndarray:
    """Row-major strides of the sub-grid of ``dims`` (0 for the other dims)."""
    out = np.zeros(len(shape), np.int64)
    s = 1
    for d in reversed(dims):
        out[d] = s
        s *= shape[d]
    return out


def reduce_backend(name: str | None) -> str:
    """The backend a reduce run uses: ``numba`` (CPU) or ``cuda`` (Numba CUDA; the
    simulator too). ``auto`` takes ``cuda`` on a real GPU, else ``numba``; ``numpy`` and
    ``cupy`` have no reduce kernels."""
    from sweep.backends import BackendUnavailable

    if name in (None, "auto"):
        from sweep.backends import gpu

        return "cuda" if gpu.cuda_problem(allow_simulator=False) is None else "numba"
    if name == "cuda":
        from sweep.backends import gpu

        problem = gpu.cuda_problem()
        if problem:
            raise BackendUnavailable(f"backend 'cuda' is not available: {problem}")
        return name
    if name == "numba":
        return name
    raise BackendUnavailable(f"reduce mode runs on the numba or cuda backend, not {name!r}")


def run_reduce(spec: SweepSpec, *, store: str | Path | None = None, overwrite: bool = False,
               progress: bool | None = None, num_workers: int | None = None,
               write: bool = True, block_points: int = BLOCK_POINTS,
               backend: str | None = None) -> ReduceResult:
    """Run a reduce sweep: fold the grid into statistics, write them to the store (with
    ``write``) and return them. The target is checked before anything is computed.
    ``backend``: ``numba``, ``cuda`` or ``auto`` (default: the file's ``backend``)."""
    from sweep.backends import default_workers

    created = provenance.now()
    backend = reduce_backend(backend or spec.backend)
    plan = make_reduce_plan(spec, store, block_points)
    workers = num_workers or default_workers()
    check_reduce_memory(plan, workers)
    if write:
        zstore.check_target(plan.store, overwrite)
    red = spec.reduce
    kept = [d for d, name in enumerate(plan.dims) if name not in red.over]
    n_groups = math.prod(plan.shape[d] for d in kept)
    hist = red.histogram
    nb = hist.bins if hist else 0
    scales = histogram_scales(spec, plan.model)
    ranges = histogram_ranges(plan, scales) if hist else {}
    names = folded(plan)
    log_scale = np.asarray([scales.get(o) == "log" for o in names], dtype=np.bool_)
    edges_lo = np.zeros(len(names))
    edges_inv = np.zeros(len(names))
    edges = np.zeros((len(names), nb + 1))
    for k, o in enumerate(names):
        if hist:
            lo, hi = ranges[o]
            edges[k] = bin_edges(lo, hi, nb, bool(log_scale[k]))
            lo, hi = (math.log(lo), math.log(hi)) if log_scale[k] else (lo, hi)
            edges_lo[k], edges_inv[k] = lo, nb / (hi - lo)
    below = _thresholds(plan, red.below)
    above = _thresholds(plan, red.above)
    ctx = _Context(codes=np.asarray([plan.model.code(o) for o in names], np.int64),
                   kept_stride=_strides(plan.shape, kept),
                   grid_stride=_strides(plan.shape, list(range(len(plan.shape)))),
                   weights=_weights(plan), edges_lo=edges_lo, edges_inv=edges_inv,
                   edges=edges, nb=nb,
                   log_scale=log_scale, below=below, above=above, n_groups=n_groups,
                   full=np.asarray([o != BEST_NODE for o in names], np.int64))
    keys = list(plan.keys())
    task_fn = _block_task
    if backend == "cuda":
        from sweep.backends.gpu_reduce import CudaReducer

        if below.shape[1] > 4 or above.shape[1] > 4:
            from sweep.backends import BackendUnavailable

            raise BackendUnavailable("the cuda reduce kernel takes at most 4 thresholds per "
                                     "output in `below` and in `above`")
        reducer = CudaReducer()
        task_fn = reducer.block_task
        device = "cuda-simulator" if reducer.simulated else "cuda"
    else:
        device = "cpu"
    # warm-up: compile once, outside the timed and parallel part
    task_fn(plan, ChunkKey(keys[0].index, keys[0].start,
                           tuple(a + 1 for a in keys[0].start)), ctx)
    t0 = time.perf_counter()   # after the first pass and the compilation
    tasks = [dask.delayed(task_fn, pure=False)(plan, key, ctx,
                                               dask_key_name=f"block-{key.name}")
             for key in keys]
    level = 0
    while len(tasks) > 1:
        tasks = [dask.delayed(merge_all, pure=False)(*tasks[i:i + FAN_IN],
                                                     dask_key_name=f"merge-{level}-{i}")
                 for i in range(0, len(tasks), FAN_IN)]
        level += 1
    sizes = {f"block-{key.name}": key.size for key in keys}
    with ChunkProgress(sizes, enabled=progress, label=f"{spec.name} (reduce)"):
        (total,) = dask.compute(tasks[0], scheduler=dask.threaded.get, num_workers=workers)
    seconds = time.perf_counter() - t0
    compare = _compare(plan, ctx, progress, num_workers) if red.compare else None
    ds = to_dataset(plan, total, {o: edges[k] for k, o in enumerate(plan.outputs)}, compare,
                    seconds, backend=backend, device=device, created=created,
                    scales=scales)
    result = ReduceResult(plan=plan, dataset=ds, seconds=seconds,
                          store=plan.store if write else None)
    if write:
        zstore.write_small(plan.store, ds, overwrite)
    return result


def _thresholds(plan: Plan, given: dict[str, list[float]]) -> np.ndarray:
    n = max((len(v) for v in given.values()), default=0)
    out = np.full((len(folded(plan)), n), np.nan)
    for k, o in enumerate(folded(plan)):
        vals = given.get(o, [])
        out[k, : len(vals)] = vals
    return out


# --------------------------------------------------------------------------- comparisons


def _compare(plan: Plan, ctx: _Context, progress, num_workers) -> dict:
    """Each pair of labels over every other dim (see ``reduce_cpu.ratio_block``)."""
    from sweep.backends import default_workers
    from sweep.kernels import reduce_cpu

    c = plan.spec.reduce.compare
    d_cmp = plan.dims.index(c.axis)
    output = c.output or plan.outputs[0]
    code = plan.model.code(output)
    axis = plan.axes[d_cmp]
    labels = [str(x) for x in axis.coord]
    # blocks one label wide along the compare axis, the other dims as the reduce plan
    block = list(plan.chunk_shape)
    block[d_cmp] = 1
    cplan = dataclasses.replace(plan, chunk_shape=tuple(block))
    weights = [w if d != d_cmp else np.ones_like(w) for d, w in enumerate(ctx.weights)]
    nb = 256
    results = {}
    for first, second in c.pairs:
        ia, ib = labels.index(first), labels.index(second)
        keys = [k for k in cplan.keys() if k.start[d_cmp] == ia]
        # the ratio's histogram bounds from a first pass over the subsampled grid
        pilot = _pilot_ratio(cplan, d_cmp, ia, ib, code)
        lo, hi = _edges_for(pilot, True)
        hi = float(np.nextafter(hi, np.inf))
        elo, einv = math.log(lo), nb / (math.log(hi) - math.log(lo))
        redges = bin_edges(lo, hi, nb, True)

        def task(key, ia=ia, ib=ib, elo=elo, einv=einv, redges=redges):
            kb = ChunkKey(key.index[:d_cmp] + (ib,) + key.index[d_cmp + 1:],
                          key.start[:d_cmp] + (ib,) + key.start[d_cmp + 1:],
                          key.stop[:d_cmp] + (ib + 1,) + key.stop[d_cmp + 1:])
            ina, inb = cplan.chunk_inputs(key), cplan.chunk_inputs(kb)
            stats = reduce_cpu.ratio_stats()
            hn = np.zeros(nb + 2, np.int64)
            hw = np.zeros(nb + 2)
            reduce_cpu.ratio_block(ina.model, ina.table, inb.table, ina.bind,
                                   np.asarray(ina.shape, np.int64),
                                   _block_weights(cplan, key, weights), elo, einv, redges, nb,
                                   code,
                                   stats, hn, hw)
            return stats, hn, hw

        parts = dask.compute(*[dask.delayed(task, pure=False)(k) for k in keys],
                             scheduler=dask.threaded.get,
                             num_workers=num_workers or default_workers())
        stats = dict(zip(reduce_cpu.RATIO_FIELDS, reduce_cpu.ratio_stats(), strict=True))
        hn = np.zeros(nb + 2, np.int64)
        hw = np.zeros(nb + 2)
        for s, h_n, h_w in parts:
            part = dict(zip(reduce_cpu.RATIO_FIELDS, s, strict=True))
            for f in reduce_cpu.RATIO_FIELDS:
                if f == "min":
                    stats[f] = np.fmin(stats[f], part[f])
                elif f == "max":
                    stats[f] = np.fmax(stats[f], part[f])
                else:
                    stats[f] += part[f]
            hn += h_n
            hw += h_w
        results[(first, second)] = {"stats": stats, "hn": hn, "hw": hw,
                                           "edges": redges,
                                           "output": output}
    return results


def _pilot_ratio(cplan: Plan, d_cmp: int, ia: int, ib: int, code: int) -> np.ndarray:
    """The ratio of label ``ia`` to label ``ib`` (of the compare dim) over the thinned grid
    of the other dims."""
    a, b = (_pilot_values(cplan, np.asarray([code]), {d_cmp: i})[0] for i in (ia, ib))
    with np.errstate(all="ignore"):
        return a / b


# --------------------------------------------------------------------------- result


def quantiles_from_histogram(hw: np.ndarray, edges: np.ndarray, qs: list[float],
                             lo: float, hi: float, log_scale: bool
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles of a weighted histogram (bins 0 and nb+1: under/overflow), each with the
    interval that must contain it: the edges of the bin where the cumulative weight
    crosses q (``[min, lowest edge]`` or ``[top edge, max]`` in the under/overflow bins,
    ``lo``/``hi`` being the exact extremes). The estimate interpolates inside that bin
    (geometrically on a log scale); it is NaN in the under- and overflow bins (unless
    their bracket is a single value) and where there is no weight."""
    est, low, high = (np.full(len(qs), np.nan) for _ in range(3))
    total = hw.sum()
    if not total > 0:
        return est, low, high
    cum = np.cumsum(hw) / total
    bounds = np.concatenate([[lo], edges, [hi]])
    for i, q in enumerate(qs):
        b = int(np.searchsorted(cum, q, side="left"))
        b = min(b, len(hw) - 1)
        a_edge, b_edge = bounds[b], bounds[b + 1]
        tail = b == 0 or b == len(hw) - 1
        if b == 0:
            a_edge, b_edge = lo, min(edges[0], hi)
        elif b == len(hw) - 1:
            a_edge, b_edge = max(edges[-1], lo), hi
        # the data never leave [lo, hi]: the bracket is clipped to the exact extremes
        a_edge, b_edge = max(a_edge, lo), min(b_edge, hi)
        prev = cum[b - 1] if b > 0 else 0.0
        frac = (q - prev) / (cum[b] - prev) if cum[b] > prev else 0.5
        if log_scale and a_edge > 0 and b_edge > 0:
            e = a_edge * (b_edge / a_edge) ** frac
        else:
            e = a_edge + (b_edge - a_edge) * frac
        if tail and a_edge < b_edge:
            # an under- or overflow bin: its width is the data's, not the histogram's, so an
            # interpolated estimate could be anywhere in it; a collapsed bracket is exact
            e = np.nan
        est[i], low[i], high[i] = e, a_edge, b_edge
    return est, low, high


def to_dataset(plan: Plan, p: Partials, edges_of: dict, compare: dict | None,
               seconds: float, *, backend: str = "", device: str = "",
               created: str | None = None, scales: dict[str, str] | None = None
               ) -> xr.Dataset:
    """The reduce result as a small xarray Dataset (see the module docstring); ``scales``:
    per output, the histogram's scale (``log`` or ``linear``)."""
    scales = scales or {}
    red = plan.spec.reduce
    kept = [d for d, name in enumerate(plan.dims) if name not in red.over]
    over = [d for d in range(len(plan.dims)) if d not in kept]
    kdims = [plan.dims[d] for d in kept]
    kshape = [plan.shape[d] for d in kept]
    coords: dict = {}
    for d in kept:
        a = plan.axes[d]
        # labels as variable-length strings (object): Zarr v3 has no spec for fixed-width
        if a.categorical:
            coords[a.name] = np.asarray([str(c) for c in a.coord], dtype=object)
        else:
            meta = plan.model.bindable_specs[a.name]
            coords[a.name] = xr.Variable((a.name,), a.coord, {
                "units": meta.unit, "long_name": meta.short, "description": meta.description})
    data: dict = {}
    hist = red.histogram
    qs = list(red.quantiles)
    if qs:
        coords["quantile"] = np.asarray(qs)
    for k, o in enumerate(plan.outputs):
        meta = plan.model.output_specs[o]
        attrs = {"units": meta.unit, "long_name": meta.long_name}

        def put(name, values, dims=(), extra=None, attrs=attrs, o=o):
            shape = kshape + [len(coords[x]) for x in dims]
            data[f"{o}_{name}"] = (tuple(kdims) + tuple(dims),
                                   np.asarray(values).reshape(shape),
                                   {**attrs, **(extra or {})})

        w = p.w[:, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(np.where(w > 0, p.m2[:, k] / np.where(w > 0, w, 1), np.nan))
            mean = np.where(w > 0, p.mean[:, k], np.nan)
        put("count", p.n[:, k], extra={"units": "1", "long_name": "points that are not NaN"})
        put("nan_count", p.nan[:, k], extra={"units": "1", "long_name": "NaN points (a zero "
                                            "denominator, or outside a measured frontier)"})
        put("weight", w, extra={"units": "1", "long_name": "sum of point weights (probability "
                                "mass of the non-NaN points when weighted)"})
        put("min", p.lo[:, k])
        put("max", p.hi[:, k])
        for which, idx in (("argmin", p.ilo[:, k]), ("argmax", p.ihi[:, k])):
            for d in over:
                a = plan.axes[d]
                pos = np.where(idx >= 0, (idx // _stride(plan.shape, d)) % plan.shape[d], 0)
                # no point (an all-NaN group): "" for labels, NaN for numbers
                vals = np.where(idx >= 0, np.asarray([str(c) for c in a.coord],
                                                     dtype=object)[pos], "") \
                    if a.categorical else np.where(idx >= 0, a.coord[pos], np.nan)
                put(f"{which}_{a.name}", vals,
                    extra={"units": "" if a.categorical else
                           input_unit(plan, a.name),
                           "long_name": f"{a.name} at the {which[3:]}imum"})
        put("mean", mean, extra={"long_name": "weighted mean"})
        put("std", std, extra={"long_name": "weighted standard deviation (population)"})
        if hist:
            edges = edges_of[o]
            nbins = hist.bins
            coords[f"{o}_edge"] = edges
            coords[f"{o}_bin"] = np.arange(nbins + 2)
            log = scales.get(o, "log") == "log"
            put("hist_count", p.hn[:, k, :], (f"{o}_bin",),
                extra={"units": "1", "long_name": "points per bin; bin 0 below the first edge "
                       "(or not positive on a log scale), bin nbins+1 at or above the last",
                       "scale": "log" if log else "linear"})
            put("hist_weight", p.hw[:, k, :], (f"{o}_bin",), extra={"units": "1"})
            if qs:
                est, low, high = (np.empty((len(w), len(qs))) for _ in range(3))
                outside = 0
                for g in range(len(w)):
                    est[g], low[g], high[g] = quantiles_from_histogram(
                        p.hw[g, k], edges, qs, p.lo[g, k], p.hi[g, k], log)
                    outside += int(np.sum(np.isnan(est[g]) & ~np.isnan(low[g])))
                if outside:
                    hint = (f" or scale: {{{o}: linear}} (it has values <= 0)"
                            if log and np.nanmin(p.lo[:, k]) <= 0 else "")
                    log_.warning("%s: %d quantile(s) fall in the histogram's under- or "
                                 "overflow bin: NaN, with their bracket [quantile_low, "
                                 "quantile_high] kept; give histogram.range for %s%s",
                                 o, outside, o, hint)
                bound = ("the quantile lies in [quantile_low, quantile_high], the edges of "
                         "the histogram bin where the cumulative weight crosses it; the "
                         "estimate interpolates inside that bin (NaN in the under- and "
                         "overflow bins, whose width the bins do not bound)")
                put("quantile", est, ("quantile",), extra={"error_bound": bound})
                put("quantile_low", low, ("quantile",))
                put("quantile_high", high, ("quantile",))
        for section, arr in (("below", red.below), ("above", red.above)):
            if o in arr:
                coords[f"{o}_{section}"] = np.asarray(arr[o], dtype=np.float64)
                src = p.tb if section == "below" else p.ta
                with np.errstate(invalid="ignore", divide="ignore"):
                    frac = src[:, k, : len(arr[o])] / np.where(w > 0, w, np.nan)[:, None]
                put(f"frac_{section}", frac, (f"{o}_{section}",),
                    extra={"units": "1", "long_name": f"weight fraction of the non-NaN points "
                           f"{section} each threshold"})
    if red.best is not None:
        data.update(best_variables(plan, p, len(plan.outputs), coords))
    if compare:
        pairs = list(compare)
        # the pair's label for people, and its two labels as data (never parsed back)
        coords["pair"] = np.asarray([f"{a} vs {b}" for a, b in pairs], dtype=object)
        coords["pair_first"] = ("pair", np.asarray([a for a, _ in pairs], dtype=object))
        coords["pair_second"] = ("pair", np.asarray([b for _, b in pairs], dtype=object))
        s = {f: np.asarray([compare[x]["stats"][f] for x in pairs])
             for f in compare[pairs[0]]["stats"]}
        with np.errstate(invalid="ignore", divide="ignore"):
            data["compare_frac_first_lower"] = ("pair", s["w_lower"] / s["w"], {
                "units": "1", "output": compare[pairs[0]]["output"],
                "long_name": "weight fraction of the other dims' points where the first label's "
                             "value is lower (cheaper, for a cost)"})
            data["compare_frac_equal"] = ("pair", s["w_equal"] / s["w"], {"units": "1"})
            data["compare_ratio_min"] = ("pair", s["min"], {"units": "1"})
            data["compare_ratio_max"] = ("pair", s["max"], {"units": "1"})
            data["compare_ratio_geomean"] = ("pair", np.exp(s["wlog"] / s["wpos"]), {
                "units": "1", "long_name": "weighted geometric mean of first / second"})
        data["compare_count"] = ("pair", s["n"].astype(np.int64), {"units": "1"})
        data["compare_nan_count"] = ("pair", s["nan"].astype(np.int64), {"units": "1"})
        coords["ratio_bin"] = np.arange(len(compare[pairs[0]]["hn"]))
        data["compare_ratio_hist_count"] = (("pair", "ratio_bin"),
                                            np.asarray([compare[x]["hn"] for x in pairs]),
                                            {"units": "1"})
        coords["ratio_edge"] = np.arange(len(compare[pairs[0]]["edges"]))
        data["compare_ratio_edges"] = (("pair", "ratio_edge"),
                                       np.asarray([compare[x]["edges"] for x in pairs]),
                                       {"units": "1"})
        if qs:
            coords.setdefault("quantile", np.asarray(qs))
            qv = []
            for x in pairs:
                st = compare[x]["stats"]
                qv.append(quantiles_from_histogram(compare[x]["hw"], compare[x]["edges"], qs,
                                                   st["min"], st["max"], True))
            qv = np.asarray(qv)
            data["compare_ratio_quantile"] = (("pair", "quantile"), qv[:, 0], {"units": "1"})
            data["compare_ratio_quantile_low"] = (("pair", "quantile"), qv[:, 1],
                                                  {"units": "1"})
            data["compare_ratio_quantile_high"] = (("pair", "quantile"), qv[:, 2],
                                                   {"units": "1"})
    attrs = {
        "title": f"token-sweep {plan.spec.name} (reduce)",
        **provenance.record("reduce", plan.spec, config_hash=plan.config_hash,
                            backend=backend, device=device, created=created,
                            status=zstore.STATUS_COMPLETE, defaults=plan.defaults),
        "sweep_over": list(red.over),
        "sweep_n_points": str(plan.n_points),
        "sweep_block_shape": list(plan.chunk_shape),
        "sweep_n_blocks": plan.n_chunks,
        "sweep_elapsed_s": round(seconds, 3),
        "sweep_points_per_s": round(plan.n_points / seconds, 1) if seconds > 0 else None,
        "sweep_weighted": sorted(red.weights),
        "sweep_question": red.question or "",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _stride(shape: tuple[int, ...], d: int) -> int:
    return math.prod(shape[d + 1:])
