"""The benchmark grid: one 4-D float32 sweep of about N points, shared by every benchmark.

``gpu_hour_usd x tokens_per_s_per_gpu x utilization x electricity_usd_per_kwh``, the
innermost axis long (up to 10^4 values, contiguous in memory and on disk), the three outer
ones about equal; ``kw_per_gpu = 1``, ``pue = 1.2``, no capex or opex; two outputs. With
those constants the model's formulas reduce to::

    usd_per_mtok        = (gpu_hour_usd + kw_per_gpu * pue * electricity_usd_per_kwh)
                          / (tokens_per_s_per_gpu * utilization * 3600) * 1e6
    tokens_per_s_per_mw = tokens_per_s_per_gpu * 1000 / (kw_per_gpu * pue)

which is what ``bench/peers.py`` writes by hand for the libraries a user would otherwise
reach for. No point of the grid divides by zero.
"""

from __future__ import annotations

import math

#: The outputs every benchmark materializes.
OUTPUTS = ("usd_per_mtok", "tokens_per_s_per_mw")
KW_PER_GPU = 1.0
PUE = 1.2
#: Longest innermost axis.
INNER = 10_000
#: (start, stop) of each axis, outermost first.
RANGES = {
    "gpu_hour_usd": (1.0, 4.0),
    "tokens_per_s_per_gpu": (50.0, 8000.0),
    "utilization": (0.3, 1.0),
    "electricity_usd_per_kwh": (0.02, 0.3),
}


def axis_lengths(points: float, inner: int = INNER) -> dict[str, int]:
    """Axis lengths (outermost first) whose product is close to ``points`` (at least 16)."""
    inner = int(min(inner, max(2, points / 8)))
    outer = max(8, round(points / inner))
    a = max(2, round(outer ** (1 / 3)))
    b = max(2, round(math.sqrt(outer / a)))
    c = max(2, round(outer / (a * b)))
    return dict(zip(RANGES, (a, b, c, inner), strict=True))


def grid_spec(points: float, inner: int = INNER, dtype: str = "float32") -> dict:
    """The benchmark sweep of about ``points`` points, as a sweep-file dictionary (give it
    to :func:`sweep.spec.config.spec_from_dict`; add ``store``, ``chunks`` or ``reduce``)."""
    axes = {name: {"linspace": {"start": RANGES[name][0], "stop": RANGES[name][1], "num": n}}
            for name, n in axis_lengths(points, inner).items()}
    return {
        "name": "bench-grid",
        "axes": axes,
        "constants": {"kw_per_gpu": KW_PER_GPU, "pue": PUE},
        "outputs": list(OUTPUTS),
        "dtype": dtype,
    }


# --------------------------------------------------------------------------- throughput

#: The throughput-model grid: the two outputs it materializes, and its axes (outermost
#: first; concurrency innermost, so that the batch, the touched experts and the step time
#: change at every point).
THROUGHPUT_OUTPUTS = ("usd_per_mtok", "tokens_per_s_per_user")
THROUGHPUT_RANGES = {
    "mbu": (0.3, 1.0),
    "hbm_tb_s": (3.0, 10.0),
    "step_overhead_ms": (0.0, 6.0),
    "concurrency": (1.0, None),     # 1, 2, ... (integers)
}
#: DeepSeek-R1 (FP8 weights and KV cache, the models preset's numbers) on 16 GPUs of
#: 141 GB and 1.979 PFLOP/s at 8k/1k, priced at 2 USD/GPU/h, 1 kW all-in: every point
#: fits (at most 4,096 sequences, below max_batch: 4,660), none divides by zero.
THROUGHPUT_CONSTANTS = {
    "gpu_hour_usd": 2.0, "kw_per_gpu": KW_PER_GPU, "pue": PUE, "peak_pflops": 1.979,
    "hbm_gb": 141.0, "gpus_per_replica": 16, "params_shared_b": 17.12,
    "params_experts_b": 653.91, "experts": 256, "experts_per_token": 8,
    "bytes_per_weight": 1.0, "kv_bytes_per_token": 35136.0,
    "attn_flops_per_context_token": 16990208.0, "input_tokens": 7373.0,
    "output_tokens": 922.0,
}
#: Longest concurrency axis.
THROUGHPUT_INNER = 4096


def throughput_grid_spec(points: float, dtype: str = "float32") -> dict:
    """The throughput-model benchmark sweep of about ``points`` points: ``mbu x hbm_tb_s x
    step_overhead_ms x concurrency`` (concurrency 1..4096 innermost), two outputs."""
    lengths = axis_lengths(points, THROUGHPUT_INNER)
    names = list(THROUGHPUT_RANGES)
    axes = {}
    for name, n in zip(names, lengths.values(), strict=True):
        lo, hi = THROUGHPUT_RANGES[name]
        axes[name] = ({"arange": {"start": 1, "stop": n + 1, "step": 1}} if hi is None else
                      {"linspace": {"start": lo, "stop": hi, "num": n}})
    return {
        "name": "bench-throughput-grid",
        "axes": axes,
        "constants": dict(THROUGHPUT_CONSTANTS),
        "outputs": list(THROUGHPUT_OUTPUTS),
        "dtype": dtype,
    }
