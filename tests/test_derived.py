"""A sweep file's own ``inputs:`` and ``derived:`` outputs: compiled into the kernels of
every backend and mode, checked against a whitelist, refused with the usual errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import sweep
from conftest import GPU_BACKENDS, gpu_backend_problem, small_spec_dict
from sweep.spec.config import ConfigError, spec_from_dict

FEE = {
    "inputs": {"licence_usd_per_gpu_hour": {"unit": "USD/GPU/h", "default": 0.0, "low": 0.0,
                                            "high": 100.0, "description": "software licence"}},
    "derived": {
        "usd_per_mtok_with_fee": {"expr": "usd_per_mtok * 1.2 + 0.05", "unit": "USD/Mtok",
                                  "long_name": "cost with a 20 % fee"},
        "usd_per_gpu_hour": {"expr": "usd_per_gpu_hour + licence_usd_per_gpu_hour",
                             "unit": "USD/GPU/h", "replace": True},
        "odd": {"expr": "where(utilization > 0.5, sqrt(usd_per_mtok), log(0.0)) "
                        "+ max(1, pue, 2) ** 2 - abs(-floor(2.5)) + ceil(0.2) + 1 / (pue - 1.2)"},
    },
}


def fee_spec(tmp_path, backend, **extra):
    d = small_spec_dict(**FEE, backend=backend, store=str(tmp_path / f"fee-{backend}.zarr"),
                        outputs=["usd_per_mtok", "usd_per_mtok_with_fee", "odd"])
    d["axes"]["platform"]["set"]["licence_usd_per_gpu_hour"] = [0.5, 2.0]
    d.update(extra)
    return spec_from_dict(d)


def expected(ds):
    """The same numbers written out by hand from the coordinates."""
    price = ds["gpu_hour_usd"].values[:, None, None] + ds["licence_usd_per_gpu_hour"].values[
        :, None, None] + 1.5 * 1.2 * ds["electricity_usd_per_kwh"].values[None, None, :]
    tps = ds["tokens_per_s_per_gpu"].values[:, None, None]
    util = ds["utilization"].values[None, :, None]
    mtok = price / (tps * util * 3600) * 1e6
    odd = np.where(util > 0.5, np.sqrt(mtok), np.nan) + 4 - 2 + 1 + np.nan  # 1/0 -> NaN
    return mtok, mtok * 1.2 + 0.05, np.broadcast_to(odd, mtok.shape)


@pytest.mark.parametrize("backend", ["numpy", "numba", *GPU_BACKENDS])
def test_inputs_and_derived_outputs_on_every_backend(tmp_path, backend):
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    result = sweep.run(fee_spec(tmp_path, backend), overwrite=True)
    ds = sweep.open_result(result.store).load()
    mtok, fee, odd = expected(ds)
    np.testing.assert_allclose(ds["usd_per_mtok"].values, mtok, rtol=1e-12)
    np.testing.assert_allclose(ds["usd_per_mtok_with_fee"].values, fee, rtol=1e-12)
    assert np.isnan(ds["odd"].values).all() and np.isnan(odd).all()
    assert result.nan_counts["odd"] == ds["odd"].size
    attrs = ds["usd_per_mtok_with_fee"].attrs
    assert attrs["units"] == "USD/Mtok" and attrs["long_name"] == "cost with a 20 % fee"
    assert attrs["formula"] == "usd_per_mtok * 1.2 + 0.05"
    assert ds["odd"].attrs["units"] == "1" and ds["odd"].attrs["long_name"] == "odd"


def test_the_nan_policy_of_expressions_on_compiled_and_numpy_backends(tmp_path):
    exprs = {"d0": "1 / (utilization - 0.5)", "d1": "log(utilization - 0.5)",
             "d2": "sqrt(utilization - 0.5)", "d3": "(utilization - 0.75) ** 0.5",
             "d4": "min(utilization, pue) + (utilization >= 0.625) + (0.2 < utilization < 0.9)",
             "d5": "exp(utilization) * sin(pi * utilization) + cos(utilization) - tan(0.1)",
             "d6": "log10(utilization * 100) - -utilization + +1"}
    d = small_spec_dict(derived={k: {"expr": v} for k, v in exprs.items()},
                        outputs=list(exprs))
    got = {}
    for backend in ("numpy", "numba"):
        d.update(backend=backend, store=str(tmp_path / f"n-{backend}.zarr"))
        ds = sweep.open_result(sweep.run(spec_from_dict(d), overwrite=True).store).load()
        got[backend] = {k: ds[k].values for k in exprs}
    u = ds["utilization"].values
    assert np.isnan(got["numba"]["d0"][:, u <= 0.5]).all()
    assert np.isnan(got["numba"]["d1"][:, u <= 0.5]).all()
    assert np.isnan(got["numba"]["d2"][:, u < 0.5]).all()
    assert np.isnan(got["numba"]["d3"][:, u < 0.75]).all()
    np.testing.assert_allclose(got["numba"]["d4"][0, :, 0],
                               u + (u >= 0.625) + ((u > 0.2) & (u < 0.9)))
    for k in exprs:
        np.testing.assert_array_equal(np.isnan(got["numba"][k]), np.isnan(got["numpy"][k]), k)
        np.testing.assert_allclose(got["numba"][k], got["numpy"][k], rtol=1e-13,
                                   equal_nan=True, err_msg=k)


@pytest.mark.parametrize("backend", ["numba", GPU_BACKENDS[0]])
def test_derived_outputs_in_reduce_mode(tmp_path, backend):
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    from sweep.engine.reduce import run_reduce

    grid = fee_spec(tmp_path, "numba")
    ds_grid = sweep.open_result(sweep.run(grid, overwrite=True).store).load()
    spec = fee_spec(tmp_path, backend, reduce={"over": ["utilization",
                                                        "electricity_usd_per_kwh"]},
                    outputs=["usd_per_mtok_with_fee"])
    ds = run_reduce(spec, backend=backend, write=False).dataset
    want = ds_grid["usd_per_mtok_with_fee"]
    np.testing.assert_allclose(ds["usd_per_mtok_with_fee_mean"].values,
                               want.mean(["utilization", "electricity_usd_per_kwh"]).values,
                               rtol=1e-12)
    np.testing.assert_allclose(ds["usd_per_mtok_with_fee_max"].values,
                               want.max(["utilization", "electricity_usd_per_kwh"]).values)


def test_declared_inputs_sampled_and_ishigami_sobol_indices(tmp_path):
    """SALib's Ishigami function as a derived output of three declared inputs gives its
    analytic Sobol' indices through `sweep sensitivity` (a = 7, b = 0.1)."""
    from sweep.engine.sensitivity import run_sensitivity

    pi = math.pi
    spec = spec_from_dict({
        "name": "ishigami", "store": str(tmp_path / "ishigami.zarr"),
        "inputs": {f"x{i}": {"low": -pi, "high": pi} for i in (1, 2, 3)},
        "derived": {"ishigami": {"expr": "sin(x1) + 7 * sin(x2) ** 2 + 0.1 * x3 ** 4 * sin(x1)"}},
        "distributions": {f"x{i}": {"uniform": {"low": -pi, "high": pi}} for i in (1, 2, 3)},
        "sample": {"method": "saltelli", "n": 2**14, "seed": 1},
        "outputs": ["ishigami"]})
    res = run_sensitivity(spec, backend="numba", write=False)
    ds = res.dataset
    # analytic: V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2
    a, b = 7.0, 0.1
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    s1 = np.array([v1 / var, v2 / var, 0.0])
    st = np.array([(v1 + v13) / var, v2 / var, v13 / var])
    np.testing.assert_allclose(ds["S1"].values.ravel(), s1, atol=0.03)
    np.testing.assert_allclose(ds["ST"].values.ravel(), st, atol=0.03)


def test_declared_inputs_in_a_stored_sample(tmp_path):
    spec = spec_from_dict({
        "name": "sampled", "store": str(tmp_path / "s.zarr"),
        "inputs": {"discount": {"low": 0.0, "high": 0.5, "default": 0.1}},
        "derived": {"net": {"expr": "usd_per_mtok * (1 - discount)", "unit": "USD/Mtok"}},
        "constants": {"tokens_per_s_per_gpu": 1000.0, "gpu_hour_usd": 2.0},
        "distributions": {"discount": {"uniform": {"low": 0.0, "high": 0.5}}},
        "sample": {"method": "sobol", "n": 256, "seed": 0},
        "outputs": ["usd_per_mtok", "net"]})
    ds = sweep.open_result(sweep.run(spec, overwrite=True).store).load()
    np.testing.assert_allclose(ds["net"].values, ds["usd_per_mtok"].values
                               * (1 - ds["discount"].values), rtol=1e-12)
    assert ds["discount"].values.min() >= 0 and ds["discount"].values.max() <= 0.5
    assert ds["discount"].attrs["units"] == "1"


# --------------------------------------------------------------------------- refusals

BAD = [
    ("__import__('os')", "__import__"),
    ("().__class__", "().__class__"),
    ("open('x')", "open"),
    ("usd_per_mtok.real", "usd_per_mtok.real"),
    ("usd_per_mtok[0]", "usd_per_mtok[0]"),
    ("(lambda: 1)()", "lambda"),
    ("'text'", "'text'"),
    ("usd_per_mtk * 2", "usd_per_mtk"),
    ("usd_per_mtok if pue else 1", "usd_per_mtok if pue else 1"),
    ("max(1)", "max(1)"),
    ("sqrt(x=1)", "sqrt(x=1)"),
    ("1e999", "inf"),
    ("True + 1", "True"),
    ("1 +", "1 +"),
    ("x" * 10_000, "characters"),
    ("+".join(["1"] * 500), "nested at most"),
    ("(" * 300 + "1" + ")" * 300, "a valid expression"),
]


@pytest.mark.parametrize(("expr", "token"), BAD, ids=[b[0][:20] for b in BAD])
def test_bad_expressions_are_refused_naming_the_path_and_token(expr, token):
    d = small_spec_dict(derived={"bad": {"expr": expr}}, outputs=["bad"])
    with pytest.raises(ConfigError) as err:
        spec_from_dict(d)
    text = str(err.value)
    assert "derived.bad.expr" in text, text
    assert token in text, text


@pytest.mark.parametrize(("section", "path", "words"), [
    ({"derived": {"usd_per_mtok": {"expr": "usd_per_mtok * 2"}}}, "derived.usd_per_mtok",
     "replace: true"),
    ({"derived": {"new": {"expr": "1", "replace": True}}}, "derived.new.replace",
     "replace: true only"),
    ({"derived": {"pue": {"expr": "1"}}}, "derived.pue", "not an input"),
    ({"derived": {"p": {"expr": "q + 1"}, "q": {"expr": "p"}}}, "derived.", "cycle"),
    ({"inputs": {"pue": {"low": 0, "high": 1}}}, "inputs.pue", "already a name"),
    ({"inputs": {"usd_per_mtok": {"low": 0, "high": 1}}}, "inputs.usd_per_mtok",
     "already a name"),
    ({"inputs": {"fee": {"low": 2, "high": 1}}}, "inputs.fee.high", "high >= low"),
    ({"inputs": {"fee": {"low": 0, "high": 1, "default": 5}}}, "inputs.fee.default",
     "a default"),
    ({"inputs": {"log": {"low": 0, "high": 1}}}, "inputs.log", "no keyword or function"),
    ({"inputs": {"fee": {"low": "zero", "high": 1}}}, "inputs.fee.low", "number"),
    ({"inputs": {"fee": {"high": 1}}}, "inputs.fee.low", "required"),
    ({"inputs": {"fee": {"low": 0, "high": 1, "colour": "red"}}}, "inputs.fee.colour",
     "a known key"),
    ({"derived": {"d": {"expr": "1", "replace": "yes"}}}, "derived.d.replace", "bool"),
    ({"inputs": {"fee": {"low": 0, "high": 1, "integer": True}},
      "constants": {"fee": 0.5}}, "constants.fee", "an integer"),
])
def test_bad_declarations_are_refused(section, path, words):
    d = small_spec_dict(**section)
    with pytest.raises(ConfigError) as err:
        spec_from_dict(d)
    assert path in str(err.value) and words in str(err.value), str(err.value)


def test_a_declared_input_without_default_must_be_set():
    d = small_spec_dict(inputs={"fee": {"low": 0, "high": 1}},
                        derived={"with_fee": {"expr": "usd_per_mtok + fee"}},
                        outputs=["with_fee"])
    with pytest.raises(ConfigError, match=r"outputs\[0\].*fee, set"):
        spec_from_dict(d)
    d["constants"]["fee"] = 0.5
    assert spec_from_dict(d).derived["with_fee"].expr == "usd_per_mtok + fee"


def test_the_cli_refuses_a_bad_expression_with_exit_2_and_writes_nothing(tmp_path):
    text = """name: bad
axes: {utilization: {values: [0.5, 1.0]}}
constants: {tokens_per_s_per_gpu: 100}
derived: {evil: {expr: "__import__('os').system('touch pwned')"}}
outputs: [evil]
"""
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "sweep", "run", str(f), "--store",
                           str(tmp_path / "out.zarr")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"{f}: derived.evil.expr" in proc.stderr and "__import__" in proc.stderr
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "pwned").exists()


def test_a_replacing_formula_keeps_the_node_unit_unless_it_gives_one():
    d = small_spec_dict(derived={"usd_per_gpu_hour": {"expr": "usd_per_gpu_hour * 2",
                                                      "replace": True}},
                        outputs=["usd_per_gpu_hour"])
    plan = sweep.plan(spec_from_dict(d))
    meta = plan.model.output_specs["usd_per_gpu_hour"]
    assert meta.unit == "USD/GPU/h" and meta.long_name == "all-in cost per GPU-hour"
    assert meta.formula == "usd_per_gpu_hour * 2"


def test_files_without_the_new_sections_keep_their_config_hash():
    plain = sweep.plan(spec_from_dict(small_spec_dict()))
    empty = sweep.plan(spec_from_dict(small_spec_dict(inputs={}, derived={})))
    assert plain.config_hash == empty.config_hash
    with_fee = sweep.plan(spec_from_dict(small_spec_dict(
        derived={"x": {"expr": "usd_per_mtok * 2"}})))
    assert with_fee.config_hash != plain.config_hash


def test_generated_source_is_compiled_never_run():
    """The functions of generated source are built from their code objects: a statement at
    its top level does not run (no exec, no eval anywhere in the model package)."""
    from pathlib import Path

    from sweep.model.family import define_functions

    ran = []
    fns = define_functions("ran.append(1)\n\ndef f(a):\n    return a + 1\n", "<test>",
                           {"ran": ran})
    assert fns["f"](1) == 2 and ran == []
    root = Path(__file__).resolve().parents[1] / "sweep" / "model"
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "exec(" not in text and "eval(" not in text.replace("_eval(", ""), path


def test_derived_outputs_of_the_same_shape_on_other_nodes_get_their_own_kernels(tmp_path):
    """``2 * gpu_hour_usd`` and ``2 * pue`` compile to the same source (parameters a0, a1,
    ...): the nodes they read are part of the kernel's identity, or the second file would
    reuse the first one's kernel."""
    values = {}
    for name in ("gpu_hour_usd", "pue"):
        spec = spec_from_dict({"name": "same", "axes": {"gpu_hour_usd": {"values": [3.0, 5.0]}},
                               "constants": {"pue": 1.5},
                               "derived": {"twice": {"expr": f"2 * {name}"}},
                               "outputs": ["twice"], "backend": "numba",
                               "store": str(tmp_path / f"{name}.zarr")})
        result = sweep.run(spec, overwrite=True, progress=False)
        values[name] = sweep.open_result(result.store)["twice"].values.tolist()
    assert values == {"gpu_hour_usd": [6.0, 10.0], "pue": [3.0, 3.0]}
