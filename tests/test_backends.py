"""Every backend against the NumPy reference: same NaN masks, values within a few ULP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweep.backends import BackendUnavailable, get_backend
from sweep.model import Model, cost
from sweep.planning.planner import ChunkInputs

# the cost family alone: throughput given (the throughput family has its own
# backend tests, tests/test_throughput.py)
COST_MODEL = Model([cost.FAMILY])
INPUTS, OUTPUTS = COST_MODEL.leaves, COST_MODEL.outputs

NIN = len(INPUTS)
ZERO_ABLE = {"tokens_per_s_per_gpu", "utilization", "kw_per_gpu", "price_usd_per_mtok",
             "cost_of_capital", "gpu_hour_usd", "lifetime_years", "peak_pflops"}


@st.composite
def chunk_inputs(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=ndim, max_size=ndim)))
    width = max(shape)
    bind = np.array([draw(st.integers(-1, ndim - 1)) for _ in range(NIN)], dtype=np.int64)
    table = np.empty((NIN, width))
    for i, name in enumerate(INPUTS):
        lo, hi = (1.0, 2.0) if name == "pue" else (0.0, 5.0)
        if name in ("utilization", "cost_of_capital"):
            lo, hi = 0.0, 1.0
        vals = draw(st.lists(st.floats(lo, hi, allow_nan=False), min_size=width,
                             max_size=width))
        table[i] = vals
        if name in ZERO_ABLE and draw(st.booleans()):
            table[i, draw(st.integers(0, width - 1))] = 0.0
    return ChunkInputs(table=table, bind=bind, shape=shape, model=COST_MODEL)


def assert_matches_reference(got, ref, dtype):
    got_nan, ref_nan = np.isnan(got), np.isnan(ref)
    np.testing.assert_array_equal(got_nan, ref_nan)   # masks exactly
    g, r = got[~got_nan], ref[~ref_nan]
    if dtype == np.float64:
        np.testing.assert_array_max_ulp(g, r, maxulp=4)
    else:
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=0)


# Each example's bind pattern and outputs make a kernel of their own, compiled for it
# (about a second each: 50 examples took 70 s of a fresh clone's CI run); 30 keep the
# suite well inside CI's time.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=chunk_inputs(), dtype=st.sampled_from([np.float64, np.float32]),
       codes=st.lists(st.integers(0, len(OUTPUTS) - 1), min_size=1, max_size=5))
def test_numba_matches_numpy_reference(inputs, dtype, codes):
    codes = np.asarray(codes, dtype=np.int64)
    ref, ref_stats = get_backend("numpy").compute(inputs, codes, np.dtype(dtype))
    got, got_stats = get_backend("numba").compute(inputs, codes, np.dtype(dtype))
    assert got.dtype == dtype and got.shape == ref.shape == (len(codes), *inputs.shape)
    assert_matches_reference(got, ref, dtype)
    np.testing.assert_array_equal(got_stats.nan_counts, ref_stats.nan_counts)
    np.testing.assert_array_equal(got_stats.nan_counts,
                                  np.isnan(ref).reshape(len(codes), -1).sum(axis=1))
    flat = got.reshape(len(codes), -1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got_stats.minima, np.fmin.reduce(flat, axis=1))
        np.testing.assert_array_equal(got_stats.maxima, np.fmax.reduce(flat, axis=1))


def test_numba_writes_into_a_given_buffer():
    inputs = ChunkInputs(table=np.ones((NIN, 3)), bind=np.array([0] + [-1] * (NIN - 1)),
                         shape=(3,), model=COST_MODEL)
    buf = np.full(10, -7.0)
    values, _ = get_backend("numba").compute(inputs, np.array([0, 8]), np.dtype(np.float64), buf)
    assert np.shares_memory(values, buf) and values.shape == (2, 3)
    assert (buf[6:] == -7.0).all()
    with pytest.raises(ValueError, match="cannot hold"):
        get_backend("numba").compute(inputs, np.array([0, 8]), np.dtype(np.float64), buf[:5])


def test_parallel_and_serial_numba_agree_bit_for_bit():
    rng = np.random.default_rng(7)
    shape = (5, 6, 1000)
    table = rng.uniform(0.0, 3.0, (NIN, 1000))
    table[9, ::7] = 0.0
    bind = np.array([0, -1, 1, 1, -1, 2, -1, 0, 2, 2, -1, -1])
    inputs = ChunkInputs(table=table, bind=bind, shape=shape, model=COST_MODEL)
    codes = np.array([OUTPUTS.index(o) for o in ("usd_per_mtok", "gross_margin",
                                                 "profit_usd_per_mw_year")])
    a, sa = get_backend("numba", parallel=False).compute(inputs, codes, np.dtype(np.float64))
    b, sb = get_backend("numba", parallel=True).compute(inputs, codes, np.dtype(np.float64))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa.nan_counts, sb.nan_counts)
    assert sa.nan_counts[0] > 0   # the zero utilizations were counted


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="unknown backend 'tpu'.*cupy"):
        get_backend("tpu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_extremes_as_integer_keys_equal_numpy(dtype):
    """The kernel folds each stored row's extremes as integer keys (vectorized without
    fast-math): equal to NumPy's fmin/fmax on negatives, zeros of both signs, subnormals,
    infinities, rows with NaN and all-NaN rows."""
    import numba

    from sweep.kernels import cpu

    @numba.njit
    def keys(o, has_nan):
        return cpu.row_keys(o, has_nan)

    rng = np.random.default_rng(11)
    rows = [rng.normal(0, 1e3, 257), np.array([-0.0, 0.0, -1e-45, 1e-45, 5.0]),
            np.array([np.inf, -np.inf, 1.0]), np.array([np.nan, -2.0, np.nan, 3.0]),
            np.array([np.nan, np.nan]), np.array([7.5])]
    for row in rows:
        o = row.astype(dtype)
        lo, hi = keys(o, bool(np.isnan(o).any()))
        got = cpu.keys_to_values(np.array([lo, hi]), dtype)
        with np.errstate(invalid="ignore"):
            want = [np.fmin.reduce(o), np.fmax.reduce(o)]
        np.testing.assert_array_equal(got, np.asarray(want, dtype=np.float64))
