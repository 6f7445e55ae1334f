"""bench/peers.py (token-sweep against NumPy, numexpr, xarray, Dask, to_zarr) on a tiny grid."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parent.parent / "bench" / "peers.py"


def load_peers():
    """bench/peers.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_peers", PEERS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_peers_tiny_grid(tmp_path: Path):
    peers = load_peers()
    assert peers.main(["--sizes", "1e4", "--repeat", "1", "--out", str(tmp_path)]) == 0

    report = json.loads((tmp_path / "results.json").read_text())
    assert report["command"].endswith("--sizes 1e4 --repeat 1 --out " + str(tmp_path))
    assert report["machine"]["cores"] >= 1
    [size] = report["sizes"]
    assert size["n_points"] == 10_000
    skipped = {s["name"] for s in size["skipped"]}
    assert skipped <= {"numexpr"}  # the one optional peer
    rows = {r["name"]: r for r in size["rows"]}
    assert set(rows) | skipped == {r.name for r in peers.ROWS}
    for name, row in rows.items():
        assert row["points_per_s"] > 0, name
        assert row["gb_per_s"] > 0, name
        if name != "sweep_kernel_dask":  # results discarded: checked for NaNs only
            assert row["max_rel_diff"] < peers.TOLERANCE, name
    assert rows["numpy"]["compare_with"] == "sweep_kernel"
    assert rows["xarray_to_zarr"]["compare_with"] == "sweep_run"
    assert rows["numpy"]["speedup"] > 0
    assert rows["sweep_kernel"]["speedup"] is None

    md = (tmp_path / "results.md").read_text()
    assert "| sweep_run |" in md and "| numpy |" in md
    assert not any(p.name.startswith("tmp-zarr-") for p in tmp_path.iterdir())
