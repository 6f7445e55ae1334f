"""Reduce mode: statistics over huge grids without materializing them.

A sweep file with a ``reduce:`` section folds the ``over`` dims away and keeps the others.
The plan (:func:`make_reduce_plan`) cuts the grid into large blocks and resolves the
folding (weights, thresholds, histogram edges: :mod:`sweep.planning.folding`); here each
block is folded into partial statistics by a reduce engine (a backend's ``fold``: the
NumPy engine, the fused Numba kernel or the CUDA kernel, :func:`sweep.backends.choose_reduce`),
and the partials are merged by a tree on an executor (:mod:`sweep.executors`). The result
is a small xarray Dataset, written to the sweep's store and printed as a table.

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
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
import xarray as xr

from sweep.backends.partials import RATIO_FIELDS, Partials, merge_all, merge_ratio
from sweep.chunks import ChunkKey
from sweep.engine.best import best_variables
from sweep.planning.folding import (  # noqa: F401 - part of this module's API
    PILOT_POINTS,
    bin_edges,
    folded,
    kept_dims,
    strides,
)
from sweep.planning.planner import Plan
from sweep.planning.reduce_plan import (  # noqa: F401 - part of this module's API
    BLOCK_POINTS,
    FAN_IN,
    MAX_TASKS,
    PARTIAL_BYTES_MAX,
    SAMPLE_BLOCK,
    check_reduce_memory,
    describe_plan,
    input_unit,
    make_reduce_plan,
    partial_bytes,
)
from sweep.spec.config import SweepSpec
from sweep.storage import provenance
from sweep.storage import store as zstore
from sweep.storage.location import StoreURL

log_ = logging.getLogger(__name__)


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


def run_reduce(spec: SweepSpec, *, store: str | Path | None = None, overwrite: bool = False,
               progress: bool | None = None, num_workers: int | None = None,
               write: bool = True, block_points: int = BLOCK_POINTS,
               backend: str | None = None) -> ReduceResult:
    """Plan, check and run a reduce sweep: fold the grid into statistics, write them to the
    store (with ``write``) and return them. ``backend``: the reduce engine, ``numpy``,
    ``numba``, ``cuda`` or ``auto`` (default: the file's ``backend``; see
    :func:`sweep.backends.choose_reduce`)."""
    from sweep.backends import default_workers

    plan = make_reduce_plan(spec, store, block_points)
    check_reduce_memory(plan, num_workers or default_workers())
    if write:
        zstore.check_target(plan.store, overwrite)
    return run_reduce_plan(plan, overwrite=overwrite, progress=progress,
                           num_workers=num_workers, write=write, backend=backend)


def run_reduce_plan(plan: Plan, *, overwrite: bool = False, progress: bool | None = None,
                    num_workers: int | None = None, write: bool = True,
                    backend: str | None = None, executor=None,
                    callbacks: list | None = None) -> ReduceResult:
    """Run a resolved reduce plan (:func:`make_reduce_plan`, its checks already made): every
    block folded by the reduce engine ``backend``, the partials merged by a tree of fan-in
    :data:`FAN_IN`, the comparisons, the result written (with ``write``) and returned.
    Tasks run on ``executor`` (default: ``threads``, ``num_workers`` of them; see
    :func:`sweep.executors.create_executor`); ``progress`` or ``callbacks`` watch them."""
    from sweep.backends import BackendUnavailable, choose_reduce, default_workers, get_backend
    from sweep.executors import create_executor, tracker

    created = provenance.now()
    folding = plan.folding
    if folding is None:
        from sweep.planning.preflight import PlanError

        raise PlanError("not a reduce plan (no resolved folding): make it with "
                        "make_reduce_plan(spec)")
    engine = choose_reduce(backend or plan.spec.backend, plan.n_points)
    if engine == "cuda" and (folding.below.shape[1] > 4 or folding.above.shape[1] > 4):
        raise BackendUnavailable("the cuda reduce kernel takes at most 4 thresholds per "
                                 "output in `below` and in `above`")
    be = get_backend(engine)
    executor = executor or create_executor(workers=num_workers or default_workers())
    keys = list(plan.keys())

    def block(key: ChunkKey) -> Partials:
        return be.fold(plan.chunk_inputs(key), key.start, folding)

    # warm-up: compile once, outside the timed and parallel part
    block(ChunkKey(keys[0].index, keys[0].start, tuple(a + 1 for a in keys[0].start)))
    t0 = time.perf_counter()
    tasks = [dask.delayed(block, pure=False)(key, dask_key_name=f"block-{key.name}")
             for key in keys]
    level = 0
    while len(tasks) > 1:
        tasks = [dask.delayed(merge_all, pure=False)(*tasks[i:i + FAN_IN],
                                                     dask_key_name=f"merge-{level}-{i}")
                 for i in range(0, len(tasks), FAN_IN)]
        level += 1
    sizes = {f"block-{key.name}": key.size for key in keys}
    with tracker(f"{plan.spec.name} (reduce)", sizes, progress, callbacks) as track:
        (total,) = executor.compute(tasks[:1], track)
    seconds = time.perf_counter() - t0
    compare = _compare(plan, be, executor) if plan.spec.reduce.compare else None
    device = getattr(be, "device", "cpu")
    if engine == "cuda":
        device = "cuda-simulator" if be.simulated else "cuda"
    ds = to_dataset(plan, total, {o: folding.edges[k] for k, o in enumerate(plan.outputs)},
                    compare, seconds, backend=engine, device=device, created=created,
                    scales=folding.scales)
    result = ReduceResult(plan=plan, dataset=ds, seconds=seconds,
                          store=plan.store if write else None)
    if write:
        zstore.write_small(plan.store, ds, overwrite)
    return result


# --------------------------------------------------------------------------- comparisons


def _compare(plan: Plan, be, executor) -> dict:
    """Each pair of labels over every other dim, folded by the engine's ``ratio``, blocks one
    label wide along the compare axis (the other dims as the reduce plan)."""
    c = plan.spec.reduce.compare
    folding = plan.folding
    d_cmp = plan.dims.index(c.axis)
    output = c.output or plan.outputs[0]
    code = plan.model.code(output)
    labels = [str(x) for x in plan.axes[d_cmp].coord]
    block = list(plan.chunk_shape)
    block[d_cmp] = 1
    cplan = dataclasses.replace(plan, chunk_shape=tuple(block))
    weights = tuple(w if d != d_cmp else np.ones_like(w)
                    for d, w in enumerate(folding.weights))
    results = {}
    for first, second in c.pairs:
        ia, ib = labels.index(first), labels.index(second)
        bins = folding.compare[(first, second)]

        def task(key, ib=ib, bins=bins):
            kb = ChunkKey(key.index[:d_cmp] + (ib,) + key.index[d_cmp + 1:],
                          key.start[:d_cmp] + (ib,) + key.start[d_cmp + 1:],
                          key.stop[:d_cmp] + (ib + 1,) + key.stop[d_cmp + 1:])
            return be.ratio(cplan.chunk_inputs(key), cplan.chunk_inputs(kb),
                            folding.block_weights(key.start, key.shape, weights), code, bins)

        keys = [k for k in cplan.keys() if k.start[d_cmp] == ia]
        parts = executor.compute([dask.delayed(task, pure=False)(k) for k in keys])
        stats, hn, hw = functools.reduce(merge_ratio, parts)
        results[(first, second)] = {"stats": dict(zip(RATIO_FIELDS, stats, strict=True)),
                                    "hn": hn, "hw": hw, "edges": bins.edges,
                                    "output": output}
    return results


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
    red = plan.spec.reduce
    coords = _kept_coords(plan)
    if red.quantiles:
        coords["quantile"] = np.asarray(list(red.quantiles))
    data: dict = {}
    for k, o in enumerate(plan.outputs):
        put = _putter(plan, o, coords, data)
        _moments(plan, p, k, put)
        if red.histogram:
            _histogram(plan, p, k, o, edges_of[o], (scales or {}).get(o, "log") == "log",
                       coords, put)
        _thresholds_variables(plan, p, k, o, coords, put)
    if red.best is not None:
        data.update(best_variables(plan, p, len(plan.outputs), coords,
                                   "numpy" if backend == "numpy" else "numba"))
    if compare:
        data.update(_compare_variables(compare, list(red.quantiles), coords))
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


def _kept_coords(plan: Plan) -> dict:
    """The coordinates of the kept dims: labels as variable-length strings (object: Zarr v3
    has no spec for fixed-width ones), numbers with their units."""
    coords: dict = {}
    for d in kept_dims(plan):
        a = plan.axes[d]
        if a.categorical:
            coords[a.name] = np.asarray([str(c) for c in a.coord], dtype=object)
        else:
            meta = plan.model.bindable_specs[a.name]
            coords[a.name] = xr.Variable((a.name,), a.coord, {
                "units": meta.unit, "long_name": meta.short, "description": meta.description})
    return coords


def _putter(plan: Plan, o: str, coords: dict, data: dict):
    """``put(name, values, dims=(), extra=None)``: adds ``<o>_<name>`` over the kept dims
    (and ``dims``) to ``data``, with the output's units and long name unless ``extra``
    overrides them."""
    kept = kept_dims(plan)
    kdims = tuple(plan.dims[d] for d in kept)
    kshape = [plan.shape[d] for d in kept]
    meta = plan.model.output_specs[o]
    attrs = {"units": meta.unit, "long_name": meta.long_name}

    def put(name, values, dims=(), extra=None):
        shape = kshape + [len(coords[x]) for x in dims]
        data[f"{o}_{name}"] = (kdims + tuple(dims), np.asarray(values).reshape(shape),
                               {**attrs, **(extra or {})})

    return put


def _moments(plan: Plan, p: Partials, k: int, put) -> None:
    """Counts, weight, extremes with their coordinates, mean and standard deviation."""
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
    over = [d for d in range(len(plan.dims)) if d not in kept_dims(plan)]
    grid_stride = strides(plan.shape, list(range(len(plan.shape))))
    for which, idx in (("argmin", p.ilo[:, k]), ("argmax", p.ihi[:, k])):
        for d in over:
            a = plan.axes[d]
            pos = np.where(idx >= 0, (idx // grid_stride[d]) % plan.shape[d], 0)
            # no point (an all-NaN group): "" for labels, NaN for numbers
            vals = np.where(idx >= 0, np.asarray([str(c) for c in a.coord],
                                                 dtype=object)[pos], "") \
                if a.categorical else np.where(idx >= 0, a.coord[pos], np.nan)
            put(f"{which}_{a.name}", vals,
                extra={"units": "" if a.categorical else input_unit(plan, a.name),
                       "long_name": f"{a.name} at the {which[3:]}imum"})
    put("mean", mean, extra={"long_name": "weighted mean"})
    put("std", std, extra={"long_name": "weighted standard deviation (population)"})


def _histogram(plan: Plan, p: Partials, k: int, o: str, edges: np.ndarray, log: bool,
               coords: dict, put) -> None:
    """The histogram of output ``o`` and the quantiles read from it, with their brackets."""
    nbins = plan.spec.reduce.histogram.bins
    qs = list(plan.spec.reduce.quantiles)
    coords[f"{o}_edge"] = edges
    coords[f"{o}_bin"] = np.arange(nbins + 2)
    put("hist_count", p.hn[:, k, :], (f"{o}_bin",),
        extra={"units": "1", "long_name": "points per bin; bin 0 below the first edge "
               "(or not positive on a log scale), bin nbins+1 at or above the last",
               "scale": "log" if log else "linear"})
    put("hist_weight", p.hw[:, k, :], (f"{o}_bin",), extra={"units": "1"})
    if not qs:
        return
    n = len(p.w)
    est, low, high = (np.empty((n, len(qs))) for _ in range(3))
    outside = 0
    for g in range(n):
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


def _thresholds_variables(plan: Plan, p: Partials, k: int, o: str, coords: dict,
                          put) -> None:
    """The weight fraction below and above each of ``o``'s thresholds."""
    red = plan.spec.reduce
    w = p.w[:, k]
    for section, arr in (("below", red.below), ("above", red.above)):
        if o in arr:
            coords[f"{o}_{section}"] = np.asarray(arr[o], dtype=np.float64)
            src = p.tb if section == "below" else p.ta
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = src[:, k, : len(arr[o])] / np.where(w > 0, w, np.nan)[:, None]
            put(f"frac_{section}", frac, (f"{o}_{section}",),
                extra={"units": "1", "long_name": f"weight fraction of the non-NaN points "
                       f"{section} each threshold"})


def _compare_variables(compare: dict, qs: list[float], coords: dict) -> dict:
    """The ``compare_*`` variables: per pair of labels, the fraction where the first is
    lower, and the distribution of the ratio first / second."""
    pairs = list(compare)
    # the pair's label for people, and its two labels as data (never parsed back)
    coords["pair"] = np.asarray([f"{a} vs {b}" for a, b in pairs], dtype=object)
    coords["pair_first"] = ("pair", np.asarray([a for a, _ in pairs], dtype=object))
    coords["pair_second"] = ("pair", np.asarray([b for _, b in pairs], dtype=object))
    s = {f: np.asarray([compare[x]["stats"][f] for x in pairs])
         for f in compare[pairs[0]]["stats"]}
    data: dict = {}
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
        qv = np.asarray([quantiles_from_histogram(compare[x]["hw"], compare[x]["edges"], qs,
                                                  compare[x]["stats"]["min"],
                                                  compare[x]["stats"]["max"], True)
                         for x in pairs])
        for i, name in enumerate(("quantile", "quantile_low", "quantile_high")):
            data[f"compare_ratio_{name}"] = (("pair", "quantile"), qv[:, i], {"units": "1"})
    return data
