"""The files of a ``sweep bench`` report: ``bench.json`` (everything), ``bench.md`` (the
tables) and ``bench.png`` (points/s against grid size, log-log, ceilings as lines)."""

from __future__ import annotations

import json
from pathlib import Path

from sweep.benchmark.machine import one_line

#: Line styles of the chart: one colour per backend, one marker per mode.
COLOURS = {"numpy": "tab:gray", "numba": "tab:blue", "cuda": "tab:green", "cupy": "tab:olive"}
MARKERS = {"kernel": "o", "materialize": "s", "reduce": "^", "device": "D"}
CEILING_STYLE = {"host_fill": ("black", "--"), "zarr_write": ("tab:red", ":"),
                 "d2d_copy": ("tab:green", "--"), "d2h_copy": ("tab:purple", "-.")}


def write(report: dict, out: Path) -> dict[str, Path]:
    """Write ``bench.json``, ``bench.md`` and ``bench.png`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "markdown": out / "bench.md", "chart": out / "bench.png"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    chart(report, paths["chart"])
    paths["markdown"].write_text(markdown(report, chart_name=paths["chart"].name))
    return paths


def save_results(out: Path, report: dict, md: str) -> None:
    """The bench scripts' files: ``results.json`` and ``results.md`` in ``out`` (created);
    the markdown is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(md)
    print()
    print(md)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:,.1f}"


def markdown(report: dict, chart_name: str | None = "bench.png") -> str:
    """The report as markdown tables."""
    m = report["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [
        f"## sweep bench ({report['date']}, {report['seconds']:.0f} s)",
        "",
        f"- machine: {one_line(m)}; load average at start {m['loadavg']}",
        f"- packages: {pk}",
        f"- command: `{report['command']}`",
        (f"- grid: {' x '.join(report['grid']['axes'])}, float32, outputs "
         f"{', '.join(report['grid']['outputs'])} ({report['grid']['bytes_per_point']} B per "
         f"point); {report['workers']} worker(s); median of {report['repeat']} after a warm-up"),
        f"- backends run: {', '.join(report['backends']['ran'])}",
    ]
    for b, why in report["backends"]["skipped"].items():
        lines.append(f"- backend {b} not run: {why}")
    if report.get("simulated_gpu"):
        lines.append("- **the cuda rows ran in Numba's CUDA simulator: they time the simulator, "
                     "not a GPU**")
    lines += ["", "| mode | backend | points | seconds | M points/s | GB/s | spread | "
              "% of ceiling | x numpy |", "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in sorted(report["results"], key=lambda r: (r["mode"], r["points"], r["backend"])):
        pct = (f"{r['pct_of_ceiling']:.0f} % of {r['ceiling']}"
               if r.get("pct_of_ceiling") is not None else "")
        spd = f"{r['speedup_vs_numpy']:.2f}" if r.get("speedup_vs_numpy") is not None else ""
        gbs = f"{r['gb_per_s']:.2f}" if r["bytes_out"] else ""
        lines.append(f"| {r['mode']} | {r['backend']} | {r['points']:,} | {r['seconds']:.4f} | "
                     f"{_fmt_rate(r['points_per_s'])} | {gbs} | {r['spread']:.0%} | {pct} | "
                     f"{spd} |")
    lines += ["", "Ceilings: the fastest of the repeats (the best the machine did).", "",
              "| ceiling | grid points | GB/s | as M points/s | spread | what |",
              "|---|---:|---:|---:|---:|---|"]
    for c in report["ceilings"]:
        lines.append(f"| {c['name']} | {c['size']:,} | {c['gb_per_s']:.2f} | "
                     f"{_fmt_rate(c['points_per_s'])} | {c['spread']:.0%} | {c['what']} |")
    if report["scaling"]:
        lines += ["", "| scaling | setting | points | seconds | M points/s | spread | detail |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for s in report["scaling"]:
            detail = (f"chunks {tuple(s['chunk_shape'])} x {s['n_chunks']}"
                      if s["kind"] == "chunk_size" else "")
            lines.append(f"| {s['kind']} | {s['setting']} | {s['points']:,} | "
                         f"{s['seconds']:.4f} | {_fmt_rate(s['points_per_s'])} | "
                         f"{s['spread']:.0%} | {detail} |")
    notes = list(dict.fromkeys(report["notes"]))
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    if chart_name:
        lines += ["", f"![points/s against grid size]({chart_name})"]
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> None:
    """Write :func:`figure` to ``path``."""
    figure(report).savefig(path)


def figure(report: dict):
    """Points/s against grid points on log-log axes: one line per backend and mode, the
    ceilings (as points/s at the grid's bytes per point) as lines without markers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in report["results"]:
        series.setdefault((r["backend"], r["mode"]), []).append((r["points"], r["points_per_s"]))
    for (backend, mode), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p for p, _ in pts], [v for _, v in pts], marker=MARKERS.get(mode, "x"),
                color=COLOURS.get(backend, "tab:brown"), label=f"{backend} {mode}")
    lines: dict[str, list[tuple[int, float]]] = {}
    for c in report["ceilings"]:
        lines.setdefault(c["name"], []).append((c["size"], c["points_per_s"]))
    for name, pts in sorted(lines.items()):
        pts.sort()
        colour, style = CEILING_STYLE.get(name, ("black", "-"))
        ax.plot([p for p, _ in pts], [v for _, v in pts], linestyle=style, color=colour,
                linewidth=1.2, marker="_", markersize=12, label=f"ceiling: {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("grid points")
    ax.set_ylabel("points per second (ceilings: bandwidth / 8 B per point)")
    title = "sweep bench: " + report["machine"]["cpu"]
    if report["machine"].get("gpu"):
        title += " + " + report["machine"]["gpu"]["name"]
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    fig.tight_layout()
    return fig


def bench_chart(report: dict):
    """A ``sweep bench`` report's chart for ``sweep plot`` (points/s against grid size, the
    ceilings as lines), with its rows as the numbers drawn: a
    :class:`sweep.plots.charts.Chart`."""
    import numpy as np
    import xarray as xr

    from sweep.plots.charts import Chart

    rows = report["results"]
    keys = ("backend", "mode", "points", "points_per_s")
    data = xr.Dataset({k: ("row", np.asarray([r[k] for r in rows])) for k in keys})
    best = max(rows, key=lambda r: r["points_per_s"]) if rows else None
    reading = (f"the fastest row: {best['backend']} {best['mode']} at {best['points']:,} "
               f"points, {best['points_per_s'] / 1e6:,.1f} M points/s") if best else "no rows"
    fig = figure(report)
    return Chart("bench", fig.axes[0].get_title(), reading, fig, data)
