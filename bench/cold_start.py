"""Where the time of a cold ``sweep run`` goes (issue 12): one process, an empty Numba
cache, the default sweep, each phase timed in turn::

    python bench/cold_start.py [--base CHECKOUT]

Phases: importing ``sweep`` and what a run needs, validating the file, planning,
compiling the kernel (the backend's warm-up, which is where a cold cache pays), the run
itself with the kernel warm. With ``--base``, the same in a checkout of an earlier commit,
alternately, three times each; medians are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
import sweep, sweep.backends
try:                                   # this tree's layout, and the one before issue 12
    from sweep.planning.planner import make_plan
except ImportError:
    from sweep.planner import make_plan
t.append(time.perf_counter())
spec = sweep.load_config("configs/hopper-vs-blackwell.yaml")
t.append(time.perf_counter())
plan = make_plan(spec, sys.argv[1])
t.append(time.perf_counter())
be = sweep.backends.get_backend("numba")
key = next(plan.keys())
be.warm_up(plan.chunk_inputs(key), plan.output_codes, plan.dtype)
t.append(time.perf_counter())
sweep.run_plan(plan, backend=be, overwrite=True, progress=False)
t.append(time.perf_counter())
names = ["import", "validate", "plan", "compile (warm-up)", "run (warm kernel)"]
print(json.dumps({n: t[i + 1] - t[i] for i, n in enumerate(names)}))
"""


def once(tree: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "cache"))
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        proc = subprocess.run([sys.executable, "-P", "-c", PHASES, str(Path(tmp) / "hb.zarr")],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = {"after": None} if args.base is None else {"before": args.base, "after": None}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(args.rounds):
        for label, tree in trees.items():
            runs[label].append(once(tree))
    phases = list(runs["after"][0])
    print("| phase (s) | " + " | ".join(trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for ph in [*phases, "total"]:
        cells = []
        for label in trees:
            vals = [sum(r.values()) if ph == "total" else r[ph] for r in runs[label]]
            cells.append(f"{statistics.median(vals):.2f}")
        print(f"| {ph} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
