"""How a frontier's length moves the first run of a sweep that reads it (compile time).

One process per length, each with an empty Numba cache (``NUMBA_CACHE_DIR`` set to a new
folder by the caller), a 2-point sweep (``usd_per_mtok`` from a synthetic frontier of K
points, numba): the wall time of ``sweep.run``, almost all of it compiling. Usage::

    for k in 6 20 80; do
        NUMBA_CACHE_DIR=$(mktemp -d) .venv/bin/python bench/frontier_compile.py $k
    done
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_frontier import synthetic_frontier  # noqa: E402


def main() -> None:
    import sweep
    from sweep.spec.config import spec_from_dict

    k = int(sys.argv[1])
    folder = Path(tempfile.mkdtemp(prefix="frontier-compile-"))
    synthetic_frontier(folder, f"a{k}", k, 1.0)
    d = {"name": "compile", "frontiers": str(folder),
         "axes": {"platform": {"labels": ["A"], "frontier": [f"a{k}"],
                               "set": {"gpu_hour_usd": [2.0]}},
                  "tokens_per_s_per_user": {"values": [20.0, 50.0]}},
         "outputs": ["usd_per_mtok"], "backend": "numba", "store": str(folder / "s.zarr")}
    t0 = time.perf_counter()
    sweep.run(spec_from_dict(d), progress=False)
    print(f"{k} points: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
