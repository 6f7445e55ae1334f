"""Where NumPy beats a compiled kernel for a whole ``sweep run`` (issue 17, item 6): the
same small grid run as a user runs it (one process each, the Numba cache warm or empty),
at several sizes, with ``--backend numpy`` and ``--backend numba``::

    python bench/tiny_crossover.py [--sizes 6,1e4,1e5,1e6,1e7] [--repeat 3] [--out FILE]

The grid: two labels (price and throughput set per label) x ``utilization`` (N/2 values),
three outputs (``usd_per_mtok``, ``gross_margin``, ``breakeven_utilization``), float64.
"numba (cold)" runs with an empty ``NUMBA_CACHE_DIR`` (the first run of a new kind of
sweep); "numba (warm)" after one run has filled it. Medians of ``--repeat`` runs, in
seconds of wall time, whole processes (start-up included: it is the same for all).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """name: tiny
axes:
  platform:
    labels: [a, b]
    set: {{gpu_hour_usd: [2.0, 3.0], tokens_per_s_per_gpu: [1000, 2500]}}
  utilization: {{linspace: {{start: 0.05, stop: 1.0, num: {half}}}}}
outputs: [usd_per_mtok, gross_margin, breakeven_utilization]
constants: {{price_usd_per_mtok: 1.0, kw_per_gpu: 1.0, pue: 1.2, electricity_usd_per_kwh: 0.08}}
store: {store}
"""


def run(file: Path, backend: str, cache: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweep", "run", str(file), "--backend", backend,
                    "--overwrite", "--no-progress"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="6,1e4,1e5,1e6,1e7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in sizes:
            file = tmp / f"tiny-{n}.yaml"
            file.write_text(SWEEP.format(half=max(1, n // 2), store=tmp / f"tiny-{n}.zarr"))
            warm = tmp / "warm-cache"
            run(file, "numba", warm)                    # fills the warm cache
            times = {"numpy": [], "numba (warm)": [], "numba (cold)": []}
            for i in range(args.repeat):               # interleaved: the machine is noisy
                times["numpy"].append(run(file, "numpy", warm))
                times["numba (warm)"].append(run(file, "numba", warm))
                times["numba (cold)"].append(run(file, "numba", tmp / f"cold-{n}-{i}"))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"points": 2 * max(1, n // 2), **med})
            print(f"{rows[-1]['points']:>10,}  " + "  ".join(f"{k} {v:.2f} s"
                                                          for k, v in med.items()), flush=True)
    print("\n| points | numpy | numba (warm cache) | numba (cold cache) |\n|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['points']:,} | {r['numpy']:.2f} s | {r['numba (warm)']:.2f} s | "
              f"{r['numba (cold)']:.2f} s |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
