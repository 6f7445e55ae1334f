"""Reduce mode against the NumPy reference computed by materializing the same grid."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import yaml

from sweep.backends import get_backend
from sweep.cli import main
from sweep.engine.reduce import make_reduce_plan, run_reduce
from sweep.model import Model, cost
from sweep.planning.planner import ChunkKey, make_plan
from sweep.spec.config import ConfigError, spec_from_dict

# the cost family's outputs (throughput given)
OUTPUTS = Model([cost.FAMILY]).outputs


def reduce_dict(**reduce) -> dict:
    """2 platforms x 4 utilizations (one zero: NaN points) x 37 electricity prices."""
    d = {
        "name": "red",
        "axes": {
            "platform": {"labels": ["A", "B"],
                         "set": {"gpu_hour_usd": [1.41, 2.65],
                                 "tokens_per_s_per_gpu": [90.0, 6000.0]}},
            "utilization": {"values": [0.0, 0.25, 0.5, 1.0]},
            "electricity_usd_per_kwh": {"linspace": {"start": 0.0, "stop": 0.3, "num": 37}},
        },
        "constants": {"pue": 1.2, "kw_per_gpu": 1.5, "price_usd_per_mtok": 2.0},
        "outputs": ["usd_per_mtok", "gross_margin"],
        "reduce": {"over": ["utilization", "electricity_usd_per_kwh"], **reduce},
    }
    return d


def materialized(spec) -> np.ndarray:
    """Every output over the whole grid with the NumPy reference backend: (n_out, *shape)."""
    plan = make_plan(spec.model_copy(update={"reduce": None}), "unused.zarr")
    key = ChunkKey((0,) * len(plan.shape), (0,) * len(plan.shape), plan.shape)
    values, _ = get_backend("numpy").compute(plan.chunk_inputs(key), plan.output_codes,
                                             np.dtype(np.float64))
    return values


HIST = {"bins": 16, "scale": "log", "range": {"usd_per_mtok": [0.2, 20.0]}}


@pytest.fixture(scope="module", params=["numpy", "numba"])
def small(request):
    """The grid reduced by each CPU reduce engine (``auto`` would take numpy here)."""
    spec = spec_from_dict(reduce_dict(histogram=HIST, quantiles=[0.1, 0.5, 0.9],
                                      below={"usd_per_mtok": [0.5, 5.0]},
                                      above={"gross_margin": [0.0]}))
    res = run_reduce(spec, write=False, progress=False, block_points=40,
                     backend=request.param)
    return spec, res.dataset, materialized(spec), res.plan


def test_every_statistic_equals_the_numpy_reference(small):
    spec, ds, ref, plan = small
    assert plan.n_chunks > 4                        # really merged across blocks
    util = np.asarray([0.0, 0.25, 0.5, 1.0])
    elec = np.linspace(0.0, 0.3, 37)
    for k, o in enumerate(spec.outputs):
        for g in range(2):
            v = ref[k, g]
            ok = ~np.isnan(v)
            assert int(ds[f"{o}_count"][g]) == ok.sum()
            assert int(ds[f"{o}_nan_count"][g]) == (~ok).sum() == 37
            assert float(ds[f"{o}_min"][g]) == v[ok].min()
            assert float(ds[f"{o}_max"][g]) == v[ok].max()
            np.testing.assert_allclose(float(ds[f"{o}_mean"][g]), v[ok].mean(), rtol=1e-12)
            np.testing.assert_allclose(float(ds[f"{o}_std"][g]), v[ok].std(), rtol=1e-12)
            for which, fn in (("argmin", np.nanargmin), ("argmax", np.nanargmax)):
                i, j = np.unravel_index(fn(v), v.shape)
                assert float(ds[f"{o}_{which}_utilization"][g]) == util[i]
                assert float(ds[f"{o}_{which}_electricity_usd_per_kwh"][g]) == elec[j]


def test_histogram_counts_and_quantile_brackets(small):
    spec, ds, ref, _ = small
    edges = np.exp(np.linspace(np.log(0.2), np.log(20.0), 17))
    np.testing.assert_allclose(ds["usd_per_mtok_edge"].values, edges, rtol=1e-15)
    for g in range(2):
        v = ref[0, g][~np.isnan(ref[0, g])]
        counts = ds["usd_per_mtok_hist_count"][g].values
        inside, _ = np.histogram(v, bins=edges)
        # the top edge is exclusive here (numpy's last bin is closed): no value sits on it
        assert not np.any(v == edges[-1])
        np.testing.assert_array_equal(counts[1:-1], inside)
        assert counts[0] == (v < edges[0]).sum() and counts[-1] == (v >= edges[-1]).sum()
        for i, q in enumerate([0.1, 0.5, 0.9]):
            true = np.quantile(v, q, method="inverted_cdf")
            low = float(ds["usd_per_mtok_quantile_low"][g, i])
            high = float(ds["usd_per_mtok_quantile_high"][g, i])
            assert low <= true <= high, (g, q, low, true, high)
            est = float(ds["usd_per_mtok_quantile"][g, i])
            if low >= edges[-1] or high <= edges[0]:
                # an under- or overflow bin: no estimate, the bracket kept
                assert math.isnan(est) or low == high
            else:
                assert low <= est <= high


def test_threshold_fractions(small):
    spec, ds, ref, _ = small
    for g in range(2):
        v = ref[0, g][~np.isnan(ref[0, g])]
        np.testing.assert_allclose(ds["usd_per_mtok_frac_below"][g].values,
                                   [(v < 0.5).mean(), (v < 5.0).mean()], rtol=1e-12)
        m = ref[1, g][~np.isnan(ref[1, g])]
        np.testing.assert_allclose(float(ds["gross_margin_frac_above"][g, 0]), (m > 0).mean(),
                                   rtol=1e-12)


def test_results_do_not_depend_on_the_blocks(small):
    spec, ds, _, _ = small
    one = run_reduce(spec, write=False, progress=False).dataset   # a single block
    for name in ds.data_vars:
        a, b = ds[name].values, one[name].values
        if a.dtype.kind in "iO" or name.endswith(("_min", "_max")) or "_arg" in name:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)


def test_innermost_dim_kept():
    # fold platform and utilization, keep the innermost axis: every point has its own group
    spec = spec_from_dict(reduce_dict() | {"reduce": {"over": ["platform", "utilization"]}})
    ds = run_reduce(spec, write=False, progress=False, block_points=16).dataset
    ref = materialized(spec)[0]
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(ds["usd_per_mtok_mean"].values,
                                   np.nanmean(ref, axis=(0, 1)), rtol=1e-12)
    np.testing.assert_array_equal(ds["usd_per_mtok_min"].values, np.nanmin(ref, axis=(0, 1)))
    assert ds["usd_per_mtok_argmin_platform"].values[0] == "B"


def test_equal_weights_give_the_unweighted_answer_and_weights_give_expectations(small):
    spec, ds, ref, _ = small
    d = reduce_dict(histogram=HIST, quantiles=[0.1, 0.5, 0.9],
                    below={"usd_per_mtok": [0.5, 5.0]}, above={"gross_margin": [0.0]},
                    weights={"utilization": [0.25] * 4})
    eq = run_reduce(spec_from_dict(d), write=False, progress=False, block_points=40).dataset
    for name in ("usd_per_mtok_mean", "usd_per_mtok_std", "usd_per_mtok_frac_below",
                 "usd_per_mtok_quantile"):
        np.testing.assert_allclose(eq[name].values, ds[name].values, rtol=1e-12, err_msg=name)
    w = [0.1, 0.2, 0.3, 0.4]
    d["reduce"]["weights"] = {"utilization": w}
    wd = run_reduce(spec_from_dict(d), write=False, progress=False, block_points=40).dataset
    for g in range(2):
        v = ref[0, g]
        weights = np.broadcast_to(np.asarray(w)[:, None], v.shape)
        ok = ~np.isnan(v)
        np.testing.assert_allclose(float(wd["usd_per_mtok_mean"][g]),
                                   np.average(v[ok], weights=weights[ok]), rtol=1e-12)
        mean = np.average(v[ok], weights=weights[ok])
        var = np.average((v[ok] - mean) ** 2, weights=weights[ok])
        np.testing.assert_allclose(float(wd["usd_per_mtok_std"][g]), np.sqrt(var), rtol=1e-12)


def test_comparison_of_two_labels():
    d = reduce_dict(compare={"axis": "platform", "pairs": [["B", "A"], ["A", "B"]]},
                    quantiles=[0.5], histogram=HIST)
    ds = run_reduce(spec_from_dict(d), write=False, progress=False, block_points=40).dataset
    ref = materialized(spec_from_dict(d))[0]
    a, b = ref[1], ref[0]
    ok = ~np.isnan(a) & ~np.isnan(b)
    ratio = a[ok] / b[ok]
    assert list(ds["pair"].values) == ["B vs A", "A vs B"]
    assert list(ds["pair_first"].values) == ["B", "A"]
    assert list(ds["pair_second"].values) == ["A", "B"]
    assert float(ds["compare_frac_first_lower"][0]) == (a[ok] < b[ok]).mean() == 1.0
    assert float(ds["compare_frac_first_lower"][1]) == 0.0
    assert float(ds["compare_ratio_min"][0]) == ratio.min()
    assert float(ds["compare_ratio_max"][0]) == ratio.max()
    np.testing.assert_allclose(float(ds["compare_ratio_geomean"][0]),
                               np.exp(np.log(ratio).mean()), rtol=1e-12)
    assert int(ds["compare_count"][0]) == ok.sum()
    med = np.quantile(ratio, 0.5, method="inverted_cdf")
    assert (float(ds["compare_ratio_quantile_low"][0, 0]) <= med
            <= float(ds["compare_ratio_quantile_high"][0, 0]))


def test_reduce_plan_keeps_kept_dims_whole_and_caps_tasks():
    spec = spec_from_dict(reduce_dict())
    plan = make_reduce_plan(spec, block_points=10)
    assert plan.chunk_shape[0] == 2                 # platform kept: whole
    assert plan.n_chunks > 1
    big = reduce_dict()
    big["axes"]["electricity_usd_per_kwh"]["linspace"]["num"] = 10**7
    big["axes"]["utilization"] = {"linspace": {"start": 0.1, "stop": 1.0, "num": 10**5}}
    plan = make_reduce_plan(spec_from_dict(big))
    assert plan.n_points == 2 * 10**12 and plan.n_chunks <= 10_000


@pytest.mark.parametrize(("change", "path"), [
    (lambda r: r.update(over=["utilisation"]), "reduce.over[0]"),
    (lambda r: r.update(quantiles=[0.5]), "reduce.quantiles"),
    (lambda r: r.update(quantiles=[1.5], histogram={}), "reduce.quantiles[0]"),
    (lambda r: r.update(weights={"utilization": [1, 2]}), "reduce.weights.utilization"),
    (lambda r: r.update(weights={"platform": [1, 1]}), "reduce.weights.platform"),
    (lambda r: r.update(compare={"axis": "utilization", "pairs": [["A", "B"]]}),
     "reduce.compare.axis"),
    (lambda r: r.update(compare={"axis": "platform", "pairs": [["A", "C"]]}),
     "reduce.compare.pairs[0]"),
    (lambda r: r.update(below={"joules_per_token": [1.0]}), "reduce.below.joules_per_token"),
    (lambda r: r.update(histogram={"scale": "log", "range": {"usd_per_mtok": [0.0, 1.0]}}),
     "reduce.histogram.range.usd_per_mtok"),
    (lambda r: r.update(histogram={"scale": {"usd_per_mtk": "log"}}),
     "reduce.histogram.scale.usd_per_mtk"),
    (lambda r: r.update(medain=[0.5]), "reduce.medain"),
])
def test_reduce_section_errors_name_their_path(change, path):
    d = reduce_dict()
    change(d["reduce"])
    with pytest.raises(ConfigError) as info:
        spec_from_dict(d, "r.yaml")
    assert path in [p.path for p in info.value.problems], info.value


def test_cli_runs_plans_and_shows_a_reduce_sweep(tmp_path, capsys):
    d = reduce_dict(histogram={"bins": 32}, quantiles=[0.5],
                    compare={"axis": "platform", "pairs": [["B", "A"]]},
                    question="Which platform is cheaper per token?")
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    store = tmp_path / "r.zarr"
    assert main(["plan", str(path), "--store", str(store)]) == 0
    assert "reduce mode" in capsys.readouterr().out and not store.exists()
    assert main(["run", str(path), "--store", str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "question: Which platform is cheaper per token?" in out
    assert "B vs A: B lower at 100.0% of points" in out
    assert main(["show", str(store)]) == 0
    assert "usd_per_mtok [USD/Mtok]" in capsys.readouterr().out
    assert main(["run", str(path), "--store", str(store), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["run", str(path), "--store", str(store), "--resume"]) == 2


def test_every_output_can_be_reduced():
    d = reduce_dict()
    d["outputs"] = list(OUTPUTS)
    d["constants"].update(peak_pflops=2.0)
    spec = spec_from_dict(d)
    ds = run_reduce(spec, write=False, progress=False, block_points=50).dataset
    ref = materialized(spec)
    for k, o in enumerate(OUTPUTS):
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(ds[f"{o}_mean"].values,
                                       np.nanmean(ref[k].reshape(2, -1), axis=1), rtol=1e-12,
                                       err_msg=o)


def test_too_many_kept_coordinates_are_refused_at_plan_time():
    from sweep.planning.planner import PlanError

    d = reduce_dict(histogram={"bins": 4096})
    d["axes"]["utilization"] = {"linspace": {"start": 0.1, "stop": 1.0, "num": 5000}}
    d["reduce"]["over"] = ["platform"]       # keeps 5000 x 37 coordinates
    with pytest.raises(PlanError, match="fold more dims"):
        make_reduce_plan(spec_from_dict(d))


def test_verify_refuses_a_reduce_result(tmp_path):
    from sweep.storage.store import StoreError
    from sweep.storage.verify import verify_store

    spec = spec_from_dict(reduce_dict())
    run_reduce(spec, store=tmp_path / "r.zarr", progress=False)
    with pytest.raises(StoreError, match="reduce-mode result"):
        verify_store(tmp_path / "r.zarr")


# --------------------------------------------------------------------------- the cuda backend


def _cuda_or_skip():
    from sweep.backends import gpu

    problem = gpu.cuda_problem()
    if problem:
        pytest.skip(f"backend cuda: {problem}")


def assert_same_statistics(a, b):
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        exact = (x.dtype.kind in "iO" or "_arg" in name
                 or name.endswith(("_min", "_max", "_count", "compare_ratio_min",
                                   "compare_ratio_max")))
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-300, err_msg=name)


@pytest.mark.gpu
def test_cuda_reduce_matches_numba_weighted_with_histogram_and_thresholds():
    _cuda_or_skip()
    d = reduce_dict(histogram=HIST, quantiles=[0.1, 0.5, 0.9],
                    below={"usd_per_mtok": [0.5, 5.0]}, above={"gross_margin": [0.0]},
                    weights={"utilization": [0.1, 0.2, 0.3, 0.4]})
    spec = spec_from_dict(d)
    cpu = run_reduce(spec, write=False, progress=False, block_points=100, backend="numba")
    gpu = run_reduce(spec, write=False, progress=False, block_points=100, backend="cuda")
    assert gpu.dataset.attrs["sweep_backend"] == "cuda"
    assert_same_statistics(cpu.dataset, gpu.dataset)


@pytest.mark.gpu
def test_cuda_reduce_with_the_innermost_dim_kept():
    _cuda_or_skip()
    d = reduce_dict()
    d["axes"]["electricity_usd_per_kwh"]["linspace"]["num"] = 5
    d["reduce"] = {"over": ["platform", "utilization"]}
    spec = spec_from_dict(d)
    cpu = run_reduce(spec, write=False, progress=False, backend="numba").dataset
    gpu = run_reduce(spec, write=False, progress=False, backend="cuda").dataset
    assert_same_statistics(cpu, gpu)


def test_merge_rows_equals_a_sequential_merge():
    from sweep.backends.gpu_reduce import merge_rows

    rng = np.random.default_rng(3)
    values = rng.lognormal(size=300)
    weights = rng.uniform(0.1, 2.0, size=300)
    values[::17] = np.nan
    rows = []
    for chunk in np.array_split(np.arange(300), 23):
        v, w = values[chunk], weights[chunk]
        ok = ~np.isnan(v)
        if ok.any():
            mean = np.average(v[ok], weights=w[ok])
            m2 = (w[ok] * (v[ok] - mean) ** 2).sum()
            lo, hi = v[ok].min(), v[ok].max()
            ilo, ihi = chunk[ok][np.argmin(v[ok])], chunk[ok][np.argmax(v[ok])]
        else:
            mean = m2 = 0.0
            lo = hi = np.nan
            ilo = ihi = -1
        rows.append([ok.sum(), (~ok).sum(), w[ok].sum(), mean, m2, lo, ilo, hi, ihi,
                     (w[ok] * (v[ok] < 1.0)).sum()])
    from sweep.kernels import cuda_reduce as kr

    table = np.full((len(rows), kr.N_FIELDS), 0.0)
    table[:, :10] = rows     # the nine named fields, then one threshold below
    p = merge_rows(table, n_below=1)
    ok = ~np.isnan(values)
    mean = np.average(values[ok], weights=weights[ok])
    assert p.n[0, 0] == ok.sum() and p.nan[0, 0] == (~ok).sum()
    np.testing.assert_allclose(p.mean[0, 0], mean, rtol=1e-12)
    np.testing.assert_allclose(p.m2[0, 0], (weights[ok] * (values[ok] - mean) ** 2).sum(),
                               rtol=1e-12)
    assert p.lo[0, 0] == np.nanmin(values) and p.ilo[0, 0] == np.nanargmin(values)
    assert p.hi[0, 0] == np.nanmax(values) and p.ihi[0, 0] == np.nanargmax(values)
    np.testing.assert_allclose(p.tb[0, 0, 0], (weights[ok] * (values[ok] < 1.0)).sum(),
                               rtol=1e-12)


def test_reduce_backends_that_have_no_kernels_are_refused():
    from sweep.backends import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="numpy, numba or cuda"):
        run_reduce(spec_from_dict(reduce_dict()), write=False, backend="cupy")


# --------------------------------------------------------------------------- from the review


def _rent_grid(**reduce) -> dict:
    """usd_per_gpu_hour = rent exactly (no other cost): values sit exactly on bin edges."""
    return {
        "name": "edges",
        "axes": {
            "platform": {"labels": ["A", "B"], "set": {"tokens_per_s_per_gpu": [90.0, 6000.0]}},
            "gpu_hour_usd": {"values": [round(0.1 * i, 10) for i in range(10)]},
            "utilization": {"values": [0.0, 0.5, 1.0]},
        },
        "constants": {"kw_per_gpu": 0.0},
        "outputs": ["usd_per_gpu_hour", "usd_per_mtok"],
        "reduce": {"over": ["gpu_hour_usd", "utilization"], **reduce},
    }


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_histogram_counts_agree_with_the_stored_edges_exactly(scale):
    rng = {"usd_per_gpu_hour": [0.1, 1.0]} if scale == "log" else {"usd_per_gpu_hour": [0.0, 1.0]}
    d = _rent_grid(histogram={"bins": 9 if scale == "log" else 10, "scale": scale, "range": rng},
                   quantiles=[0.05, 0.3, 0.5, 0.95])
    spec = spec_from_dict(d)
    for backend in ("numba", "cuda"):
        if backend == "cuda":
            from sweep.backends import gpu

            if gpu.cuda_problem():
                continue
        ds = run_reduce(spec, write=False, progress=False, backend=backend).dataset
        ref = materialized(spec)
        for k, o in enumerate(spec.outputs):
            edges = ds[f"{o}_edge"].values
            for g in range(2):
                v = ref[k, g][~np.isnan(ref[k, g])]
                counts = ds[f"{o}_hist_count"][g].values
                pos = v[v > 0] if scale == "log" else v
                inside = ((pos >= edges[0]) & (pos < edges[-1]))
                want = np.histogram(pos[inside], bins=edges)[0]
                np.testing.assert_array_equal(counts[1:-1], want, err_msg=f"{backend} {o}")
                assert counts[0] == len(v) - len(pos) + (pos < edges[0]).sum()
                assert counts[-1] == (pos >= edges[-1]).sum()
                for i, q in enumerate([0.05, 0.3, 0.5, 0.95]):
                    true = np.quantile(v, q, method="inverted_cdf")
                    assert (float(ds[f"{o}_quantile_low"][g, i]) <= true
                            <= float(ds[f"{o}_quantile_high"][g, i])), (backend, o, g, q)


def test_pilot_ranges_put_the_maximum_inside_and_brackets_hold():
    d = reduce_dict(histogram={"bins": 7, "scale": "log"}, quantiles=[0.01, 0.5, 0.99])
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    ref = materialized(spec_from_dict(d))[0]
    for g in range(2):
        v = ref[g][~np.isnan(ref[g])]
        assert ds["usd_per_mtok_hist_count"][g].values[-1] == 0     # max inside the top bin
        for i, q in enumerate([0.01, 0.5, 0.99]):
            true = np.quantile(v, q, method="inverted_cdf")
            assert (float(ds["usd_per_mtok_quantile_low"][g, i]) <= true
                    <= float(ds["usd_per_mtok_quantile_high"][g, i]))


def test_all_nan_group_has_no_argmin_label():
    d = reduce_dict()
    d["reduce"]["over"] = ["platform", "electricity_usd_per_kwh"]   # utilization kept
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    assert ds["usd_per_mtok_count"].values[0] == 0                   # utilization 0
    assert ds["usd_per_mtok_argmin_platform"].values[0] == ""
    assert np.isnan(ds["usd_per_mtok_argmin_electricity_usd_per_kwh"].values[0])
    assert ds["usd_per_mtok_argmin_platform"].values[1] == "B"


def test_weights_of_the_wrong_length_on_an_arange_axis_are_refused_before_computing():
    from sweep.planning.planner import PlanError

    d = reduce_dict(weights={"electricity_usd_per_kwh": [1.0, 2.0]})
    d["axes"]["electricity_usd_per_kwh"] = {"arange": {"start": 0.0, "stop": 0.05, "step": 0.01}}
    with pytest.raises(PlanError, match=r"reduce.weights.electricity_usd_per_kwh: 2 weight"):
        run_reduce(spec_from_dict(d), write=False, progress=False)


def test_axis_names_that_are_result_dims_are_refused():
    d = reduce_dict(quantiles=[0.5], histogram={})
    d["axes"]["quantile"] = d["axes"].pop("platform")
    with pytest.raises(ConfigError) as info:
        spec_from_dict(d)
    assert "axes.quantile" in [p.path for p in info.value.problems]


def test_partial_weights_are_probabilities():
    d = reduce_dict(weights={"utilization": [0.1, 0.2, 0.3, 0.4]})
    d["axes"]["utilization"]["values"] = [0.1, 0.25, 0.5, 1.0]      # no NaN points
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    np.testing.assert_allclose(ds["usd_per_mtok_weight"].values, [1.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize("log_scale", [True, False])
def test_the_run_length_histogram_bins_every_point_as_bin_of(log_scale):
    """The fold's histogram tests each point against the current bin's edges and calls
    bin_of only when it leaves: the counts must equal bin_of's, point by point, on smooth
    rows, jumps, NaN, non-positive values and both overflow bins."""
    from sweep.engine.reduce import bin_edges
    from sweep.kernels import reduce_cpu

    rng = np.random.default_rng(7)
    smooth = np.linspace(0.01, 120.0, 4000)
    jumpy = rng.lognormal(1.0, 2.0, 4000)
    buf = np.concatenate([smooth, jumpy, [np.nan, 0.0, -3.0, 1e-9, 1e9, 50.0, 50.0]])
    nb, lo, hi = 64, 0.05, 100.0
    edges = bin_edges(lo, hi, nb, log_scale)
    elo = math.log(lo) if log_scale else lo
    einv = nb / ((math.log(hi) - math.log(lo)) if log_scale else (hi - lo))
    winner = rng.uniform(0.5, 2.0, len(buf))
    hn = np.zeros(nb + 2, np.int64)
    hw = np.zeros(nb + 2)
    run = numba.njit(reduce_cpu._histogram_run.py_func)
    run(buf, 0, len(buf), 1.5, winner, elo, einv, nb, log_scale, edges, hn, hw)
    want_n = np.zeros(nb + 2, np.int64)
    want_w = np.zeros(nb + 2)
    for j, x in enumerate(buf):
        if x == x:
            b = reduce_cpu.bin_of(x, elo, einv, nb, log_scale, edges)
            want_n[b] += 1
            want_w[b] += 1.5 * winner[j]
    np.testing.assert_array_equal(hn, want_n)
    np.testing.assert_allclose(hw, want_w, rtol=1e-12)
    assert hn[0] > 0 and hn[-1] > 0


def test_a_stored_reduce_result_keeps_its_variables_in_a_stable_order(tmp_path):
    """Per output: count, nan_count, weight, min, max, argmin/argmax, mean, std, histogram,
    quantiles, fractions (Zarr lists arrays by name; the result reopens in this order)."""
    import sweep
    from conftest import small_spec_dict

    d = small_spec_dict(outputs=["usd_per_mtok"], store=str(tmp_path / "r.zarr"))
    d["reduce"] = {"over": ["utilization"], "histogram": {"bins": 8},
                   "quantiles": [0.5], "below": {"usd_per_mtok": [1.0]}}
    result = sweep.run(spec_from_dict(d), progress=False)
    names = [v.removeprefix("usd_per_mtok_")
             for v in sweep.open_result(result.store).data_vars]
    assert names == ["count", "nan_count", "weight", "min", "max", "argmin_utilization",
                     "argmax_utilization", "mean", "std", "hist_count", "hist_weight",
                     "quantile", "quantile_low", "quantile_high", "frac_below"]


def tryout_dict(**reduce) -> dict:
    """The tryout's case: gross margin, which goes negative, over utilization, electricity
    and PUE at a 0.60 USD/Mtok price, for two platforms."""
    return {
        "name": "margin",
        "axes": {"platform": {"labels": ["H200", "B200"],
                              "set": {"gpu_hour_usd": [2.5, 5.0],
                                      "tokens_per_s_per_gpu": [1300.0, 5500.0],
                                      "kw_per_gpu": [1.3, 1.8]}},
                 "utilization": {"linspace": {"start": 0.1, "stop": 1.0, "num": 37}},
                 "electricity_usd_per_kwh": {"linspace": {"start": 0.02, "stop": 0.2,
                                                          "num": 11}},
                 "pue": {"values": [1.1, 1.2, 1.3, 1.5]}},
        "constants": {"price_usd_per_mtok": 0.60},
        "outputs": ["gross_margin", "usd_per_mtok"],
        "reduce": {"over": ["utilization", "electricity_usd_per_kwh", "pue"],
                   "histogram": {"bins": 256}, "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
                   **reduce},
    }


def test_quantiles_of_an_output_that_goes_negative_match_numpy_on_the_grid(tmp_path):
    import sweep

    d = tryout_dict()
    grid_d = {k: v for k, v in d.items() if k != "reduce"}
    grid = sweep.open_result(sweep.run(spec_from_dict({**grid_d, "backend": "numpy",
                                                       "store": str(tmp_path / "g.zarr")}),
                                       progress=False).store).load()
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    assert ds["gross_margin_hist_count"].attrs["scale"] == "linear"
    assert ds["usd_per_mtok_hist_count"].attrs["scale"] == "log"
    qs = d["reduce"]["quantiles"]
    for o in ("gross_margin", "usd_per_mtok"):
        for g in range(2):
            v = grid[o].values[g].ravel()
            v = v[~np.isnan(v)]
            assert o != "gross_margin" or (v.min() < 0 < v.max())
            span = v.max() - v.min()
            for i, q in enumerate(qs):
                true = np.quantile(v, q, method="inverted_cdf")
                low = float(ds[f"{o}_quantile_low"][g, i])
                high = float(ds[f"{o}_quantile_high"][g, i])
                est = float(ds[f"{o}_quantile"][g, i])
                assert low <= true <= high, (o, g, q, low, true, high)
                assert high - low < 0.02 * span, (o, g, q, low, high, span)
                assert low <= est <= high


def test_a_quantile_in_an_outer_bin_is_nan_with_its_bracket_and_a_warning(caplog):
    d = tryout_dict(histogram={"bins": 64, "range": {"gross_margin": [0.0, 1.0]}})
    with caplog.at_level("WARNING", logger="sweep.engine.reduce"):
        ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    q = ds["gross_margin_quantile"].sel(platform="H200", quantile=0.05)
    low = ds["gross_margin_quantile_low"].sel(platform="H200", quantile=0.05)
    high = ds["gross_margin_quantile_high"].sel(platform="H200", quantile=0.05)
    assert np.isnan(float(q)) and float(low) < float(high) <= 0.0
    assert "gross_margin: " in caplog.text and "under- or overflow bin" in caplog.text
