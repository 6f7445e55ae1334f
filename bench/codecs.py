"""The store's codecs on the shipped sweep files (issue 16, item 7: choose the default by
measured write speed and size)::

    python bench/codecs.py [--chunks 6] [--repeat 3] [--out FILE]

For every materialize-mode file in ``configs/`` (and the end-to-end benchmark grid of
``bench/end_to_end.py``) and every codec of ``sweep.storage.store.codec``: up to
``--chunks`` of its chunks, spread over the grid, computed once by the numba backend, then
written by region into a fresh store with that codec (Zarr's encode and the file writes,
one thread), alternately, the median of ``--repeat``. Reported per file and codec: the
write speed of the raw bytes (MB/s) and the bytes written per raw byte.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODECS = ("zstd", "lz4", "zstd-bitshuffle", "none")


def _files() -> dict:
    sys.path.insert(0, str(ROOT))
    from sweep.benchmark.grid import grid_spec
    from sweep.spec.config import load_config, spec_from_dict

    specs = {"end-to-end grid (1.6e8)": spec_from_dict(grid_spec(1.6e8))}
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        spec = load_config(path)
        if spec.mode == "materialize":
            specs[path.name] = spec
    return specs


def _measure(spec, n_chunks: int, repeat: int, tmp: Path) -> dict:
    import numpy as np
    import zarr

    from sweep.backends import get_backend
    from sweep.engine.execute import compute_chunk
    from sweep.planning.planner import make_plan
    from sweep.storage import store as zstore

    plan = make_plan(spec, tmp / "x.zarr")
    keys = list(plan.keys())
    picked = [keys[round(i * (len(keys) - 1) / max(n_chunks - 1, 1))]
              for i in range(min(n_chunks, len(keys)))]
    picked = list(dict.fromkeys(picked))
    be = get_backend("numba")
    size = len(plan.outputs) * math.prod(plan.chunk_shape)
    values = {k.name: compute_chunk(plan, k, be, np.empty(size, plan.dtype))[0].copy()
              for k in picked}
    raw = sum(v.nbytes for v in values.values())
    seconds = {c: [] for c in CODECS}
    written = {}
    for r in range(repeat):
        for codec in (CODECS if r % 2 == 0 else CODECS[::-1]):
            store = tmp / f"{codec}.zarr"
            shutil.rmtree(store, ignore_errors=True)
            p = make_plan(spec.model_copy(update={"codec": codec}), store)
            zstore.create(p, "numba", "cpu")
            arrays = zstore.open_outputs(p)
            t0 = time.perf_counter()
            for key in picked:
                for k, array in enumerate(arrays):
                    array[key.slices] = values[key.name][k]
            seconds[codec].append(time.perf_counter() - t0)
            chunk_files = [f for name in p.outputs for f in (store / name).rglob("*")
                           if f.is_file() and f.name != "zarr.json"]
            written[codec] = sum(f.stat().st_size for f in chunk_files)
            zarr.open_group(store, mode="r")   # the store is whole
    return {"points": plan.n_points, "chunks_written": len(picked),
            "chunk_shape": list(plan.chunk_shape), "raw_bytes": raw,
            "mb_per_s": {c: round(raw / statistics.median(s) / 1e6, 1)
                         for c, s in seconds.items()},
            "size_ratio": {c: round(written[c] / raw, 4) for c in CODECS},
            "seconds": {c: [round(x, 3) for x in s] for c, s in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        for name, spec in _files().items():
            report[name] = _measure(spec, args.chunks, args.repeat, Path(tmp))
            r = report[name]
            print(f"{name}: {r['points']:,} points, {r['chunks_written']} chunk(s) of "
                  f"{r['chunk_shape']}, {r['raw_bytes'] / 1e6:.0f} MB raw")
            for c in CODECS:
                print(f"  {c:16s} {r['mb_per_s'][c]:8.1f} MB/s  size x{r['size_ratio'][c]:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
