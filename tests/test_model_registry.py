"""The model registry: families declared once, kernels generated from them on every backend,
a family added by one module, an output added by one function, and the graph derived from
the formulas' signatures."""

from __future__ import annotations

import importlib
import io
import re
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest

import sweep
import sweep.model as registry
from conftest import GPU_BACKENDS, gpu_backend_problem
from sweep.model import FAMILIES, Model, ModelError, default_model
from sweep.spec.config import spec_from_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy():
    import toy_family

    registry.register(toy_family.FAMILY)
    yield toy_family.FAMILY
    registry.unregister("toy")


def toy_spec(tmp_path, backend):
    return spec_from_dict({
        "name": "toy", "backend": backend, "store": str(tmp_path / f"toy-{backend}.zarr"),
        "axes": {"toy_a": {"linspace": {"start": 0.0, "stop": 10.0, "num": 6}},
                 "toy_b": {"values": [-3.0, -1.0, 0.0, 2.5, 7.0]}},
        "outputs": ["toy_area", "toy_share"]})


def expected_toy(model, a, b):
    out = np.empty((2, len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            v = model.evaluate({"toy_a": x, "toy_b": y}, ("toy_area", "toy_share"))
            out[:, i, j] = v["toy_area"], v["toy_share"]
    return out


def test_the_graph_is_read_from_the_signatures(toy):
    model = default_model()
    assert {"toy_a", "toy_b"} <= set(model.leaves)
    assert {"toy_area", "toy_share"} <= set(model.outputs)
    assert "toy_sum" not in model.outputs and "toy_sum" in model.formulas
    assert model.needs("toy_share") == ("toy_a", "toy_b")
    assert model.order(["toy_area"]) == ("toy_sum", "toy_area")
    # the cost family's own derivations, formerly written by hand; given throughput, a
    # leaf; derived, the throughput family's inputs
    given = Model(FAMILIES.values(), bound={"tokens_per_s_per_gpu"})
    assert given.needs("joules_per_token") == ("kw_per_gpu", "pue", "tokens_per_s_per_gpu")
    assert "tokens_per_s_per_gpu" not in model.leaves
    assert {"kw_per_gpu", "pue", "hbm_tb_s", "concurrency", "mbu"} <= \
        set(model.needs("joules_per_token"))
    assert model.order(["usd_per_mtok"])[-1] == "usd_per_mtok"
    assert model.order(["usd_per_mtok"]).index("capital_recovery_factor") < \
        model.order(["usd_per_mtok"]).index("usd_per_gpu_hour")


@pytest.mark.parametrize("backend", ["numpy", "numba", *GPU_BACKENDS])
def test_a_toy_family_runs_through_sweep_run(toy, tmp_path, backend):
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    spec = toy_spec(tmp_path, backend)
    result = sweep.run(spec, overwrite=True)
    ds = sweep.open_result(result.store).load()
    a, b = ds["toy_a"].values, ds["toy_b"].values
    want = expected_toy(default_model(), a, b)
    got = np.stack([ds["toy_area"].values, ds["toy_share"].values])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-14, equal_nan=True)
    assert result.nan_counts["toy_share"] == int(np.isnan(want[1]).sum()) > 0
    assert ds["toy_area"].attrs["units"] == "m2"


def test_the_toy_family_as_generated_cuda_c_built_for_the_host(toy, tmp_path):
    """The cupy backend's CUDA C, generated from the toy family's Python source, built as
    host C++ and run over a chunk, against the NumPy reference."""
    from conftest import build_cuda_c_for_host, run_cuda_c_on_host
    from sweep.backends import get_backend, gpu

    spec = toy_spec(tmp_path, "numpy")
    plan = sweep.plan(spec)
    (key,) = list(plan.keys())
    inputs = plan.chunk_inputs(key)
    exe = build_cuda_c_for_host(tmp_path, gpu.cuda_c_source(plan.model, plan.outputs), "-O1")
    got, _ = run_cuda_c_on_host(exe, tmp_path, inputs, 2)
    ref, _ = get_backend("numpy").compute(inputs, plan.output_codes, np.dtype(np.float64))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-14, equal_nan=True)


def test_the_toy_family_as_generated_cuda_c_compiles_with_nvrtc(toy):
    from test_gpu import _nvrtc_ptx

    from sweep.backends import gpu

    model = default_model()
    ptx = _nvrtc_ptx(gpu.cuda_c_source(model, ("toy_area", "toy_share")))
    if ptx is None:
        pytest.skip("NVRTC (cuda-bindings) is not installed")
    assert ".target sm_90" in ptx and ".entry materialize_f64" in ptx


def test_one_function_in_one_file_adds_an_output_to_the_cost_family(tmp_path, monkeypatch):
    (tmp_path / "extra_output.py").write_text('''
import math

from sweep.model.cost import FAMILY


@FAMILY.output("USD/kWh", "cost per facility kWh drawn", "usd_per_gpu_hour / (kw_per_gpu * pue)")
def usd_per_facility_kwh(usd_per_gpu_hour, kw_per_gpu, pue):
    facility_kw = kw_per_gpu * pue
    if not facility_kw > 0.0:
        return math.nan
    return usd_per_gpu_hour / facility_kw
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    from sweep.model import cost

    before = len(cost.FAMILY.formulas)
    importlib.import_module("extra_output")
    try:
        registry._refresh()
        spec = spec_from_dict({
            "name": "extra", "store": str(tmp_path / "extra.zarr"),
            "axes": {"kw_per_gpu": {"values": [0.0, 1.0, 2.0]},
                     "gpu_hour_usd": {"values": [1.0, 3.0]}},
            "outputs": ["usd_per_facility_kwh", "usd_per_gpu_hour"]})
        for backend in ("numba", "numpy"):
            ds = sweep.open_result(sweep.run(spec, backend=backend,
                                             overwrite=True).store).load()
            got = ds["usd_per_facility_kwh"].values
            want = ds["usd_per_gpu_hour"].values[1:] / (ds["kw_per_gpu"].values[1:, None] * 1.2)
            np.testing.assert_allclose(got[1:], want, rtol=1e-14)
            assert np.isnan(got[0]).all()
            assert ds["usd_per_facility_kwh"].attrs["units"] == "USD/kWh"
    finally:
        del cost.FAMILY.formulas[before:]
        sys.modules.pop("extra_output", None)
        registry._refresh()


def test_no_module_outside_the_model_package_names_an_input_or_output():
    """Inputs and outputs are named in the model package only (as string literals or names
    in code; prose in comments and docstrings may mention them). Excluded: the preset data
    records (their fields are the inputs they set) and the benchmark package's sweeps, which
    are sweep files written as Python dicts."""
    model = default_model()
    names = set(model.input_specs) | set(model.formulas)
    excluded = {Path("sweep/spec/presets.py"), Path("sweep/cli.py")}
    offenders = []
    files = [*Path(ROOT / "sweep").rglob("*.py"), *Path(ROOT / "kernels").glob("*.py")]
    for path in files:
        rel = path.relative_to(ROOT)
        if "model" in rel.parts or "benchmark" in rel.parts or rel in excluded:
            continue
        text = path.read_text()
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            value = tok.string
            if tok.type == tokenize.STRING:
                value = re.sub(r"^[rbuf]*(['\"]{1,3})(.*)\1$", r"\2", value, flags=re.S)
            if tok.type in (tokenize.NAME, tokenize.STRING) and value in names:
                offenders.append(f"{rel}:{tok.start[0]}: {tok.string}")
    assert not offenders, "\n".join(offenders)
    # ...and the presets command shows the presets' own fields, not a formula
    cli = (ROOT / "sweep" / "cli.py").read_text()
    assert "def _cmd_presets" in cli


def test_a_cycle_between_derived_outputs_is_refused():
    from sweep.model.user import build

    _, problems = build({}, {"p": {"expr": "q + 1"}, "q": {"expr": "p * 2"}})
    assert any(isinstance(p, ModelError) and "cycle" in p.expected for p in problems)


@pytest.mark.parametrize("backend", ["numpy", "numba", *GPU_BACKENDS])
def test_a_formula_node_bound_by_the_file_is_a_leaf(tmp_path, backend):
    """Binding a node (here the all-in hourly cost) skips its formula: what is downstream
    reads the given values, on every backend."""
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    spec = spec_from_dict({
        "name": "bound", "store": str(tmp_path / f"b-{backend}.zarr"), "backend": backend,
        "axes": {"usd_per_gpu_hour": {"values": [1.0, 2.0, 4.0]},
                 "platform": {"labels": ["a", "b"],
                              "set": {"capital_recovery_factor": [0.2, 0.3],
                                      "tokens_per_s_per_gpu": [100.0, 400.0]}}},
        "constants": {"utilization": 0.5, "capex_usd_per_gpu": 8760.0},
        "outputs": ["usd_per_mtok", "usd_per_mtok_capital"]})
    plan = sweep.plan(spec)
    assert {"usd_per_gpu_hour", "capital_recovery_factor"} <= set(plan.model.leaves)
    assert "usd_per_gpu_hour" not in plan.model.formulas
    ds = sweep.open_result(sweep.run(spec, overwrite=True).store).load()
    hourly = ds["usd_per_gpu_hour"].values[:, None]
    tps = ds["tokens_per_s_per_gpu"].values[None, :]
    np.testing.assert_allclose(ds["usd_per_mtok"].values, hourly / (tps * 0.5 * 3600) * 1e6,
                               rtol=1e-12)
    crf = ds["capital_recovery_factor"].values[None, :]
    np.testing.assert_allclose(ds["usd_per_mtok_capital"].values,
                               np.broadcast_to(8760.0 * crf / 8760 / (tps * 0.5 * 3600) * 1e6,
                                               (3, 2)), rtol=1e-12)
    assert ds["usd_per_gpu_hour"].attrs["units"] == "USD/GPU/h"


def test_a_bound_node_is_not_also_an_output_and_files_binding_inputs_keep_their_model():
    from sweep.spec.config import ConfigError

    with pytest.raises(ConfigError, match=r"outputs\[1\].*given by constants.usd_per_gpu_hour"):
        spec_from_dict({"name": "x", "axes": {"utilization": {"values": [1.0]}},
                        "constants": {"usd_per_gpu_hour": 2.0, "tokens_per_s_per_gpu": 10},
                        "outputs": ["usd_per_mtok", "usd_per_gpu_hour"]})
    plain = sweep.plan(spec_from_dict({"name": "x", "axes": {"gpu_hour_usd": {"values": [1.0]}},
                                       "outputs": ["usd_per_gpu_hour"]}))
    assert plain.model is default_model()
    # throughput given: the throughput family's formula node becomes a leaf, one model for
    # every such file
    given = {"name": "x", "axes": {"utilization": {"values": [1.0]}},
             "constants": {"tokens_per_s_per_gpu": 10}}
    model = sweep.plan(spec_from_dict(given)).model
    assert model.bound == {"tokens_per_s_per_gpu"} and "tokens_per_s_per_gpu" in model.leaves
    assert sweep.plan(spec_from_dict(given)).model is model
