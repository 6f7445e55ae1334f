"""Every shipped grid and reduce sweep keeps its config hash (a changed hash would refuse
the resume and repair of stores written before): pinned values, taken before the
throughput family, its presets and the ``best:`` reducer joined the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sweep.engine.reduce import make_reduce_plan
from sweep.planning.planner import make_plan
from sweep.spec.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

PINNED = {
    "bench-1e9.yaml": "cc903e0022be1a049b9613311f3d840cadfd36a2cfb5929dd61b5ad9c696093f",
    "hopper-vs-blackwell.toml":
        "d2e85b0d73fc59c152693c5ae535ab51aa0ecb74b6a86b8455d6db900e18e689",
    "hopper-vs-blackwell.yaml":
        "d2e85b0d73fc59c152693c5ae535ab51aa0ecb74b6a86b8455d6db900e18e689",
    "presets-fp8.yaml": "5413ece6ff114a7e3e7a65b8314312c23ecf9545682c8d4dd02b09488d3c4d1e",
    "price-throughput-grid.yaml":
        "cfd1e78504a750a92c09a4335f0ea55cbdac2eb3916f493df428a9798da54044",
}
PINNED_REDUCE = {
    "reduce-operator-1e10.yaml":
        "de326b1bf2883474904306003617d30c8ef7e2505bde42c2cc3bc6c429c4ae85",
    "reduce-renter-1e12.yaml":
        "12467ead45b29e7d1a25d1f21302f9e9204a4362b19b74e1c16d6aaae0ea3093",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_grid_sweeps_keep_their_config_hash(name):
    assert make_plan(load_config(CONFIGS / name), "x.zarr").config_hash == PINNED[name]


@pytest.mark.parametrize("name", sorted(PINNED_REDUCE))
def test_reduce_sweeps_keep_their_config_hash(name):
    plan = make_reduce_plan(load_config(CONFIGS / name), "x.zarr")
    assert plan.config_hash == PINNED_REDUCE[name]


def test_sample_mode_results_keep_their_spec_hash():
    from sweep.storage.provenance import spec_hash

    pinned = {"sensitivity-h200-buyer.yaml": "fbab6b2c59a54b7d",
              "sensitivity-per-platform.yaml": "189790b452105419"}
    for name, digest in pinned.items():
        assert spec_hash(load_config(CONFIGS / name)).startswith(digest), name


def test_a_file_that_declared_names_the_throughput_family_now_has_keeps_its_meaning(tmp_path):
    """Written before the throughput family: its own input `concurrency` and its derived
    `ttft_s` are names of that family now. The file still validates, computes what it
    did (its declarations win) and keeps its config hash."""
    import sweep
    from sweep.spec.config import spec_from_dict

    d = {"name": "old-derived",
         "inputs": {"concurrency": {"unit": "sequences", "description": "users", "low": 1,
                                    "high": 100000, "default": 64}},
         "derived": {"ttft_s": {"expr": "usd_per_mtok * concurrency", "unit": "s"}},
         "axes": {"utilization": {"values": [0.5, 0.7]}},
         "constants": {"tokens_per_s_per_gpu": 1000, "gpu_hour_usd": 2.0},
         "outputs": ["usd_per_mtok", "ttft_s"], "store": str(tmp_path / "old.zarr")}
    spec = spec_from_dict(d)
    assert make_plan(spec).config_hash == \
        "ad498c8bc0982919e60a14bf28e458d6ba8ea537c15f3a152facf5976d928473"
    ds = sweep.open_result(sweep.run(spec, progress=False).store)
    np.testing.assert_allclose(ds["ttft_s"].values, ds["usd_per_mtok"].values * 64)
    assert ds["ttft_s"].attrs["units"] == "s"
