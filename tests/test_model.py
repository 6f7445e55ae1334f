"""The model's formulas: the article's numbers, limits, NaN policy, monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweep.backends import get_backend
from sweep.engine.execute import compute_chunk
from sweep.model import INPUT_SPECS, OUTPUT_SPECS, Model
from sweep.model import cost as f
from sweep.planning.planner import make_plan
from sweep.spec.config import spec_from_dict

# the cost family alone, throughput given (tests/test_throughput.py derives it)
MODEL = Model([f.FAMILY])
OUTPUTS = MODEL.outputs


def point(**leaves):
    """Every leaf: the given values, else the defaults (0 for inputs without one)."""
    values = {n: (s.default if s.default is not None else 0.0)
              for n, s in MODEL.input_specs.items()}
    values.update(leaves)
    return values


def cost_per_hour(rent, capex, crf, opex, kw, pue, elec):
    return f.usd_per_gpu_hour(rent, f.capital_usd_per_gpu_hour(capex, crf), opex,
                              f.energy_usd_per_gpu_hour(kw, pue, elec))


def article_spec(outputs):
    return spec_from_dict({
        "name": "article",
        "axes": {"platform": {"labels": ["HGX H200", "GB300 NVL72"], "set": {
            "gpu_hour_usd": [1.41, 2.65], "tokens_per_s_per_gpu": [90, 6000],
            "kw_per_gpu": [90 / 54000 * 1000, 6000 / 2.8e6 * 1000]}}},
        "constants": {"pue": 1.0, "electricity_usd_per_kwh": 0.0, "utilization": 1.0},
        "outputs": outputs,
    })


def test_article_numbers_recomputed_by_the_formulas():
    h200 = f.usd_per_mtok(1.41, 90.0, 1.0)
    gb300 = f.usd_per_mtok(2.65, 6000.0, 1.0)
    assert h200 == pytest.approx(4.3518518, rel=1e-6)   # the article printed 4.20
    assert round(h200, 2) == 4.35
    assert gb300 == pytest.approx(0.12268518, rel=1e-6)
    assert h200 / gb300 == pytest.approx(35.47, rel=1e-3)     # "35x lower"
    # the printed 4.20 implies about 93.25 tokens/s, through the same formula
    assert f.usd_per_mtok(1.41, 93.25, 1.0) == pytest.approx(4.20, rel=1e-3)


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_article_numbers_through_the_engine(name):
    spec = article_spec(["usd_per_mtok", "tokens_per_s_per_mw", "joules_per_token"])
    plan = make_plan(spec)
    (key,) = list(plan.keys())
    values, stats = compute_chunk(plan, key, get_backend(name))
    usd, per_mw, joules = values
    np.testing.assert_allclose(usd, [4.3518518518, 0.1226851852], rtol=1e-9)
    np.testing.assert_allclose(per_mw, [54_000, 2_800_000], rtol=1e-9)
    np.testing.assert_allclose(joules, [1000 / 54, 1000 / 2800], rtol=1e-9)
    assert usd[0] / usd[1] == pytest.approx(35.47, rel=1e-3)
    assert 50 <= per_mw[1] / per_mw[0] <= 52   # the article's "50x"
    assert stats.nan_counts.tolist() == [0, 0, 0]


def test_capital_recovery_factor_known_values_and_zero_rate_limit():
    # textbook: 8 % over 5 years -> 0.250456
    assert f.capital_recovery_factor(0.08, 5.0) == pytest.approx(0.2504564546, rel=1e-9)
    assert f.capital_recovery_factor(0.0, 4.0) == 0.25
    # continuity at r -> 0: tiny rates give 1/n plus r/2 to first order, no lost digits
    r = 1e-12
    assert f.capital_recovery_factor(r, 4.0) == pytest.approx(0.25 + r / 2, rel=1e-12)
    assert math.isnan(f.capital_recovery_factor(0.08, 0.0))


def test_cost_breakdown_parts_add_up():
    x = point(gpu_hour_usd=2.0, capex_usd_per_gpu=30000.0, cost_of_capital=0.1,
              lifetime_years=4.0, opex_usd_per_gpu_hour=0.3, kw_per_gpu=1.4, pue=1.25,
              electricity_usd_per_kwh=0.09, tokens_per_s_per_gpu=500.0, utilization=0.6,
              price_usd_per_mtok=3.0, peak_pflops=2.0)
    parts = ("usd_per_mtok_rent", "usd_per_mtok_capital", "usd_per_mtok_opex",
             "usd_per_mtok_energy")
    v = MODEL.evaluate(x, (*parts, "usd_per_mtok"))
    assert sum(v[p] for p in parts) == pytest.approx(v["usd_per_mtok"], rel=1e-12)


def test_breakeven_utilization_gives_zero_margin():
    crf = f.capital_recovery_factor(0.08, 5.0)
    cost = cost_per_hour(1.0, 20000.0, crf, 0.2, 1.2, 1.3, 0.1)
    u = f.breakeven_utilization(cost, 3.0, 400.0)
    assert 0 < u < 1
    assert f.margin_usd_per_mtok(3.0, f.usd_per_mtok(cost, 400.0, u)) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("name", OUTPUTS)
def test_zero_denominators_give_nan_not_errors(name):
    # zero throughput, utilization, power and price all at once
    x = point(gpu_hour_usd=1.0, capex_usd_per_gpu=1.0, cost_of_capital=0.08,
              lifetime_years=5.0, opex_usd_per_gpu_hour=0.1, kw_per_gpu=0.0, pue=1.2,
              electricity_usd_per_kwh=0.1, tokens_per_s_per_gpu=0.0, utilization=0.0,
              price_usd_per_mtok=0.0, peak_pflops=1.0)
    v = MODEL.evaluate(x, [name])[name]
    if name in ("usd_per_gpu_hour", "mtok_per_gpu_year", "pflops_per_usd_hour"):
        assert math.isfinite(v)
    else:
        assert math.isnan(v), name


def test_every_input_and_output_is_documented():
    for name, spec in INPUT_SPECS.items():
        assert spec.unit and spec.description and spec.low <= spec.high, name
        if spec.default is not None:
            assert spec.accepts(spec.default), name
    for name, spec in OUTPUT_SPECS.items():
        assert spec.unit and spec.long_name and spec.formula, name
        assert set(spec.needs) <= set(INPUT_SPECS), name


positive = st.floats(0.01, 1e4, allow_nan=False, allow_infinity=False)
fraction = st.floats(0.01, 1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(price=positive, bump=st.floats(1.001, 10), tps=positive, util=fraction,
       kw=st.floats(0.1, 5), elec=st.floats(0.0, 1.0))
def test_cost_rises_with_price_and_falls_with_throughput_and_utilization(
        price, bump, tps, util, kw, elec):
    def mtok(p, t, u):
        return f.usd_per_mtok(cost_per_hour(p, 0.0, 0.2, 0.0, kw, 1.2, elec), t, u)

    base = mtok(price, tps, util)
    assert mtok(price * bump, tps, util) > base
    assert mtok(price, tps * bump, util) < base
    if util * bump <= 1.0:
        assert mtok(price, tps, util * bump) < base


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_engine_cost_rises_with_price_and_falls_with_throughput_and_utilization(name):
    spec = spec_from_dict({
        "name": "mono",
        "axes": {"gpu_hour_usd": {"geomspace": {"start": 0.5, "stop": 20, "num": 7}},
                 "tokens_per_s_per_gpu": {"geomspace": {"start": 10, "stop": 1e4, "num": 6}},
                 "utilization": {"linspace": {"start": 0.05, "stop": 1.0, "num": 9}}},
        "constants": {"capex_usd_per_gpu": 25000.0, "opex_usd_per_gpu_hour": 0.2},
        "outputs": ["usd_per_mtok"], "dtype": "float64",
    })
    plan = make_plan(spec)
    (key,) = list(plan.keys())
    (cost,), _ = compute_chunk(plan, key, get_backend(name))
    assert (np.diff(cost, axis=0) > 0).all()     # price up, cost up
    assert (np.diff(cost, axis=1) < 0).all()     # throughput up, cost down
    assert (np.diff(cost, axis=2) < 0).all()     # utilization up, cost down
