"""A reduce plan's folding, resolved before anything runs: which nodes are folded, the
group and grid strides, the weights, the thresholds, and the histogram edges (given in the
file, or from a first pass over a subsampled grid by the NumPy reference backend, so that
planning never waits for a compiler), and each comparison's ratio bins. Every engine folds
with the same :class:`~sweep.backends.partials.Folding`, so that engines agree bin for bin.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sweep.backends.partials import Folding, RatioBins
from sweep.chunks import ChunkInputs, fill_inputs
from sweep.model.user import BEST_NODE

#: Points of the subsampled grid that finds histogram bounds when none are given.
PILOT_POINTS = 2**18
#: Bins of a comparison's ratio histogram.
RATIO_BINS = 256


def folded(plan) -> tuple[str, ...]:
    """The nodes the engines fold: the outputs, then ``best:``'s node (see
    :mod:`sweep.engine.best`)."""
    return (*plan.outputs, *((BEST_NODE,) if plan.spec.reduce.best is not None else ()))


def kept_dims(plan) -> list[int]:
    """The dims (numbers) a reduce keeps: those not in ``reduce.over``."""
    return [d for d, name in enumerate(plan.dims) if name not in plan.spec.reduce.over]


def strides(shape: tuple[int, ...], dims: list[int]) -> np.ndarray:
    """Row-major strides of the sub-grid of ``dims`` (0 for the other dims)."""
    out = np.zeros(len(shape), np.int64)
    s = 1
    for d in reversed(dims):
        out[d] = s
        s *= shape[d]
    return out


def weights(plan) -> tuple[np.ndarray, ...]:
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
    return tuple(out)


def thresholds(plan, given: dict[str, list[float]]) -> np.ndarray:
    """``below`` or ``above`` as a NaN-padded (folded nodes, thresholds) array."""
    n = max((len(v) for v in given.values()), default=0)
    out = np.full((len(folded(plan)), n), np.nan)
    for k, o in enumerate(folded(plan)):
        vals = given.get(o, [])
        out[k, : len(vals)] = vals
    return out


# --------------------------------------------------------------------------- first pass


def subsampled_inputs(plan, points: int = PILOT_POINTS,
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


def pilot_values(plan, codes: np.ndarray, at: dict[int, int] | None = None) -> np.ndarray:
    """The nodes ``codes`` over the thinned grid (:func:`subsampled_inputs`), by the NumPy
    reference backend: ``(len(codes), points)``, float64."""
    from sweep.backends import NumpyBackend

    be = NumpyBackend()
    out = [be.compute(part, codes, np.dtype(np.float64))[0].reshape(len(codes), -1)
           for part in subsampled_inputs(plan, at=at)]
    return np.concatenate(out, axis=1)


def edges_for(values: np.ndarray, log_scale: bool) -> tuple[float, float]:
    """The extremes of the finite (on a log scale: positive) ``values``, widened when they
    are one value; a unit range when there are none."""
    v = values[np.isfinite(values)]
    if log_scale:
        v = v[v > 0]
    if v.size == 0:
        return (1e-6, 1.0) if log_scale else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = (lo / 2, hi * 2) if log_scale else (lo - 0.5, hi + 0.5)
    return lo, hi


def above(hi: float) -> float:
    """A top edge just above ``hi``: 16 units in the last place, so that a maximum the
    compiled engines compute a bit or two away from the NumPy first pass still falls
    inside the last bin."""
    return float(hi + 16 * abs(np.spacing(hi)))


def bin_edges(lo: float, hi: float, bins: int, log_scale: bool) -> np.ndarray:
    """``bins + 1`` increasing edges from ``lo`` to ``hi`` exactly, evenly spaced (on a log
    scale: evenly spaced logarithms). The engines bin against these very values."""
    if log_scale:
        edges = np.exp(np.linspace(math.log(lo), math.log(hi), bins + 1))
    else:
        edges = np.linspace(lo, hi, bins + 1)
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(edges)


def histogram_ranges(plan, scales: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Histogram bounds per output: given in the file, else the extremes of a first pass over
    a subsampled grid (:data:`PILOT_POINTS` points; the top edge just above its maximum,
    :func:`above`, so that the maximum falls inside). ``scales`` (from
    :func:`sweep.planning.planner.histogram_scales`) is completed in place: an ``auto``
    output is ``log`` where its given range, else the first pass, has nothing <= 0, else
    ``linear``."""
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
        values = pilot_values(plan, codes)
        for k, name in enumerate(missing):
            v = values[k].ravel()
            if scales.get(name) == "auto":
                finite = v[np.isfinite(v)]
                scales[name] = "log" if finite.size and finite.min() > 0 else "linear"
            lo, hi = edges_for(v, scales.get(name) == "log")
            out[name] = (lo, above(hi))
    return out


def _ratio_bins(plan) -> dict[tuple[str, str], RatioBins]:
    """Each comparison's ratio bins, from the ratio of its two labels over the thinned grid
    of the other dims."""
    c = plan.spec.reduce.compare
    if c is None:
        return {}
    d_cmp = plan.dims.index(c.axis)
    code = np.asarray([plan.model.code(c.output or plan.outputs[0])])
    labels = [str(x) for x in plan.axes[d_cmp].coord]
    out = {}
    for first, second in c.pairs:
        a, b = (pilot_values(plan, code, {d_cmp: labels.index(x)})[0] for x in (first, second))
        with np.errstate(all="ignore"):
            lo, hi = edges_for(a / b, True)
        hi = above(hi)
        out[(first, second)] = RatioBins(
            elo=math.log(lo), einv=RATIO_BINS / (math.log(hi) - math.log(lo)),
            edges=bin_edges(lo, hi, RATIO_BINS, True), nb=RATIO_BINS)
    return out


def resolve_folding(plan) -> Folding:
    """The :class:`~sweep.backends.partials.Folding` of a reduce plan (the first passes run
    here, by the NumPy backend)."""
    from sweep.planning.planner import histogram_scales

    red = plan.spec.reduce
    kept = kept_dims(plan)
    hist = red.histogram
    nb = hist.bins if hist else 0
    scales = histogram_scales(plan.spec, plan.model)
    ranges = histogram_ranges(plan, scales) if hist else {}
    names = folded(plan)
    log_scale = np.asarray([scales.get(o) == "log" for o in names], dtype=np.bool_)
    edges_lo, edges_inv = np.zeros(len(names)), np.zeros(len(names))
    edges = np.zeros((len(names), nb + 1))
    for k, o in enumerate(names):
        if hist:
            lo, hi = ranges[o]
            edges[k] = bin_edges(lo, hi, nb, bool(log_scale[k]))
            lo, hi = (math.log(lo), math.log(hi)) if log_scale[k] else (lo, hi)
            edges_lo[k], edges_inv[k] = lo, nb / (hi - lo)
    return Folding(
        names=names, codes=np.asarray([plan.model.code(o) for o in names], np.int64),
        full=np.asarray([o != BEST_NODE for o in names], np.int64),
        kept_stride=strides(plan.shape, kept),
        grid_stride=strides(plan.shape, list(range(len(plan.shape)))),
        weights=weights(plan), nb=nb, edges=edges, edges_lo=edges_lo, edges_inv=edges_inv,
        log_scale=log_scale, below=thresholds(plan, red.below),
        above=thresholds(plan, red.above), n_groups=math.prod(plan.shape[d] for d in kept),
        scales=scales, compare=_ratio_bins(plan))
