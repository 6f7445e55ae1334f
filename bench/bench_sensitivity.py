"""Sensitivity benchmark: token-sweep's streamed Sobol' indices against SALib's own
sample + evaluate (NumPy) + analyze, on the same design, in one run.

The study: ``usd_per_mtok`` of an owned H200 fleet over 12 uncertain inputs (the
distributions of ``configs/sensitivity-h200-buyer.yaml``, with the two that SALib cannot
express replaced: ``lifetime_years`` uniform on [3, 6] instead of discrete, and the
lognormal throughput untruncated), ``N = --n`` base samples (``N (D + 2)`` evaluations),
first and total order only.

* ``salib``: ``SALib.sample.sobol.sample(problem, N, calc_second_order=False,
  scramble=True, seed=...)`` (the whole ``N (D + 2) x D`` matrix), the model as NumPy on
  its columns (float64, what a SALib user writes), ``SALib.analyze.sobol.analyze(problem, Y,
  calc_second_order=False)`` (its default 100 bootstrap resamples over rows).
* ``token_sweep``: ``sweep.engine.sensitivity.run_sensitivity(spec, write=False,
  backend="numba")``: the design generated chunk by chunk, evaluated by the Numba kernel on
  Dask's threads, streamed into per-batch sums, a 1000-resample bootstrap over batches,
  plus the tornado and elasticities.

Each runs in its own fresh process (so peak RSS, ``ru_maxrss``, is its own), after one
untimed run at N = 2^10 in that process (imports, JIT, caches); the median of ``--repeat``
timed runs (``--salib-repeat`` for SALib, 1 by default: it takes minutes) is reported, with
SALib's time split into sample, evaluate and analyze. Both use the same scrambled Sobol'
design (same seed), so their first- and total-order indices agree up to the distributions'
inverse CDFs (SciPy's in both) and summation order: the largest difference is reported.

Usage::

    .venv/bin/python bench/bench_sensitivity.py --n 1048576 --repeat 3 --salib-repeat 1
    python bench/bench_sensitivity.py --n 67108864 --repeat 1 --skip-salib --backend cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def study(n: int) -> dict:
    """The 12-input study as a sweep-file dictionary (SALib-expressible distributions)."""
    import yaml

    d = yaml.safe_load((ROOT / "configs" / "sensitivity-h200-buyer.yaml").read_text())
    d["distributions"]["lifetime_years"] = {"uniform": {"low": 3.0, "high": 6.0}}
    d["distributions"]["tokens_per_s_per_gpu"] = {"lognormal": {"median": 2500, "sigma": 0.4}}
    d["outputs"] = ["usd_per_mtok"]
    d["sample"] = {"method": "saltelli", "n": n, "seed": 2026}
    return d


def numpy_model(x: np.ndarray, names: list[str]) -> np.ndarray:
    """usd_per_mtok of every row of ``x`` (columns ``names``), as a SALib user writes it."""
    c = {name: x[:, k] for k, name in enumerate(names)}
    r, years = c["cost_of_capital"], c["lifetime_years"]
    crf = r / (1.0 - (1.0 + r) ** -years)
    cost = (c["gpu_hour_usd"] + c["capex_usd_per_gpu"] * crf / 8760.0
            + c["opex_usd_per_gpu_hour"]
            + c["kw_per_gpu"] * c["pue"] * c["electricity_usd_per_kwh"])
    return cost / (c["tokens_per_s_per_gpu"] * c["utilization"] * 3600.0) * 1e6


def run_salib(n: int) -> dict:
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    from sweep.planning.sampling import salib_problem
    from sweep.spec.config import spec_from_dict

    problem = salib_problem(spec_from_dict(study(n)))
    t0 = time.perf_counter()
    x = sample.sample(problem, n, calc_second_order=False, scramble=True, seed=2026)
    t1 = time.perf_counter()
    y = numpy_model(x, problem["names"])
    t2 = time.perf_counter()
    s = analyze.analyze(problem, y, calc_second_order=False)
    t3 = time.perf_counter()
    return {"names": problem["names"], "S1": s["S1"].tolist(), "ST": s["ST"].tolist(),
            "S1_conf": s["S1_conf"].tolist(), "evaluations": int(y.size),
            "phases_s": {"sample": t1 - t0, "evaluate": t2 - t1, "analyze": t3 - t2}}


def run_sweep(n: int, workers: int | None, backend: str = "numba") -> dict:
    from sweep.engine.sensitivity import run_sensitivity
    from sweep.spec.config import spec_from_dict

    res = run_sensitivity(spec_from_dict(study(n)), write=False, backend=backend,
                          progress=False, num_workers=workers)
    ds = res.dataset.isel(output=0)
    return {"names": [str(v) for v in ds["input"].values], "S1": ds["S1"].values.tolist(),
            "ST": ds["ST"].values.tolist(), "S1_conf": ds["S1_conf"].values.tolist(),
            "evaluations": res.evaluations}


def child(which: str, n: int, repeat: int, workers: int | None,
          backend: str = "numba") -> dict:
    """One side, in this process: warm-up at 2^10, then ``repeat`` timed runs."""
    fn = run_salib if which == "salib" else lambda m: run_sweep(m, workers, backend)
    fn(2**10)
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(n)
        times.append(time.perf_counter() - t0)
    return {"which": which, "n": n, "times": times, "seconds": statistics.median(times),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2**20, help="base samples N (a power of 2)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of token-sweep")
    p.add_argument("--salib-repeat", type=int, default=1,
                   help="timed runs of SALib (minutes each at N = 2^20)")
    p.add_argument("--workers", type=int, default=None, help="token-sweep's Dask threads")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sensitivity")
    p.add_argument("--backend", default="numba", help="token-sweep's backend (numba, cuda)")
    p.add_argument("--skip-salib", action="store_true",
                   help="time token-sweep only (e.g. N = 2^26 on a GPU)")
    p.add_argument("--child", choices=("salib", "sweep"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.n, args.repeat, args.workers, args.backend)))
        return 0

    from sweep.benchmark.machine import describe, one_line

    rows = {}
    for which in ("sweep",) if args.skip_salib else ("sweep", "salib"):
        reps = args.repeat if which == "sweep" else args.salib_repeat
        cmd = [sys.executable, __file__, "--child", which, "--n", str(args.n),
               "--repeat", str(reps), "--backend", args.backend]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[which] = json.loads(done.stdout.strip().splitlines()[-1])
        r = rows[which]
        print(f"{which:6s} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mib']:8.0f} MiB  "
              f"({r['evaluations']:,} evaluations)", flush=True)
    if args.skip_salib:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(
            {"machine": describe(), "n": args.n, "backend": args.backend,
             "rows": rows}, indent=2) + "\n")
        return 0
    s, t = rows["sweep"], rows["salib"]
    assert s["names"] == t["names"]
    diff_s1 = float(np.max(np.abs(np.subtract(s["S1"], t["S1"]))))
    diff_st = float(np.max(np.abs(np.subtract(s["ST"], t["ST"]))))
    m = describe()
    report = {"machine": m, "command": " ".join(["python", *sys.argv]), "n": args.n,
              "rows": rows, "speedup": t["seconds"] / s["seconds"],
              "rss_ratio": t["peak_rss_mib"] / s["peak_rss_mib"],
              "max_abs_diff_S1": diff_s1, "max_abs_diff_ST": diff_st,
              "python": platform.python_version()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"- machine: {one_line(m)}", f"- command: `{report['command']}`",
             f"- N = {args.n:,} base samples, 12 inputs, {s['evaluations']:,} evaluations; "
             f"after a warm-up at N = 2^10, median of {args.repeat} (token-sweep) and "
             f"{args.salib_repeat} (SALib) timed run(s), each side in its own process", "",
             "| | seconds | peak RSS (MiB) |", "|---|---:|---:|",
             f"| SALib sample + NumPy + analyze | {t['seconds']:.2f} | "
             f"{t['peak_rss_mib']:.0f} |",
             f"| token-sweep `run_sensitivity` (numba) | {s['seconds']:.2f} | "
             f"{s['peak_rss_mib']:.0f} |",
             f"| ratio (SALib / token-sweep) | {report['speedup']:.2f}x | "
             f"{report['rss_ratio']:.2f}x |", "",
             f"- largest |S1 difference| {diff_s1:.2e}, |ST difference| {diff_st:.2e}",
             "- SALib's time by phase (last run): " + ", ".join(
                 f"{k} {v:.1f} s" for k, v in t["phases_s"].items())]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
