"""A sensitivity result for people: the ranked table and the tornado / Sobol' charts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sweep.storage.provenance import defaults_line, stored_defaults
from sweep.stored import groups  # noqa: F401 - part of this module's API


def _num(x: float, width: int = 0) -> str:
    if not np.isfinite(x):
        return "nan".rjust(width)
    return f"{x:.3g}".rjust(width)


def ranked(ds: xr.Dataset, output: str, group: dict) -> list[str]:
    """Inputs of one output and label combination, most influential first (by ST)."""
    sel = ds.sel(output=output, **group)
    order = np.argsort(-np.nan_to_num(sel["ST"].values, nan=-np.inf), kind="stable")
    unit = str(sel["output_unit"].values)
    rows = [["input", "S1", "±", "ST", "±", f"swing P5->P95 [{unit}]", "elasticity"]]
    for k in order:
        s = sel.isel(input=int(k))
        rows.append([str(s["input"].values), _num(float(s["S1"])), _num(float(s["S1_conf"])),
                     _num(float(s["ST"])), _num(float(s["ST_conf"])),
                     f"{_num(float(s['output_at_low']))} -> {_num(float(s['output_at_high']))}",
                     _num(float(s["elasticity"]))])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows]


def describe(ds: xr.Dataset) -> str:
    """The ranked tables of every output (and label combination), with the run's facts."""
    a = ds.attrs
    lines = [f"{a['sweep_name']}: Sobol' indices from {a['base_samples']:,} base samples "
             f"({a['evaluations']:,} evaluations, {a['sample_method']}, seed {a['seed']}), "
             f"backend {a['backend']}, {a['seconds']:.1f} s",
             f"  ± : 95 % half-width, bootstrap over {a['batches']} batches; swing: output "
             "with the input at its P5 and P95, the others at their medians"]
    for output in ds["output"].values:
        for group in groups(ds):
            sel = ds.sel(output=output, **group)
            where = ", ".join(f"{k}={v}" for k, v in group.items())
            lines.append("")
            lines.append(f"{output}{' (' + where + ')' if where else ''}: base "
                         f"{_num(float(sel['output_base']))} {sel['output_unit'].values}, mean "
                         f"{_num(float(sel['mean']))}, sum of S1 "
                         f"{_num(float(sel['S1'].sum()))}")
            if int(sel["nan_count"]) > 0:
                lines.append(f"  {int(sel['nan_count'])} evaluation(s) gave NaN: indices "
                             "undefined")
            lines += ranked(ds, str(output), group)
    line = defaults_line(stored_defaults(a))
    return "\n".join([*lines, *([""] + [line] if line else [])])


def charts(ds: xr.Dataset, folder: Path, prefix: str) -> list[Path]:
    """One PNG per output: per label combination, the tornado (output between each input's
    P5 and P95 around the base case, inputs by swing) and the Sobol' indices with their
    confidence intervals (:func:`sweep.plots.charts.tornado`, as ``sweep plot`` draws
    it)."""
    from sweep.plots.charts import tornado

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    combos = groups(ds)
    for output in ds["output"].values:
        path = folder / f"{prefix}-{output}.png"
        tornado(ds, str(output), combos, path.stem).figure.savefig(path)
        paths.append(path)
    return paths
