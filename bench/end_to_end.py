"""`sweep run` against the xarray path a user would write, end to end (issue 16, item 7):
whole processes, side by side, alternately, the median of ``--repeat`` runs each::

    python bench/end_to_end.py [--points 1.6e8] [--repeat 3] [--out FILE]

The grid: float32, two outputs (``usd_per_mtok``, ``tokens_per_s_per_mw``) over
``gpu_hour_usd x tokens_per_s_per_gpu x utilization x electricity_usd_per_kwh`` (the
shared benchmark grid of ``sweep.benchmark.grid``, about ``--points`` points), written to a
Zarr store. The naive path is the ten lines below (xarray + Dask + ``Dataset.to_zarr`` with
zarr's defaults), run as its own process; `sweep run` is the command line on the same grid
as a sweep file. Start-up, planning, compiling (Numba's cache warm, as on a second run) and
writing are all inside the wall time of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NAIVE = r"""
import sys, numpy as np, xarray as xr, dask.array as da
axes = {k: np.asarray(v, dtype=np.float32) for k, v in __AXES__.items()}
coords = {k: xr.DataArray(da.from_array(v, chunks=-1), dims=k) for k, v in axes.items()}
p, t, u, e = (coords[k] for k in ("gpu_hour_usd", "tokens_per_s_per_gpu", "utilization",
                                   "electricity_usd_per_kwh"))
cost = (p + np.float32(1.2) * e) / (t * u * np.float32(3600)) * np.float32(1e6)
mw = (t * np.float32(1000) / np.float32(1.2)).broadcast_like(cost)
ds = xr.Dataset({"usd_per_mtok": cost, "tokens_per_s_per_mw": mw}).transpose(*axes)
ds.chunk(__CHUNKS__).to_zarr(sys.argv[1], mode="w")
"""


def _grid(points: float) -> tuple[dict, dict, dict]:
    """The benchmark grid as a sweep file, its axes (values) and the engine's chunks."""
    sys.path.insert(0, str(ROOT))
    import sweep
    from sweep.benchmark.grid import grid_spec
    from sweep.spec.config import spec_from_dict

    data = grid_spec(points)
    plan = sweep.plan(spec_from_dict(data), "unused.zarr")
    axes = {a.name: [float(x) for x in a.coord] for a in plan.axes}
    return data, axes, dict(zip(plan.dims, plan.chunk_shape, strict=True))


def _timed(cmd: list[str], env=None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=float, default=1.6e8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--codec", default=None,
                    help="the sweep file's codec (default: its default); several, comma-"
                         "separated, run side by side (each a `sweep run` of its own)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import yaml

    data, axes, chunks = _grid(args.points)
    n = 1
    for v in axes.values():
        n *= len(v)
    codecs = args.codec.split(",") if args.codec else [None]
    naive_name = "xarray + Dask + to_zarr"
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        tmp = Path(tmp)
        runs, stores = {}, {}
        for codec in codecs:
            name = "sweep run" + (f" ({codec})" if codec and len(codecs) > 1 else "")
            sweep_file = tmp / f"grid-{codec or 'default'}.yaml"
            stores[name] = f"sweep-{codec or 'default'}.zarr"
            spec = {**data, "store": str(tmp / stores[name])}
            if codec:
                spec["codec"] = codec
            sweep_file.write_text(yaml.safe_dump(spec, sort_keys=False))   # the axes' order
            runs[name] = [sys.executable, "-m", "sweep", "run", str(sweep_file), "--overwrite",
                          "--no-progress", "--backend", "numba"]
        naive = tmp / "naive.py"
        naive.write_text(NAIVE.replace("__AXES__", json.dumps(axes))
                         .replace("__CHUNKS__", json.dumps(chunks)))
        runs[naive_name] = [sys.executable, str(naive), str(tmp / "naive.zarr")]
        stores[naive_name] = "naive.zarr"
        _timed(next(iter(runs.values())))            # Numba's cache warm, as on a second run
        times = {k: [] for k in runs}
        for _ in range(args.repeat):
            for name, cmd in runs.items():
                shutil.rmtree(tmp / stores[name], ignore_errors=True)   # a fresh write
                times[name].append(_timed(cmd, dict(os.environ)))
        sizes = {name: sum(f.stat().st_size for f in (tmp / store).rglob("*") if f.is_file())
                 for name, store in stores.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    speedups = {k: med[naive_name] / med[k] for k in runs if k != naive_name}
    print(f"{n:,} points, float32, two outputs; median of {args.repeat} (whole processes, "
          "alternately)")
    print("| path | seconds | store size | speed-up |\n|---|---:|---:|---:|")
    for k in runs:
        up = f"{speedups[k]:.2f}x" if k in speedups else ""
        print(f"| {k} | {med[k]:.2f} | {sizes[k] / 2**20:,.0f} MiB | {up} |")
    if args.out:
        args.out.write_text(json.dumps({"points": n, "times": times, "median": med,
                                        "sizes": sizes, "speedup": speedups}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
