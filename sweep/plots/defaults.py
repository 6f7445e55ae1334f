"""The charts of a store (``sweep plot``'s defaults, or the one ``--kind`` asks for), and
writing them: each picture with the CSV of the numbers it draws beside it (same name).

Kinds of chart, by kind of store:

grid (and sample grid)
    ``heatmap`` (the output over two numeric dims, per label, iso-value contours),
    ``lines`` (against one numeric dim, a line per label, the headline point marked),
    ``winner`` (which label is best at each cell of two numeric dims, and by how much),
    ``breakeven`` (break-even utilization against the selling price, per label),
    ``breakdown`` (rent, capital, opex and energy per label at the headline point),
    ``frontier`` (tokens/s per GPU against tokens/s per user, iso-cost lines), each where
    the store has what it needs.
reduce
    ``distribution`` (histogram and CDF per label, quantiles and thresholds marked) and
    ``compare`` (the ratio distribution of each pair).
sensitivity
    ``sensitivity`` (the tornado beside the Sobol' indices).
screening
    ``screening`` (Morris mu*).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from sweep.model.roles import (
    BREAKEVEN,
    COST,
    COST_PARTS,
    HOURLY_COST,
    PER_GPU,
    PER_USER,
    SELLING_PRICE,
    UTILIZATION,
)
from sweep.plots import charts as C
from sweep.plots import prepare as P
from sweep.plots.prepare import PlotError

#: Every kind of chart, in the order the defaults are drawn.
CHART_KINDS = ("heatmap", "lines", "winner", "breakeven", "breakdown", "frontier", "best",
               "distribution", "compare", "sensitivity", "screening")
#: Selling prices of the break-even chart, USD/Mtok.
PRICES = np.geomspace(0.01, 100.0, 161)


@dataclass
class Options:
    """What ``sweep plot`` was asked: the output, the two dims, the slice, the kind."""

    output: str | None = None
    x: str | None = None
    y: str | None = None
    sel: dict[str, list[str]] = field(default_factory=dict)
    kind: str | None = None


def charts_for(ds: xr.Dataset, opts: Options | None = None) -> list[C.Chart]:
    """The charts of the store ``ds`` (all its defaults, or ``opts.kind``); refuses an
    unknown kind, output or dim, or a kind this store cannot draw (:class:`PlotError`)."""
    opts = opts or Options()
    if opts.kind is not None and opts.kind not in CHART_KINDS:
        raise PlotError(f"--kind {opts.kind!r}: expected one of {', '.join(CHART_KINDS)}")
    kind = P.kind_of(ds)
    if kind in ("grid", "sample"):
        drawn = _grid_charts(ds, opts)
    elif kind == "reduce":
        drawn = _reduce_charts(ds, opts)
    elif kind == "sensitivity":
        drawn = _sensitivity_charts(ds, opts)
    else:
        drawn = _screening_charts(ds, opts)
    if opts.kind is not None:
        drawn = [c for c in drawn if c[0] == opts.kind]
        if not drawn:
            raise PlotError(f"--kind {opts.kind}: not a chart this {kind} store can draw")
    out = []
    for _, make in drawn:
        chart = make()
        if chart is not None:
            out.append(chart)
    return out


# --------------------------------------------------------------------------- grids


def _dims(ds: xr.Dataset, output: str) -> tuple[str | None, list[str]]:
    dims = list(ds[output].dims)
    cats = [d for d in dims if P.is_categorical(ds, d)]
    numeric = [d for d in dims if not P.is_categorical(ds, d) and d != "sample"]
    return (cats[0] if cats else None), numeric


def _grid_charts(ds: xr.Dataset, opts: Options) -> list:
    output = P.check_output(ds, opts.output)
    P.check_dims(ds, output, opts.x, opts.y)
    if opts.x is not None and P.is_categorical(ds, opts.x) or \
            opts.y is not None and P.is_categorical(ds, opts.y):
        raise PlotError("--x and --y take numeric dims (labels are drawn as facets or lines)")
    if opts.x is not None and opts.x == opts.y:
        raise PlotError(f"--x and --y are both {opts.x!r}: give two different dims")
    sel = P.positions(ds, opts.sel)
    cat, numeric = _dims(ds, output)
    x = opts.x or (numeric[0] if numeric else None)
    y = opts.y or next((d for d in numeric if d != x), None)
    out = []
    if P.kind_of(ds) == "grid" and x and y:
        out.append(("heatmap", lambda: _heatmap(ds, output, x, y, cat, sel)))
    if P.kind_of(ds) == "grid" and x:
        out.append(("lines", lambda: _lines(ds, output, x, cat, sel)))
    if P.kind_of(ds) == "grid" and x and y and cat and P.better(ds, output) \
            and len(sel.get(cat, range(ds.sizes[cat]))) > 1:
        out.append(("winner", lambda: _winner(ds, output, x, y, cat, sel)))
    if P.kind_of(ds) == "sample":
        out.append(("distribution", lambda: _sample_distribution(ds, output, cat, sel)))
    if P.kind_of(ds) == "grid" and cat and BREAKEVEN in P.model_outputs(ds):
        out.append(("breakeven", lambda: _breakeven(ds, cat, sel)))
    if P.kind_of(ds) == "grid" and cat:
        out.append(("breakdown", lambda: _breakdown(ds, cat, sel)))
    if PER_GPU in ds.data_vars and PER_USER in ds.data_vars and x:
        out.append(("frontier", lambda: _frontier(ds, x, cat, sel)))
    elif PER_GPU in ds.data_vars and PER_USER in ds[PER_GPU].dims:
        # a sweep over measured frontiers: read at the interactivity the axis gives
        out.append(("frontier", lambda: _frontier(ds, PER_USER, cat, sel)))
    return out


def _name(*parts: str) -> str:
    return "-".join(p.replace(" ", "_").replace("/", "_") for p in parts if p)


def _heatmap(ds, output, x, y, cat, sel) -> C.Chart:
    keep = [d for d in (cat, y, x) if d]
    da = P.take(ds, output, keep, sel)
    where = P.where_text(P.fixed_at(ds, output, keep, sel))
    title = (f"{output} over {y} and {x}{C._better_text(P.better(ds, output))}"
             + (f", {where}" if where else ""))
    return C.heatmap(da, x=x, y=y, cat=cat, title=title, value_label=P.output_label(ds, output),
                     x_label=P.axis_label(ds, x), y_label=P.axis_label(ds, y),
                     logx=P.is_geometric(ds[x].values), logy=P.is_geometric(ds[y].values),
                     name=_name("heatmap", output))


def _lines(ds, output, x, cat, sel) -> C.Chart:
    keep = [d for d in (cat, x) if d]
    da = P.take(ds, output, keep, sel)
    fixed = P.fixed_at(ds, output, keep, sel)
    at = P.headline_index(ds, output, sel)
    hx = float(ds[x].values[at[x]])
    mark = {}
    labels = [str(v) for v in da[cat].values] if cat else [""]
    for i, label in enumerate(labels):
        j = int(np.argmin(np.abs(da[x].values - hx)))
        row = da.isel({cat: i}) if cat else da
        mark[label] = (float(da[x].values[j]), float(row.values[j]))
    where = P.where_text(fixed)
    title = (f"{output} against {x}{C._better_text(P.better(ds, output))}"
             + (f", {where}" if where else ""))
    return C.lines(da, x=x, cat=cat, title=title, value_label=P.output_label(ds, output),
                   x_label=P.axis_label(ds, x), mark=mark, logx=P.is_geometric(ds[x].values),
                   logy=_spans(da.values), name=_name("lines", output))


def _spans(values) -> bool:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size) and (v > 0).all() and v.max() / v.min() > 50


def _winner(ds, output, x, y, cat, sel) -> C.Chart:
    keep = [cat, y, x]
    da = P.take(ds, output, keep, sel)
    where = P.where_text(P.fixed_at(ds, output, keep, sel))
    way = P.better(ds, output)
    title = (f"Where each {cat} has the {'lowest' if way == 'lower' else 'highest'} {output}"
             + (f", {where}" if where else ""))
    return C.winner(da, x=x, y=y, cat=cat, better=way, title=title,
                    x_label=P.axis_label(ds, x), y_label=P.axis_label(ds, y),
                    logx=P.is_geometric(ds[x].values), logy=P.is_geometric(ds[y].values),
                    name=_name("winner", output))


# ---------------------------------------------------------------- the model at a point


def _plan(ds: xr.Dataset):
    """The plan the store was written from (rebuilt once per store, whatever the number of
    charts that evaluate the model)."""
    a = ds.attrs
    return _stored_plan(a["sweep_spec"], a.get("sweep_frontier_data"),
                        a.get("sweep_calibration_data"))


@functools.lru_cache(maxsize=4)
def _stored_plan(spec_json: str, frontiers_json: str | None, calibrations_json: str | None):
    from sweep.planning.planner import make_plan
    from sweep.spec.config import stored_spec

    return make_plan(stored_spec(spec_json, frontiers_json, calibrations_json), "unused.zarr")


def _evaluate(ds: xr.Dataset, cat: str, sel, outputs: list[str],
              vary: tuple[str, np.ndarray] | None = None) -> xr.DataArray | None:
    """The model's ``outputs`` at the headline point of each label (NumPy reference),
    over ``(cat, output[, vary])`` where ``vary`` sets one input to each of its values;
    ``None`` where the store's model lacks one of them."""
    from sweep.backends import NumpyBackend

    plan = _plan(ds)
    model = plan.model
    if any(o not in model.formulas for o in outputs):
        return None
    var = P.outputs_of(ds)[0]
    at = P.headline_index(ds, var, sel)
    dims = list(ds[var].dims)
    chosen = sel.get(cat, list(range(ds.sizes[cat])))   # the labels --sel keeps
    labels = [str(ds[cat].values[i]) for i in chosen]
    n = len(vary[1]) if vary else 1
    pos = []
    for i in chosen:
        p = [at[d] if d != cat else i for d in dims]
        pos.extend([p] * n)
    inputs = plan.point_inputs(np.asarray(pos))
    if vary is not None:
        row = inputs.row(vary[0])
        inputs.bind[row] = 0
        inputs.table[row, : len(pos)] = np.tile(vary[1], len(labels))
    codes = np.asarray([model.code(o) for o in outputs], np.int64)
    values, _ = NumpyBackend().compute(inputs, codes, np.dtype(np.float64))
    values = values.reshape(len(outputs), len(labels), n).transpose(1, 0, 2)
    coords = {cat: labels, "output": outputs}
    if vary is None:
        return xr.DataArray(values[..., 0], dims=(cat, "output"), coords=coords)
    coords[vary[0]] = vary[1]
    return xr.DataArray(values, dims=(cat, "output", vary[0]), coords=coords)


def _breakeven(ds, cat, sel) -> C.Chart | None:
    got = _evaluate(ds, cat, sel, [BREAKEVEN], (SELLING_PRICE, PRICES))
    if got is None:
        return None
    da = got.sel(output=BREAKEVEN).drop_vars("output")
    da.name = BREAKEVEN
    fixed = P.fixed_at(ds, P.outputs_of(ds)[0], [cat], sel)
    fixed.pop(UTILIZATION, None)
    where = P.where_text(fixed)
    title = ("Break-even utilization against the selling price (lower is better; above 1 "
             "never breaks even)" + (f", {where}" if where else ""))
    chart = C.curves(da, x=SELLING_PRICE, cat=cat, title=title,
                     value_label=f"{BREAKEVEN} [1]",
                     x_label="selling price [USD/Mtok]", hline=1.0,
                     hline_text="full utilization", logx=True, name="breakeven")
    ax = chart.figure.axes[0]
    ax.set_yscale("log")
    parts = []
    for i, label in enumerate(da[cat].values):
        v = da.isel({cat: i}).values
        ok = np.flatnonzero(v <= 1.0)
        if ok.size:
            parts.append(f"{label} breaks even at full load from {PRICES[ok[0]]:.3g} USD/Mtok")
    chart.reading = "; ".join(parts) or "no price in 0.01-100 USD/Mtok breaks even"
    return chart


def _breakdown(ds, cat, sel) -> C.Chart | None:
    got = _evaluate(ds, cat, sel, list(COST_PARTS))
    if got is None or not np.isfinite(got.values).any():
        return None
    parts = got.rename(output="part").assign_coords(part=list(COST_PARTS.values()))
    where = P.where_text(P.fixed_at(ds, P.outputs_of(ds)[0], [cat], sel))
    title = "What a million tokens costs, part by part" + (f", {where}" if where else "")
    return C.breakdown(parts, cat=cat, title=title, value_label=f"{COST} [USD/Mtok]",
                       name="breakdown")


def _frontier(ds, x, cat, sel) -> C.Chart:
    keep = [d for d in (cat, x) if d]
    g = P.take(ds, PER_GPU, keep, sel)
    if PER_USER in ds.data_vars:
        u = P.take(ds, PER_USER, keep, sel)
    else:   # the axis itself
        u = xr.ones_like(g) * g[PER_USER]
        u.name = PER_USER
    hourly = {}
    if cat:
        got = _evaluate(ds, cat, sel, [HOURLY_COST])
        if got is not None:
            hourly = {str(k): float(v) for k, v in
                      zip(got[cat].values, got.sel(output=HOURLY_COST).values,
                          strict=True)}
    where = P.where_text(P.fixed_at(ds, PER_GPU, keep, sel))
    title = f"Throughput per GPU against interactivity, over {x}" + (
        f", {where}" if where else "")
    return C.frontier(g, u, cat=cat, hourly=hourly, title=title, name="frontier")


# --------------------------------------------------------------------------- reduce


def _reduce_charts(ds: xr.Dataset, opts: Options) -> list:
    output = P.check_output(ds, opts.output)
    if opts.x or opts.y:
        raise PlotError("--x and --y apply to grids (a reduce result has folded them)")
    sel = P.positions(ds, opts.sel)
    out = []
    if "best_value" in ds and _best_axes(ds) is not None:   # the answer first
        out.append(("best", lambda: _best(ds, sel)))
    if f"{output}_hist_count" in ds:
        out.append(("distribution", lambda: _distribution(ds, output, sel)))
    if "pair" in ds.dims:
        for i in range(ds.sizes["pair"]):
            out.append(("compare", lambda i=i: _compare(ds, i)))
    return out


def _distribution(ds, output, sel) -> C.Chart:
    counts = ds[f"{output}_hist_count"]
    kept = [d for d in counts.dims if d != f"{output}_bin"]
    cat = next((d for d in kept if P.is_categorical(ds, d)), None)
    keep = [d for d in (cat, f"{output}_bin") if d]
    for d in kept:
        if d != cat and len(sel.get(d, [0])) > 1:
            raise PlotError(f"--sel {d}: one value (the distribution is drawn per {cat})")
    idx = {d: (sel.get(d, [0])[0]) for d in kept if d != cat}
    c = counts.isel(idx).transpose(*keep).compute()
    if cat in sel:
        c = c.isel({cat: sel[cat]})
    q = None
    if f"{output}_quantile" in ds:
        q = xr.Dataset({"estimate": ds[f"{output}_quantile"],
                        "low": ds[f"{output}_quantile_low"],
                        "high": ds[f"{output}_quantile_high"]}).isel(idx).compute()
        if cat in sel:
            q = q.isel({cat: sel[cat]})
    thresholds = []
    for side in ("below", "above"):
        if f"{output}_{side}" in ds.coords:
            thresholds += [float(t) for t in ds[f"{output}_{side}"].values]
    log = counts.attrs.get("scale") == "log"
    unit = ds[f"{output}_min"].attrs.get("units", "")
    where = P.where_text({d: _value(ds, d, i) for d, i in idx.items()})
    title = (f"How {output} is distributed" + (f" per {cat}" if cat else "")
             + f" over {', '.join(ds.attrs.get('sweep_over', []))}"
             + (f", {where}" if where else ""))
    return C.distribution(c, ds[f"{output}_edge"].values, cat=cat, log=log, title=title,
                          value_label=f"{output} [{unit}]" if unit else output, quantiles=q,
                          thresholds=thresholds, name=_name("distribution", output))


def _sample_distribution(ds, output, cat, sel) -> C.Chart:
    """A stored sample grid's distribution of ``output`` per label (at most
    :data:`~sweep.plots.prepare.MAX_CELLS` samples drawn), with its exact quantiles."""
    keep = [d for d in (cat, "sample") if d]
    da = P.take(ds, output, keep, sel)
    v = np.asarray(da.values, dtype=np.float64).reshape(-1, da.sizes["sample"])
    finite = v[np.isfinite(v)]
    log = bool(finite.size) and (finite > 0).all() and finite.max() / finite.min() > 10
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    edges = np.geomspace(lo, hi, 65) if log else np.linspace(lo, hi if hi > lo else lo + 1, 65)
    counts = np.zeros((v.shape[0], 66))
    for i, row in enumerate(v):
        counts[i, 1:-1] = np.histogram(row[np.isfinite(row)], bins=edges)[0]
    qs = np.array([0.05, 0.5, 0.95])
    est = np.array([np.nanquantile(row, qs) for row in v])
    dims = (cat, "bin") if cat else ("bin",)
    counts_da = xr.DataArray(counts if cat else counts[0], dims=dims,
                             coords={cat: da[cat].values} if cat else {})
    qdims = (cat, "quantile") if cat else ("quantile",)
    q = xr.Dataset({k: (qdims, est if cat else est[0]) for k in ("estimate", "low", "high")},
                   coords={"quantile": qs, **({cat: da[cat].values} if cat else {})})
    unit = ds[output].attrs.get("units", "")
    where = P.where_text(P.fixed_at(ds, output, keep, sel))
    title = (f"How {output} is distributed over {da.sizes['sample']:,} samples"
             + (f" per {cat}" if cat else "") + (f", {where}" if where else ""))
    return C.distribution(counts_da, edges, cat=cat, log=log, title=title,
                          value_label=f"{output} [{unit}]" if unit else output, quantiles=q,
                          name=_name("distribution", output))


def _value(ds, dim, i):
    v = ds[dim].values[i]
    return v.item() if isinstance(v, np.generic) else v


def _best_axes(ds) -> tuple[str, str | None] | None:
    """The numeric kept dim the best chart draws along (the first with several values) and
    the categorical one it draws a line per label of; None where there is no such dim."""
    dims = ds["best_value"].dims
    x = next((d for d in dims if not P.is_categorical(ds, d) and ds.sizes[d] > 1), None)
    if x is None:
        return None
    return x, next((d for d in dims if P.is_categorical(ds, d) and ds.sizes[d] > 1), None)


def _best(ds, sel) -> C.Chart:
    """``best:``'s answer: the best value (feasible points only) against a kept numeric
    dim, a line per label; other kept dims at ``--sel`` or their first value."""
    x, cat = _best_axes(ds)
    var = ds["best_value"]
    idx = {d: sel.get(d, [0])[0] for d in var.dims if d not in (x, cat)}
    da = var.isel(idx).transpose(*(d for d in (cat, x) if d)).compute()
    where = ", ".join(f"{d}={_value(ds, d, i)}" for d, i in idx.items() if ds.sizes[d] > 1)
    objective = var.attrs.get("objective", "value")
    lower = var.attrs.get("sense", "min") == "min"
    winner_text = ""
    if cat:
        pick = da.argmin(cat) if lower else da.argmax(cat)
        feasible = np.isfinite(da.values).any(axis=0)
        winners = {str(da[cat].values[int(j)]) for j, ok in zip(pick.values, feasible,
                                                                strict=True) if ok}
        if len(winners) == 1:
            winner_text = f": {winners.pop()} {'lowest' if lower else 'highest'} throughout"
    title = (f"Best {objective} meeting every constraint{winner_text}"
             + (f"\n{where}" if where else ""))
    unit = var.attrs.get("units", "")
    return C.lines(da, x=x, cat=cat, title=title,
                   value_label=f"best {objective}" + (f" [{unit}]" if unit else ""),
                   x_label=P.axis_label(ds, x), logy=lower, name="best")


def _compare(ds, i) -> C.Chart:
    first = str(ds["pair_first"].values[i])
    second = str(ds["pair_second"].values[i])
    output = ds["compare_frac_first_lower"].attrs.get("output", "")
    # a best: answer compares the optima (the best chart); this is every point
    scope = "points\n(every point, feasible or not: the optima are the best chart)" \
        if "best_value" in ds else "points"
    return C.ratio_distribution(ds["compare_ratio_hist_count"].values[i],
                                ds["compare_ratio_edges"].values[i] if
                                ds["compare_ratio_edges"].ndim > 1 else
                                ds["compare_ratio_edges"].values,
                                first=first, second=second, output=output,
                                frac_first_lower=float(ds["compare_frac_first_lower"][i]),
                                scope=scope, name=_name("compare", first, second))


# --------------------------------------------------------------------------- analyses


def _analysis_charts(ds: xr.Dataset, opts: Options, kind: str, draw, var: str) -> list:
    """A sensitivity or screening result's charts: one per output (or ``opts.output``)."""
    from sweep.stored import groups

    outputs = [str(o) for o in ds["output"].values]
    return [(kind, lambda o=o: draw(ds, o, groups(ds, var), _name(kind, o)))
            for o in _analysed(outputs, opts)]


def _sensitivity_charts(ds: xr.Dataset, opts: Options) -> list:
    return _analysis_charts(ds, opts, "sensitivity", C.tornado, "S1")


def _screening_charts(ds: xr.Dataset, opts: Options) -> list:
    return _analysis_charts(ds, opts, "screening", C.screening, "mu")


def _analysed(outputs: list[str], opts: Options) -> list[str]:
    if opts.x or opts.y or opts.sel:
        raise PlotError("--x, --y and --sel apply to grids and reduce results")
    if opts.output is None:
        return outputs
    if opts.output not in outputs:
        raise PlotError(f"--output {opts.output!r}: not in this store (outputs: "
                        f"{', '.join(outputs)})")
    return [opts.output]


# --------------------------------------------------------------------------- files


def csv_text(data: xr.Dataset) -> str:
    """The numbers a chart draws as CSV: one row per cell, its coordinates then its
    values (floats written so that they read back exactly)."""
    frame = data.to_dataframe().reset_index()
    return frame.to_csv(index=False, lineterminator="\n")


def save(chart: C.Chart, folder: Path, fmt: str = "png") -> tuple[Path, Path]:
    """Write ``chart`` as ``folder/<name>.<fmt>`` and its numbers as ``<name>.csv`` (each
    whole or not at all). SVG is byte-stable: fixed hash salt, no date."""
    import io

    import matplotlib

    from sweep.textfile import write_bytes_atomic, write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / f"{chart.name}.{fmt}"
    table = folder / f"{chart.name}.csv"
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "token-sweep", "svg.fonttype": "path"}):
        chart.figure.savefig(buf, format=fmt, metadata=_metadata(fmt))
    write_bytes_atomic(picture, buf.getvalue())
    write_text_atomic(table, csv_text(chart.data))
    return picture, table


def _metadata(fmt: str) -> dict:
    if fmt == "svg":
        return {"Date": None, "Creator": "token-sweep"}
    if fmt == "png":
        return {"Software": "token-sweep"}
    return {}


def describe(paths: list[tuple[Path, Path]]) -> str:
    """What ``sweep plot`` prints: one line per chart."""
    return "\n".join(f"wrote {p} (+ {t.name})" for p, t in paths)


__all__ = ["CHART_KINDS", "Options", "charts_for", "csv_text", "describe", "save"]
