"""The model's names that charts give a role (model names live in the model package only:
tests/test_model_registry.py): the parts of the cost per token, break-even against the
selling price, the hourly cost behind iso-cost lines, and throughput against
interactivity."""

from __future__ import annotations

#: The parts of ``usd_per_mtok`` (outputs of the cost family) and what the breakdown calls
#: them; they add up to it.
COST_PARTS = {"usd_per_mtok_rent": "rent", "usd_per_mtok_capital": "capital",
              "usd_per_mtok_opex": "opex", "usd_per_mtok_energy": "energy"}
#: The cost per million tokens the parts add up to.
COST = "usd_per_mtok"
#: Break-even utilization, drawn against the selling price (an input).
BREAKEVEN, SELLING_PRICE = "breakeven_utilization", "price_usd_per_mtok"
#: The utilization input (break-even is read at full load, whatever the headline).
UTILIZATION = "utilization"
#: The all-in hourly cost: a cost per token c is hourly x 1e6 / (3600 c) tokens/s per GPU.
HOURLY_COST = "usd_per_gpu_hour"
#: Throughput per GPU against interactivity (tokens per second each user sees).
PER_GPU, PER_USER = "tokens_per_s_per_gpu", "tokens_per_s_per_user"
