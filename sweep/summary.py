"""Human-readable summaries of a stored sweep: outputs, extremes, per-label headline, ratios."""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from sweep.model import INPUT_SPECS, OUTPUT_SPECS


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    ax = abs(x)
    if ax != 0 and (ax >= 1e6 or ax < 1e-3):
        return f"{x:.4g}"
    return f"{x:,.4g}" if ax < 1e3 else f"{x:,.0f}"


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


def _spec(ds: xr.Dataset) -> dict:
    """The sweep file as validated, from the store's ``sweep_spec`` attribute."""
    return json.loads(ds.attrs.get("sweep_spec", "{}"))


def reference_point(ds: xr.Dataset, categorical: str) -> dict[str, float]:
    """For the headline table: on each numeric axis, the coordinate nearest the sweep file's
    ``headline`` value for it, else nearest the input's default (the middle value for inputs
    without one)."""
    wanted = _spec(ds).get("headline", {}) or {}
    point = {}
    for dim in ds[output_names(ds)[0]].dims:
        if dim == categorical:
            continue
        coord = ds[dim].values
        if coord.dtype.kind in "OUST":
            point[dim] = coord[0]
            continue
        default = INPUT_SPECS[dim].default if dim in INPUT_SPECS else None
        default = wanted.get(dim, default)
        if default is None:
            point[dim] = float(coord[len(coord) // 2])
        else:
            point[dim] = float(coord[int(np.argmin(np.abs(coord - default)))])
    return point


def output_names(ds: xr.Dataset) -> list[str]:
    """The outputs in the order the sweep file listed them."""
    listed = _spec(ds).get("outputs", [])
    return [o for o in listed if o in ds.data_vars] or sorted(ds.data_vars)


def headline(ds: xr.Dataset) -> list[str]:
    """Per-label values at the reference point for the first categorical axis, with ratios to
    the first label, and the rent-only arithmetic where the axis sets price and throughput."""
    outputs = output_names(ds)
    dims = ds[outputs[0]].dims
    cats = [d for d in dims if ds[d].dtype.kind in "OUST"]
    if not cats:
        return []
    cat = cats[0]
    point = reference_point(ds, cat)
    sel = ds.sel(point).compute() if point else ds.compute()
    labels = [str(x) for x in ds[cat].values]
    at = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in point.items())
    lines = [f"by {cat}" + (f" at {at}:" if at else ":")]
    rows = [[cat] + [f"{o} ({OUTPUT_SPECS[o].unit})" for o in outputs]]
    for lab in labels:
        rows.append([lab] + [_num(float(sel[o].sel({cat: lab}))) for o in outputs])
    lines += _table(rows)
    if len(labels) > 1:
        base = labels[0]
        lines.append(f"ratios to {base}:")
        for lab in labels[1:]:
            parts = []
            for o in outputs:
                a, b = float(sel[o].sel({cat: lab})), float(sel[o].sel({cat: base}))
                if b == 0 or math.isnan(a) or math.isnan(b):
                    parts.append(f"{o} n/a")
                    continue
                r = a / b
                tail = f" ({1 / r:.3g}x lower)" if 0 < r < 1 else ""
                parts.append(f"{o} x{r:.3g}{tail}")
            lines.append(f"  {lab}: " + "; ".join(parts))
            inputs = [n for n in ds.coords if n != cat and ds[n].dims == (cat,)]
            if inputs:
                ratios = []
                for n in inputs:
                    a, b = float(ds[n].sel({cat: lab})), float(ds[n].sel({cat: base}))
                    ratios.append(f"{n} x{a / b:.3g}" if b else f"{n} n/a")
                lines.append("    inputs: " + "; ".join(ratios))
    if "gpu_hour_usd" in ds.coords and "tokens_per_s_per_gpu" in ds.coords \
            and ds["gpu_hour_usd"].dims == (cat,) and ds["tokens_per_s_per_gpu"].dims == (cat,):
        lines.append("rent only, full utilization: gpu_hour_usd / (tokens_per_s_per_gpu x 3600)"
                     " x 1e6:")
        for lab in labels:
            p = float(ds["gpu_hour_usd"].sel({cat: lab}))
            t = float(ds["tokens_per_s_per_gpu"].sel({cat: lab}))
            v = p / (t * 3600) * 1e6 if t > 0 else float("nan")
            lines.append(f"  {lab}: {p:g} / ({t:g} x 3600) x 1e6 = {_num(v)} USD/Mtok")
    return lines


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
                     f"({a.get('sweep_points_per_s', 0) / 1e6:,.1f} Mpoints/s), "
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
    if nan_total:
        lines.append("  NaN = a zero denominator (zero throughput, utilization, power or price)")
    if outputs:
        lines += headline(ds)
    for note in _spec(ds).get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
