"""The cost family: what a GPU-hour costs and what a token costs, from prices, capital,
power and delivered throughput.

Inputs are data (:data:`INPUTS`); each formula is a plain scalar function whose parameters
are the nodes it reads (see :mod:`sweep.model.family`). Units are in each docstring;
``HOURS_PER_YEAR`` is 8760 throughout. :func:`reference` restates the family with NumPy
broadcasting, written independently of the scalar formulas: the oracle the compiled
backends are tested against.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sweep.model.family import Family, Input

NAN = math.nan
HOURS_PER_YEAR = 8760.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MTOK = 1.0e6
#: The article's contrast: the input metric a buyer compares (higher is better) and the
#: output metric that pays (lower is better); the summary puts them side by side.
INPUT_METRIC, OUTPUT_METRIC = "pflops_per_usd_hour", "usd_per_mtok"

INPUTS = (
    Input("gpu_hour_usd", "USD/GPU/h",
          "rental price, or any all-in hourly price given directly", 0.0, 0.0, 1.0e4),
    Input("capex_usd_per_gpu", "USD/GPU",
          "owned hardware, all-in per GPU (server, network, storage share)", 0.0, 0.0, 1.0e7),
    Input("lifetime_years", "years", "depreciation life", 5.0, 0.1, 100.0),
    Input("cost_of_capital", "1/year",
          "annual rate; the capital recovery factor turns capex into an hourly cost",
          0.08, 0.0, 1.0),
    Input("opex_usd_per_gpu_hour", "USD/GPU/h", "maintenance, staff, colocation",
          0.0, 0.0, 1.0e3),
    Input("kw_per_gpu", "kW",
          "IT power per GPU at load, all-in (GPU, host, network share)", 1.0, 0.0, 100.0),
    Input("pue", "1", "facility power / IT power", 1.2, 1.0, 10.0),
    Input("electricity_usd_per_kwh", "USD/kWh", "energy price", 0.08, 0.0, 10.0),
    Input("tokens_per_s_per_gpu", "tokens/s", "delivered throughput at full load",
          None, 0.0, 1.0e9),
    Input("utilization", "1",
          "fraction of hours spent producing tokens (0 is accepted and gives NaN costs)",
          1.0, 0.0, 1.0),
    Input("price_usd_per_mtok", "USD/Mtok", "selling price, for margins", None, 0.0, 1.0e6),
    Input("peak_pflops", "PFLOP/s",
          "peak dense throughput at the precision served, for the input metric",
          None, 0.0, 1.0e6),
)
#: Short names for axis labels (the descriptions above are the full sentences).
LABELS = {"gpu_hour_usd": "GPU-hour price", "capex_usd_per_gpu": "capex per GPU",
          "lifetime_years": "lifetime", "cost_of_capital": "cost of capital",
          "opex_usd_per_gpu_hour": "opex per GPU-hour", "kw_per_gpu": "power per GPU",
          "pue": "PUE", "electricity_usd_per_kwh": "electricity price",
          "tokens_per_s_per_gpu": "tokens/s per GPU", "utilization": "utilization",
          "price_usd_per_mtok": "price per million tokens", "peak_pflops": "peak PFLOP/s"}
INPUTS = tuple(dataclasses.replace(i, label=LABELS[i.name]) for i in INPUTS)

FAMILY = Family(
    name="cost", module=__name__, inputs=INPUTS, defaults_always=True,
    description="cost per GPU-hour and per token from prices, capital, power and throughput",
    notes=("CRF(r, n) = r (1 + r)^n / ((1 + r)^n - 1) in 1/year, and 1 / n when r = 0",))


# --------------------------------------------------------------------------- helpers


@FAMILY.helper
def per_mtok(usd_per_hour, tokens_per_s, utilization):
    """An hourly cost in USD per million delivered tokens:
    ``usd_per_hour / (tokens_per_s * utilization * 3600) * 1e6``; NaN when the delivered
    tokens per hour are not positive."""
    tokens_per_hour = tokens_per_s * utilization * SECONDS_PER_HOUR
    if not tokens_per_hour > 0.0:
        return NAN
    return usd_per_hour / tokens_per_hour * TOKENS_PER_MTOK


# --------------------------------------------------------------------------- intermediates


@FAMILY.intermediate("1/year", "capital recovery factor")
def capital_recovery_factor(cost_of_capital, lifetime_years):
    """Capital recovery factor in 1/year: the annuity that repays 1 USD over the lifetime.

    ``r * (1 + r)**n / ((1 + r)**n - 1)``, written with ``log1p`` and ``expm1`` so that
    small rates lose no digits; its limit at ``r == 0`` is ``1 / n`` (straight-line
    depreciation). NaN unless ``n > 0``.
    """
    if not lifetime_years > 0.0:
        return NAN
    if cost_of_capital == 0.0:
        return 1.0 / lifetime_years
    # (1+r)^-n = exp(-n log1p(r));  CRF = r / (1 - (1+r)^-n)
    denom = -math.expm1(-lifetime_years * math.log1p(cost_of_capital))
    if not denom > 0.0:
        return NAN
    return cost_of_capital / denom


@FAMILY.intermediate("USD/GPU/h", "hourly capital cost")
def capital_usd_per_gpu_hour(capex_usd_per_gpu, capital_recovery_factor):
    """Hourly capital cost in USD/GPU/h: ``capex * CRF / 8760``."""
    return capex_usd_per_gpu * capital_recovery_factor / HOURS_PER_YEAR


@FAMILY.intermediate("USD/GPU/h", "hourly energy cost")
def energy_usd_per_gpu_hour(kw_per_gpu, pue, electricity_usd_per_kwh):
    """Hourly energy cost in USD/GPU/h: ``kW * PUE * USD/kWh`` (power drawn every hour)."""
    return kw_per_gpu * pue * electricity_usd_per_kwh


# --------------------------------------------------------------------------- outputs


@FAMILY.output("USD/GPU/h", "all-in cost per GPU-hour",
               "gpu_hour_usd + capex_usd_per_gpu * CRF(cost_of_capital, lifetime_years) / 8760"
               " + opex_usd_per_gpu_hour + kw_per_gpu * pue * electricity_usd_per_kwh",
               sign="positive")
def usd_per_gpu_hour(gpu_hour_usd, capital_usd_per_gpu_hour, opex_usd_per_gpu_hour,
                     energy_usd_per_gpu_hour):
    """All-in cost in USD/GPU/h: rent + capital + opex + energy."""
    return gpu_hour_usd + capital_usd_per_gpu_hour + opex_usd_per_gpu_hour \
        + energy_usd_per_gpu_hour


@FAMILY.output("USD/Mtok", "cost per million delivered tokens",
               "usd_per_gpu_hour / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               sign="positive")
def usd_per_mtok(usd_per_gpu_hour, tokens_per_s_per_gpu, utilization):
    """Cost in USD per million delivered tokens; NaN when no tokens are delivered."""
    return per_mtok(usd_per_gpu_hour, tokens_per_s_per_gpu, utilization)


@FAMILY.output("tokens/s/MW", "throughput per facility megawatt",
               "tokens_per_s_per_gpu * 1000 / (kw_per_gpu * pue)", sign="positive")
def tokens_per_s_per_mw(tokens_per_s_per_gpu, kw_per_gpu, pue):
    """Throughput per facility megawatt in tokens/s/MW at full load."""
    facility_kw = kw_per_gpu * pue
    if not facility_kw > 0.0:
        return NAN
    return tokens_per_s_per_gpu * 1000.0 / facility_kw


@FAMILY.output("J/token", "facility energy per token at full load",
               "kw_per_gpu * pue * 1000 / tokens_per_s_per_gpu", sign="positive")
def joules_per_token(kw_per_gpu, pue, tokens_per_s_per_gpu):
    """Facility energy per token in J/token at full load: ``kW * PUE * 1000 / tps``."""
    if not tokens_per_s_per_gpu > 0.0:
        return NAN
    return kw_per_gpu * pue * 1000.0 / tokens_per_s_per_gpu


@FAMILY.output("PFLOP/s per USD/h", "peak compute per hourly dollar",
               "peak_pflops / usd_per_gpu_hour", sign="positive")
def pflops_per_usd_hour(peak_pflops, usd_per_gpu_hour):
    """The input metric, in PFLOP/s per USD/h: ``peak_pflops / usd_per_gpu_hour``."""
    if not usd_per_gpu_hour > 0.0:
        return NAN
    return peak_pflops / usd_per_gpu_hour


@FAMILY.output("USD/Mtok", "margin per million tokens", "price_usd_per_mtok - usd_per_mtok",
               sign="signed")
def margin_usd_per_mtok(price_usd_per_mtok, usd_per_mtok):
    """Margin in USD/Mtok: selling price minus cost."""
    return price_usd_per_mtok - usd_per_mtok


@FAMILY.output("1", "gross margin as a fraction of price",
               "(price_usd_per_mtok - usd_per_mtok) / price_usd_per_mtok", sign="signed")
def gross_margin(price_usd_per_mtok, usd_per_mtok):
    """Gross margin as a fraction of price, ``(price - cost) / price``; NaN unless price > 0."""
    if not price_usd_per_mtok > 0.0:
        return NAN
    return (price_usd_per_mtok - usd_per_mtok) / price_usd_per_mtok


@FAMILY.output("1", "utilization at which revenue equals cost",
               "usd_per_gpu_hour * 1e6 / (price_usd_per_mtok * tokens_per_s_per_gpu * 3600)",
               sign="positive", ratio=False)
def breakeven_utilization(usd_per_gpu_hour, price_usd_per_mtok, tokens_per_s_per_gpu):
    """Utilization (fraction of hours) at which revenue equals cost, since every hourly
    cost is paid whether the GPU is busy or not. Above 1 means no utilization breaks even."""
    revenue_per_hour_at_full_load = (price_usd_per_mtok * tokens_per_s_per_gpu
                                     * SECONDS_PER_HOUR / TOKENS_PER_MTOK)
    if not revenue_per_hour_at_full_load > 0.0:
        return NAN
    return usd_per_gpu_hour / revenue_per_hour_at_full_load


@FAMILY.output("Mtok/GPU/year", "delivered million tokens per GPU-year",
               "tokens_per_s_per_gpu * utilization * 3600 * 8760 / 1e6", sign="positive")
def mtok_per_gpu_year(tokens_per_s_per_gpu, utilization):
    """Delivered million tokens per GPU-year."""
    return (tokens_per_s_per_gpu * utilization * SECONDS_PER_HOUR * HOURS_PER_YEAR
            / TOKENS_PER_MTOK)


@FAMILY.output("USD/MW/year", "profit per facility megawatt-year",
               "margin_usd_per_mtok * mtok_per_gpu_year * 1000 / (kw_per_gpu * pue)", sign="signed")
def profit_usd_per_mw_year(margin_usd_per_mtok, mtok_per_gpu_year, kw_per_gpu, pue):
    """Profit in USD per facility-MW-year: margin x delivered Mtok per GPU-year x GPUs/MW."""
    facility_kw = kw_per_gpu * pue
    if not facility_kw > 0.0:
        return NAN
    return margin_usd_per_mtok * mtok_per_gpu_year * 1000.0 / facility_kw


@FAMILY.output("USD/Mtok", "rent part of the cost per million tokens",
               "gpu_hour_usd / (tokens_per_s_per_gpu * utilization * 3600) * 1e6", sign="signed",
               ratio=True)
def usd_per_mtok_rent(gpu_hour_usd, tokens_per_s_per_gpu, utilization):
    """The rent part of :func:`usd_per_mtok`."""
    return per_mtok(gpu_hour_usd, tokens_per_s_per_gpu, utilization)


@FAMILY.output("USD/Mtok", "capital part of the cost per million tokens",
               "capex_usd_per_gpu * CRF / 8760 / (tokens_per_s_per_gpu * utilization * 3600)"
               " * 1e6", sign="signed",
               ratio=True)
def usd_per_mtok_capital(capital_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization):
    """The capital part of :func:`usd_per_mtok`."""
    return per_mtok(capital_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization)


@FAMILY.output("USD/Mtok", "opex part of the cost per million tokens",
               "opex_usd_per_gpu_hour / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               sign="signed",
               ratio=True)
def usd_per_mtok_opex(opex_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization):
    """The opex part of :func:`usd_per_mtok`."""
    return per_mtok(opex_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization)


@FAMILY.output("USD/Mtok", "energy part of the cost per million tokens",
               "kw_per_gpu * pue * electricity_usd_per_kwh"
               " / (tokens_per_s_per_gpu * utilization * 3600) * 1e6", sign="signed",
               ratio=True)
def usd_per_mtok_energy(energy_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization):
    """The energy part of :func:`usd_per_mtok`."""
    return per_mtok(energy_usd_per_gpu_hour, tokens_per_s_per_gpu, utilization)


# --------------------------------------------------------------------------- the oracle


def reference(x: dict[str, np.ndarray]) -> dict[str, object]:
    """The family as plain NumPy broadcasting, float64, with explicit zero-denominator NaNs.

    ``x`` maps every input (and every node the sweep binds) to an array that broadcasts
    against the chunk. Returns, per output and intermediate, a function computing it (so
    that only what is asked for is computed). A node present in ``x`` is taken from there:
    a bound node is a leaf. Written independently of the scalar formulas above.
    """

    def safe_div(num, den):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    memo: dict[str, np.ndarray] = {}

    def node(name, make):
        def get():
            if name in x:
                return x[name]
            if name not in memo:
                memo[name] = make()
            return memo[name]
        return get

    def crf():
        rate, years = x["cost_of_capital"], x["lifetime_years"]
        annuity = safe_div(rate, -np.expm1(-years * np.log1p(rate)))
        return np.where(years > 0, np.where(rate == 0, safe_div(1.0, years), annuity), np.nan)

    n: dict[str, object] = {}
    n["capital_recovery_factor"] = node("capital_recovery_factor", crf)
    n["capital_usd_per_gpu_hour"] = node(
        "capital_usd_per_gpu_hour",
        lambda: x["capex_usd_per_gpu"] * n["capital_recovery_factor"]() / 8760.0)
    n["energy_usd_per_gpu_hour"] = node(
        "energy_usd_per_gpu_hour",
        lambda: x["kw_per_gpu"] * x["pue"] * x["electricity_usd_per_kwh"])
    n["usd_per_gpu_hour"] = node(
        "usd_per_gpu_hour",
        lambda: (x["gpu_hour_usd"] + n["capital_usd_per_gpu_hour"]()
                 + x["opex_usd_per_gpu_hour"] + n["energy_usd_per_gpu_hour"]()))

    def tps():
        return x["tokens_per_s_per_gpu"]

    def util():
        return x["utilization"]

    def mtok_of(hourly):
        return safe_div(hourly, tps() * util() * 3600.0) * 1e6

    def facility_kw():
        return x["kw_per_gpu"] * x["pue"]

    def price():
        return x["price_usd_per_mtok"]

    n["usd_per_mtok"] = node("usd_per_mtok", lambda: mtok_of(n["usd_per_gpu_hour"]()))
    n["tokens_per_s_per_mw"] = node("tokens_per_s_per_mw",
                                    lambda: safe_div(tps() * 1000.0, facility_kw()))
    n["joules_per_token"] = node("joules_per_token",
                                 lambda: safe_div(facility_kw() * 1000.0, tps()))
    n["pflops_per_usd_hour"] = node("pflops_per_usd_hour",
                                    lambda: safe_div(x["peak_pflops"], n["usd_per_gpu_hour"]()))
    n["margin_usd_per_mtok"] = node("margin_usd_per_mtok",
                                    lambda: price() - n["usd_per_mtok"]())
    n["gross_margin"] = node("gross_margin",
                             lambda: safe_div(price() - n["usd_per_mtok"](), price()))
    n["breakeven_utilization"] = node(
        "breakeven_utilization",
        lambda: safe_div(n["usd_per_gpu_hour"](), price() * tps() * 3600.0 / 1e6))
    n["mtok_per_gpu_year"] = node("mtok_per_gpu_year",
                                  lambda: tps() * util() * 3600.0 * 8760.0 / 1e6)
    n["profit_usd_per_mw_year"] = node(
        "profit_usd_per_mw_year",
        lambda: safe_div(n["margin_usd_per_mtok"]() * n["mtok_per_gpu_year"]() * 1000.0,
                         facility_kw()))
    n["usd_per_mtok_rent"] = node("usd_per_mtok_rent", lambda: mtok_of(x["gpu_hour_usd"]))
    n["usd_per_mtok_capital"] = node("usd_per_mtok_capital",
                                     lambda: mtok_of(n["capital_usd_per_gpu_hour"]()))
    n["usd_per_mtok_opex"] = node("usd_per_mtok_opex",
                                  lambda: mtok_of(x["opex_usd_per_gpu_hour"]))
    n["usd_per_mtok_energy"] = node("usd_per_mtok_energy",
                                    lambda: mtok_of(n["energy_usd_per_gpu_hour"]()))
    return n


FAMILY.better(usd_per_gpu_hour="lower", usd_per_mtok="lower", tokens_per_s_per_mw="higher",
              joules_per_token="lower", pflops_per_usd_hour="higher",
              margin_usd_per_mtok="higher", gross_margin="higher",
              breakeven_utilization="lower", mtok_per_gpu_year="higher",
              profit_usd_per_mw_year="higher", usd_per_mtok_rent="lower",
              usd_per_mtok_capital="lower", usd_per_mtok_opex="lower",
              usd_per_mtok_energy="lower")
FAMILY.reference = reference


def explain(per_label: dict[str, dict[str, float]], num=lambda v: f"{v:.4g}",
            shown: dict[str, dict[str, float]] | None = None) -> list[str]:
    """The rent-only arithmetic of the headline, for people to check by hand, where a
    categorical axis sets both the hourly price and the throughput: ``per_label`` maps
    input names to ``{label: value}`` for the inputs the axis sets; ``num`` formats the
    result; ``shown`` holds the outputs the summary's table shows at the same point
    (``{output: {label: value}}``). Under its own heading, and nothing where the table
    already shows the same cost per token (no other cost, full utilization)."""
    if "gpu_hour_usd" not in per_label or "tokens_per_s_per_gpu" not in per_label:
        return []
    rent = {}
    for label, p in per_label["gpu_hour_usd"].items():
        t = per_label["tokens_per_s_per_gpu"][label]
        rent[label] = (p, t, p / (t * SECONDS_PER_HOUR) * TOKENS_PER_MTOK if t > 0 else NAN)
    table = (shown or {}).get(OUTPUT_METRIC)
    if table and all(math.isclose(table[lab], v, rel_tol=1e-6) for lab, (_, _, v)
                     in rent.items() if lab in table):
        return []
    lines = ["to check by hand, the rent alone at full utilization (not an all-in cost): "
             "gpu_hour_usd / (tokens_per_s_per_gpu x 3600) x 1e6"]
    for label, (p, t, v) in rent.items():
        lines.append(f"  {label}: {p:g} / ({t:g} x 3600) x 1e6 = {num(v)} USD/Mtok")
    return lines


FAMILY.explain = explain
