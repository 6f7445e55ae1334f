"""Where the NumPy reduce engine beats the compiled one for a whole ``sweep run`` (the "one
path" issue, item 3): the shipped ``best:`` study (configs/iceberg-dsr1.yaml, the roofline
model, 312 points) and the same study over a folded ``utilization`` axis of M values (312 x
M points), run as a user runs it, one process each, with ``--backend numpy`` and
``--backend numba`` (Numba's cache empty, and warm)::

    python bench/reduce_crossover.py [--sizes 1,32,320,3200,32000] [--repeat 3] [--out FILE]

``--sizes`` are the values of M (1: the shipped file as it is). "numba (cold)" runs with
an empty ``NUMBA_CACHE_DIR`` (the first run of a new reduce file: every kernel compiled),
"numba (warm)" after one run has filled it. Medians of ``--repeat`` runs (cold: one run),
seconds of wall time, whole processes (start-up included: the same for all). The result
is written beside the store as usual; the store is replaced each run.
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "iceberg-dsr1.yaml"


def study(m: int, store: Path) -> dict:
    """The shipped study, with ``utilization`` folded over ``m`` values when ``m > 1``."""
    d = yaml.safe_load(SHIPPED.read_text())
    d["store"] = str(store)
    if m > 1:
        d["constants"].pop("utilization")
        d["axes"]["utilization"] = {"linspace": {"start": 0.3, "stop": 1.0, "num": m}}
        d["reduce"]["over"].append("utilization")
    return d


def run(file: Path, backend: str, cache: Path) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweep", "run", str(file), "--backend", backend,
                    "--overwrite"], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,32,320,3200,32000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for m in (int(s) for s in args.sizes.split(",")):
            file = tmp / f"study-{m}.yaml"
            file.write_text(yaml.safe_dump(study(m, tmp / f"study-{m}.zarr")))
            cold = tmp / f"cache-cold-{m}"
            row = {"points": 312 * m,
                   "numba_cold_s": run(file, "numba", cold)}   # fills the cache
            row["numba_warm_s"] = statistics.median(run(file, "numba", cold)
                                                    for _ in range(args.repeat))
            row["numpy_s"] = statistics.median(run(file, "numpy", cold)
                                               for _ in range(args.repeat))
            rows.append(row)
            print(f"{row['points']:>12,} points  numpy {row['numpy_s']:6.2f} s  "
                  f"numba warm {row['numba_warm_s']:6.2f} s  "
                  f"numba cold {row['numba_cold_s']:6.2f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
