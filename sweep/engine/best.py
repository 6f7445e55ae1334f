"""``best:`` in reduce mode: per kept coordinate, the best point over the folded dims among
those that meet every constraint ("the cheapest configuration that meets the SLO").

The model gets one more node (``sweep.model.user.BEST_NODE``): the objective where every
bound of ``subject_to`` holds, NaN elsewhere. The reduce kernels fold it like any output,
so its minimum (or maximum) and the flat grid index of the first point reaching it come
from the same exact, chunking-independent extremes as every output's ``argmin`` (ties keep
the smallest flat index, on the CPU and on the GPU), and its count of non-NaN points is the
number of feasible points. The requested outputs at the optimum are then evaluated once
per kept coordinate, at that point, on the host.

Variables (over the kept dims): ``best_value``, ``best_feasible_count``, ``best_<dim>`` per
folded dim (the optimum's coordinate; NaN, or "" for labels, where no point is feasible),
``best_<output>`` per requested output. With ``compare`` on a kept categorical axis:
``best_compare_ratio`` (pair, other kept dims): the first label's best value over the
second's.
"""

from __future__ import annotations

import math

import numpy as np

from sweep.backends.partials import Partials
from sweep.planning.planner import Plan
from sweep.planning.reduce_plan import constraints_text


def _positions(plan: Plan, flat: np.ndarray) -> np.ndarray:
    """Per flat grid index (``-1``: none), its index along every dim (``-1`` rows where
    none), shape (n, ndim)."""
    out = np.full((len(flat), len(plan.shape)), -1, np.int64)
    ok = flat >= 0
    rest = flat[ok].copy()
    for d in range(len(plan.shape) - 1, -1, -1):
        out[ok, d] = rest % plan.shape[d]
        rest //= plan.shape[d]
    return out


def outputs_at(plan: Plan, flat: np.ndarray, backend: str = "numba") -> np.ndarray:
    """The requested outputs at the points of flat grid index ``flat`` (``-1``: NaN),
    float64, shape (n_outputs, n), evaluated by ``backend`` (``numpy`` or ``numba``)."""
    from sweep.backends import get_backend

    out = np.full((len(plan.outputs), len(flat)), np.nan)
    ok = np.flatnonzero(flat >= 0)
    if ok.size:
        inputs = plan.point_inputs(_positions(plan, flat[ok]))
        values, _ = get_backend(backend).compute(inputs, plan.output_codes,
                                                 np.dtype(np.float64))
        out[:, ok] = values.reshape(len(plan.outputs), -1)
    return out


def best_variables(plan: Plan, p: Partials, k: int, coords: dict,
                   backend: str = "numba") -> dict:
    """The ``best_*`` variables of a reduce result (see the module docstring) from the
    merged partials ``p``, whose column ``k`` is the best node; ``coords`` gets the pair
    coordinates of a comparison; the outputs at the optimum are evaluated by ``backend``."""
    red = plan.spec.reduce
    best = red.best
    kept = [d for d, name in enumerate(plan.dims) if name not in red.over]
    over = [d for d in range(len(plan.dims)) if d not in kept]
    kdims = tuple(plan.dims[d] for d in kept)
    kshape = tuple(plan.shape[d] for d in kept)
    value = (p.lo if best.sense == "min" else p.hi)[:, k]
    flat = (p.ilo if best.sense == "min" else p.ihi)[:, k]
    specs = plan.model.bindable_specs | plan.model.output_specs
    unit = getattr(specs.get(best.objective), "unit", "")
    bounds = constraints_text(best)
    what = f"{best.sense}imum of {best.objective} subject to {bounds}"
    data: dict = {
        "best_value": (kdims, value.reshape(kshape),
                       {"units": unit, "long_name": what, "objective": best.objective,
                        "sense": best.sense, "constraints": bounds}),
        "best_feasible_count": (kdims, p.n[:, k].reshape(kshape),
                                {"units": "1", "long_name": "points that meet every "
                                 "constraint (and whose objective is not NaN)"}),
    }
    pos = _positions(plan, flat)
    for d in over:
        a = plan.axes[d]
        i = np.maximum(pos[:, d], 0)
        if a.categorical:
            labels = np.asarray([str(c) for c in a.coord], dtype=object)
            vals = np.where(flat >= 0, labels[i], "")
            unit_d = ""
        else:
            vals = np.where(flat >= 0, np.asarray(a.coord, dtype=np.float64)[i], np.nan)
            spec = plan.model.bindable_specs.get(a.name)
            unit_d = spec.unit if spec is not None else "1"
        data[f"best_{a.name}"] = (kdims, vals.reshape(kshape),
                                  {"units": unit_d, "long_name": f"{a.name} at the best point"})
    at = outputs_at(plan, flat, backend)
    for j, o in enumerate(plan.outputs):
        meta = plan.model.output_specs[o]
        data[f"best_{o}"] = (kdims, at[j].reshape(kshape),
                             {"units": meta.unit, "long_name": f"{meta.long_name} at the "
                              "best point"})
    c = red.compare
    if c is not None and c.axis in kdims:
        data.update(_compare(plan, c, kdims, kshape, value, coords))
    return data


def _compare(plan: Plan, c, kdims: tuple, kshape: tuple, value: np.ndarray,
             coords: dict) -> dict:
    """The first label's best value over the second's, per pair and other kept coordinate."""
    ax = kdims.index(c.axis)
    grid = value.reshape(kshape)
    labels = [str(x) for x in plan.axes[plan.dims.index(c.axis)].coord]
    ratios = []
    for first, second in c.pairs:
        a = np.take(grid, labels.index(first), axis=ax)
        b = np.take(grid, labels.index(second), axis=ax)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan))
    coords.setdefault("pair", np.asarray([f"{a} vs {b}" for a, b in c.pairs], dtype=object))
    coords.setdefault("pair_first", ("pair", np.asarray([a for a, _ in c.pairs], dtype=object)))
    coords.setdefault("pair_second", ("pair", np.asarray([b for _, b in c.pairs],
                                                         dtype=object)))
    rest = tuple(d for d in kdims if d != c.axis)
    shape = (len(c.pairs), *(s for d, s in zip(kdims, kshape, strict=True) if d != c.axis))
    arr = np.asarray(ratios).reshape(shape) if math.prod(shape) else np.zeros(shape)
    return {"best_compare_ratio": (("pair", *rest), arr,
                                   {"units": "1", "long_name": "best value of the first label "
                                    "over the second's (NaN where either has no feasible "
                                    "point)"})}
