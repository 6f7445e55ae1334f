"""Reduce-mode benchmark: the fused Numba reduce against NumPy materialize-then-reduce.

One run, float64 accumulators, output ``usd_per_mtok`` over the 4-D grid of
``bench_materialize.py`` (``gpu_hour_usd x tokens_per_s_per_gpu x utilization x
electricity_usd_per_kwh``, innermost axis ~10^4 values), every dim folded:

* ``numba_fused_hist``: ``sweep.engine.reduce.run_reduce`` with count, NaN count, min, max, argmin,
  argmax, mean, std and one 256-bin log histogram (bounds given, so no first pass);
* ``numba_fused``: the same without the histogram;
* ``numpy_materialize_reduce``: the formula as NumPy broadcasting over slabs of about 10^7
  points (float64), then ``nanmin``/``nanmax``/``nanmean``/``nanstd`` and ``np.histogram``
  with the same edges per slab, merged (the same statistics; one thread, as NumPy runs).

Each row: one untimed warm-up at a small size (JIT compile), then the median of
``--repeat`` timed runs at ``--points``. Writes ``results.json`` and ``results.md`` to
``--out``. Usage::

    .venv/bin/python bench/bench_reduce.py --points 1e9 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_gpu import grid_spec  # noqa: E402  (the same grid as the other benchmarks)

EDGES = (0.01, 1000.0)


def spec_for(points: float, hist: bool):
    from sweep.spec.config import spec_from_dict

    d = grid_spec(points)
    d["outputs"] = ["usd_per_mtok"]
    d["reduce"] = {"over": list(d["axes"])}
    if hist:
        d["reduce"]["histogram"] = {"bins": 256, "scale": "log",
                                    "range": {"usd_per_mtok": list(EDGES)}}
    return spec_from_dict(d)


def fused(points: float, hist: bool, workers: int) -> float:
    from sweep.engine.reduce import run_reduce

    t0 = time.perf_counter()
    # the numba engine by name: `auto` would take the NumPy engine for a small warm-up
    run_reduce(spec_for(points, hist), write=False, progress=False, num_workers=workers,
               backend="numba")
    return time.perf_counter() - t0


def numpy_reduce(points: float) -> float:
    """Materialize slabs with NumPy broadcasting, reduce each, merge."""
    from sweep.engine.reduce import make_reduce_plan

    plan = make_reduce_plan(spec_for(points, True))
    rent, tps, util, elec = (a.coord for a in plan.axes)
    edges = np.exp(np.linspace(np.log(EDGES[0]), np.log(EDGES[1]), 257))
    t0 = time.perf_counter()
    n = 0
    s = 0.0
    lo, hi = np.inf, -np.inf
    hist = np.zeros(256, np.int64)
    parts = []
    per_slab = max(1, int(1e7 // (len(tps) * len(util) * len(elec))))
    for i in range(0, len(rent), per_slab):
        r = rent[i:i + per_slab, None, None, None]
        cost = r + 1.0 * 1.2 * elec[None, None, None, :]
        tph = tps[None, :, None, None] * util[None, None, :, None] * 3600.0
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(tph > 0, cost / tph * 1e6, np.nan)
        lo, hi = min(lo, np.nanmin(v)), max(hi, np.nanmax(v))
        ok = v[~np.isnan(v)]
        parts.append((ok.size, ok.mean(), ok.var() * ok.size))
        hist += np.histogram(ok, bins=edges)[0]
        np.nanargmin(v)
        n += ok.size
        s += ok.sum()
    # Chan merge of the slabs' means and variances
    count, mean, m2 = 0, 0.0, 0.0
    for c, mu, sq in parts:
        delta = mu - mean
        tot = count + c
        mean += delta * c / tot
        m2 += sq + delta * delta * count * c / tot
        count = tot
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=float, default=1e9)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, default=Path("bench/out/reduce"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, fn in (("numba_fused_hist", lambda n: fused(n, True, args.workers)),
                     ("numba_fused", lambda n: fused(n, False, args.workers)),
                     ("numpy_materialize_reduce", numpy_reduce)):
        fn(1e6)                                        # warm-up (JIT compile)
        times = [fn(args.points) for _ in range(args.repeat)]
        t = statistics.median(times)
        rows.append({"row": name, "points": args.points, "seconds": t, "times": times,
                     "points_per_s": args.points / t})
        print(f"{name:>26}: {t:8.3f} s  {args.points / t / 1e9:6.3f} G points/s", flush=True)
    base = rows[2]["points_per_s"]
    lines = [f"`{' '.join(['bench/bench_reduce.py', *(argv or sys.argv[1:])])}`, "
             f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.workers} Dask threads", "",
             "| row | points | median s | G points/s | vs NumPy |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['points']:.0e} | {r['seconds']:.3f} | "
                     f"{r['points_per_s'] / 1e9:.3f} | {r['points_per_s'] / base:.2f}x |")
    text = "\n".join(lines) + "\n"
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "argv": argv or sys.argv[1:]},
                                                      indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
