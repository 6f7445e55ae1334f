"""What the model's inputs and outputs are: units, descriptions, defaults, valid ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.formulas import INPUTS, OUTPUTS


@dataclass(frozen=True)
class Input:
    """One model input: its unit, meaning, default (``None``: must be set) and valid range."""

    name: str
    unit: str
    description: str
    default: float | None
    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True

    def expected(self) -> str:
        """The valid range in words, for error messages."""
        lo = "[" if self.low_inclusive else "("
        hi = "]" if self.high_inclusive else ")"
        unit = "(dimensionless)" if self.unit == "1" else self.unit
        return f"a finite number in {lo}{_fmt(self.low)}, {_fmt(self.high)}{hi} {unit}"

    def accepts(self, value: float) -> bool:
        """Whether ``value`` lies in the valid range (NaN and inf never do)."""
        if not math.isfinite(value):
            return False
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below


@dataclass(frozen=True)
class Output:
    """One model output: unit, long name, formula in words and the inputs it reads."""

    name: str
    unit: str
    long_name: str
    formula: str
    needs: tuple[str, ...]


def _fmt(x: float) -> str:
    return f"{x:g}"


_COST = (
    "gpu_hour_usd",
    "capex_usd_per_gpu",
    "lifetime_years",
    "cost_of_capital",
    "opex_usd_per_gpu_hour",
    "kw_per_gpu",
    "pue",
    "electricity_usd_per_kwh",
)
_DELIVERED = ("tokens_per_s_per_gpu", "utilization")

INPUT_SPECS: dict[str, Input] = {
    i.name: i
    for i in (
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
}
assert tuple(INPUT_SPECS) == INPUTS

OUTPUT_SPECS: dict[str, Output] = {
    o.name: o
    for o in (
        Output("usd_per_gpu_hour", "USD/GPU/h", "all-in cost per GPU-hour",
               "gpu_hour_usd + capex_usd_per_gpu * CRF(cost_of_capital, lifetime_years) / 8760"
               " + opex_usd_per_gpu_hour + kw_per_gpu * pue * electricity_usd_per_kwh", _COST),
        Output("usd_per_mtok", "USD/Mtok", "cost per million delivered tokens",
               "usd_per_gpu_hour / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               _COST + _DELIVERED),
        Output("tokens_per_s_per_mw", "tokens/s/MW", "throughput per facility megawatt",
               "tokens_per_s_per_gpu * 1000 / (kw_per_gpu * pue)",
               ("tokens_per_s_per_gpu", "kw_per_gpu", "pue")),
        Output("joules_per_token", "J/token", "facility energy per token at full load",
               "kw_per_gpu * pue * 1000 / tokens_per_s_per_gpu",
               ("tokens_per_s_per_gpu", "kw_per_gpu", "pue")),
        Output("pflops_per_usd_hour", "PFLOP/s per USD/h", "peak compute per hourly dollar",
               "peak_pflops / usd_per_gpu_hour", _COST + ("peak_pflops",)),
        Output("margin_usd_per_mtok", "USD/Mtok", "margin per million tokens",
               "price_usd_per_mtok - usd_per_mtok", _COST + _DELIVERED + ("price_usd_per_mtok",)),
        Output("gross_margin", "1", "gross margin as a fraction of price",
               "(price_usd_per_mtok - usd_per_mtok) / price_usd_per_mtok",
               _COST + _DELIVERED + ("price_usd_per_mtok",)),
        Output("breakeven_utilization", "1", "utilization at which revenue equals cost",
               "usd_per_gpu_hour * 1e6 / (price_usd_per_mtok * tokens_per_s_per_gpu * 3600)",
               _COST + ("tokens_per_s_per_gpu", "price_usd_per_mtok")),
        Output("mtok_per_gpu_year", "Mtok/GPU/year", "delivered million tokens per GPU-year",
               "tokens_per_s_per_gpu * utilization * 3600 * 8760 / 1e6", _DELIVERED),
        Output("profit_usd_per_mw_year", "USD/MW/year", "profit per facility megawatt-year",
               "margin_usd_per_mtok * mtok_per_gpu_year * 1000 / (kw_per_gpu * pue)",
               _COST + _DELIVERED + ("price_usd_per_mtok",)),
        Output("usd_per_mtok_rent", "USD/Mtok", "rent part of the cost per million tokens",
               "gpu_hour_usd / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               ("gpu_hour_usd",) + _DELIVERED),
        Output("usd_per_mtok_capital", "USD/Mtok", "capital part of the cost per million tokens",
               "capex_usd_per_gpu * CRF / 8760 / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               ("capex_usd_per_gpu", "lifetime_years", "cost_of_capital") + _DELIVERED),
        Output("usd_per_mtok_opex", "USD/Mtok", "opex part of the cost per million tokens",
               "opex_usd_per_gpu_hour / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               ("opex_usd_per_gpu_hour",) + _DELIVERED),
        Output("usd_per_mtok_energy", "USD/Mtok", "energy part of the cost per million tokens",
               "kw_per_gpu * pue * electricity_usd_per_kwh"
               " / (tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               ("kw_per_gpu", "pue", "electricity_usd_per_kwh") + _DELIVERED),
    )
}
assert tuple(OUTPUT_SPECS) == OUTPUTS

CRF_FORMULA = (
    "CRF(r, n) = r (1 + r)^n / ((1 + r)^n - 1) in 1/year, and 1 / n when r = 0"
)
