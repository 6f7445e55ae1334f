"""Morris screening through SALib: elementary effects on a small design, for a first look at
many inputs before (or instead of) the Sobol' analysis.

The design lives in probability space: SALib's Morris trajectories on the unit hypercube
(``levels`` levels ``k / (levels - 1)``), level ``k`` of each input evaluated at its
distribution's ``(k + 1/2) / levels`` quantile (the middles of ``levels`` equal slices of
probability: 0.125, 0.375, 0.625, 0.875 with 4 levels, never the far tails). SALib's
``morris.analyze`` divides each change of the output by its grid step (``levels / (2
(levels - 1))``, 2/3 with 4 levels): an elementary effect is the output's change per unit
of that grid coordinate, the same scale for every input, which is what the ranking needs.
It reports ``mu``, ``mu_star`` (mean absolute effect: the ranking), ``sigma``
(interactions and non-linearity) and ``mu_star_conf`` (95 % bootstrap half-width).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr


def morris(spec, trajectories: int = 20, levels: int = 4, backend: str | None = None,
           seed: int | None = None) -> xr.Dataset:
    """Elementary effects of every output on every input of ``spec.distributions`` from
    ``trajectories`` Morris trajectories (``trajectories * (D + 1)`` evaluations per label
    of the categorical axes). ``seed`` defaults to the file's ``sample.seed``."""
    from sweep.planning.sensitivity_plan import make_morris_plan

    return screen(make_morris_plan(spec, trajectories, levels=levels), backend, seed)


def screen(mplan, backend: str | None = None, seed: int | None = None) -> xr.Dataset:
    """The elementary effects of a resolved Morris plan
    (:func:`sweep.planning.sensitivity_plan.make_morris_plan`)."""
    from SALib.analyze import morris as analyze
    from SALib.sample import morris as sample

    from sweep._version import __version__
    from sweep.backends import get_backend
    from sweep.planning.sampling import draw

    spec, plan = mplan.spec, mplan.base
    trajectories, levels = mplan.trajectories, mplan.levels
    seed = spec.sample.seed if seed is None else seed
    names = list(plan.names)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sample.sample(problem, trajectories, num_levels=levels, seed=seed)
    q = (np.rint(u * (levels - 1)) + 0.5) / levels   # level k -> quantile (k + 1/2) / levels

    def values_at(labels: dict[str, int]) -> np.ndarray:
        return np.column_stack([draw(spec, n, q[:, j], labels or None, plan.axes)
                                for j, n in enumerate(names)])

    be = get_backend(backend or spec.backend,
                     points=q.shape[0] * math.prod(plan.group_shape))
    values = plan.evaluate(be, values_at)
    flat = values.reshape(len(plan.outputs), -1, q.shape[0])
    keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    out = {k: np.full((len(plan.outputs), flat.shape[1], len(names)), np.nan) for k in keys}
    for k in range(flat.shape[0]):
        for g in range(flat.shape[1]):
            y = flat[k, g]
            if np.isnan(y).any():
                continue
            res = analyze.analyze(problem, u, y, num_levels=levels, seed=seed)
            for key in keys:
                out[key][k, g] = np.asarray(res[key], dtype=np.float64)
    gdims = [a.name for a in plan.axes]
    dims = ("output", *gdims, "input")
    shape = (len(plan.outputs), *plan.group_shape, len(names))
    docs = {"mu": "mean elementary effect", "mu_star": "mean absolute elementary effect",
            "sigma": "standard deviation of the elementary effects",
            "mu_star_conf": "95 % bootstrap half-width of mu_star"}
    ds = xr.Dataset({k: xr.DataArray(v.reshape(shape), dims=dims,
                                     attrs={"long_name": docs[k]}) for k, v in out.items()})

    def labels(values) -> np.ndarray:
        return np.asarray([str(v) for v in values], dtype=object)

    ds = ds.assign_coords(output=labels(plan.outputs), input=labels(names),
                          **{a.name: labels(a.coord) for a in plan.axes})
    from sweep.storage import provenance

    ds.attrs.update({**provenance.record("morris", spec, backend=be.name,
                                         device=getattr(be, "device", ""),
                                         defaults=plan.defaults),
                     "trajectories": trajectories,
                     "levels": levels, "seed": seed, "evaluations": int(values.size
                                                                         // len(plan.outputs)),
                     "backend": be.name, "engine_version": __version__})
    return ds


def describe(ds: xr.Dataset) -> str:
    """The inputs ranked by ``mu_star`` per output (and label)."""
    import itertools

    a = ds.attrs
    lines = [f"{a['sweep_name']}: Morris screening, {a['trajectories']} trajectories x "
             f"{ds.sizes['input'] + 1} points ({a['evaluations']:,} evaluations, "
             f"{a['levels']} levels, seed {a['seed']}), backend {a['backend']}",
             "  effects per unit of the Morris grid, levels at the (k + 1/2)/levels quantiles; "
             "mu*: mean |effect| (the ranking), sigma: interactions and curvature"]
    gdims = [d for d in ds["mu"].dims if d not in ("output", "input")]
    for output in ds["output"].values:
        for combo in itertools.product(*(list(ds[d].values) for d in gdims)):
            group = dict(zip(gdims, combo, strict=True))
            sel = ds.sel(output=output, **group)
            where = ", ".join(f"{k}={v}" for k, v in group.items())
            lines += ["", f"{output}{' (' + where + ')' if where else ''}:"]
            rows = [["input", "mu*", "±", "sigma", "mu"]]
            order = np.argsort(-np.nan_to_num(sel["mu_star"].values, nan=-np.inf),
                               kind="stable")
            for j in order:
                s = sel.isel(input=int(j))
                rows.append([str(s["input"].values)] + [f"{float(s[k]):.3g}" for k in
                                                        ("mu_star", "mu_star_conf", "sigma",
                                                         "mu")])
            widths = [max(len(r[c]) for r in rows) for c in range(5)]
            lines += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                      for r in rows]
    from sweep.storage.provenance import defaults_line, stored_defaults

    line = defaults_line(stored_defaults(a))
    return "\n".join([*lines, *([""] + [line] if line else [])])
