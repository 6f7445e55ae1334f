"""Generated kernels (issue 12) against the hand-written ones they replace, side by side.

Runs ``sweep bench`` (numba and numpy backends, kernel and reduce modes) and a cold-cache
``sweep run`` of the default sweep alternately from two source trees, this one and a
checkout of the commit before the model registry (``--base``), in whole processes, so both
see the same machine at nearly the same time::

    git worktree add /tmp/base <commit before issue 12>
    ln -s ../kernels /tmp/base/sweep/kernels     # the editable install maps sweep.kernels
    python bench/bench_codegen.py --base /tmp/base --sizes 1e8 --rounds 2

Writes ``bench/codegen-results/results.json`` and ``results.md``; figures are medians over
rounds of each tree's own medians.
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


def _env(tree: Path | None, cache: str | None = None) -> dict:
    # the children run with -P: without it, the working directory (this checkout) would
    # come before PYTHONPATH and both trees would run this checkout's code
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    return env


def bench(tree: Path | None, sizes: str, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-P", "-m", "sweep", "bench", "--backends", "numpy,numba", "--sizes",
               sizes, "--modes", "kernel,reduce", "--repeat", str(repeat), "--no-scaling",
               "--no-progress", "--out", out]
        subprocess.run(cmd, check=True, env=_env(tree), cwd=ROOT, capture_output=True)
        return json.loads((Path(out) / "bench.json").read_text())


def cold_run(tree: Path | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-P", "-m", "sweep", "run", "configs/hopper-vs-blackwell.yaml",
               "--store", str(Path(tmp) / "hb.zarr"), "--backend", "numba", "--no-progress"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=_env(tree, str(Path(tmp) / "cache")), cwd=ROOT,
                       capture_output=True)
        return time.perf_counter() - t0


def _commit(tree: Path) -> str:
    """The base tree's commit (its path is this machine's, not worth recording)."""
    proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return f"<checkout of {proc.stdout.strip() or '?'}>"


def rows_of(report: dict) -> dict[str, float]:
    out = {}
    ceil = {(c["name"], c["size"]): c for c in report["ceilings"]}
    for r in report["results"]:
        key = f"{r['mode']} {r['backend']} {r['size']:.0e}"
        out[key + " Gpts/s"] = r["points_per_s"] / 1e9
        if r.get("pct_of_ceiling") is not None:
            out[key + f" % of {r['ceiling']}"] = r["pct_of_ceiling"]
    for (name, size), c in ceil.items():
        out[f"ceiling {name} {size:.0e} GB/s"] = c["gb_per_s"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="checkout before issue 12")
    ap.add_argument("--sizes", default="1e8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "codegen-results")
    args = ap.parse_args()
    trees = {"before (hand-written)": args.base, "after (generated)": None}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    colds: dict[str, list[float]] = {k: [] for k in trees}
    for rnd in range(args.rounds):
        for label, tree in trees.items():
            print(f"round {rnd + 1}: {label}", flush=True)
            runs[label].append(rows_of(bench(tree, args.sizes, args.repeat)))
            colds[label].append(cold_run(tree))
    table = {}
    for label in trees:
        keys = runs[label][0].keys()
        table[label] = {k: statistics.median(r[k] for r in runs[label] if k in r)
                        for k in keys}
        table[label]["cold sweep run (s)"] = statistics.median(colds[label])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"command": " ".join(["python bench/bench_codegen.py", "--base", _commit(args.base),
                              "--sizes", args.sizes, "--rounds", str(args.rounds)]),
         "rounds": runs, "cold_s": colds, "median": table},
        indent=1))
    labels = list(trees)
    lines = ["| figure | " + " | ".join(labels) + " | after / before |",
             "|---|" + "---:|" * (len(labels) + 1)]
    for k in table[labels[1]]:
        a, b = table[labels[0]].get(k), table[labels[1]][k]
        ratio = f"{b / a:.2f}" if a else "-"
        lines.append(f"| {k} | {a:.3g} | {b:.3g} | {ratio} |" if a is not None
                     else f"| {k} | - | {b:.3g} | - |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
