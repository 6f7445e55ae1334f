"""A sensitivity result for people: the ranked table and the tornado / Sobol' charts."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr


def _groups(ds: xr.Dataset) -> list[dict]:
    """Every combination of the categorical dims' labels (one empty dict if there are none)."""
    gdims = [d for d in ds["S1"].dims if d not in ("output", "input")]
    labels = [list(ds[d].values) for d in gdims]
    return [dict(zip(gdims, combo, strict=True)) for combo in itertools.product(*labels)]


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
        for group in _groups(ds):
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
    return "\n".join(lines)


def charts(ds: xr.Dataset, folder: Path, prefix: str) -> list[Path]:
    """One PNG per output: per label combination, the tornado (output between each input's
    P5 and P95 around the base case, inputs by swing) and the Sobol' indices with their
    confidence intervals."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    groups = _groups(ds)
    for output in ds["output"].values:
        fig = Figure(figsize=(11, 1.2 + 0.35 * ds.sizes["input"] * len(groups) + 0.6),
                     dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(groups), 2, squeeze=False)
        for row, group in enumerate(groups):
            sel = ds.sel(output=output, **group)
            swing = np.abs(np.nan_to_num(sel["swing"].values))
            order = np.argsort(swing, kind="stable")  # largest at the top
            names = [str(n) for n in sel["input"].values[order]]
            base = float(sel["output_base"])
            lo = sel["output_at_low"].values[order]
            hi = sel["output_at_high"].values[order]
            y = np.arange(len(order))
            ax = axes[row][0]
            ax.barh(y, lo - base, left=base, color="tab:blue", label="input at P5")
            ax.barh(y, hi - base, left=base, color="tab:orange", label="input at P95")
            ax.axvline(base, color="black", linewidth=0.8)
            ax.set_yticks(y, names, fontsize=8)
            where = ", ".join(f"{k}={v}" for k, v in group.items())
            ax.set_title(f"tornado: {output}{' (' + where + ')' if where else ''}", fontsize=9)
            ax.set_xlabel(str(sel["output_unit"].values), fontsize=8)
            ax.legend(fontsize=7, loc="lower right")
            ax = axes[row][1]
            st = np.nan_to_num(sel["ST"].values)
            order = np.argsort(st, kind="stable")
            names = [str(n) for n in sel["input"].values[order]]
            ax.barh(y - 0.2, sel["S1"].values[order], height=0.4,
                    xerr=sel["S1_conf"].values[order], color="tab:green", label="first order")
            ax.barh(y + 0.2, st[order], height=0.4, xerr=sel["ST_conf"].values[order],
                    color="tab:purple", label="total order")
            ax.set_yticks(y, names, fontsize=8)
            ax.set_title("Sobol' indices (95 % intervals)", fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = folder / f"{prefix}-{output}.png"
        fig.savefig(path)
        paths.append(path)
    return paths
