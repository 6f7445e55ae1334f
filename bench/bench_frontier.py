"""What reading a measured frontier costs the fused reduce (issue 14).

One run, side by side, numba, float64 accumulators, statistics of ``usd_per_mtok`` with every
dim folded (count, NaN count, min, max, argmin, argmax, mean, std; no histogram, so no pilot
pass), over ``platform (2 labels) x gpu_hour_usd x utilization x tokens_per_s_per_user``,
``tokens_per_s_per_user`` innermost (so the frontier is read at every point):

* ``given``: ``tokens_per_s_per_gpu`` given per label (a ``set``), the interactivity axis
  read by nothing: the cost formula alone;
* ``frontier-K``: ``tokens_per_s_per_gpu`` read from a frontier of K measured points per
  label (log-log PCHIP: a segment search and a cubic per point, plus a log and an exp).

Each row: one untimed warm-up at a small size (JIT compile), then the median of
``--repeat`` timed runs at ``--points``. Writes ``results.json`` and ``results.md`` to
``--out``. Usage::

    .venv/bin/python bench/bench_frontier.py --points 1e8 --repeat 3 --out bench/frontier-results
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_frontier(folder: Path, key: str, k: int, scale: float) -> None:
    """A falling front of ``k`` points from 10 to 200 tokens/s per user."""
    from sweep.frontiers.front import Frontier, write

    x = np.geomspace(10.0, 200.0, k)
    y = scale * 20000.0 / (1.0 + (x / 30.0) ** 1.5)
    points = [{"intvty": float(a), "tput_per_gpu": float(b), "output_tput_per_gpu": None,
               "conc": 2.0 ** i, "tp": 8, "gpus": 8, "line": i + 2}
              for i, (a, b) in enumerate(zip(x, y, strict=True))]
    write([Frontier(key, "bench", "gpu", "engine", "fp8", 8192, 1024, "none", False,
                    points, source={"file": "synthetic", "sha256": ""})], folder)


def spec_dict(points: float, folder: Path, k: int | None) -> dict:
    inner = 10_000
    outer = max(1, round(math.sqrt(points / (2 * inner))))
    platform_axis: dict = {"labels": ["A", "B"], "set": {"kw_per_gpu": [1.3, 1.8]}}
    if k is None:
        platform_axis["set"]["tokens_per_s_per_gpu"] = [5000.0, 9000.0]
    else:
        platform_axis["frontier"] = [f"a{k}", f"b{k}"]
    return {
        "name": "bench-frontier", "frontiers": str(folder),
        "axes": {"platform": platform_axis,
                 "gpu_hour_usd": {"linspace": {"start": 1.0, "stop": 6.0, "num": outer}},
                 "utilization": {"linspace": {"start": 0.3, "stop": 1.0, "num": outer}},
                 "tokens_per_s_per_user": {"geomspace": {"start": 10.0, "stop": 200.0,
                                                         "num": inner}}},
        "outputs": ["usd_per_mtok"],
        "reduce": {"over": ["gpu_hour_usd", "utilization", "tokens_per_s_per_user"]},
    }


def timed(points: float, folder: Path, k: int | None, workers: int) -> tuple[float, int]:
    from sweep.engine.reduce import run_reduce
    from sweep.planning.axes import resolved_axes
    from sweep.spec.config import spec_from_dict

    spec = spec_from_dict(spec_dict(points, folder, k))
    n = math.prod(len(a) for a in resolved_axes(spec))
    t0 = time.perf_counter()
    run_reduce(spec, write=False, progress=False, num_workers=workers, backend="numba")
    return time.perf_counter() - t0, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=float, default=1e8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default="bench/frontier-results")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="frontiers-"))
    for k in (6, 20):
        synthetic_frontier(folder, f"a{k}", k, 1.0)
        synthetic_frontier(folder, f"b{k}", k, 2.5)
    rows = []
    for name, k in (("given", None), ("frontier-6", 6), ("frontier-20", 20)):
        timed(2e6, folder, k, args.workers)                       # compile, untimed
        runs = [timed(args.points, folder, k, args.workers) for _ in range(args.repeat)]
        seconds = statistics.median(r[0] for r in runs)
        n = runs[0][1]
        rows.append({"case": name, "points": n, "seconds": seconds,
                     "g_points_per_s": n / seconds / 1e9,
                     "runs_s": [round(r[0], 3) for r in runs]})
    base = rows[0]["g_points_per_s"]
    for r in rows:
        r["x_given"] = r["g_points_per_s"] / base
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "machine": platform.machine()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows,
                                                  "workers": args.workers}, indent=1))
    lines = ["| case | points | median s | G points/s | x given | runs (s) |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['points']:.3g} | {r['seconds']:.3f} | "
                     f"{r['g_points_per_s']:.3f} | {r['x_given']:.2f} | {r['runs_s']} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
