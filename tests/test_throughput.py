"""The throughput family: roofline limits, monotonicity, backends against the NumPy oracle,
integer inputs, derived against given throughput, presets as axes, and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sweep
from conftest import GPU_BACKENDS, gpu_backend_problem
from sweep.model import default_model
from sweep.model import throughput as tp
from sweep.spec.config import ConfigError, spec_from_dict
from sweep.spec.presets import load_calibrations, load_models, load_presets

MODEL = default_model()

#: DeepSeek-R1 (FP8 weights and KV) on 8 x HGX H200 at InferenceX's 8k/1k means
#: (0.9 x nominal): shared/reference/throughput-model.md section 5.1, row 11.
DSR1_H200 = dict(
    hbm_tb_s=4.8, hbm_gb=141.0, peak_pflops=1.979, gpus_per_replica=8.0,
    params_shared_b=17.12, params_experts_b=653.91, experts=256.0, experts_per_token=8.0,
    bytes_per_weight=1.0, kv_bytes_per_token=35136.0,
    attn_flops_per_context_token=16990208.0, concurrency=64.0, input_tokens=7373.0,
    output_tokens=922.0, disaggregated=0.0, tokens_per_step=1.0, hbm_usable=0.9,
    activation_gb=0.0, mbu=1.0, mfu=1.0, mfu_prefill=1.0, step_overhead_ms=0.0)


def at(**change) -> dict:
    """The throughput family's nodes at DSR1_H200 with ``change``, in plain Python."""
    point = {**DSR1_H200, **change}
    names = [f.name for f in tp.FAMILY.formulas if f.name != "usd_per_mtok_output"]
    return MODEL.evaluate(point, names)


def test_the_reference_point_reads_what_the_research_notes_read():
    v = at()
    # 584 GB of touched weights + 17.6 GB of KV per step; 15.7 ms ideal at the memory bound
    assert v["weight_bytes"] / 1e9 == pytest.approx(585.3, rel=1e-3)
    assert v["decode_memory_s"] * 1e3 == pytest.approx(15.70, rel=2e-3)
    assert v["decode_compute_s"] * 1e3 == pytest.approx(0.84, rel=2e-2)
    assert v["roofline_bound"] == tp.BOUND_MEMORY
    assert v["batch"] == 64.0


def test_small_batches_are_memory_bound_and_huge_bandwidth_makes_them_compute_bound():
    assert at(concurrency=1.0)["roofline_bound"] == tp.BOUND_MEMORY
    fast = at(hbm_tb_s=1000.0, concurrency=512.0)
    assert fast["roofline_bound"] == tp.BOUND_COMPUTE
    assert fast["decode_compute_s"] > fast["decode_memory_s"]


def test_a_batch_touches_k_over_e_experts_at_one_and_all_of_them_when_large():
    p = DSR1_H200
    one = at(concurrency=1.0)["weight_bytes"]
    assert one == pytest.approx(1e9 * (p["params_shared_b"] + p["params_experts_b"] * 8 / 256),
                                rel=1e-12)
    big = at(concurrency=1000.0, hbm_gb=1e4)["weight_bytes"]
    assert big == pytest.approx(1e9 * (p["params_shared_b"] + p["params_experts_b"]), rel=1e-9)
    # every expert used by every token: all of them at batch 1
    assert at(experts_per_token=256.0, concurrency=1.0)["weight_bytes"] == \
        pytest.approx(1e9 * (p["params_shared_b"] + p["params_experts_b"]), rel=1e-12)


def test_capacity_caps_the_batch_and_a_model_that_does_not_fit_is_nan():
    v = at(concurrency=5000.0)
    assert v["batch"] == v["max_batch"] < 5000.0
    assert v["roofline_bound"] == tp.BOUND_CAPACITY
    free = 0.9 * 8 * 141e9 - (17.12 + 653.91) * 1e9 * 1.0 - 0.0
    assert v["max_batch"] == math.floor(free / (35136.0 * (7373 + 922)))
    none = at(gpus_per_replica=4.0)          # 507 GB usable < 671 GB of weights
    assert none["max_batch"] < 1
    assert all(math.isnan(none[k]) for k in ("batch", "tokens_per_s_per_gpu",
                                             "roofline_bound", "step_ms"))


def test_disaggregation_removes_the_prefill_and_mtp_multiplies_interactivity():
    agg, dis = at(), at(disaggregated=1.0)
    assert dis["prefill_s"] == 0.0 < agg["prefill_s"]
    assert dis["tokens_per_s_per_user"] > agg["tokens_per_s_per_user"]
    mtp = at(tokens_per_step=2.0, disaggregated=1.0)
    # at the memory bound the step costs the same bytes: twice the tokens per step
    assert mtp["tokens_per_s_per_user"] == pytest.approx(2 * dis["tokens_per_s_per_user"])
    assert at()["tokens_per_s_per_gpu"] == pytest.approx(
        at()["output_tokens_per_s_per_gpu"] * (7373 + 922) / 922)


def grid(backend: str, tmp_path, extra_axes=None, outputs=None) -> dict:
    """A small materialized throughput grid on ``backend``: every output, as arrays."""
    consts = {k: v for k, v in DSR1_H200.items()
              if k not in ("hbm_tb_s", "mbu", "step_overhead_ms", "concurrency",
                           "gpus_per_replica", "disaggregated")}
    consts.update(gpu_hour_usd=2.0, utilization=0.7)
    axes = {"gpus_per_replica": {"values": [4, 8, 16]},
            "disaggregated": {"values": [0, 1]},
            "hbm_tb_s": {"values": [2.0, 4.8, 9.6]},
            "mbu": {"values": [0.3, 0.6, 1.0]},
            "step_overhead_ms": {"values": [0.0, 3.0, 6.0]},
            "concurrency": {"values": [1, 2, 16, 128, 1024, 4096]}}
    axes.update(extra_axes or {})
    outs = outputs or ["usd_per_mtok", "usd_per_mtok_output", "tokens_per_s_per_gpu",
                       "tokens_per_s_per_user", "step_ms", "ttft_s", "max_batch", "batch",
                       "roofline_bound", "joules_per_token"]
    spec = spec_from_dict({"name": "tp", "axes": axes, "constants": consts, "outputs": outs,
                           "backend": backend, "store": str(tmp_path / f"{backend}.zarr")})
    result = sweep.run(spec, overwrite=True, progress=False)
    ds = sweep.open_result(result.store).load()
    return {o: ds[o].values for o in outs}


@pytest.mark.parametrize("backend", ["numba", *GPU_BACKENDS])
def test_backends_equal_the_numpy_oracle_with_identical_nan_masks(backend, tmp_path):
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    ref = grid("numpy", tmp_path)
    got = grid(backend, tmp_path)
    assert np.isnan(ref["batch"]).any() and not np.isnan(ref["batch"]).all()
    assert set(np.unique(ref["roofline_bound"][~np.isnan(ref["roofline_bound"])])) == {0, 1, 2}
    for name, r in ref.items():
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(r), err_msg=name)
        ok = ~np.isnan(r)
        np.testing.assert_allclose(got[name][ok], r[ok], rtol=1e-12, err_msg=name)


def test_cost_falls_with_bandwidth_and_mbu_and_rises_with_step_overhead(tmp_path):
    v = grid("numba", tmp_path, outputs=["usd_per_mtok"])["usd_per_mtok"]
    # dims: gpus_per_replica, disaggregated, hbm_tb_s, mbu, step_overhead_ms, concurrency
    with np.errstate(invalid="ignore"):
        for axis, sign in ((2, -1), (3, -1), (4, 1)):
            step = np.diff(v, axis=axis) * sign
            assert (step[~np.isnan(step)] >= 0).all(), axis
            assert (step[~np.isnan(step)] > 0).any(), axis


def test_derived_throughput_equals_the_same_value_given(tmp_path):
    derived = at()["tokens_per_s_per_gpu"]
    consts = {**DSR1_H200, "gpu_hour_usd": 2.0}
    a = sweep.run(spec_from_dict({"name": "d", "axes": {"utilization": {"values": [0.5, 1.0]}},
                                  "constants": consts, "outputs": ["usd_per_mtok"],
                                  "store": str(tmp_path / "d.zarr")}), progress=False)
    b = sweep.run(spec_from_dict({"name": "g", "axes": {"utilization": {"values": [0.5, 1.0]}},
                                  "constants": {"gpu_hour_usd": 2.0,
                                                "tokens_per_s_per_gpu": derived},
                                  "outputs": ["usd_per_mtok"],
                                  "store": str(tmp_path / "g.zarr")}), progress=False)
    va = sweep.open_result(a.store)["usd_per_mtok"].values
    vb = sweep.open_result(b.store)["usd_per_mtok"].values
    np.testing.assert_allclose(va, vb, rtol=1e-15)
    hourly = 2.0 + 1.0 * 1.2 * 0.08      # rent + energy at the default kW, PUE and price
    assert va[1] == pytest.approx(hourly / (derived * 3600) * 1e6, rel=1e-12)


@pytest.mark.parametrize("name", ["concurrency", "gpus_per_replica", "experts", "disaggregated"])
def test_integer_inputs_are_refused_when_fractional(name):
    with pytest.raises(ConfigError, match=rf"constants.{name}: {name} must be an integer"):
        spec_from_dict({"name": "x", "axes": {"utilization": {"values": [1.0]}},
                        "constants": {**DSR1_H200, name: 1.5}})


def test_missing_throughput_inputs_are_one_error_naming_them_all():
    partial = {k: DSR1_H200[k] for k in ("hbm_tb_s", "concurrency", "input_tokens")}
    with pytest.raises(ConfigError) as err:
        spec_from_dict({"name": "x", "axes": {"utilization": {"values": [1.0]}},
                        "constants": {"gpu_hour_usd": 1.0, **partial},
                        "outputs": ["usd_per_mtok", "tokens_per_s_per_mw"]})
    assert len(err.value.problems) == 1
    text = str(err.value)
    for name in ("hbm_gb", "peak_pflops", "params_shared_b", "bytes_per_weight",
                 "kv_bytes_per_token", "attn_flops_per_context_token", "output_tokens"):
        assert name in text
    assert "hbm_tb_s," not in text and "or give tokens_per_s_per_gpu itself" in text


def preset_sweep(outputs, **axes) -> dict:
    return {"name": "p", "axes": {
        "platform": {"presets": ["HGX H200", "GB300 NVL72"], "precision": "fp8"},
        "llm": {"models": ["DeepSeek-R1", "Llama-3.3-70B"], "weights": "fp8", "kv": "fp8"},
        "stack": {"calibrations": ["theoretical", "tuned-blackwell"]},
        "gpus_per_replica": {"values": [8]}, **axes},
        "constants": {"concurrency": 64, "input_tokens": 7373, "output_tokens": 922},
        "outputs": outputs}


def test_presets_models_and_calibrations_set_the_throughput_inputs():
    plan = sweep.plan(spec_from_dict(preset_sweep(["usd_per_mtok"])))
    axes = {a.name: a for a in plan.axes}
    h200, gb300 = load_presets()["HGX H200"], load_presets()["GB300 NVL72"]
    assert axes["platform"].binds["hbm_tb_s"].tolist() == [h200.hbm_tb_s.value,
                                                           gb300.hbm_tb_s.value]
    assert axes["platform"].binds["hbm_gb"].tolist() == [141.0, 288.0]
    dsr1 = load_models()["DeepSeek-R1"]
    assert axes["llm"].binds["kv_bytes_per_token"].tolist() == [35136.0, 163840.0]
    assert axes["llm"].binds["bytes_per_weight"].tolist() == [1.0, 1.0]
    assert axes["llm"].binds["params_experts_b"][0] == dsr1.params_experts_b
    tuned = load_calibrations()["tuned-blackwell"].factors
    assert axes["stack"].binds["mbu"].tolist() == [1.0, tuned["mbu"].value]
    assert axes["stack"].binds["step_overhead_ms"].tolist() == [0.0, 4.0]


def test_a_platform_preset_sets_hbm_only_where_the_sweep_reads_it():
    given = {"name": "g", "axes": {"platform": {"presets": ["HGX H200"],
                                                "set": {"tokens_per_s_per_gpu": [90]}}}}
    axis = sweep.plan(spec_from_dict(given)).axes[0]
    assert set(axis.binds) == {"gpu_hour_usd", "kw_per_gpu", "peak_pflops",
                               "tokens_per_s_per_gpu"}


def test_a_models_axis_uses_each_models_own_format_unless_told():
    spec = spec_from_dict(preset_sweep(["usd_per_mtok"], llm={"models": ["gpt-oss-120b",
                                                                         "Llama-3.3-70B"]}))
    llm = next(a for a in sweep.plan(spec).axes if a.name == "llm")
    assert llm.binds["bytes_per_weight"].tolist() == [0.53125, 2.0]   # mxfp4, bf16
    assert llm.binds["kv_bytes_per_token"].tolist() == [18432 * 2.0, 163840 * 2.0]


def test_a_calibration_distribution_is_the_regimes_triangular_spread():
    d = {"name": "c", "axes": {}, "sample": {"method": "sobol", "n": 64},
         "distributions": {"mbu": {"calibration": "tuned-hopper"},
                           "step_overhead_ms": {"calibration": "tuned-hopper"}},
         "constants": {**{k: v for k, v in DSR1_H200.items()
                          if k not in ("mbu", "step_overhead_ms")}, "gpu_hour_usd": 2.0}}
    spec = spec_from_dict(d)
    tri = spec.distributions["mbu"].triangular
    f = load_calibrations()["tuned-hopper"].factors["mbu"]
    assert (tri.low, tri.mode, tri.high) == (f.low, f.value, f.high)


REFUSALS = {
    "unknown model": (dict(llm={"models": ["GPT-5"]}), "axes.llm.models[0]", "an LLM preset"),
    "unknown regime": (dict(stack={"calibrations": ["fast"]}), "axes.stack.calibrations[0]",
                       "a calibration preset"),
    "weights off a models axis": (dict(platform={"presets": ["HGX H200"], "weights": "fp8"}),
                                  "axes.platform.weights", "only on a models axis"),
    "kv on a numeric axis": (dict(gpus_per_replica={"values": [8], "kv": "fp8"}),
                             "axes.gpus_per_replica.kv", "only on a models axis"),
    "fractional integer axis": (dict(gpus_per_replica={"values": [8, 2.5]}),
                                "axes.gpus_per_replica.values[1]", "an integer"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_new_axis_refusal_names_its_field(case):
    axes, path, words = REFUSALS[case]
    with pytest.raises(ConfigError) as err:
        spec_from_dict(preset_sweep(["usd_per_mtok"], **axes))
    assert any(p.path == path and words in p.expected for p in err.value.problems), \
        str(err.value)


@pytest.mark.parametrize("entry,words", [
    ({"calibration": "fast"}, "a calibration preset, one of theoretical"),
    ({"calibration": "theoretical"}, "a regime with a spread"),
    ({"calibration": "tuned-hopper", "uniform": {"low": 0.1, "high": 0.2}}, "calibration alone"),
])
def test_calibration_distribution_refusals(entry, words):
    with pytest.raises(ConfigError, match=words):
        spec_from_dict({"name": "c", "sample": {"method": "mc", "n": 8},
                        "distributions": {"mbu": entry}, "constants": {"gpu_hour_usd": 1.0}})
    with pytest.raises(ConfigError, match="the name of a calibration preset"):
        spec_from_dict({"name": "c", "sample": {"method": "mc", "n": 8},
                        "distributions": {"mbu": {"calibration": ["tuned-hopper"]}}})
    with pytest.raises(ConfigError, match="a calibration only for mbu"):
        spec_from_dict({"name": "c", "sample": {"method": "mc", "n": 8},
                        "distributions": {"pue": {"calibration": "tuned-hopper"}}})


def test_nodes_of_the_innermost_axis_alone_are_computed_once_per_chunk():
    """Over a concurrency axis, the batch, the touched experts and the compute and prefill
    times do not depend on the other axes: the row evaluator reads them from the chunk's
    column cache, and the touched-experts exponential is out of its loop."""
    from sweep.model import codegen

    plan = sweep.plan(spec_from_dict({
        "name": "c", "axes": {"mbu": {"values": [0.5, 1.0]},
                              "concurrency": {"values": [1, 8, 64]}},
        "constants": {k: v for k, v in DSR1_H200.items() if k not in ("mbu", "concurrency")},
        "outputs": ["usd_per_mtok", "tokens_per_s_per_user"]}))
    inner, outer = frozenset({"concurrency"}), frozenset({"mbu"})
    cached = codegen.column_nodes(plan.model, plan.outputs, inner, outer)
    assert {"batch", "step_bytes", "decode_compute_s", "prefill_s"} <= set(cached)
    assert "decode_memory_s" not in cached          # it reads mbu
    row = codegen.row_source(plan.model, plan.outputs, inner, False, outer)
    loop = row[row.index("for j in"):]
    assert "F_weight_bytes" not in loop and "F_expert_miss_log" not in row
    assert "F_decode_memory_s" in loop
    column = codegen.column_source(plan.model, plan.outputs, inner, outer)
    assert "F_weight_bytes" in column[column.index("for j in"):]


def test_the_throughput_familys_cuda_c_built_for_the_host_equals_the_oracle(tmp_path):
    """The cupy backend's CUDA C for the roofline (no GPU here: built as host C++) over a
    grid with NaN points (no fit) and all three bounds, against the NumPy oracle."""
    from conftest import assert_cuda_c_matches_oracle

    consts = {k: v for k, v in DSR1_H200.items()
              if k not in ("gpus_per_replica", "hbm_tb_s", "concurrency")}
    plan = sweep.plan(spec_from_dict({
        "name": "c", "axes": {"gpus_per_replica": {"values": [4, 8]},
                              "hbm_tb_s": {"values": [4.8, 1000.0]},
                              "concurrency": {"values": [1, 64, 512, 5000]}},
        "constants": {**consts, "gpu_hour_usd": 2.0},
        "outputs": ["usd_per_mtok", "tokens_per_s_per_user", "ttft_s", "roofline_bound",
                    "usd_per_mtok_output"]}))
    assert_cuda_c_matches_oracle(tmp_path, plan)


@pytest.mark.parametrize("extra", [
    {"constants": {"prefill_s": 0.0}},
    {"constants": {"seconds_per_byte": 1e-13}},
    {"constants": {"decode_s": 0.02}},
    {"derived": {"prefill_s": {"expr": "prefill_s * 0.5", "replace": True}}},
])
def test_a_bound_or_replaced_intermediate_is_read_by_every_backend(extra, tmp_path):
    """Every node of the family is a node of its NumPy oracle too, so that a file may bind
    or replace an intermediate on every backend alike."""
    consts = {k: v for k, v in DSR1_H200.items() if k != "concurrency"}
    values = {}
    for backend in ("numpy", "numba"):
        d = {"name": "b", "axes": {"concurrency": {"values": [1, 16, 256]}},
             "constants": {**consts, "gpu_hour_usd": 2.0, **extra.get("constants", {})},
             "derived": extra.get("derived", {}),
             "outputs": ["step_ms", "usd_per_mtok"], "backend": backend,
             "store": str(tmp_path / f"{backend}.zarr")}
        ds = sweep.open_result(sweep.run(spec_from_dict(d), progress=False).store)
        values[backend] = ds["step_ms"].values
    assert not np.isnan(values["numpy"]).any()
    np.testing.assert_allclose(values["numba"], values["numpy"], rtol=1e-12)
    assert not np.allclose(values["numpy"], [at(concurrency=c)["step_ms"]
                                             for c in (1.0, 16.0, 256.0)])


def test_max_batch_agrees_with_the_oracle_where_the_quotient_is_a_whole_number(tmp_path):
    # 0.9 x 4 x 80 GB - 2 B x 117.12e9 = 53.76 GB free, over 163840 B x 1.5 = 218,750 exactly
    consts = dict(DSR1_H200, hbm_gb=80.0, gpus_per_replica=4.0, bytes_per_weight=2.0,
                  params_shared_b=117.12, params_experts_b=0.0, experts=1.0,
                  experts_per_token=1.0, kv_bytes_per_token=163840.0, input_tokens=1.0,
                  output_tokens=0.5)
    consts.pop("concurrency")
    got = {}
    for backend in ("numpy", "numba"):
        d = {"name": "m", "axes": {"concurrency": {"values": [1]}}, "constants": consts,
             "outputs": ["max_batch"], "backend": backend,
             "store": str(tmp_path / f"{backend}.zarr")}
        ds = sweep.open_result(sweep.run(spec_from_dict(d), progress=False).store)
        got[backend] = float(ds["max_batch"].values[0])
    assert got["numpy"] == got["numba"] == at(**consts, concurrency=1.0)["max_batch"]


def test_an_invalid_routing_has_no_bound_even_when_capacity_caps_the_batch():
    v = at(experts_per_token=300.0, concurrency=5000.0)      # k > E
    assert math.isnan(v["roofline_bound"]) and math.isnan(v["tokens_per_s_per_gpu"])
