"""The throughput family: delivered tokens/s per GPU derived from hardware, model and
serving, by a roofline with calibration factors (the submerged part of the iceberg).

One decode step of a replica of ``N = gpus_per_replica`` GPUs serves ``batch`` sequences.
It reads the weights the batch touches and every sequence's KV cache, and it computes every
token it verifies; it takes the longer of the two, at the achieved fractions ``mbu`` and
``mfu`` of the peaks, plus a fixed overhead ``t0``. In aggregated serving each step also
absorbs its share of prefill. Units (SI unless said): P in parameters (inputs in billions),
``BW = hbm_tb_s * 1e12`` B/s, ``F = peak_pflops * 1e15`` FLOP/s, ``L = input_tokens +
output_tokens / 2`` tokens (the mean context while decoding), ``P_act = P_sh + P_exp k / E``::

    max_batch    = floor((hbm_usable N hbm_gb 1e9 - b_w (P_sh + P_exp) - activation_gb 1e9)
                         / (kv_bytes_per_token (input_tokens + output_tokens)))
    batch        = min(concurrency, max_batch)            NaN when max_batch < 1 (no fit)
    weight_bytes = b_w (P_sh + P_exp (1 - (1 - k/E)^batch))       experts the batch touches
    decode_s     = t0 + max((weight_bytes + batch L kv) / (N BW mbu),
                            batch s (2 P_act + a L) / (N F mfu))
    prefill_s    = (1 - disaggregated) (batch input/output) (2 P_act + a input/2)
                   / (N F mfu_prefill)

Sources of the formulation and its calibration: ``shared/reference/throughput-model.md``
(GenZ, LLM-Viewer and llm-analysis roofline tools; InferenceX measurements). Limits, stated
plainly: an upper bound unless calibrated (``mbu``, ``mfu``, ``t0`` from measurements);
speculative decoding or MTP enters only as ``tokens_per_step``; no queueing, no scheduler
limits on the batch beyond memory capacity, no communication term beyond ``t0``.

As in :mod:`sweep.model.cost`, :func:`reference` restates the family with NumPy, written
independently of the scalar formulas, as the oracle of the compiled backends.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sweep.model.family import Family, Input

NAN = math.nan
NEG_INF = -math.inf
GIGA = 1.0e9
TERA = 1.0e12
PETA = 1.0e15
MS_PER_S = 1000.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MTOK = 1.0e6

#: What :func:`roofline_bound` returns: the bound that sets the decode step (or the batch).
BOUND_MEMORY, BOUND_COMPUTE, BOUND_CAPACITY = 0.0, 1.0, 2.0
BOUND_CODES = {0: "memory: HBM bandwidth sets the decode step",
               1: "compute: peak FLOP/s set the decode step",
               2: "capacity: HBM capacity caps the batch below the requested concurrency"}

INPUTS = (
    # hardware (peak_pflops, the dense peak at the precision served, is the cost family's)
    Input("hbm_tb_s", "TB/s", "HBM bandwidth per GPU (1e12 B/s)", None, 0.0, 1.0e3,
          low_inclusive=False),
    Input("hbm_gb", "GB", "HBM capacity per GPU (1e9 B)", None, 0.0, 1.0e5,
          low_inclusive=False),
    Input("gpus_per_replica", "GPUs",
          "GPUs holding one model replica (TP x PP, or the EP group)", 1.0, 1.0, 1.0e5,
          integer=True),
    # model
    Input("params_shared_b", "1e9 params",
          "billions of parameters read at every decode step (attention, dense FFN, shared "
          "experts, embeddings, LM head; all of them for a dense model)", None, 0.0, 1.0e5,
          low_inclusive=False),
    Input("params_experts_b", "1e9 params",
          "billions of parameters in routed experts (0 for a dense model)", 0.0, 0.0, 1.0e5),
    Input("experts", "1", "routed experts per MoE layer, E (1 for a dense model)",
          1.0, 1.0, 1.0e5, integer=True),
    Input("experts_per_token", "1",
          "routed experts each token uses, k <= E (a point with k > E is NaN)",
          1.0, 1.0, 1.0e5, integer=True),
    Input("bytes_per_weight", "B/param",
          "bytes per weight, scales included: 2 BF16, 1 FP8, 0.5625 NVFP4, 0.53125 MXFP4",
          None, 0.0, 8.0, low_inclusive=False),
    Input("kv_bytes_per_token", "B/token",
          "KV-cache bytes per token of context, all layers, at the KV dtype", None, 0.0,
          1.0e9, low_inclusive=False),
    Input("attn_flops_per_context_token", "FLOP/token",
          "attention FLOP per generated token per token of context", None, 0.0, 1.0e12),
    # serving
    Input("concurrency", "sequences", "requested running sequences (client concurrency)",
          None, 1.0, 1.0e7, integer=True),
    Input("input_tokens", "tokens", "mean prompt length", None, 0.0, 1.0e8,
          low_inclusive=False),
    Input("output_tokens", "tokens", "mean generated length", None, 0.0, 1.0e8,
          low_inclusive=False),
    Input("disaggregated", "1",
          "1: a decode pool that pays no prefill; 0: aggregated serving", 0.0, 0.0, 1.0,
          integer=True),
    Input("tokens_per_step", "tokens/step",
          "tokens accepted per decode step (speculative decoding, MTP); 1 without",
          1.0, 1.0, 64.0),
    Input("hbm_usable", "1", "fraction of HBM the serving engine may fill", 0.9, 0.0, 1.0,
          low_inclusive=False),
    Input("activation_gb", "GB", "GB per replica reserved beyond weights and KV cache",
          0.0, 0.0, 1.0e6),
    # calibration (defaults: the theoretical upper bound)
    Input("mbu", "1", "achieved fraction of HBM bandwidth in decode (1: the roofline)",
          1.0, 0.0, 1.0, low_inclusive=False),
    Input("mfu", "1", "achieved fraction of peak FLOP/s in decode (1: the roofline)",
          1.0, 0.0, 1.0, low_inclusive=False),
    Input("mfu_prefill", "1", "achieved fraction of peak FLOP/s in prefill (1: the roofline)",
          1.0, 0.0, 1.0, low_inclusive=False),
    Input("step_overhead_ms", "ms",
          "fixed cost per decode step, t0 (launches, syncs, collectives, scheduler)",
          0.0, 0.0, 1.0e4),
)

#: Short names for axis labels (the descriptions above are the full sentences).
LABELS = {"hbm_tb_s": "HBM bandwidth", "hbm_gb": "HBM capacity",
          "gpus_per_replica": "GPUs per replica", "params_shared_b": "shared parameters",
          "params_experts_b": "expert parameters", "experts": "experts",
          "experts_per_token": "experts per token", "bytes_per_weight": "bytes per weight",
          "kv_bytes_per_token": "KV bytes per token",
          "attn_flops_per_context_token": "attention FLOP per context token",
          "concurrency": "concurrency", "input_tokens": "input tokens",
          "output_tokens": "output tokens", "disaggregated": "disaggregated",
          "tokens_per_step": "tokens per step", "hbm_usable": "usable HBM fraction",
          "activation_gb": "activation memory", "mbu": "MBU", "mfu": "MFU",
          "mfu_prefill": "prefill MFU", "step_overhead_ms": "step overhead"}
INPUTS = tuple(dataclasses.replace(i, label=LABELS[i.name]) for i in INPUTS)

FAMILY = Family(
    name="throughput", module=__name__, inputs=INPUTS,
    description="tokens/s per GPU from hardware, model and serving: a calibrated roofline",
    notes=("roofline_bound codes: " + "; ".join(f"{k} {v}" for k, v in BOUND_CODES.items()),))


# --------------------------------------------------------------------------- helpers


@FAMILY.helper
def rounded_down(a):
    """``floor(a)`` as a float (NaN stays NaN): Python's float modulo has the divisor's
    sign, so ``a - a % 1`` rounds towards minus infinity (``math.floor`` would give an
    integer, and raise on NaN)."""
    return a - a % 1.0


# --------------------------------------------------------------------------- intermediates


@FAMILY.intermediate("1e9 params", "active parameters per token")
def active_params_b(params_shared_b, params_experts_b, experts_per_token, experts):
    """Parameters one token uses, in billions: ``P_sh + P_exp * k / E``; NaN unless
    ``1 <= k <= E``."""
    if not (experts >= experts_per_token and experts_per_token >= 1.0):
        return NAN
    return params_shared_b + params_experts_b * experts_per_token / experts


@FAMILY.intermediate("1", "log of the chance that one token misses a given expert")
def expert_miss_log(experts_per_token, experts):
    """``log(1 - k/E)`` (``-inf`` when every token uses every expert): the fraction of
    experts a batch of B tokens touches is ``1 - exp(B log(1 - k/E))``. Its own node so
    that it is hoisted out of loops along the batch."""
    if not (experts >= experts_per_token and experts_per_token >= 1.0):
        return NAN
    if experts_per_token == experts:
        return NEG_INF
    return math.log1p(-experts_per_token / experts)


@FAMILY.intermediate("tokens", "mean context while decoding")
def mean_context_tokens(input_tokens, output_tokens):
    """``L = input_tokens + output_tokens / 2`` tokens."""
    return input_tokens + output_tokens / 2.0


@FAMILY.intermediate("FLOP/token", "prefill FLOP per prompt token")
def prefill_flops_per_token(active_params_b, attn_flops_per_context_token, input_tokens):
    """``2 P_act + a * input_tokens / 2`` FLOP per prompt token (causal attention sees half
    the prompt on average)."""
    return 2.0 * active_params_b * GIGA + attn_flops_per_context_token * input_tokens / 2.0


@FAMILY.intermediate("B", "weight bytes one decode step reads")
def weight_bytes(bytes_per_weight, params_shared_b, params_experts_b, expert_miss_log, batch):
    """``b_w (P_sh + P_exp (1 - (1 - k/E)^batch))`` bytes: the shared weights and the
    experts the batch touches (``k/E`` of them at batch 1, all of them at large batch)."""
    touched = -math.expm1(batch * expert_miss_log)
    return bytes_per_weight * GIGA * (params_shared_b + params_experts_b * touched)


@FAMILY.intermediate("s/B", "seconds per byte the replica reads")
def seconds_per_byte(gpus_per_replica, hbm_tb_s, mbu):
    """``1 / (N BW mbu)`` s/B, the replica's achieved bandwidth inverted (a node of its
    own, so that the decode step multiplies by it instead of dividing at every point)."""
    bandwidth = gpus_per_replica * hbm_tb_s * TERA * mbu
    if not bandwidth > 0.0:
        return NAN
    return 1.0 / bandwidth


@FAMILY.intermediate("B", "bytes one decode step reads")
def step_bytes(weight_bytes, batch, mean_context_tokens, kv_bytes_per_token):
    """``weight_bytes + batch L kv`` bytes: the touched weights, shared by the batch, and
    every sequence's KV cache."""
    return weight_bytes + batch * mean_context_tokens * kv_bytes_per_token


@FAMILY.intermediate("s", "decode step time at the memory bound")
def decode_memory_s(step_bytes, seconds_per_byte):
    """``(weight_bytes + batch L kv) / (N BW mbu)`` seconds."""
    return step_bytes * seconds_per_byte


@FAMILY.intermediate("s", "decode step time at the compute bound")
def decode_compute_s(batch, tokens_per_step, active_params_b, attn_flops_per_context_token,
                     mean_context_tokens, gpus_per_replica, peak_pflops, mfu):
    """``batch s (2 P_act + a L) / (N F mfu)`` seconds."""
    flops = gpus_per_replica * peak_pflops * PETA * mfu
    if not flops > 0.0:
        return NAN
    per_token = 2.0 * active_params_b * GIGA + attn_flops_per_context_token \
        * mean_context_tokens
    return batch * tokens_per_step * per_token / flops


@FAMILY.intermediate("s", "decode time per step")
def decode_s(step_overhead_ms, decode_memory_s, decode_compute_s):
    """``t0 + max(memory, compute)`` seconds (NaN when either is NaN)."""
    if decode_memory_s >= decode_compute_s:
        return step_overhead_ms / MS_PER_S + decode_memory_s
    if decode_compute_s > decode_memory_s:
        return step_overhead_ms / MS_PER_S + decode_compute_s
    return NAN


@FAMILY.intermediate("s", "prefill time absorbed per decode step")
def prefill_s(disaggregated, batch, input_tokens, output_tokens, prefill_flops_per_token,
              gpus_per_replica, peak_pflops, mfu_prefill):
    """``(1 - disaggregated) (batch input/output) (2 P_act + a input/2) / (N F mfu_pf)``
    seconds: each step absorbs the prompts of the ``batch / output_tokens`` sequences that
    start per step; 0 for a disaggregated decode pool."""
    if disaggregated == 1.0:
        return 0.0
    flops = gpus_per_replica * peak_pflops * PETA * mfu_prefill
    if not (flops > 0.0 and output_tokens > 0.0):
        return NAN
    return batch * input_tokens / output_tokens * prefill_flops_per_token / flops


@FAMILY.intermediate("1/GPU", "share of a replica each GPU carries")
def replica_share(gpus_per_replica):
    """``1 / N``: what one GPU of the replica delivers of the replica's tokens."""
    if not gpus_per_replica > 0.0:
        return NAN
    return 1.0 / gpus_per_replica


@FAMILY.intermediate("1", "tokens per output token")
def tokens_per_output_token(input_tokens, output_tokens):
    """``(input_tokens + output_tokens) / output_tokens``: total tokens (InferenceX's
    basis) per generated token."""
    if not output_tokens > 0.0:
        return NAN
    return (input_tokens + output_tokens) / output_tokens


@FAMILY.intermediate("s", "time per decode step, prefill included")
def step_s(decode_s, prefill_s):
    """``decode_s + prefill_s`` seconds."""
    return decode_s + prefill_s


# --------------------------------------------------------------------------- outputs


@FAMILY.output("sequences", "most sequences the HBM holds",
               "floor((hbm_usable * N * hbm_gb * 1e9 - bytes_per_weight * (P_sh + P_exp) * 1e9"
               " - activation_gb * 1e9) / (kv_bytes_per_token * (input_tokens"
               " + output_tokens)))", sign="positive")
def max_batch(hbm_usable, gpus_per_replica, hbm_gb, bytes_per_weight, params_shared_b,
              params_experts_b, activation_gb, kv_bytes_per_token, input_tokens,
              output_tokens):
    """Running sequences whose KV cache fits beside the weights (below 1: the model does
    not fit)."""
    per_sequence = kv_bytes_per_token * (input_tokens + output_tokens)
    if not per_sequence > 0.0:
        return NAN
    free_gb = (hbm_usable * gpus_per_replica * hbm_gb
               - bytes_per_weight * (params_shared_b + params_experts_b) - activation_gb)
    return rounded_down(free_gb * GIGA / per_sequence)


@FAMILY.output("sequences", "running sequences (decode batch)",
               "min(concurrency, max_batch); NaN when max_batch < 1", sign="positive")
def batch(concurrency, max_batch):
    """The decode batch: the requested concurrency, capped by capacity; NaN (counted) when
    not one sequence fits."""
    if not max_batch >= 1.0:
        return NAN
    if concurrency <= max_batch:
        return concurrency
    return max_batch


@FAMILY.output("ms", "time per decode step", "1000 * (decode_s + prefill_s)", sign="positive")
def step_ms(step_s):
    """Time per decode step in ms, the absorbed prefill included (the TPOT)."""
    return step_s * MS_PER_S


@FAMILY.output("tokens/s/user", "interactivity: tokens per second each user sees",
               "tokens_per_step / (decode_s + prefill_s)", sign="positive")
def tokens_per_s_per_user(tokens_per_step, step_s):
    """Tokens/s per user (interactivity): ``tokens_per_step / step_s``."""
    if not step_s > 0.0:
        return NAN
    return tokens_per_step / step_s


@FAMILY.output("tokens/s", "output tokens per second per GPU",
               "batch * tokens_per_step / (N * (decode_s + prefill_s))", sign="positive")
def output_tokens_per_s_per_gpu(batch, tokens_per_s_per_user, replica_share):
    """Generated tokens/s per GPU: ``batch s / (N step_s)``, the batch's interactivity
    shared by the replica's GPUs."""
    return batch * tokens_per_s_per_user * replica_share


@FAMILY.output("tokens/s", "delivered throughput at full load (input and output tokens)",
               "output_tokens_per_s_per_gpu * (input_tokens + output_tokens) / output_tokens",
               sign="positive")
def tokens_per_s_per_gpu(output_tokens_per_s_per_gpu, tokens_per_output_token):
    """Total (input + output) tokens/s per GPU, the InferenceX basis the article's table
    uses: what the cost family's outputs divide by when the file does not give it."""
    return output_tokens_per_s_per_gpu * tokens_per_output_token


@FAMILY.output("s", "time to first token (prefill, no queueing)",
               "input_tokens * (2 P_act + a * input_tokens / 2) / (N * F * mfu_prefill)",
               sign="positive")
def ttft_s(input_tokens, prefill_flops_per_token, gpus_per_replica, peak_pflops,
           mfu_prefill):
    """Seconds to prefill one prompt on the replica (compute-bound; no queueing)."""
    flops = gpus_per_replica * peak_pflops * PETA * mfu_prefill
    if not flops > 0.0:
        return NAN
    return input_tokens * prefill_flops_per_token / flops


@FAMILY.output("USD/Mtok", "cost per million output tokens",
               "usd_per_gpu_hour / (output_tokens_per_s_per_gpu * utilization * 3600) * 1e6",
               sign="positive")
def usd_per_mtok_output(usd_per_gpu_hour, output_tokens_per_s_per_gpu, utilization):
    """Cost per million generated tokens (what API buyers compare)."""
    tokens_per_hour = output_tokens_per_s_per_gpu * utilization * SECONDS_PER_HOUR
    if not tokens_per_hour > 0.0:
        return NAN
    return usd_per_gpu_hour / tokens_per_hour * TOKENS_PER_MTOK


@FAMILY.output("1", "which bound binds: 0 memory, 1 compute, 2 capacity",
               "2 if max_batch < concurrency, else 0 if the memory time >= the compute time,"
               " else 1; NaN when the model does not fit", sign="signed")
def roofline_bound(concurrency, max_batch, decode_memory_s, decode_compute_s):
    """The bound that sets the throughput, as a code (see :data:`BOUND_CODES`): capacity
    when the HBM caps the batch below the requested concurrency, else the longer of the
    decode step's memory and compute times."""
    if not max_batch >= 1.0:
        return NAN
    if not (decode_memory_s == decode_memory_s and decode_compute_s == decode_compute_s):
        return NAN   # an invalid point (k > E, say): no bound
    if max_batch < concurrency:
        return BOUND_CAPACITY
    if decode_memory_s >= decode_compute_s:
        return BOUND_MEMORY
    return BOUND_COMPUTE


# --------------------------------------------------------------------------- the oracle


def reference(x) -> dict[str, object]:
    """The family as plain NumPy broadcasting (see :func:`sweep.model.cost.reference`):
    per node a function computing it; a node present in ``x`` (a bound node) is taken from
    there, and a node of another family (``usd_per_gpu_hour``) is read from ``x`` too, which
    resolves it through that family's oracle. Written independently of the scalar
    formulas: powers instead of the exponential of a logarithm, divisions where the scalar
    formulas multiply by reciprocals."""

    def positive_div(num, den):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    memo: dict[str, np.ndarray] = {}
    n: dict[str, object] = {}

    def node(name):
        def deco(make):
            def get():
                if name in x:
                    return x[name]
                if name not in memo:
                    with np.errstate(all="ignore"):
                        memo[name] = make()
                return memo[name]
            n[name] = get
            return get
        return deco

    def routing_ok():
        k, e = x["experts_per_token"], x["experts"]
        return (k >= 1) & (k <= e)

    def peak(eff):
        return x["gpus_per_replica"] * x["peak_pflops"] * 1e15 * eff

    @node("active_params_b")
    def _():
        k, e = x["experts_per_token"], x["experts"]
        return np.where(routing_ok(), x["params_shared_b"] + x["params_experts_b"] * k / e,
                        np.nan)

    @node("expert_miss_log")
    def _():   # log(1 - k/E); -inf where every token uses every expert
        frac = np.where(routing_ok(), x["experts_per_token"] / x["experts"], np.nan)
        return np.log(1.0 - frac)

    @node("mean_context_tokens")
    def _():
        return x["input_tokens"] + 0.5 * x["output_tokens"]

    @node("prefill_flops_per_token")
    def _():
        return 2e9 * n["active_params_b"]() \
            + x["attn_flops_per_context_token"] * x["input_tokens"] / 2

    @node("max_batch")
    def _():
        free = (x["hbm_usable"] * x["gpus_per_replica"] * x["hbm_gb"]
                - x["bytes_per_weight"] * (x["params_shared_b"] + x["params_experts_b"])
                - x["activation_gb"]) * 1e9
        per_seq = x["kv_bytes_per_token"] * (x["input_tokens"] + x["output_tokens"])
        q = positive_div(free, per_seq)
        return np.where(np.isfinite(q), np.floor(q), np.nan)

    @node("batch")
    def _():
        mb = n["max_batch"]()
        return np.where(mb >= 1, np.minimum(x["concurrency"], mb), np.nan)

    @node("weight_bytes")
    def _():
        q = np.exp(n["expert_miss_log"]())          # 1 - k/E
        touched = 1.0 - np.power(q, n["batch"]())
        return x["bytes_per_weight"] * 1e9 * (x["params_shared_b"]
                                             + x["params_experts_b"] * touched)

    @node("step_bytes")
    def _():
        return n["weight_bytes"]() + n["batch"]() * n["mean_context_tokens"]() \
            * x["kv_bytes_per_token"]

    @node("seconds_per_byte")
    def _():
        return positive_div(1.0, x["gpus_per_replica"] * x["hbm_tb_s"] * 1e12 * x["mbu"])

    @node("decode_memory_s")
    def _():
        return n["step_bytes"]() * n["seconds_per_byte"]()

    @node("decode_compute_s")
    def _():
        flops = 2e9 * n["active_params_b"]() \
            + x["attn_flops_per_context_token"] * n["mean_context_tokens"]()
        return positive_div(n["batch"]() * x["tokens_per_step"] * flops, peak(x["mfu"]))

    @node("decode_s")
    def _():   # NaN-propagating max
        return x["step_overhead_ms"] * 1e-3 + np.maximum(n["decode_memory_s"](),
                                                        n["decode_compute_s"]())

    @node("prefill_s")
    def _():
        per_step = n["batch"]() * positive_div(x["input_tokens"], x["output_tokens"])
        pre = positive_div(per_step * n["prefill_flops_per_token"](), peak(x["mfu_prefill"]))
        return np.where(x["disaggregated"] == 1, 0.0, pre)

    @node("step_s")
    def _():
        return n["decode_s"]() + n["prefill_s"]()

    @node("replica_share")
    def _():
        return positive_div(1.0, x["gpus_per_replica"])

    @node("tokens_per_output_token")
    def _():
        return positive_div(x["input_tokens"] + x["output_tokens"], x["output_tokens"])

    @node("step_ms")
    def _():
        return n["step_s"]() * 1e3

    @node("tokens_per_s_per_user")
    def _():
        return positive_div(x["tokens_per_step"], n["step_s"]())

    @node("output_tokens_per_s_per_gpu")
    def _():
        return n["batch"]() * n["tokens_per_s_per_user"]() * n["replica_share"]()

    @node("tokens_per_s_per_gpu")
    def _():
        return n["output_tokens_per_s_per_gpu"]() * n["tokens_per_output_token"]()

    @node("ttft_s")
    def _():
        return positive_div(x["input_tokens"] * n["prefill_flops_per_token"](),
                            peak(x["mfu_prefill"]))

    @node("usd_per_mtok_output")
    def _():
        hourly = n["output_tokens_per_s_per_gpu"]() * x["utilization"] * 3600.0
        return positive_div(x["usd_per_gpu_hour"], hourly) * 1e6

    @node("roofline_bound")
    def _():
        mb = n["max_batch"]()
        mem, cmp_ = n["decode_memory_s"](), n["decode_compute_s"]()
        code = np.where(mb < x["concurrency"], 2.0, np.where(mem >= cmp_, 0.0, 1.0))
        return np.where((mb >= 1) & ~np.isnan(mem) & ~np.isnan(cmp_), code, np.nan)

    return n


FAMILY.better(max_batch="higher", batch="higher", step_ms="lower",
              tokens_per_s_per_user="higher", output_tokens_per_s_per_gpu="higher",
              tokens_per_s_per_gpu="higher", ttft_s="lower", usd_per_mtok_output="lower")
FAMILY.reference = reference
