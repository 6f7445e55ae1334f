"""Reduce engines by name: the NumPy engine is the oracle the compiled ones are held to.

The same resolved plan folded by every engine, in any blocks, gives the same counts, NaN
counts, extremes and their coordinates, histogram counts and ``best:`` answers exactly;
sums (weights, means, deviations, fractions) agree to rounding. ``auto`` takes the NumPy
engine for small files, so a ``best:`` study answers without compiling.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweep.backends import AUTO_NUMPY_REDUCE_POINTS, BackendUnavailable, choose_reduce
from sweep.backends.reduce_numpy import windows
from sweep.engine.reduce import make_reduce_plan, run_reduce_plan
from sweep.spec.config import load_config, spec_from_dict

ENGINES = ("numpy", "numba")


def grid_dict(weighted: bool, inner_kept: bool, best: bool, compare: bool) -> dict:
    """3 platforms x 5 utilizations (one zero: NaN points) x 23 electricity prices, with
    ties: two platforms share a price, so their costs tie along the platform axis."""
    over = ["platform", "utilization"] if inner_kept else ["utilization",
                                                             "electricity_usd_per_kwh"]
    reduce: dict = {"over": over, "quantiles": [0.1, 0.5, 0.9],
                    "histogram": {"bins": 12, "scale": {"usd_per_mtok": "log",
                                                        "gross_margin": "linear"}},
                    "below": {"usd_per_mtok": [0.5, 5.0]}, "above": {"gross_margin": [0.0]}}
    if weighted:
        reduce["weights"] = {"utilization": [0.0, 1.0, 2.0, 3.0, 4.0]}
    if best:
        reduce["best"] = {"minimize": "usd_per_mtok",
                          "subject_to": {"gross_margin": {"min": 0.2}}}
    if compare and not inner_kept:
        reduce["compare"] = {"axis": "platform", "pairs": [["B", "A"], ["C", "A"]]}
    return {
        "name": "engines",
        "axes": {
            "platform": {"labels": ["A", "B", "C"],
                         "set": {"gpu_hour_usd": [1.41, 2.65, 1.41],
                                 "tokens_per_s_per_gpu": [90.0, 6000.0, 90.0]}},
            "utilization": {"values": [0.0, 0.25, 0.5, 0.75, 1.0]},
            "electricity_usd_per_kwh": {"linspace": {"start": 0.0, "stop": 0.3, "num": 23}},
        },
        "constants": {"pue": 1.2, "kw_per_gpu": 1.5, "price_usd_per_mtok": 2.0},
        "outputs": ["usd_per_mtok", "gross_margin"],
        "reduce": reduce,
    }


def _on_a_bin_edge(ds, name: str) -> np.ndarray:
    """Where a quantile of ``name`` (``<output>_quantile...``) is a cumulative weight at a
    bin's edge, to rounding: there the sums' rounding may put it in either bin."""
    hw = ds[name.split("_quantile")[0] + "_hist_weight"].values
    cum = np.cumsum(hw, axis=-1) / hw.sum(axis=-1, keepdims=True)
    qs = ds["quantile"].values
    return (np.abs(cum[..., None, :] - qs[:, None]) < 1e-9).any(axis=-1)


def assert_engines_agree(a, b, where: str = "") -> None:
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        if "_quantile" in name and not name.startswith("compare_"):
            keep = ~_on_a_bin_edge(a, name)
            x, y = x[keep], y[keep]
        exact = (x.dtype.kind in "iO" or "_arg" in name or name.startswith("best_")
                 and not name.startswith(("best_usd", "best_gross", "best_compare"))
                 or name.endswith(("_min", "_max", "_count", "_edges")))
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=f"{name} {where}")
        else:
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-300, err_msg=f"{name} {where}")


def fold(plan, engine: str):
    return run_reduce_plan(plan, write=False, progress=False, backend=engine).dataset


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=st.integers(3, 400), other=st.integers(3, 400), weighted=st.booleans(),
       inner_kept=st.booleans(), best=st.booleans(), compare=st.booleans())
def test_every_engine_gives_the_same_answer_in_any_blocks(block, other, weighted, inner_kept,
                                                          best, compare):
    spec = spec_from_dict(grid_dict(weighted, inner_kept, best, compare))
    plan = make_reduce_plan(spec, block_points=block)
    oracle = fold(plan, "numpy")
    assert_engines_agree(oracle, fold(plan, "numba"), f"numba, blocks {plan.chunk_shape}")
    # other blocks, the same folding (the edges are the plan's, resolved once)
    replan = make_reduce_plan(spec, block_points=other)
    assert_engines_agree(oracle, fold(replan, "numpy"), f"numpy, blocks {replan.chunk_shape}")


def test_ties_of_extremes_keep_the_first_point_on_every_engine():
    # platforms A and C are the same: over the platform axis every minimum is a tie
    spec = spec_from_dict(grid_dict(False, True, True, False))
    plan = make_reduce_plan(spec, block_points=5)
    for engine in ENGINES:
        ds = fold(plan, engine)
        assert set(ds["usd_per_mtok_argmin_platform"].values) <= {"A", "B", ""}
        feasible = ds["best_feasible_count"].values > 0
        assert feasible.any()
        assert set(ds["best_platform"].values[feasible]) <= {"A", "B"}


def test_windows_cover_a_block_once_in_row_major_order():
    shape = (3, 5, 7)
    seen = np.zeros(shape, int)
    for offset, sub in windows(shape, limit=10):
        assert np.prod(sub) <= 10
        seen[tuple(slice(a, a + n) for a, n in zip(offset, sub, strict=True))] += 1
    assert (seen == 1).all()


def test_a_block_larger_than_a_window_folds_as_one(monkeypatch):
    from sweep.backends import reduce_numpy

    spec = spec_from_dict(grid_dict(True, False, True, True))
    plan = make_reduce_plan(spec)
    whole = fold(plan, "numpy")
    monkeypatch.setattr(reduce_numpy, "WINDOW_POINTS", 7)
    small_windows = fold(plan, "numpy")
    assert_engines_agree(whole, small_windows, "windows of 7 points")


def test_the_shipped_best_study_answers_the_same_on_numpy_and_numba():
    # The roofline's NumPy reference is written apart from the generated kernels (another
    # order of operations), so values agree to the last bit or two; every choice (the best
    # configuration, the argmin/argmax coordinates, feasible counts) is exact.
    plan = make_reduce_plan(load_config("configs/iceberg-dsr1.yaml"))
    a, b = (fold(plan, e) for e in ENGINES)
    assert a.attrs["sweep_backend"] == "numpy" and b.attrs["sweep_backend"] == "numba"
    assert sorted(a.data_vars) == sorted(b.data_vars)
    over = plan.spec.reduce.over
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        if name == "compare_ratio_hist_count":     # a ratio on an edge may change bins
            assert (x.sum(axis=-1) == y.sum(axis=-1)).all() and np.abs(x - y).sum() <= 4
        elif (x.dtype.kind in "iO" or "_arg" in name or name.endswith("_count")
              or name in {f"best_{d}" for d in over}):
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-14, atol=0, err_msg=name)
    feasible = a["best_feasible_count"].values > 0
    assert feasible.any() and np.isfinite(a["best_value"].values[feasible]).all()


def test_auto_takes_numpy_for_small_files_and_logs_why(caplog):
    with caplog.at_level(logging.INFO, logger="sweep.backends"):
        assert choose_reduce("auto", 312) == "numpy"
    assert "reduce engine auto -> numpy" in caplog.text
    assert choose_reduce(None, AUTO_NUMPY_REDUCE_POINTS + 1) in ("numba", "cuda")
    with pytest.raises(BackendUnavailable, match="numpy, numba or cuda backend, not 'cupy'"):
        choose_reduce("cupy", 10)


def test_plans_carry_their_edges_and_engines_never_plan_again(monkeypatch):
    from sweep.planning import folding

    spec = spec_from_dict(grid_dict(False, False, False, True))
    plan = make_reduce_plan(spec, block_points=50)
    assert plan.folding is not None and plan.folding.nb == 12
    calls = []
    monkeypatch.setattr(folding, "pilot_values", lambda *a, **k: calls.append(a))
    ds = fold(plan, "numpy")
    assert calls == []                                  # no first pass at run time
    np.testing.assert_array_equal(ds["usd_per_mtok_edge"].values, plan.folding.edges[0])
    # a plan whose edges are given differently folds against those edges, not new ones
    moved = dataclasses.replace(plan, folding=dataclasses.replace(
        plan.folding, edges=plan.folding.edges * 1.0))
    np.testing.assert_array_equal(fold(moved, "numpy")["usd_per_mtok_edge"].values,
                                  plan.folding.edges[0])


def test_derived_formulas_are_parsed_once_for_every_thread():
    # the NumPy engine folds blocks on several threads; each block evaluates best:'s node
    # (a derived formula): parsed once per process, never concurrently (CPython's parser is
    # not thread-safe: a race raised SystemError here)
    from sweep.executors import ThreadsExecutor
    from sweep.model import expr

    spec = spec_from_dict(grid_dict(False, False, True, False))
    plan = make_reduce_plan(spec, block_points=3)
    assert plan.n_chunks > 20
    results = [run_reduce_plan(plan, write=False, progress=False, backend="numpy",
                               executor=ThreadsExecutor(8)).dataset for _ in range(3)]
    for ds in results[1:]:
        assert_engines_agree(results[0], ds, "threads")
    formula = "where((gross_margin >= 0.2), usd_per_mtok, 0.0 / 0.0)"
    assert formula in expr._PARSED
