"""The plan: shape, chunk keys that tile the grid exactly, sizes, and the disk guard."""

from __future__ import annotations

import shutil
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import small_spec_dict
from sweep.model import cost
from sweep.planning.planner import PlanError, auto_chunks, make_plan
from sweep.spec.config import spec_from_dict


@settings(max_examples=50, deadline=None)
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=4),
       target=st.integers(8, 4096))
def test_chunk_keys_tile_the_grid_exactly_once(shape, target):
    chunks = auto_chunks(tuple(shape), 8, target_bytes=target)
    assert all(1 <= c <= n for c, n in zip(chunks, shape, strict=True))
    spec = _grid_spec(shape)
    plan = make_plan(spec, target_chunk_bytes=target)
    seen = np.zeros(plan.shape, dtype=np.int64)
    keys = list(plan.keys())
    assert len(keys) == plan.n_chunks
    for key in keys:
        seen[key.slices] += 1
        # aligned to the Zarr chunk grid: every key starts on a chunk boundary
        assert all(s % c == 0 for s, c in zip(key.start, plan.chunk_shape, strict=True))
    assert (seen == 1).all()


def _grid_spec(shape):
    names = ["pue", "utilization", "electricity_usd_per_kwh", "gpu_hour_usd"]
    axes = {}
    for name, n in zip(names, shape, strict=False):
        lo = 1.0 if name == "pue" else 0.1
        axes[name] = ({"linspace": {"start": lo, "stop": lo + 0.5, "num": n}} if n > 1
                      else {"values": [lo]})
    return spec_from_dict({"name": "t", "axes": axes,
                           "constants": {"tokens_per_s_per_gpu": 100.0}})


def test_point_count_is_a_python_int_beyond_int64():
    axes = {name: {"linspace": {"start": lo, "stop": lo + 1.0, "num": 100_000}}
            for name, lo in [("gpu_hour_usd", 0.5), ("electricity_usd_per_kwh", 0.01),
                             ("opex_usd_per_gpu_hour", 0.0), ("capex_usd_per_gpu", 0.0)]}
    spec = spec_from_dict({"name": "huge", "axes": axes,
                           "constants": {"tokens_per_s_per_gpu": 100.0}})
    plan = make_plan(spec)
    assert plan.n_points == 10**20
    assert isinstance(plan.n_points, int)
    assert plan.bytes_total == 10**20 * 8
    first = next(plan.keys())
    assert first.start == (0, 0, 0, 0)
    with pytest.raises(PlanError, match="needs .* uncompressed"):
        plan.check_disk()


def test_disk_guard_refuses_before_writing(tmp_path, monkeypatch, small_spec):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10**6, 10**6 - 100, 100))
    from sweep import run

    target = tmp_path / "deep" / "out.zarr"
    with pytest.raises(PlanError, match="100 B free"):
        run(small_spec, store=target, progress=False)
    assert not (tmp_path / "deep").exists()


def test_default_chunks_are_near_32_mib_and_innermost_whole():
    chunks = auto_chunks((50, 40, 30, 100_000), 4)
    assert chunks[-1] == 100_000
    size = np.prod(chunks) * 4
    assert 16 * 2**20 <= size <= 32 * 2**20


def test_user_chunks_are_kept():
    d = small_spec_dict(chunks={"utilization": 1})
    plan = make_plan(spec_from_dict(d))
    assert plan.chunk_shape[1] == 1
    assert plan.n_chunks == 3


def test_planning_computes_nothing(monkeypatch, small_spec):
    from sweep import backends

    def boom(*a, **k):
        raise AssertionError("planning must not compute")

    monkeypatch.setattr(backends.NumpyBackend, "compute", boom)
    monkeypatch.setattr(backends.NumbaBackend, "compute", boom)
    plan = make_plan(small_spec)
    assert "points      24" in plan.describe()
    table = plan.chunk_inputs(next(plan.keys())).table
    assert table.shape[0] == len(plan.model.leaves) and plan.model.leaves[:12] == \
        tuple(i.name for i in cost.INPUTS)   # the cost family's rows where they always were


def test_memory_guard_refuses_chunks_too_big_for_the_machine(tmp_path, monkeypatch):
    d = small_spec_dict(chunks={"utilization": 3})
    plan = make_plan(spec_from_dict(d))
    plan.check_memory(workers=2)   # tiny chunks pass
    monkeypatch.setattr("os.sysconf", lambda name: 1024 if name == "SC_PAGE_SIZE" else 1)
    with pytest.raises(PlanError, match=r"over 50% of this machine's 1.0 KiB"):
        plan.check_memory(workers=2)
    from sweep import run

    with pytest.raises(PlanError):
        run(spec_from_dict(d), store=tmp_path / "m.zarr", progress=False)
    assert not (tmp_path / "m.zarr").exists()
