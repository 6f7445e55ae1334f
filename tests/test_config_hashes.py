"""Every shipped grid and reduce sweep keeps its config hash (a changed hash would refuse
the resume and repair of stores written before): pinned values, taken before the
throughput family, its presets and the ``best:`` reducer joined the model."""

from __future__ import annotations

from pathlib import Path

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
