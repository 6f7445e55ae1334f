"""The token-economics formulas, written once as scalar functions of float64 scalars.

These plain-Python functions are the single source of truth for the model. The CPU
kernels (``sweep.kernels.cpu``) and the CUDA kernels compile them with Numba through
:func:`compile_formulas`; the NumPy reference backend is an independent, vectorised
re-statement that the tests hold them against.

Rules every function here follows (so that Numba compiles it for any target):

* scalar float arguments only, ``math`` functions only, no Python objects;
* every division is guarded by an explicit ``denominator > 0`` test that returns NaN
  otherwise (NaN inputs fail the test too), so a zero throughput, utilization, power or
  price gives NaN on every backend, never an exception and never ``inf``;
* a function may call the other functions listed in :data:`FORMULAS` (they are compiled
  in that order and resolved by name).

Units are in each docstring; ``HOURS_PER_YEAR`` is 8760 throughout.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable

NAN = math.nan
HOURS_PER_YEAR = 8760.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MTOK = 1.0e6

#: The model's inputs, in the order every kernel receives them.
INPUTS: tuple[str, ...] = (
    "gpu_hour_usd",
    "capex_usd_per_gpu",
    "lifetime_years",
    "cost_of_capital",
    "opex_usd_per_gpu_hour",
    "kw_per_gpu",
    "pue",
    "electricity_usd_per_kwh",
    "tokens_per_s_per_gpu",
    "utilization",
    "price_usd_per_mtok",
    "peak_pflops",
)
IN = types.SimpleNamespace(**{name.upper(): i for i, name in enumerate(INPUTS)})

#: The model's outputs, in the order of their integer codes.
OUTPUTS: tuple[str, ...] = (
    "usd_per_gpu_hour",
    "usd_per_mtok",
    "tokens_per_s_per_mw",
    "joules_per_token",
    "pflops_per_usd_hour",
    "margin_usd_per_mtok",
    "gross_margin",
    "breakeven_utilization",
    "mtok_per_gpu_year",
    "profit_usd_per_mw_year",
    "usd_per_mtok_rent",
    "usd_per_mtok_capital",
    "usd_per_mtok_opex",
    "usd_per_mtok_energy",
)
OUT = types.SimpleNamespace(**{name.upper(): i for i, name in enumerate(OUTPUTS)})


def capital_recovery_factor(rate, years):
    """Capital recovery factor in 1/year: the annuity that repays 1 USD over ``years``.

    ``rate * (1 + rate)**years / ((1 + rate)**years - 1)``, written with ``log1p`` and
    ``expm1`` so that small rates lose no digits; its limit at ``rate == 0`` is
    ``1 / years`` (straight-line depreciation). NaN unless ``years > 0``.
    """
    if not years > 0.0:
        return NAN
    if rate == 0.0:
        return 1.0 / years
    # (1+r)^-n = exp(-n log1p(r));  CRF = r / (1 - (1+r)^-n)
    denom = -math.expm1(-years * math.log1p(rate))
    if not denom > 0.0:
        return NAN
    return rate / denom


def capital_usd_per_gpu_hour(capex, crf):
    """Hourly capital cost in USD/GPU/h: ``capex * CRF / 8760``."""
    return capex * crf / HOURS_PER_YEAR


def energy_usd_per_gpu_hour(kw, pue, electricity):
    """Hourly energy cost in USD/GPU/h: ``kW * PUE * USD/kWh`` (power drawn every hour)."""
    return kw * pue * electricity


def usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity):
    """All-in cost in USD/GPU/h: rent + capital + opex + energy."""
    return (
        rent
        + capital_usd_per_gpu_hour(capex, crf)
        + opex
        + energy_usd_per_gpu_hour(kw, pue, electricity)
    )


def usd_per_mtok(cost_per_hour, tokens_per_s, utilization):
    """Cost in USD per million delivered tokens.

    ``cost_per_hour / (tokens_per_s * utilization * 3600) * 1e6``; NaN when the delivered
    tokens per hour are not positive.
    """
    tokens_per_hour = tokens_per_s * utilization * SECONDS_PER_HOUR
    if not tokens_per_hour > 0.0:
        return NAN
    return cost_per_hour / tokens_per_hour * TOKENS_PER_MTOK


def tokens_per_s_per_mw(tokens_per_s, kw, pue):
    """Throughput per facility megawatt in tokens/s/MW at full load: ``tps * 1000 / (kW * PUE)``."""
    facility_kw = kw * pue
    if not facility_kw > 0.0:
        return NAN
    return tokens_per_s * 1000.0 / facility_kw


def joules_per_token(kw, pue, tokens_per_s):
    """Facility energy per token in J/token at full load: ``kW * PUE * 1000 / tps``."""
    if not tokens_per_s > 0.0:
        return NAN
    return kw * pue * 1000.0 / tokens_per_s


def pflops_per_usd_hour(peak_pflops, cost_per_hour):
    """The input metric, in PFLOP/s per USD/h: ``peak_pflops / usd_per_gpu_hour``."""
    if not cost_per_hour > 0.0:
        return NAN
    return peak_pflops / cost_per_hour


def margin_usd_per_mtok(price, cost_per_mtok):
    """Margin in USD/Mtok: selling price minus cost."""
    return price - cost_per_mtok


def gross_margin(price, cost_per_mtok):
    """Gross margin as a fraction of price, ``(price - cost) / price``; NaN unless price > 0."""
    if not price > 0.0:
        return NAN
    return (price - cost_per_mtok) / price


def breakeven_utilization(cost_per_hour, price, tokens_per_s):
    """Utilization (fraction of hours) at which revenue equals cost.

    ``cost_per_hour * 1e6 / (price * tokens_per_s * 3600)``, since every hourly cost is
    paid whether the GPU is busy or not. Above 1 means no utilization breaks even.
    """
    revenue_per_hour_at_full_load = price * tokens_per_s * SECONDS_PER_HOUR / TOKENS_PER_MTOK
    if not revenue_per_hour_at_full_load > 0.0:
        return NAN
    return cost_per_hour / revenue_per_hour_at_full_load


def mtok_per_gpu_year(tokens_per_s, utilization):
    """Delivered million tokens per GPU-year: ``tps * utilization * 3600 * 8760 / 1e6``."""
    return tokens_per_s * utilization * SECONDS_PER_HOUR * HOURS_PER_YEAR / TOKENS_PER_MTOK


def profit_usd_per_mw_year(margin, mtok_year, kw, pue):
    """Profit in USD per facility-MW-year: margin x delivered Mtok per GPU-year x GPUs per MW."""
    facility_kw = kw * pue
    if not facility_kw > 0.0:
        return NAN
    return margin * mtok_year * 1000.0 / facility_kw


def output_value(
    code, rent, capex, crf, opex, kw, pue, electricity, tokens_per_s, utilization, price, peak
):
    """Value of output number ``code`` (an index into :data:`OUTPUTS`) at one point.

    ``crf`` is :func:`capital_recovery_factor` of the point's rate and lifetime, passed in so
    that kernels compute it once per row rather than once per point when they can.
    """
    if code == 0:  # usd_per_gpu_hour
        return usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity)
    if code == 1:  # usd_per_mtok
        cost = usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity)
        return usd_per_mtok(cost, tokens_per_s, utilization)
    if code == 2:  # tokens_per_s_per_mw
        return tokens_per_s_per_mw(tokens_per_s, kw, pue)
    if code == 3:  # joules_per_token
        return joules_per_token(kw, pue, tokens_per_s)
    if code == 4:  # pflops_per_usd_hour
        cost = usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity)
        return pflops_per_usd_hour(peak, cost)
    if code == 5 or code == 6 or code == 9:  # margins and profit
        cost = usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity)
        mtok = usd_per_mtok(cost, tokens_per_s, utilization)
        if code == 5:
            return margin_usd_per_mtok(price, mtok)
        if code == 6:
            return gross_margin(price, mtok)
        return profit_usd_per_mw_year(
            margin_usd_per_mtok(price, mtok), mtok_per_gpu_year(tokens_per_s, utilization), kw, pue
        )
    if code == 7:  # breakeven_utilization
        cost = usd_per_gpu_hour(rent, capex, crf, opex, kw, pue, electricity)
        return breakeven_utilization(cost, price, tokens_per_s)
    if code == 8:  # mtok_per_gpu_year
        return mtok_per_gpu_year(tokens_per_s, utilization)
    if code == 10:  # usd_per_mtok_rent
        return usd_per_mtok(rent, tokens_per_s, utilization)
    if code == 11:  # usd_per_mtok_capital
        return usd_per_mtok(capital_usd_per_gpu_hour(capex, crf), tokens_per_s, utilization)
    if code == 12:  # usd_per_mtok_opex
        return usd_per_mtok(opex, tokens_per_s, utilization)
    if code == 13:  # usd_per_mtok_energy
        energy = energy_usd_per_gpu_hour(kw, pue, electricity)
        return usd_per_mtok(energy, tokens_per_s, utilization)
    return NAN


#: Every formula, callees before callers; :func:`compile_formulas` compiles them in order.
FORMULAS: tuple[Callable[..., float], ...] = (
    capital_recovery_factor,
    capital_usd_per_gpu_hour,
    energy_usd_per_gpu_hour,
    usd_per_gpu_hour,
    usd_per_mtok,
    tokens_per_s_per_mw,
    joules_per_token,
    pflops_per_usd_hour,
    margin_usd_per_mtok,
    gross_margin,
    breakeven_utilization,
    mtok_per_gpu_year,
    profit_usd_per_mw_year,
    output_value,
)


def compile_formulas(jit: Callable[[Callable], Callable]) -> types.SimpleNamespace:
    """Compile every formula with ``jit`` (e.g. ``numba.njit(inline="always")`` or a CUDA
    device-function decorator), resolving calls between formulas to the compiled versions.

    Returns a namespace with one compiled function per name in :data:`FORMULAS`.
    """
    namespace = dict(globals())
    compiled = {}
    for fn in FORMULAS:
        clone = types.FunctionType(
            fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__
        )
        clone.__doc__ = fn.__doc__
        compiled[fn.__name__] = namespace[fn.__name__] = jit(clone)
    return types.SimpleNamespace(**compiled)
