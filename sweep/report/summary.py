"""Human-readable summaries of a stored sweep: outputs, extremes, per-label headline, ratios."""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from sweep.model.cost import INPUT_METRIC, OUTPUT_METRIC
from sweep.storage.provenance import defaults_line, stored_defaults
from sweep.stored import model_of as _model
from sweep.stored import output_names, reference_point  # noqa: F401 - part of this API
from sweep.stored import spec_of as _spec


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    ax = abs(x)
    if ax != 0 and (ax >= 1e6 or ax < 1e-3):
        return f"{x:.4g}"
    return f"{x:,.4g}" if ax < 1e3 else f"{x:,.0f}"


def rate(points_per_s: float) -> str:
    """A throughput in points/s with a prefix that keeps three digits (small runs do not
    print 0.0): ``2.17 G points/s``, ``37.5 k points/s``."""
    x = float(points_per_s or 0.0)
    for scale, prefix in ((1e9, "G "), (1e6, "M "), (1e3, "k ")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}points/s"
    return f"{x:.3g} points/s"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        cells = [c.ljust(w) if i == 0 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append(indent + "  ".join(cells).rstrip())
        if j == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return out


#: Grids of at most this many points are printed whole (every point a row).
FULL_TABLE_POINTS = 200


def _label(v) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    return f"{v:g}" if isinstance(v, float) else str(v)


def full_table(ds: xr.Dataset) -> list[str]:
    """Every point of a small grid (at most :data:`FULL_TABLE_POINTS`), one row each: its
    coordinates, then the outputs. Empty for larger grids and for sample grids."""
    outputs = output_names(ds)
    if not outputs or _spec(ds).get("sample"):
        return []
    dims = ds[outputs[0]].dims
    if math.prod(int(ds.sizes[d]) for d in dims) > FULL_TABLE_POINTS:
        return []
    values = ds[outputs].compute()
    rows = [[*dims, *(f"{o} ({ds[o].attrs.get('units', '')})" for o in outputs)]]
    for idx in np.ndindex(*[ds.sizes[d] for d in dims]):
        at = dict(zip(dims, idx, strict=True))
        point = values.isel(at)
        rows.append([_label(ds[d].values[i]) for d, i in at.items()]
                    + [_num(float(point[o])) for o in outputs])
    return ["every point:", *_table(rows)]


def _ratio_outputs(ds: xr.Dataset, outputs: list[str]) -> list[str]:
    """The outputs whose ratios mean something (:attr:`sweep.model.Output.ratio`)."""
    specs = _model(ds).output_specs
    return [o for o in outputs if o in specs and specs[o].ratio]


def headline(ds: xr.Dataset) -> list[str]:
    """The answer: a small grid whole (:func:`full_table`), and per-label values at the
    reference point for the first categorical axis; ratios to the first label for the
    outputs whose ratios mean something; and the rent-only arithmetic to check by hand
    where the axis sets price and throughput."""
    outputs = output_names(ds)
    dims = ds[outputs[0]].dims
    whole = full_table(ds)
    cats = [d for d in dims if ds[d].dtype.kind in "OUST"]
    if not cats:
        return whole
    cat = cats[0]
    point = reference_point(ds, cat)
    sel = ds.sel(point) if point else ds
    at = ", ".join(f"{k}={_label(v)}" for k, v in point.items())
    if _spec(ds).get("sample") and "sample" in dims:
        sel = sel[outputs].mean("sample")
        at = ", ".join(filter(None, [at, f"mean over {ds.sizes['sample']:,} samples"]))
    sel = sel.compute()
    labels = [str(x) for x in ds[cat].values]
    lines = list(whole)
    if not whole or point:   # the headline point too, unless the table is only the labels
        lines.append(f"by {cat}" + (f" at {at}:" if at else ":"))
        rows = [[cat] + [f"{o} ({ds[o].attrs.get('units', '')})" for o in outputs]]
        for lab in labels:
            rows.append([lab] + [_num(float(sel[o].sel({cat: lab}))) for o in outputs])
        lines += _table(rows)
    ratio_outputs = _ratio_outputs(ds, outputs)
    if len(labels) > 1 and ratio_outputs:
        base = labels[0]
        lines.append(f"ratios to {base}" + (f" at {at}:" if at else ":"))
        for lab in labels[1:]:
            parts = []
            for o in ratio_outputs:
                a, b = float(sel[o].sel({cat: lab})), float(sel[o].sel({cat: base}))
                if b == 0 or math.isnan(a) or math.isnan(b):
                    parts.append(f"{o} n/a")
                    continue
                r = a / b
                tail = f" ({1 / r:.3g}x lower)" if 0 < r < 1 else ""
                parts.append(f"{o} x{r:.3g}{tail}")
            lines.append(f"  {lab}: " + "; ".join(parts))
            inputs = [n for n in ds.coords if n != cat and ds[n].dims == (cat,)
                      and ds[n].dtype.kind == "f"]
            if inputs:
                ratios = []
                for n in inputs:
                    a, b = float(ds[n].sel({cat: lab})), float(ds[n].sel({cat: base}))
                    ratios.append(f"{n} x{a / b:.3g}" if b else f"{n} n/a")
                lines.append("    inputs: " + "; ".join(ratios))
    per_label = {n: {lab: float(ds[n].sel({cat: lab})) for lab in labels}
                 for n in ds.coords if n != cat and ds[n].dims == (cat,)
                 and ds[n].dtype.kind == "f"}
    shown = {o: {lab: float(sel[o].sel({cat: lab})) for lab in labels} for o in outputs}
    for fam in _model(ds).families:
        if fam.explain is not None:
            lines.extend(fam.explain(per_label, _num, shown))
    lines += contrast_lines(sel, cat, labels)
    return lines


def contrast_lines(sel: xr.Dataset, cat: str, labels: list[str]) -> list[str]:
    """The article's contrast at the headline point, for each label against the first:
    FLOPS per dollar (what a buyer compares) beside cost per token (what pays), and the
    ratio of the two advantages. Empty unless the store has both outputs."""
    if INPUT_METRIC not in sel or OUTPUT_METRIC not in sel or len(labels) < 2:
        return []
    base = labels[0]
    lines = []
    for lab in labels[1:]:
        f_ratio = float(sel[INPUT_METRIC].sel({cat: lab})) / \
            float(sel[INPUT_METRIC].sel({cat: base}))
        c_ratio = float(sel[OUTPUT_METRIC].sel({cat: base})) / \
            float(sel[OUTPUT_METRIC].sel({cat: lab}))
        if not (math.isfinite(f_ratio) and math.isfinite(c_ratio)) or f_ratio <= 0:
            continue
        lines.append(f"input vs output metric, {lab} against {base}: {_ratio(f_ratio)} "
                     f"FLOPS per dollar, {_ratio(c_ratio, 'lower')} cost per token; ratio of "
                     f"ratios {c_ratio / f_ratio:.3g} (the advantage in cost per token is "
                     f"{c_ratio / f_ratio:.3g}x the advantage in FLOPS per dollar)")
    return lines


def _ratio(r: float, better: str = "more") -> str:
    """``2.01x more`` (or ``0.5x``: 2x less)."""
    if r >= 1:
        return f"{r:.3g}x {better}"
    worse = "higher" if better == "lower" else "less"
    return f"{1 / r:.3g}x {worse}"


def describe(ds: xr.Dataset) -> str:
    """The store in words: dims, outputs with units and extremes, provenance, headline."""
    a = ds.attrs
    outputs = output_names(ds)
    dims = ds[outputs[0]].dims if outputs else ()
    n = math.prod(int(ds.sizes[d]) for d in dims) if dims else 0
    lines = [
        f"{a.get('title', 'sweep')}  [{a.get('sweep_status', '?')}]",
        "  dims      " + " x ".join(f"{d}={ds.sizes[d]}" for d in dims) + f"  ({n:,} points)",
        f"  backend   {a.get('sweep_backend', '?')} on {a.get('sweep_device', '?')}, "
        f"dtype {a.get('sweep_dtype', '?')}, chunks {tuple(a.get('sweep_chunk_shape', ()))}",
        f"  created   {a.get('sweep_created', '?')}, finished {a.get('sweep_finished', '-')}, "
        f"engine {a.get('sweep_version', '?')}, config {str(a.get('sweep_config_hash', ''))[:16]}",
    ]
    if "sweep_elapsed_s" in a:
        lines.append(f"  time      {a['sweep_elapsed_s']:.2f} s computing and writing chunks "
                     f"({rate(a.get('sweep_points_per_s', 0))}), "
                     f"{a.get('sweep_wall_s', float('nan')):.2f} s in all")
    summary = a.get("sweep_summary", {})
    rows = [["output", "unit", "min", "max", "NaN points"]]
    for o in outputs:
        s = summary.get(o, {})
        rows.append([o, ds[o].attrs.get("units", ""), _num(s.get("min")), _num(s.get("max")),
                     f"{s.get('nan_count', '?'):,}" if isinstance(s.get("nan_count"), int)
                     else "?"])
    lines += _table(rows)
    nan_total = sum(s.get("nan_count", 0) for s in summary.values())
    frontier = frontier_lines(ds)
    if nan_total:
        lines.append("  NaN = a zero denominator (zero throughput, utilization, power or price)"
                     + (", or a point outside its measured frontier" if frontier else ""))
    lines += frontier
    if outputs:
        lines += headline(ds)
    lines += declared_defaults(ds)
    for note in _spec(ds).get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def declared_defaults(ds: xr.Dataset) -> list[str]:
    """The line that declares the inputs the run left at their defaults (none for stores
    written before they were recorded)."""
    line = defaults_line(stored_defaults(ds.attrs))
    return [line] if line else []


def frontier_lines(ds: xr.Dataset) -> list[str]:
    """Where a sweep read measured frontiers: how many points fell outside their measured
    interactivity range (NaN, never extrapolated), per label."""
    raw = ds.attrs.get("sweep_frontiers")
    if not raw:
        return []
    r = json.loads(raw)
    total, outside = r["points"], r["points_outside"]
    share = f" ({100 * outside / total:.1f} %)" if total else ""
    lines = [f"frontiers: {outside:,} of {total:,} point(s){share} outside the measured "
             "interactivity range, NaN (never extrapolated)"]
    for label, v in r["labels"].items():
        lo, hi = v["range"]
        lines.append(f"  {label}: {v['frontier']}, {v['points']} measured point(s), "
                     f"{lo:,.4g}-{hi:,.4g} tokens/s/user; {v['outside']} of {v['of']} "
                     "target(s) outside")
    return lines


def describe_reduce(ds: xr.Dataset) -> str:
    """A reduce result in words: per output a table over the kept coordinates (count, NaN,
    min, mean, std, quantiles with their brackets, max, where the extremes are), threshold
    fractions, and the label comparisons."""
    spec = _spec(ds)
    over = ds.attrs.get("sweep_over", [])
    lines = _reduce_header(ds, over)
    outputs = spec.get("outputs", [])
    kept = [d for d in ds[f"{outputs[0]}_count"].dims] if outputs else []
    points = [dict(zip(kept, idx, strict=True))
              for idx in np.ndindex(*[ds.sizes[d] for d in kept])] if kept else [{}]
    best = "best_value" in ds
    if best:   # the answer first: the optima, then everything else for reference
        lines.extend(_describe_best(ds, outputs, over))
        lines += ["", "for reference, statistics over every configuration (feasible or not):"]
    for o in outputs:
        lines.extend(_reduce_output_lines(ds, o, kept, points, over))
    if "pair" in ds.dims:
        lines.extend(_comparison_lines(ds, every=best))
    lines.append("")
    lines += declared_defaults(ds)
    lines.append(f"{ds.attrs.get('sweep_n_blocks')} block(s) in "
                 f"{ds.attrs.get('sweep_elapsed_s')} s "
                 f"({rate(ds.attrs.get('sweep_points_per_s') or 0)})")
    return "\n".join(lines)


def _reduce_header(ds: xr.Dataset, over: list[str]) -> list[str]:
    """The title and size of a reduce result, its question, frontiers and weighted dims."""
    lines = [f"{ds.attrs.get('title', 'token-sweep reduce')}: "
             f"{int(ds.attrs.get('sweep_n_points', 0)):,} points folded over "
             f"{', '.join(over)}"]
    if ds.attrs.get("sweep_question"):
        lines.append(f"question: {ds.attrs['sweep_question']}")
    lines += frontier_lines(ds)
    if ds.attrs.get("sweep_weighted"):
        lines.append("weighted over: " + ", ".join(ds.attrs["sweep_weighted"])
                     + " (statistics are expectations)")
    return lines


def _point_label(ds: xr.Dataset, pt: dict) -> str:
    """The kept coordinates of a point of a reduce result (``all`` with none kept)."""
    return " ".join(str(ds[d].values[i]) for d, i in pt.items()) or "all"


def _reduce_output_lines(ds: xr.Dataset, o: str, kept: list[str], points: list[dict],
                         over: list[str]) -> list[str]:
    """One output of a reduce result: its statistics per kept point as a table, where its
    extremes are, and its threshold fractions."""
    unit = ds[f"{o}_min"].attrs.get("units", "")
    lines = ["", f"{o} [{unit}]"]
    qs = list(ds["quantile"].values) if f"{o}_quantile" in ds else []
    head = [" ".join(kept) or "all", "count", "NaN", "min", "mean", "std"]
    head += [f"q{q:g}" for q in qs] + ["max"]
    rows = [head]
    where_lines = []
    stacked = ds[[v for v in ds.data_vars if v.startswith(f"{o}_")]]
    for pt in points:
        sel = stacked.isel(pt)
        label = _point_label(ds, pt)
        rows.append(_stat_row(sel, o, label, len(qs)))
        where = []
        for which in ("argmin", "argmax"):
            coords = [f"{d}={_fmt(sel[f'{o}_{which}_{d}'].values)}" for d in over
                      if f"{o}_{which}_{d}" in sel]
            where.append(f"{which[3:]} at " + ", ".join(coords))
        where_lines.append(f"    {label}: " + "; ".join(where))
    lines.extend(_table(rows))
    lines.extend(where_lines)
    lines.extend(_fraction_lines(ds, o, points))
    return lines


def _stat_row(sel: xr.Dataset, o: str, label: str, n_quantiles: int) -> list[str]:
    """The table row of output ``o`` at one kept point: count, NaN, min, mean, std, each
    quantile with its bracket, max."""
    row = [label, f"{int(sel[f'{o}_count']):,}", f"{int(sel[f'{o}_nan_count']):,}",
           _num(float(sel[f"{o}_min"])), _num(float(sel[f"{o}_mean"])),
           _num(float(sel[f"{o}_std"]))]
    for i in range(n_quantiles):
        row.append(f"{_num(float(sel[f'{o}_quantile'][i]))} "
                   f"[{_num(float(sel[f'{o}_quantile_low'][i]))}, "
                   f"{_num(float(sel[f'{o}_quantile_high'][i]))}]")
    row.append(_num(float(sel[f"{o}_max"])))
    return row


def _fraction_lines(ds: xr.Dataset, o: str, points: list[dict]) -> list[str]:
    """Per kept point, the share (weight share, when weighted) of the points below and
    above each threshold of output ``o``."""
    lines = []
    for section in ("below", "above"):
        var = f"{o}_frac_{section}"
        if var in ds:
            for pt in points:
                sel = ds[var].isel(pt)
                label = _point_label(ds, pt)
                fr = ", ".join(f"{section} {_num(float(t))}: {float(f):.1%}" for t, f in
                               zip(ds[f"{o}_{section}"].values, sel.values, strict=True))
                share = "weight share" if ds.attrs.get("sweep_weighted") else "share"
                lines.append(f"  {label}: {share} of the points {fr}")
    return lines


def _comparison_lines(ds: xr.Dataset, every: bool = False) -> list[str]:
    """The label comparisons of a reduce result: per pair, how often the first is lower and
    the ratios' spread (``every``: said to be over every point, feasible or not, where a
    ``best:`` answer compares the optima)."""
    out = ds["compare_frac_first_lower"].attrs.get("output", "")
    lines = ["", f"comparisons of {out} over every other dim"
             + (" (every point, feasible or not: not the optima above)" if every else "")]
    for i, pair in enumerate(ds["pair"].values):
        first = (str(ds["pair_first"].values[i]) if "pair_first" in ds.coords
                 else pair.split(" vs ")[0])   # stores written before the labels were kept
        text = (f"  {pair}: {first} lower at {float(ds.compare_frac_first_lower[i]):.1%} "
                f"of points; ratio min {_num(float(ds.compare_ratio_min[i]))}, geometric "
                f"mean {_num(float(ds.compare_ratio_geomean[i]))}, max "
                f"{_num(float(ds.compare_ratio_max[i]))}")
        if "compare_ratio_quantile" in ds:
            text += "; quantiles " + ", ".join(
                f"q{q:g} {_num(float(v))}" for q, v in
                zip(ds["quantile"].values, ds.compare_ratio_quantile[i].values, strict=True))
        lines.append(text)
    return lines


def _describe_best(ds: xr.Dataset, outputs: list[str], over: list[str]) -> list[str]:
    """The ``best:`` table: per kept coordinate the best value, how many points were
    feasible, where the optimum is and the outputs there."""
    var = ds["best_value"]
    kept = list(var.dims)
    lines = ["", f"best: {var.attrs.get('long_name', '')} [{var.attrs.get('units', '')}]"]
    where = [d for d in over if f"best_{d}" in ds]
    shown = [o for o in outputs if o != var.attrs.get("objective")]
    rows = [[" ".join(kept) or "all", "best", "feasible", *where, *shown]]
    points = ([dict(zip(kept, idx, strict=True)) for idx in np.ndindex(*var.shape)]
              if kept else [{}])
    for pt in points:
        label = " ".join(str(ds[d].values[i]) for d, i in pt.items()) or "all"
        feasible = int(ds["best_feasible_count"].isel(pt))
        value = float(var.isel(pt))
        row = [label, _num(value) if feasible else "none", f"{feasible:,}"]
        row += [_fmt(ds[f"best_{d}"].isel(pt).values) if feasible else "-" for d in where]
        row += [_num(float(ds[f"best_{o}"].isel(pt))) if feasible else "-" for o in shown]
        rows.append(row)
    lines.extend(_table(rows))
    if "best_compare_ratio" in ds:
        r = ds["best_compare_ratio"]
        rest = [d for d in r.dims if d != "pair"]
        for i, pair in enumerate(ds["pair"].values):
            one = r.isel(pair=i)
            parts = []
            first = str(ds["pair_first"].values[i]) if "pair_first" in ds.coords else ""
            second = str(ds["pair_second"].values[i]) if "pair_second" in ds.coords else ""
            for idx in np.ndindex(*one.shape):
                at = " ".join(f"{d}={_fmt(ds[d].values[j])}"
                              for d, j in zip(rest, idx, strict=True))
                ratio = float(one.values[idx])
                parts.append((f"{at}: " if at else "") + _num(ratio)
                             + _lower(first, second, ratio))
            lines.append(f"  {pair}: best value ratio " + ", ".join(parts))
    return lines


def _lower(first: str, second: str, ratio: float) -> str:
    """`` (FIRST lower)`` or `` (SECOND lower)`` for a ratio first / second of two optima;
    empty where it says nothing (NaN, equal, or the labels unknown)."""
    if not (first and second) or not np.isfinite(ratio) or ratio == 1.0:
        return ""
    return f" ({first if ratio < 1.0 else second} lower)"


def _fmt(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    return _num(v) if isinstance(v, float) else str(v)
