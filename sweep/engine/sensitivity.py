"""Global sensitivity of the outputs to the sampled inputs: Sobol' indices streamed over a
Saltelli design, one-at-a-time tornado swings and elasticities.

Sobol' indices (``sample: {method: saltelli}``). Per base row ``j`` the model is evaluated
at ``A_j``, ``B_j`` and ``AB_ji`` (``A_j`` with input ``i`` from ``B_j``), by the same
kernels as a grid: a chunk of ``m`` base rows is one kernel call over ``m (D + 2)`` points
along the ``sample`` dim (times the labels of any categorical axes). Nothing is stored; each
chunk returns float64 sums per batch of base rows, and the indices are ratios of sums:

* first order (Saltelli 2010): ``S1_i = mean(f(B) (f(AB_i) - f(A))) / V``
* total order (Jansen 1999): ``ST_i = mean((f(A) - f(AB_i))^2) / (2 V)``
* ``V = var([f(A), f(B)])``, and, as ``SALib.analyze.sobol`` does, every ``f`` is centred
  on the mean of all ``N (D + 2)`` evaluations first (this changes ``S1`` by
  ``-mean * mean(f(AB_i) - f(A)) / V``, which vanishes only as N grows).

Sums are kept per batch of base rows (N / 64 rows, at most :data:`BATCH_ROWS_MAX`: a
function of N alone, whatever the chunking), shifted by the output at the base case for
accuracy. Confidence intervals: a bootstrap over the batches (:data:`RESAMPLES` resamples,
fixed seed), reported as ``z(0.975)`` times the bootstrap standard deviation, as SALib
reports its own (which resamples rows instead). Threads take contiguous stripes of chunks
in ascending order, so SciPy's Sobol' sequence is fast-forwarded once per thread.

Tornado and elasticities, at the base case (each sampled input at its median): the output
with one input at its 5th and at its 95th percentile, the others at the base; and the
elasticity ``d ln(output) / d ln(input)`` by a central difference of relative step 1e-4
(NaN where the output is not positive).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweep.planning.sensitivity_plan import (  # noqa: F401 - part of this module's API
    BATCH_ROWS_MAX,
    BATCHES,
    CHUNK_BYTES,
    SensitivityPlan,
    describe_plan,
    make_sensitivity_plan,
)
from sweep.quiet import quiet
from sweep.storage import provenance
from sweep.storage.location import StoreURL

if TYPE_CHECKING:
    import xarray as xr

#: Bootstrap resamples of the batches.
RESAMPLES = 1000
#: Percentiles of the tornado's low and high swings.
SWING = (0.05, 0.95)
#: Relative step of the elasticities' central difference.
ELASTICITY_STEP = 1e-4
_Z95 = 1.959963984540054


# --------------------------------------------------------------------------- base case


def base_case(plan: SensitivityPlan, labels: dict[str, int] | None = None
              ) -> dict[str, np.ndarray]:
    """Each sampled input's median and its :data:`SWING` percentiles: arrays over
    :attr:`SensitivityPlan.names` under the keys ``low``, ``base``, ``high`` (for the
    labels ``labels`` where the distributions depend on them)."""
    from sweep.planning.sampling import draw

    out = {}
    for key, q in (("low", SWING[0]), ("base", 0.5), ("high", SWING[1])):
        out[key] = np.array([float(draw(plan.spec, n, np.array([q]), labels, plan.axes)[0])
                             for n in plan.names])
    return out


def _tornado_rows(pts: dict[str, np.ndarray]) -> np.ndarray:
    """The base case, each input at its low and high swing, and each bumped by
    :data:`ELASTICITY_STEP` either way (rows of inputs)."""
    base = pts["base"]
    rows = [base]
    for j in range(len(base)):
        for key in ("low", "high"):
            x = base.copy()
            x[j] = pts[key][j]
            rows.append(x)
    h = ELASTICITY_STEP
    for j in range(len(base)):
        for f in (1 + h, 1 - h):
            x = base.copy()
            x[j] = base[j] * f
            rows.append(x)
    return np.array(rows)


def base_cases(plan: SensitivityPlan) -> dict[str, np.ndarray]:
    """:func:`base_case` for every group: arrays over ``input``, or over
    ``(*groups, input)`` where the distributions depend on the labels."""
    if not plan.by_label:
        return base_case(plan)
    out = {k: np.empty((*plan.group_shape, plan.d)) for k in ("low", "base", "high")}
    for at in plan.label_groups():
        pts = base_case(plan, plan.labels_of(at))
        index = tuple(at.get(d, slice(None)) for d in range(len(plan.group_shape)))
        for k, v in pts.items():
            out[k][index] = v
    return out


def tornado(plan: SensitivityPlan, backend) -> dict[str, np.ndarray]:
    """One-at-a-time swings and elasticities at the base case (see the module notes).
    Arrays over ``(output, *groups[, input])``."""
    pts = base_cases(plan)
    d = plan.d
    h = ELASTICITY_STEP
    # a few dozen points: on a GPU, Numba would warn that the launch is too small
    with quiet("Grid size .* under-utilization"):
        v = plan.evaluate(backend, lambda labels: _tornado_rows(base_case(plan, labels)
                                                                if labels else pts))
    base = pts["base"]
    at_base = v[..., 0]
    swings = v[..., 1:1 + 2 * d].reshape(*v.shape[:-1], d, 2)
    bumps = v[..., 1 + 2 * d:].reshape(*v.shape[:-1], d, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (bumps[..., 0] > 0) & (bumps[..., 1] > 0)
        elasticity = np.where(ok, (np.log(np.where(ok, bumps[..., 0], 1.0))
                                   - np.log(np.where(ok, bumps[..., 1], 1.0)))
                              / (math.log1p(h) - math.log1p(-h)), np.nan)
        elasticity = np.where(base > 0, elasticity, np.nan)
    return {"output_base": at_base, "output_at_low": swings[..., 0],
            "output_at_high": swings[..., 1], "elasticity": elasticity, **pts}


# --------------------------------------------------------------------------- Sobol sums

#: The per-batch sums a chunk returns (arrays over (output, group, batch[, input])).
SUMS = ("count", "nan", "y", "a", "b", "aa", "bb", "d", "bd", "dd")


def _chunk_sums(plan: SensitivityPlan, backend, start: int, stop: int,
                shift: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate base rows ``[start, stop)`` (A, B, AB_i stacked along the sample dim, one
    kernel call) and return their sums per batch, shifted by ``shift`` (output, group)."""
    from sweep.planning.sampling import saltelli_block, saltelli_uniforms

    u = saltelli_uniforms(plan.spec, start, stop)   # drawn once: the same for every label

    def stacked(labels: dict[str, int]) -> np.ndarray:
        a, b = saltelli_block(plan.spec, start, stop, labels or None, plan.axes, u)
        m, d = a.shape
        stack = np.empty(((d + 2) * m, d), dtype=np.float64)
        stack[:m], stack[m:2 * m] = a, b
        for i in range(d):
            ab = stack[(2 + i) * m:(3 + i) * m]
            ab[:] = a
            ab[:, i] = b[:, i]
        return stack

    m, d = stop - start, plan.d
    v = plan.evaluate(backend, stacked)
    n_out = v.shape[0]
    v = v.reshape(n_out, -1, d + 2, m // plan.batch_rows, plan.batch_rows)
    v = v - shift.reshape(n_out, -1, 1, 1, 1)
    fa, fb, fab = v[:, :, 0], v[:, :, 1], v[:, :, 2:]
    diff = fab - fa[:, :, None]
    # every sum runs along the contiguous last axis (one batch), so a batch's sums do not
    # depend on how many batches share the chunk: results are bit-identical in any chunking
    return {
        "count": np.full(fa.shape[:-1], plan.batch_rows, dtype=np.float64),
        "nan": np.isnan(v).sum(axis=-1).sum(axis=2).astype(np.float64),
        "y": v.sum(axis=-1).sum(axis=2),
        "a": fa.sum(-1), "b": fb.sum(-1), "aa": (fa * fa).sum(-1), "bb": (fb * fb).sum(-1),
        # per input: moved to the last axis, (output, group, batch, input)
        "d": np.moveaxis(diff.sum(-1), 2, -1),
        "bd": np.moveaxis((fb[:, :, None] * diff).sum(-1), 2, -1),
        "dd": np.moveaxis((diff * diff).sum(-1), 2, -1),
    }


def _total(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The batch sums added in batch order (whatever their memory layout, so the same bits
    in any chunking)."""
    out = {}
    for k, v in sums.items():
        acc = np.zeros_like(v[:, :, 0], order="C")
        for b in range(v.shape[2]):
            acc += v[:, :, b]
        out[k] = acc
    return out


def sobol_indices(sums: dict[str, np.ndarray], d: int) -> dict[str, np.ndarray]:
    """First- and total-order indices from (already summed) batch sums; arrays over the
    sums' leading axes (and ``input`` last for S1/ST)."""
    n = sums["count"]
    mean_y = sums["y"] / (n * (d + 2))
    var = (sums["aa"] + sums["bb"]) / (2 * n) - ((sums["a"] + sums["b"]) / (2 * n)) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        s1 = (sums["bd"] / n[..., None] - mean_y[..., None] * sums["d"] / n[..., None]) \
            / var[..., None]
        st = 0.5 * sums["dd"] / n[..., None] / var[..., None]
    # a constant output (zero variance) has zero indices, as in SALib
    flat = (var <= 0)[..., None]
    s1 = np.where(flat, 0.0, s1)
    st = np.where(flat, 0.0, st)
    bad = sums["nan"] > 0
    s1 = np.where(bad[..., None], np.nan, s1)
    st = np.where(bad[..., None], np.nan, st)
    return {"S1": s1, "ST": st, "variance": np.where(bad, np.nan, var)}


def _bootstrap(sums: dict[str, np.ndarray], d: int, seed: int) -> dict[str, np.ndarray]:
    """z(0.975) x the standard deviation of the indices over resamples of the batches."""
    nb = sums["count"].shape[-1]
    if nb < 2:
        shape = sums["d"].shape[:-2] + (d,)
        return {"S1_conf": np.full(shape, np.nan), "ST_conf": np.full(shape, np.nan)}
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    weights = rng.multinomial(nb, np.full(nb, 1.0 / nb), size=RESAMPLES).astype(np.float64)
    resampled = {}
    for k, v in sums.items():
        if v.ndim == 3:     # (output, group, batch)
            resampled[k] = np.einsum("ogb,rb->rog", v, weights)
        else:               # (output, group, batch, input)
            resampled[k] = np.einsum("ogbi,rb->rogi", v, weights)
    idx = sobol_indices(resampled, d)
    return {"S1_conf": _Z95 * np.nanstd(idx["S1"], axis=0, ddof=1),
            "ST_conf": _Z95 * np.nanstd(idx["ST"], axis=0, ddof=1)}


@dataclass
class SensitivityResult:
    """The indices, swings and elasticities as a Dataset, and how long it took."""

    dataset: xr.Dataset
    seconds: float
    evaluations: int
    backend: str
    store: Path | StoreURL | None


def run_sensitivity(spec, *, store: str | Path | None = None, overwrite: bool = False,
                    backend: str | None = None, num_workers: int | None = None,
                    progress: bool | None = None, write: bool = True, executor=None,
                    callbacks: list | None = None) -> SensitivityResult:
    """Sobol' indices (first and total order, with confidence intervals), tornado swings
    and elasticities of every output to every sampled input, per label of the categorical
    axes; written (with ``write``) as a small Zarr store: planned and checked here, run by
    :func:`run_sensitivity_plan`."""
    from sweep.storage import store as zstore

    plan = make_sensitivity_plan(spec, store)
    if write:
        zstore.check_target(plan.store, overwrite)
    return run_sensitivity_plan(plan, overwrite=overwrite, backend=backend,
                                num_workers=num_workers, progress=progress, write=write,
                                executor=executor, callbacks=callbacks)


def run_sensitivity_plan(plan: SensitivityPlan, *, overwrite: bool = False,
                         backend: str | None = None, num_workers: int | None = None,
                         progress: bool | None = None, write: bool = True, executor=None,
                         callbacks: list | None = None) -> SensitivityResult:
    """Run a resolved sensitivity plan (its checks already made). ``backend``: ``numba``
    (default ``auto`` on a CPU), ``numpy`` or ``cuda``. The stripes of chunks run on
    ``executor`` (default: ``threads``, one per stripe); ``progress`` or ``callbacks``
    watch them."""
    import dask

    from sweep.backends import default_workers, get_backend
    from sweep.executors import create_executor, tracker
    from sweep.storage import store as zstore

    spec = plan.spec
    be = get_backend(backend or spec.backend, points=plan.n_evaluations)
    workers = num_workers or default_workers()
    t0 = time.perf_counter()
    tor = tornado(plan, be)
    # (the tornado's kernel call has compiled the kernel for these outputs already)
    shift = np.nan_to_num(tor["output_base"].reshape(len(plan.outputs), -1))

    chunks = plan.chunks()
    names = [f"sobol-{s}" for s, _ in chunks]
    sizes = {name: (e - s) * (plan.d + 2) * math.prod(plan.group_shape)
             for (s, e), name in zip(chunks, names, strict=True)}
    # Each thread takes a contiguous stripe of chunks in ascending order: the Sobol'
    # sequence is then fast-forwarded once per thread (O(N) skipped points in all), where
    # a scheduler free to reorder tasks would make it O(N^2 / chunk).
    stripes = [s for s in np.array_split(np.arange(len(chunks)), workers) if s.size]
    parts: list = [None] * len(chunks)
    executor = executor or create_executor(workers=len(stripes))
    with tracker(f"{spec.name} (sobol)", sizes, progress, callbacks) as track:
        def stripe(indices: np.ndarray) -> dict[int, dict]:
            out = {}
            for i in indices:
                start, stop = chunks[i]
                out[int(i)] = _chunk_sums(plan, be, start, stop, shift)
                track.done(names[i])
            return out

        for done in executor.compute([dask.delayed(stripe, pure=False)(
                s, dask_key_name=f"stripe-{j}") for j, s in enumerate(stripes)], track):
            for i, sums in done.items():
                parts[i] = sums
    sums = {k: np.ascontiguousarray(np.concatenate([p[k] for p in parts], axis=2))
            for k in SUMS}
    totals = _total(sums)
    idx = sobol_indices(totals, plan.d)
    conf = _bootstrap(sums, plan.d, spec.sample.seed)
    seconds = time.perf_counter() - t0
    ds = to_dataset(plan, idx, conf, totals, tor, be.name, seconds,
                    device=getattr(be, "device", ""))
    if write:
        zstore.write_small(plan.store, ds, overwrite)
    return SensitivityResult(ds, seconds, plan.n_evaluations, be.name,
                             plan.store if write else None)


def to_dataset(plan: SensitivityPlan, idx: dict, conf: dict, totals: dict, tor: dict,
               backend: str, seconds: float, device: str = "") -> xr.Dataset:
    """The result as an xarray Dataset over ``output``, the categorical dims and ``input``."""
    import xarray as xr

    from sweep._version import __version__
    gdims = [a.name for a in plan.axes]
    gshape = plan.group_shape
    n_out = len(plan.outputs)
    dims_i = ("output", *gdims, "input")
    dims_o = ("output", *gdims)

    def per_input(x):
        return x.reshape(n_out, *gshape, plan.d)

    def per_output(x):
        return x.reshape(n_out, *gshape)

    mean = totals["y"] / (totals["count"] * (plan.d + 2)) + np.nan_to_num(
        tor["output_base"].reshape(n_out, -1))
    data = {
        "S1": (dims_i, per_input(idx["S1"]), "first-order Sobol' index (Saltelli 2010)"),
        "S1_conf": (dims_i, per_input(conf["S1_conf"]), "95 % half-width of S1 (bootstrap "
                    "over batches)"),
        "ST": (dims_i, per_input(idx["ST"]), "total-order Sobol' index (Jansen 1999)"),
        "ST_conf": (dims_i, per_input(conf["ST_conf"]), "95 % half-width of ST"),
        "variance": (dims_o, per_output(idx["variance"]), "variance of the output over A "
                     "and B"),
        "mean": (dims_o, per_output(mean), "mean of the output over every evaluation"),
        "nan_count": (dims_o, per_output(totals["nan"]).astype(np.int64),
                      "evaluations that gave NaN (indices are NaN then)"),
        "output_base": (dims_o, tor["output_base"], "output at the base case (medians)"),
        "output_at_low": (dims_i, tor["output_at_low"], f"output with the input at its "
                          f"P{SWING[0] * 100:g}, the others at the base case"),
        "output_at_high": (dims_i, tor["output_at_high"], f"output with the input at its "
                           f"P{SWING[1] * 100:g}, the others at the base case"),
        "swing": (dims_i, tor["output_at_high"] - tor["output_at_low"],
                  "output_at_high - output_at_low"),
        "elasticity": (dims_i, tor["elasticity"], "d ln(output) / d ln(input) at the base "
                       "case"),
    }
    ds = xr.Dataset({k: xr.DataArray(v, dims=dims, attrs={"long_name": doc})
                     for k, (dims, v, doc) in data.items()})
    # labels as variable-length strings (object): Zarr v3 has no spec for fixed-width ones
    def labels(values) -> np.ndarray:
        return np.asarray([str(v) for v in values], dtype=object)

    ds = ds.assign_coords(output=labels(plan.outputs), input=labels(plan.names),
                          **{a.name: labels(a.coord) if a.categorical else a.coord
                             for a in plan.axes})
    for key in ("low", "base", "high"):   # per group where the distributions depend on it
        ds[f"input_{key}"] = xr.DataArray(tor[key], dims=("input",) if tor[key].ndim == 1
                                          else (*gdims, "input"))
    ds["input_low"].attrs["long_name"] = f"P{SWING[0] * 100:g} of the input's distribution"
    ds["input_base"].attrs["long_name"] = "median of the input's distribution (base case)"
    ds["input_high"].attrs["long_name"] = f"P{SWING[1] * 100:g} of the input's distribution"
    ds["output_unit"] = xr.DataArray(labels(plan.model.output_specs[o].unit for o in plan.outputs),
                                     dims=("output",))
    ds["input_unit"] = xr.DataArray(labels(plan.model.bindable_specs[n].unit for n in plan.names),
                                    dims=("input",))
    s = plan.spec.sample
    ds.attrs.update({
        **provenance.record("sensitivity", plan.spec, backend=backend, device=device,
                           defaults=plan.defaults),
        "sample_method": s.method,
        "base_samples": s.n,
        "seed": s.seed,
        "evaluations": plan.n_evaluations,
        "batches": plan.n_batches,
        "bootstrap_resamples": RESAMPLES,
        "backend": backend,
        "seconds": round(seconds, 3),
        "engine_version": __version__,
    })
    return ds
