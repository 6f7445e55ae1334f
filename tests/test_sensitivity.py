"""Sobol' indices streamed over a Saltelli design, tornado swings and elasticities: SALib as
the oracle, an analytic case, independence from chunking and backend, and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from sweep.backends import get_backend
from sweep.cli import main
from sweep.engine.sensitivity import make_sensitivity_plan, run_sensitivity
from sweep.model import INPUT_SPECS
from sweep.planning.sampling import saltelli_block, saltelli_matrix
from sweep.spec.config import spec_from_dict


def study(n: int = 64, chunk: int | None = None, seed: int = 7, **extra) -> dict:
    d = {
        "name": "sens-test",
        "outputs": ["usd_per_mtok", "gross_margin"],
        "distributions": {
            "gpu_hour_usd": {"uniform": {"low": 1.0, "high": 4.0}},
            "utilization": {"triangular": {"low": 0.3, "mode": 0.6, "high": 0.9}},
            "tokens_per_s_per_gpu": {"lognormal": {"median": 2000, "sigma": 0.4}},
            "electricity_usd_per_kwh": {"loguniform": {"low": 0.03, "high": 0.2}},
            "lifetime_years": {"discrete": {"values": [3, 4, 5], "probs": [0.3, 0.4, 0.3]}},
        },
        "constants": {"capex_usd_per_gpu": 30000.0, "price_usd_per_mtok": 2.0},
        "sample": {"method": "saltelli", "n": n, "seed": seed},
    }
    if chunk:
        d["sample"]["chunk"] = chunk
    d.update(extra)
    return d


def salib_indices(spec, group: dict[str, int] | None = None) -> list[dict]:
    """SALib's own analysis of the same design, evaluated by the NumPy reference backend."""
    from SALib.analyze import sobol

    plan = make_sensitivity_plan(spec)
    a, b = saltelli_block(spec, 0, spec.sample.n)
    x = saltelli_matrix(a, b)
    y, _ = get_backend("numpy").compute(plan.inputs(x), plan.codes, np.dtype(np.float64))
    if group:
        y = y[(slice(None), *group.values())]
    problem = {"num_vars": plan.d, "names": list(plan.names), "bounds": [[0, 1]] * plan.d}
    return [sobol.analyze(problem, y[k], calc_second_order=False, seed=1)
            for k in range(len(plan.outputs))]


def test_indices_equal_salib_on_the_same_design():
    spec = spec_from_dict(study(n=128, chunk=32))
    ds = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    for k, ref in enumerate(salib_indices(spec)):
        np.testing.assert_allclose(ds["S1"].values[k], ref["S1"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(ds["ST"].values[k], ref["ST"], rtol=0, atol=1e-10)
        # both report 95 % half-widths of bootstraps (SALib's over rows, ours over batches)
        assert np.all(ds["S1_conf"].values[k] > 0)
        assert np.all(ds["ST_conf"].values[k] < 10 * ref["ST_conf"] + 0.05)


def test_indices_per_label_of_a_categorical_axis_equal_salib():
    spec = spec_from_dict(study(n=64, axes={"site": {"labels": ["cool", "hot"],
                                                     "set": {"pue": [1.1, 1.6]}}}))
    ds = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    assert ds["S1"].dims == ("output", "site", "input")
    for g, label in enumerate(["cool", "hot"]):
        for k, ref in enumerate(salib_indices(spec, {"site": g})):
            got = ds.sel(site=label).isel(output=k)
            np.testing.assert_allclose(got["S1"].values, ref["S1"], rtol=0, atol=1e-10)
            np.testing.assert_allclose(got["ST"].values, ref["ST"], rtol=0, atol=1e-10)


def test_product_of_lognormals_matches_the_analytic_indices():
    """usd_per_mtok = g / (tps * util) * 1e6 / 3600 with nothing else in the cost: a product
    of independent lognormals X_i (sigma_i), whose indices are known in closed form with
    a_i = exp(sigma_i^2): S1_i = (a_i - 1) / (prod a - 1), and
    ST_i = 1 - (prod_{j != i} a_j - 1) / (prod a - 1)."""
    sigmas = {"gpu_hour_usd": 0.5, "tokens_per_s_per_gpu": 0.3, "utilization": 0.1}
    medians = {"gpu_hour_usd": 2.0, "tokens_per_s_per_gpu": 2000.0, "utilization": 0.5}
    spec = spec_from_dict({
        "name": "lognormal-product",
        "distributions": {k: {"lognormal": {"median": medians[k], "sigma": s}}
                          for k, s in sigmas.items()},
        "constants": {"electricity_usd_per_kwh": 0.0},
        "sample": {"method": "saltelli", "n": 2**15, "seed": 1},
    })
    ds = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    a = {k: math.exp(s * s) for k, s in sigmas.items()}
    total = math.prod(a.values()) - 1
    for name in sigmas:
        s1 = (a[name] - 1) / total
        st = 1 - (math.prod(v for k, v in a.items() if k != name) - 1) / total
        got = ds.sel(output="usd_per_mtok", input=name)
        assert abs(float(got["S1"]) - s1) < max(3 * float(got["S1_conf"]), 0.01), name
        assert abs(float(got["ST"]) - st) < max(3 * float(got["ST_conf"]), 0.01), name
    # and the elasticities of a product are its exponents
    np.testing.assert_allclose(ds["elasticity"].sel(output="usd_per_mtok").values,
                               [1.0, -1.0, -1.0], atol=1e-6)


def test_results_do_not_depend_on_chunking():
    one = run_sensitivity(spec_from_dict(study(n=256, chunk=256)), write=False,
                          backend="numba", progress=False).dataset
    many = run_sensitivity(spec_from_dict(study(n=256, chunk=4)), write=False,
                           backend="numba", progress=False, num_workers=2).dataset
    for name in ("S1", "ST", "S1_conf", "ST_conf", "variance", "mean"):
        np.testing.assert_array_equal(one[name].values, many[name].values, err_msg=name)


def test_results_do_not_depend_on_the_backend():
    spec = spec_from_dict(study(n=64))
    ref = run_sensitivity(spec, write=False, backend="numpy", progress=False).dataset
    got = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    for name in ("S1", "ST", "elasticity", "output_at_low", "output_at_high"):
        np.testing.assert_allclose(got[name].values, ref[name].values, rtol=1e-9, atol=1e-12,
                                   err_msg=name)


@pytest.mark.gpu
def test_cuda_backend_gives_the_same_indices():
    """The CUDA kernel (a real GPU, or the simulator on a CPU) on a tiny design."""
    spec = spec_from_dict(study(n=8))
    ref = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    got = run_sensitivity(spec, write=False, backend="cuda", progress=False).dataset
    for name in ("S1", "ST", "elasticity"):
        np.testing.assert_allclose(got[name].values, ref[name].values, rtol=1e-9, atol=1e-12)


def test_same_seed_same_indices_other_seed_others():
    a = run_sensitivity(spec_from_dict(study(n=64, seed=3)), write=False, progress=False)
    b = run_sensitivity(spec_from_dict(study(n=64, seed=3)), write=False, progress=False)
    c = run_sensitivity(spec_from_dict(study(n=64, seed=4)), write=False, progress=False)
    np.testing.assert_array_equal(a.dataset["S1"].values, b.dataset["S1"].values)
    assert not np.array_equal(a.dataset["S1"].values, c.dataset["S1"].values)


def test_tornado_swings_are_one_at_a_time_evaluations():
    from scipy import stats

    spec = spec_from_dict(study(n=16))
    ds = run_sensitivity(spec, write=False, backend="numba", progress=False).dataset
    g = ds.sel(input="gpu_hour_usd")
    assert float(g["input_low"]) == pytest.approx(1.0 + 3.0 * 0.05)
    assert float(g["input_high"]) == pytest.approx(1.0 + 3.0 * 0.95)
    tps = ds.sel(input="tokens_per_s_per_gpu")
    assert float(tps["input_base"]) == pytest.approx(2000.0, rel=1e-9)
    assert float(tps["input_high"]) == pytest.approx(
        float(stats.lognorm(0.4, scale=2000).ppf(0.95)), rel=1e-3)
    # the output at gpu_hour_usd's P95, the rest at the medians, by hand
    util = float(ds["input_base"].sel(input="utilization"))
    elec = float(ds["input_base"].sel(input="electricity_usd_per_kwh"))
    years = float(ds["input_base"].sel(input="lifetime_years"))
    crf = 0.08 / (1 - (1.08) ** -years)   # cost_of_capital's default, 8 %/year
    kw, pue = INPUT_SPECS["kw_per_gpu"].default, INPUT_SPECS["pue"].default
    cost = float(g["input_high"]) + 30000 * crf / 8760 + kw * pue * elec
    expected = cost / (2000.0 * util * 3600) * 1e6
    assert float(g["output_at_high"].sel(output="usd_per_mtok")) == pytest.approx(expected,
                                                                                  rel=1e-9)
    # cost per token falls as throughput and utilization rise, one for one
    np.testing.assert_allclose(
        ds["elasticity"].sel(output="usd_per_mtok",
                             input=["tokens_per_s_per_gpu", "utilization"]).values,
        [-1.0, -1.0], atol=1e-6)


def test_constant_output_has_zero_indices():
    d = study(n=32)
    d["outputs"] = ["tokens_per_s_per_mw"]   # depends on none of the sampled inputs left
    for name in ("tokens_per_s_per_gpu", "utilization"):
        del d["distributions"][name]
    d["constants"]["tokens_per_s_per_gpu"] = 1000.0
    ds = run_sensitivity(spec_from_dict(d), write=False, progress=False).dataset
    assert np.all(ds["S1"].values == 0) and np.all(ds["ST"].values == 0)


def test_sensitivity_cli_prints_the_ranked_table_and_writes_store_and_charts(tmp_path,
                                                                            capsys):
    import yaml

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study(n=64), sort_keys=False))
    store = tmp_path / "out.zarr"
    assert main(["sensitivity", str(path), "--store", str(store), "--charts",
                 str(tmp_path / "charts"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    lines = [ln.split() for ln in out.splitlines() if ln.startswith("  ")]
    table = [ln for ln in lines if ln and ln[0] in study()["distributions"]]
    assert len(table) == 2 * 5
    first = [float(ln[3]) for ln in table[:5]]   # ST of usd_per_mtok, ranked
    assert first == sorted(first, reverse=True)
    ds = xr.open_zarr(store, consolidated=False)
    assert ds.attrs["sweep_mode"] == "sensitivity" and ds.attrs["evaluations"] == 64 * 7
    for output in ("usd_per_mtok", "gross_margin"):
        png = tmp_path / "charts" / f"out-{output}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["show", str(store)]) == 0
    assert "tokens_per_s_per_gpu" in capsys.readouterr().out
    # a second run does not replace the result without --overwrite
    assert main(["sensitivity", str(path), "--store", str(store), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_sensitivity_needs_a_saltelli_design(tmp_path, capsys):
    import yaml

    d = study(n=64)
    d["sample"]["method"] = "sobol"
    path = tmp_path / "mc.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    assert main(["sensitivity", str(path), "--store", str(tmp_path / "x.zarr")]) == 2
    assert "sample.method: 'sobol'; Sobol' indices need `method: saltelli`" in \
        capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_plan_and_dry_run_compute_nothing(tmp_path, capsys):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study(n=1024, chunk=256), sort_keys=False))
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "N = 1,024 base samples" in out and "7,168 evaluations" in out
    assert "4 of 256 base rows" in out
    store = tmp_path / "dry.zarr"
    assert main(["sensitivity", str(path), "--store", str(store), "--dry-run"]) == 0
    assert not store.exists()


def test_morris_screening_of_a_linear_input():
    """usd_per_mtok is linear in gpu_hour_usd, uniform on [1, 4]: with 4 levels at the
    quantiles 1/8, 3/8, 5/8, 7/8, a grid unit is 3/4 of the probability, so 3 x 3/4 USD/GPU/h,
    and every elementary effect is that times d(usd_per_mtok)/d(gpu_hour_usd)."""
    from sweep.engine.screening import morris

    spec = spec_from_dict({
        "name": "morris-linear",
        "distributions": {"gpu_hour_usd": {"uniform": {"low": 1.0, "high": 4.0}},
                          "pue": {"uniform": {"low": 1.1, "high": 1.5}}},
        "constants": {"tokens_per_s_per_gpu": 1000.0, "utilization": 0.5},
        "sample": {"method": "mc", "n": 16, "seed": 3},
    })
    ds = morris(spec, trajectories=10, backend="numba")
    slope = 1e6 / (1000.0 * 0.5 * 3600)
    g = ds.sel(output="usd_per_mtok", input="gpu_hour_usd")
    assert float(g["mu_star"]) == pytest.approx(3 * 0.75 * slope, rel=1e-9)
    assert float(g["sigma"]) == pytest.approx(0.0, abs=1e-9)
    p = ds.sel(output="usd_per_mtok", input="pue")
    assert 0 < float(p["mu_star"]) < float(g["mu_star"])
    assert ds.attrs["evaluations"] == 10 * 3


def test_morris_cli(tmp_path, capsys):
    import yaml

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(study(n=64), sort_keys=False))
    store = tmp_path / "m.zarr"
    assert main(["sensitivity", str(path), "--morris", "8", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "Morris screening, 8 trajectories" in out and "mu*" in out
    assert main(["show", str(store)]) == 0
    assert "tokens_per_s_per_gpu" in capsys.readouterr().out
    assert main(["sensitivity", str(path), "--morris", "1", "--store",
                 str(tmp_path / "one.zarr")]) == 2
    assert "--morris: 1; expected at least 2 trajectories" in capsys.readouterr().err
