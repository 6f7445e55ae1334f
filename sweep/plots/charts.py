"""One pure function per chart: prepared xarray data in, a :class:`Chart` out.

Every chart has units on its axes, a title that says what it answers (and which way is
better), a one-sentence reading, colour-blind-safe colours (viridis for values, the
Okabe-Ito palette for labels) and the numbers it draws (:attr:`Chart.data`, written as a
CSV file beside the picture). Nothing here reads a store or writes a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
from matplotlib.figure import Figure

from sweep.model.roles import PER_GPU, PER_USER

#: Okabe and Ito's colour-blind-safe palette (black last).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
#: The colormap of values.
CMAP = "viridis"
#: At most this many facets (labels) side by side.
MAX_FACETS = 4


@dataclass
class Chart:
    """A drawn chart: ``name`` (the file stem), the figure, the numbers it draws, its
    title, a one-sentence reading (the report's caption and, with the title, its alt
    text) and the artists a test may look at (``contours``)."""

    name: str
    title: str
    reading: str
    figure: Figure
    data: xr.Dataset
    artists: dict = field(default_factory=dict)

    @property
    def alt(self) -> str:
        return f"{self.title}. {self.reading}"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _num(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "nan"
    return f"{x:.3g}"


def _better_text(better: str) -> str:
    return f" ({better} is better)" if better else ""


def _norm(values: np.ndarray):
    """A log colour scale for positive values spanning more than 20x, else linear."""
    v = values[np.isfinite(values)]
    if v.size and (v > 0).all() and v.max() / v.min() > 20:
        return LogNorm(vmin=float(v.min()), vmax=float(v.max()))
    return None


def nice_levels(values: np.ndarray, n: int = 7, log: bool = False) -> np.ndarray:
    """About ``n`` round contour levels strictly inside the finite values' range (1-2-5
    steps; on a log scale 1-2-5 per decade)."""
    v = values[np.isfinite(values)]
    if v.size == 0 or v.min() == v.max():
        return np.array([])
    lo, hi = float(v.min()), float(v.max())
    if log and lo > 0:
        cands = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                               math.ceil(math.log10(hi)) + 1)
                 for m in (1, 2, 5)]
        levels = np.array([float(f"{c:.12g}") for c in cands if lo < c < hi])
        if len(levels) > n:
            levels = levels[:: math.ceil(len(levels) / n)]
        return levels
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    digits = max(0, 1 - math.floor(math.log10(step)))
    levels = np.round(start + step * np.arange(0, n + 3), digits)
    return levels[(levels > lo) & (levels < hi)]


def _axes(ax, *, x_label: str, y_label: str, title: str, logx: bool = False,
          logy: bool = False) -> None:
    """Scales, labels (with units) and title of one panel."""
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)


def _facets(da: xr.DataArray, cat: str | None) -> list[tuple[str, xr.DataArray]]:
    if cat is None:
        return [("", da)]
    labels = [str(v) for v in da[cat].values][:MAX_FACETS]
    return [(lab, da.isel({cat: i})) for i, lab in enumerate(labels)]


def heatmap(da: xr.DataArray, *, x: str, y: str, cat: str | None, title: str,
            value_label: str, x_label: str, y_label: str, logx: bool = False,
            logy: bool = False, name: str = "heatmap") -> Chart:
    """``da`` over ``(cat?, y, x)`` as a colour map per label (one colour scale for all),
    with labelled iso-value contours."""
    facets = _facets(da, cat)
    fig = _figure(4.2 * len(facets) + 1.2, 3.8)
    axes = fig.subplots(1, len(facets), squeeze=False)[0]
    values = np.asarray(da.values, dtype=np.float64)
    norm = _norm(values)
    log = norm is not None
    levels = nice_levels(values, log=log)
    contours = []
    mesh = None
    for ax, (label, sub) in zip(axes, facets, strict=True):
        z = np.asarray(sub.transpose(y, x).values, dtype=np.float64)
        xs, ys = sub[x].values.astype(np.float64), sub[y].values.astype(np.float64)
        mesh = ax.pcolormesh(xs, ys, z, shading="nearest", cmap=CMAP, norm=norm,
                             vmin=None if log else np.nanmin(values),
                             vmax=None if log else np.nanmax(values))
        cs = None
        if len(levels) and min(z.shape) >= 2:
            cs = ax.contour(xs, ys, z, levels=levels, colors="white", linewidths=0.9)
            ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=7)
        contours.append(cs)
        _axes(ax, x_label=x_label, y_label=y_label, title=f"{cat} = {label}" if label else "",
              logx=logx, logy=logy)
    fig.colorbar(mesh, ax=list(axes), label=value_label, shrink=0.9)
    fig.suptitle(title, fontsize=10)
    finite = np.isfinite(values)
    if finite.any():
        flat = np.nanargmin(np.where(finite, values, np.nan))
        where = np.unravel_index(flat, values.shape)
        at = ", ".join(f"{d}={_coord(da, d, i)}" for d, i in zip(da.dims, where, strict=True))
        reading = (f"{value_label} runs from {_num(np.nanmin(values))} (at {at}) to "
                   f"{_num(np.nanmax(values))}; the white lines join points of equal value")
    else:
        reading = "every value is NaN"
    data = da.to_dataset(name=da.name or "value")
    return Chart(name, title, reading, fig, data, {"contours": contours, "levels": levels})


def _coord(da: xr.DataArray, dim: str, i: int) -> str:
    v = da[dim].values[i]
    v = v.item() if isinstance(v, np.generic) else v
    return f"{v:g}" if isinstance(v, float) else str(v)


def lines(da: xr.DataArray, *, x: str, cat: str | None, title: str, value_label: str,
          x_label: str, mark: dict[str, tuple[float, float]] | None = None,
          logx: bool = False, logy: bool = False, name: str = "lines") -> Chart:
    """``da`` over ``(cat?, x)``: one line per label; ``mark`` puts a point (the headline)
    on each label's line."""
    fig = _figure(6.4, 4.0)
    ax = fig.subplots()
    labels = [str(v) for v in da[cat].values] if cat else [""]
    xs = da[x].values.astype(np.float64)
    parts = []
    for i, label in enumerate(labels):
        ys = np.asarray(da.isel({cat: i}).values if cat else da.values, dtype=np.float64)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(xs, ys, color=colour, label=label or None, linewidth=1.6)
        if mark and label in mark:
            mx, my = mark[label]
            ax.plot([mx], [my], "o", color=colour, markersize=7, markeredgecolor="black")
            ax.annotate(f"{_num(my)}", (mx, my), textcoords="offset points", xytext=(6, 6),
                        fontsize=8)
            parts.append(f"{label + ': ' if label else ''}{_num(my)} at {x}={mx:g}")
    _axes(ax, x_label=x_label, y_label=value_label, title=title, logx=logx, logy=logy)
    ax.grid(True, alpha=0.3)
    if cat:
        ax.legend(title=cat, fontsize=8)
    reading = ("the marked points are the headline: " + "; ".join(parts)) if parts else \
        f"{value_label} against {x_label}"
    return Chart(name, title, reading, fig, da.to_dataset(name=da.name or "value"))


def winner(da: xr.DataArray, *, x: str, y: str, cat: str, better: str, title: str,
           x_label: str, y_label: str, logx: bool = False, logy: bool = False,
           name: str = "winner") -> Chart:
    """Over ``(y, x)``: which label of ``cat`` is best at each cell (a categorical map) and
    by how much over the runner-up (contours of the ratio, >= 1)."""
    labels = [str(v) for v in da[cat].values]
    v = np.asarray(da.transpose(cat, y, x).values, dtype=np.float64)
    sign = 1.0 if better != "higher" else -1.0
    filled = np.where(np.isfinite(v), sign * v, np.inf)
    order = np.argsort(filled, axis=0, kind="stable")
    best = order[0]
    valid = np.isfinite(v).all(axis=0)
    first = np.take_along_axis(v, order[:1], axis=0)[0]
    second = np.take_along_axis(v, order[1:2], axis=0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = second / first if better != "higher" else first / second
    ratio = np.where(valid, ratio, np.nan)
    fig = _figure(6.6, 4.4)
    ax = fig.subplots()
    xs, ys = da[x].values.astype(np.float64), da[y].values.astype(np.float64)
    cmap = ListedColormap(PALETTE[: len(labels)])
    norm = BoundaryNorm(np.arange(len(labels) + 1) - 0.5, len(labels))
    shown = np.where(valid, best, np.nan)
    mesh = ax.pcolormesh(xs, ys, shown, shading="nearest", cmap=cmap, norm=norm)
    levels = nice_levels(ratio[np.isfinite(ratio)], n=5, log=True)
    cs = None
    if len(levels) and min(ratio.shape) >= 2:
        cs = ax.contour(xs, ys, ratio, levels=levels, colors="black", linewidths=0.8)
        ax.clabel(cs, fmt=lambda r: f"x{r:g}", fontsize=7)
    bar = fig.colorbar(mesh, ax=ax, ticks=range(len(labels)))
    bar.ax.set_yticklabels(labels)
    bar.set_label(f"best {cat}")
    _axes(ax, x_label=x_label, y_label=y_label, title=title, logx=logx, logy=logy)
    n = int(valid.sum())
    shares = [f"{lab} {np.sum(best[valid] == i) / n:.0%}" for i, lab in enumerate(labels)] \
        if n else []
    reading = ("share of cells won: " + ", ".join(shares) + "; the lines give how many "
               "times better the winner is than the runner-up") if n else "no valid cell"
    data = xr.Dataset({"best": ((y, x), np.where(valid, np.asarray(labels, dtype=object)[best],
                                                 "")),
                       "ratio_to_runner_up": ((y, x), ratio)},
                      coords={x: xs, y: ys})
    return Chart(name, title, reading, fig, data, {"contours": [cs]})


def distribution(counts: xr.DataArray, edges: np.ndarray, *, cat: str | None, log: bool,
                 title: str, value_label: str, quantiles: xr.Dataset | None = None,
                 thresholds: list[float] | None = None, name: str = "distribution"
                 ) -> Chart:
    """A reduce result's histogram (``counts`` over ``(cat?, bin)``: bin 0 below the first
    edge, the last at or above the last edge) and its CDF, per label, with the quantiles
    (and their brackets) and thresholds marked."""
    edges = np.asarray(edges, dtype=np.float64)
    labels = [str(v) for v in counts[cat].values] if cat else [""]
    fig = _figure(10.0, 4.0)
    hist_ax, cdf_ax = fig.subplots(1, 2)
    rows = {"label": [], "bin_low": [], "bin_high": [], "count": [], "fraction": [],
            "cdf": []}
    readings = []
    for i, label in enumerate(labels):
        c = np.asarray(counts.isel({cat: i}).values if cat else counts.values, np.float64)
        total = c.sum()
        frac = c / total if total else c
        inside = frac[1:-1]
        colour = PALETTE[i % len(PALETTE)]
        hist_ax.stairs(inside, edges, color=colour, label=label or None, linewidth=1.4)
        cdf = np.cumsum(frac)
        cdf_ax.step(edges, np.concatenate([[frac[0]], cdf[1:-1]]), where="post",
                    color=colour, label=label or None, linewidth=1.4)
        lows = np.concatenate([[-np.inf], edges])
        highs = np.concatenate([edges, [np.inf]])
        for j in range(len(c)):
            rows["label"].append(label)
            rows["bin_low"].append(lows[j])
            rows["bin_high"].append(highs[j])
            rows["count"].append(c[j])
            rows["fraction"].append(frac[j])
            rows["cdf"].append(cdf[j])
        if quantiles is not None:
            q = quantiles.isel({cat: i}) if cat else quantiles
            for k in range(q.sizes["quantile"]):
                est = float(q["estimate"].values[k])
                lo, hi = float(q["low"].values[k]), float(q["high"].values[k])
                if np.isfinite(lo) and np.isfinite(hi):
                    cdf_ax.axvspan(lo, hi, color=colour, alpha=0.15, linewidth=0)
                if np.isfinite(est):
                    cdf_ax.axvline(est, color=colour, linestyle=":", linewidth=1)
            med = [float(q["estimate"].values[k]) for k, qq in enumerate(q["quantile"].values)
                   if qq == 0.5]
            if med:
                readings.append(f"{label + ' ' if label else ''}median {_num(med[0])}")
    for t in thresholds or []:
        for ax in (hist_ax, cdf_ax):
            ax.axvline(t, color="black", linestyle="--", linewidth=0.8)
    for ax in (hist_ax, cdf_ax):
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(value_label)
        ax.grid(True, alpha=0.3)
    hist_ax.set_ylabel("fraction of points per bin")
    cdf_ax.set_ylabel("fraction of points at or below")
    cdf_ax.set_ylim(0, 1)
    if cat:
        hist_ax.legend(title=cat, fontsize=8)
    hist_ax.set_title("histogram", fontsize=9)
    cdf_ax.set_title("CDF (dotted: quantiles, shaded: their brackets; dashed: thresholds)",
                     fontsize=9)
    fig.suptitle(title, fontsize=10)
    data = xr.Dataset({k: ("row", np.asarray(v)) for k, v in rows.items()})
    reading = "; ".join(readings) or f"the distribution of {value_label}"
    return Chart(name, title, reading, fig, data)


def ratio_distribution(counts: np.ndarray, edges: np.ndarray, *, first: str, second: str,
                       output: str, frac_first_lower: float, name: str = "compare",
                       scope: str = "points") -> Chart:
    """The distribution of ``first`` / ``second`` over every other dim (log scale), with
    the line at 1 and the fraction of points where ``first`` is lower (``scope``: what
    those points are, for the title)."""
    edges = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    frac = c / total if total else c
    fig = _figure(6.4, 4.0)
    ax = fig.subplots()
    ax.stairs(frac[1:-1], edges, color=PALETTE[0], fill=True, alpha=0.6)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"{output} of {first} / {output} of {second} [1]")
    ax.set_ylabel("fraction of points per bin")
    ax.grid(True, alpha=0.3)
    title = (f"{first} against {second}: {first} is lower at {frac_first_lower:.1%} of "
             f"{scope}")
    ax.set_title(title, fontsize=10)
    reading = (f"left of the line (ratio < 1) {first} costs less; it does at "
               f"{frac_first_lower:.1%} of the points")
    lows = np.concatenate([[0.0], edges])
    highs = np.concatenate([edges, [np.inf]])
    data = xr.Dataset({"ratio_low": ("bin", lows), "ratio_high": ("bin", highs),
                       "count": ("bin", c), "fraction": ("bin", frac)})
    return Chart(name, title, reading, fig, data)


def curves(da: xr.DataArray, *, x: str, cat: str | None, title: str, value_label: str,
           x_label: str, hline: float | None = None, hline_text: str = "",
           logx: bool = False, name: str = "curves") -> Chart:
    """``da`` over ``(cat?, x)`` as lines (a computed curve, such as break-even utilization
    against price), with an optional reference line."""
    chart = lines(da, x=x, cat=cat, title=title, value_label=value_label, x_label=x_label,
                  logx=logx, name=name)
    ax = chart.figure.axes[0]
    if hline is not None:
        ax.axhline(hline, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(hline_text, (ax.get_xlim()[0], hline), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    return chart


def breakdown(parts: xr.DataArray, *, cat: str, title: str, value_label: str,
              name: str = "breakdown") -> Chart:
    """Stacked bars per label: ``parts`` over ``(cat, part)``."""
    labels = [str(v) for v in parts[cat].values]
    names = [str(v) for v in parts["part"].values]
    v = np.asarray(parts.transpose(cat, "part").values, dtype=np.float64)
    fig = _figure(1.6 * len(labels) + 3.0, 4.2)
    ax = fig.subplots()
    bottom = np.zeros(len(labels))
    for j, part in enumerate(names):
        ax.bar(labels, v[:, j], bottom=bottom, color=PALETTE[j % len(PALETTE)], label=part,
               width=0.6)
        bottom += np.nan_to_num(v[:, j])
    for i, total in enumerate(bottom):
        ax.annotate(_num(total), (i, total), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(value_label)
    ax.set_xlabel(cat)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    share = []
    for i, label in enumerate(labels):
        if bottom[i] > 0:
            j = int(np.nanargmax(v[i]))
            share.append(f"{label}: {names[j]} {v[i, j] / bottom[i]:.0%} of {_num(bottom[i])}")
    reading = "the largest part: " + "; ".join(share) if share else "no cost"
    return Chart(name, title, reading, fig, parts.to_dataset(name="value"))


def frontier(tps_gpu: xr.DataArray, tps_user: xr.DataArray, *, cat: str | None,
             hourly: dict[str, float], title: str, name: str = "frontier") -> Chart:
    """Tokens/s per GPU against tokens/s per user per label (over the swept dim), with
    iso-cost lines: at an all-in hourly cost ``h`` USD/GPU/h and full utilization, a cost
    of ``c`` USD/Mtok is ``h x 1e6 / (3600 c)`` tokens/s per GPU, whatever the
    interactivity."""
    fig = _figure(6.8, 4.4)
    ax = fig.subplots()
    labels = [str(v) for v in tps_gpu[cat].values] if cat else [""]
    g_all = np.asarray(tps_gpu.values, np.float64)
    top = np.nanmax(g_all) if np.isfinite(g_all).any() else 1.0
    bottom = np.nanmin(g_all[g_all > 0]) if (g_all > 0).any() else 1e-3
    for i, label in enumerate(labels):
        g = np.asarray(tps_gpu.isel({cat: i}).values if cat else tps_gpu.values, np.float64)
        u = np.asarray(tps_user.isel({cat: i}).values if cat else tps_user.values, np.float64)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(u, g, "o-", color=colour, label=label or None, markersize=3, linewidth=1.4)
        h = hourly.get(label)
        if h and np.isfinite(h) and h > 0:
            for c in nice_levels(h * 1e6 / 3600 / np.array([top, bottom]), n=4, log=True):
                level = h * 1e6 / (3600 * c)
                ax.axhline(level, color=colour, linestyle=":", linewidth=0.8)
                ax.annotate(f"{c:g} USD/Mtok", (1.0, level), xycoords=("axes fraction", "data"),
                            xytext=(-4, 2), textcoords="offset points", ha="right",
                            fontsize=7, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens/s per user (interactivity) [tokens/s/user]")
    ax.set_ylabel("tokens/s per GPU [tokens/s]")
    ax.grid(True, alpha=0.3)
    if cat:
        ax.legend(title=cat, fontsize=8)
    ax.set_title(title, fontsize=10)
    reading = ("up and to the right is better; each dotted line is one cost per million "
               "tokens at full utilization and that label's all-in hourly cost")
    data = xr.Dataset({PER_GPU: tps_gpu, PER_USER: tps_user})
    return Chart(name, title, reading, fig, data)


def tornado(ds: xr.Dataset, output: str, groups: list[dict], name: str) -> Chart:
    """Per label combination, the tornado (the output between each input's P5 and P95
    around the base case, inputs by swing) beside the Sobol' indices with their intervals
    (a sensitivity result)."""
    fig = _figure(11, 1.2 + 0.35 * ds.sizes["input"] * len(groups) + 0.6)
    axes = fig.subplots(len(groups), 2, squeeze=False)
    tops = []
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
        ax.barh(y, lo - base, left=base, color=PALETTE[0], label="input at P5")
        ax.barh(y, hi - base, left=base, color=PALETTE[1], label="input at P95")
        ax.axvline(base, color="black", linewidth=0.8)
        ax.set_yticks(y, names, fontsize=8)
        where = ", ".join(f"{k}={v}" for k, v in group.items())
        ax.set_title(f"tornado: {output}{' (' + where + ')' if where else ''}", fontsize=9)
        ax.set_xlabel(f"{output} [{sel['output_unit'].values}]", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
        if names:
            tops.append(f"{where + ': ' if where else ''}{names[-1]}")
        ax = axes[row][1]
        st = np.nan_to_num(sel["ST"].values)
        order = np.argsort(st, kind="stable")
        names = [str(n) for n in sel["input"].values[order]]
        ax.barh(y - 0.2, sel["S1"].values[order], height=0.4,
                xerr=sel["S1_conf"].values[order], color=PALETTE[2], label="first order")
        ax.barh(y + 0.2, st[order], height=0.4, xerr=sel["ST_conf"].values[order],
                color=PALETTE[4], label="total order")
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlabel("Sobol' index [1]", fontsize=8)
        ax.set_title("Sobol' indices (95 % intervals)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    title = f"What moves {output} most"
    reading = "the widest swing: " + "; ".join(tops)
    keep = ["output_base", "output_at_low", "output_at_high", "swing", "S1", "S1_conf",
            "ST", "ST_conf"]
    data = ds[keep].sel(output=output).drop_vars("output", errors="ignore")
    return Chart(name, title, reading, fig, data)


def screening(ds: xr.Dataset, output: str, groups: list[dict], name: str) -> Chart:
    """Morris screening: ``mu*`` with its interval per input, per label combination."""
    fig = _figure(7.0, 1.2 + 0.35 * ds.sizes["input"] * len(groups) + 0.6)
    axes = fig.subplots(len(groups), 1, squeeze=False)
    tops = []
    for row, group in enumerate(groups):
        sel = ds.sel(output=output, **group)
        mu = np.nan_to_num(sel["mu_star"].values)
        order = np.argsort(mu, kind="stable")
        names = [str(n) for n in sel["input"].values[order]]
        ax = axes[row][0]
        ax.barh(np.arange(len(order)), mu[order], xerr=sel["mu_star_conf"].values[order],
                color=PALETTE[0])
        ax.set_yticks(np.arange(len(order)), names, fontsize=8)
        where = ", ".join(f"{k}={v}" for k, v in group.items())
        ax.set_title(f"{output}{' (' + where + ')' if where else ''}", fontsize=9)
        ax.set_xlabel(f"mu* (mean |elementary effect|) [{output} units per Morris step]",
                      fontsize=8)
        if names:
            tops.append(f"{where + ': ' if where else ''}{names[-1]}")
    title = f"Which inputs move {output} (Morris screening)"
    data = ds[["mu_star", "mu_star_conf", "sigma", "mu"]].sel(output=output).drop_vars(
        "output", errors="ignore")
    return Chart(name, title, "the largest mu*: " + "; ".join(tops), fig, data)
