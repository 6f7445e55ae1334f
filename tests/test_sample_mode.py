"""Sample mode as a grid (mc, lhs, sobol): samples along a `sample` dim, materialized into
Zarr with the sampled inputs beside the outputs, or folded by reduce mode."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import sweep
from sweep.backends import NumpyBackend
from sweep.cli import main
from sweep.planning.planner import PlanError, SamplePlan, make_plan
from sweep.planning.sampling import sample_block
from sweep.spec.config import ConfigError, spec_from_dict


def sample_file(method: str = "sobol", n: int = 512, chunk: int | None = 100, **extra) -> dict:
    d = {
        "name": "sample-test",
        "outputs": ["usd_per_mtok", "gross_margin"],
        "axes": {"platform": {"presets": ["HGX H100", "HGX H200"]}},
        "distributions": {
            "utilization": {"triangular": {"low": 0.3, "mode": 0.6, "high": 0.9}},
            "tokens_per_s_per_gpu": {"lognormal": {"median": 2000, "sigma": 0.4}},
            "electricity_usd_per_kwh": {"loguniform": {"low": 0.03, "high": 0.2}},
        },
        "constants": {"price_usd_per_mtok": 1.0},
        "sample": {"method": method, "n": n, "seed": 5},
    }
    if chunk:
        d["sample"]["chunk"] = chunk
    d.update(extra)
    return d


def reference(spec) -> np.ndarray:
    """The outputs at every sample, by the NumPy backend on the whole design at once."""
    from sweep.planning.planner import ChunkKey

    plan = make_plan(spec, "unused.zarr")
    whole = ChunkKey(index=(0, 0), start=(0, 0), stop=plan.shape)
    values, _ = NumpyBackend().compute(plan.chunk_inputs(whole), plan.output_codes,
                                       np.dtype(np.float64))
    return values


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_run_stores_outputs_and_the_sampled_inputs(tmp_path, method):
    spec = spec_from_dict(sample_file(method))
    plan = make_plan(spec, tmp_path / "s.zarr")
    assert isinstance(plan, SamplePlan)
    assert plan.dims == ("platform", "sample") and plan.chunk_shape == (2, 100)
    sweep.run_plan(plan, backend="numba", progress=False)
    ds = sweep.open_result(tmp_path / "s.zarr")
    drawn = sample_block(spec, 0, 512)
    for name, values in drawn.items():
        np.testing.assert_array_equal(ds[name].values, values)
        assert ds[name].dims == ("sample",) and ds[name].attrs["units"]
    ref = reference(spec)
    for k, out in enumerate(plan.outputs):
        np.testing.assert_allclose(ds[out].values, ref[k], rtol=1e-12)


def test_stored_samples_do_not_depend_on_chunking(tmp_path):
    a = spec_from_dict(sample_file(chunk=64))
    b = spec_from_dict(sample_file(chunk=None))
    sweep.run(a, store=tmp_path / "a.zarr", progress=False, backend="numba")
    sweep.run(b, store=tmp_path / "b.zarr", progress=False, backend="numba", num_workers=1)
    da_, db = sweep.open_result(tmp_path / "a.zarr"), sweep.open_result(tmp_path / "b.zarr")
    assert da_.usd_per_mtok.chunks != db.usd_per_mtok.chunks
    for name in ("usd_per_mtok", "gross_margin", "utilization", "tokens_per_s_per_gpu"):
        np.testing.assert_array_equal(da_[name].values, db[name].values, err_msg=name)


@pytest.mark.gpu
def test_cuda_backend_evaluates_the_same_samples(tmp_path):
    spec = spec_from_dict(sample_file(n=64, chunk=32))
    sweep.run(spec, store=tmp_path / "c.zarr", progress=False, backend="cuda")
    got = sweep.open_result(tmp_path / "c.zarr")
    ref = reference(spec)
    np.testing.assert_allclose(got.usd_per_mtok.values, ref[0], rtol=1e-12)


def test_reduce_over_samples_matches_the_materialized_samples(tmp_path):
    from sweep.engine.reduce import run_reduce

    d = sample_file(n=1024, chunk=None)
    spec = spec_from_dict(d)
    ref = reference(spec)[0]   # usd_per_mtok, (platform, sample)
    d["reduce"] = {"over": ["sample"], "quantiles": [0.1, 0.5, 0.9],
                   "below": {"usd_per_mtok": [0.3]},
                   "histogram": {"bins": 256, "scale": "log"}}
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    np.testing.assert_allclose(ds["usd_per_mtok_mean"].values, ref.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ds["usd_per_mtok_frac_below"].squeeze().values,
                               (ref < 0.3).mean(axis=1), rtol=1e-12)
    for q, lo, hi in zip([0.1, 0.5, 0.9], ds["usd_per_mtok_quantile_low"].values.T,
                         ds["usd_per_mtok_quantile_high"].values.T, strict=True):
        want = np.quantile(ref, q, axis=1, method="inverted_cdf")
        assert np.all(lo <= want) and np.all(want <= hi)


def test_saltelli_run_goes_to_sensitivity_and_cannot_be_stored(tmp_path, capsys):
    d = sample_file("saltelli", n=64, chunk=None)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    assert main(["run", str(path), "--store", str(tmp_path / "r.zarr"), "--no-progress"]) == 0
    assert "Sobol' indices" in capsys.readouterr().out
    with pytest.raises(PlanError, match="saltelli' designs are for `sweep sensitivity`"):
        make_plan(spec_from_dict(d))


def test_too_many_samples_to_store_is_refused_before_allocating():
    d = sample_file(n=2**28, chunk=None)
    with pytest.raises(PlanError, match=r"sample.n: 268,435,456; at most 2\*\*27"):
        make_plan(spec_from_dict(d))


@pytest.mark.parametrize(("change", "path", "fragment"), [
    (lambda d: d.update(reduce={"over": ["platform"]}), "reduce.over",
     "a list that folds `sample`"),
    (lambda d: (d.update(reduce={"over": ["sample"]}),
                d["sample"].update(method="saltelli", n=64)), "sample.method",
     "mc, lhs or sobol with `reduce`"),
    (lambda d: d["axes"].update(sample={"labels": ["a"], "set": {"pue": [1.2]}}),
     "axes.sample", "in sample mode `sample` is the dim of the samples"),
    (lambda d: d.update(reduce={"over": ["sample"], "weights": {"sample": [1.0]}}),
     "reduce.weights.sample", "no weights on samples"),
])
def test_sample_mode_reduce_problems(change, path, fragment):
    d = sample_file()
    change(d)
    with pytest.raises(ConfigError) as info:
        spec_from_dict(d)
    found = {p.path: p.expected for p in info.value.problems}
    assert path in found and fragment in found[path], found


@pytest.mark.parametrize(("method", "n"), [("mc", 300), ("sobol", 256)])
def test_verify_and_repair_a_sample_store(tmp_path, method, n):
    import zarr

    from sweep.engine.repair import repair_store
    from sweep.storage.verify import verify_store

    spec = spec_from_dict(sample_file(method, n=n))
    sweep.run(spec, store=tmp_path / "v.zarr", progress=False, backend="numba")
    assert verify_store(tmp_path / "v.zarr", progress=False).findings == []
    group = zarr.open_group(tmp_path / "v.zarr", mode="r+", zarr_format=3)
    group["utilization"][150:160] = 0.0     # a damaged input coordinate
    report = verify_store(tmp_path / "v.zarr", progress=False)
    assert [(f.problem, f.variable) for f in report.findings] == [
        ("coordinate differs from the sweep", "utilization")]
    repair_store(tmp_path / "v.zarr", progress=False)
    assert verify_store(tmp_path / "v.zarr", progress=False).findings == []
    ds = sweep.open_result(tmp_path / "v.zarr")
    np.testing.assert_array_equal(ds.utilization.values,
                                  sample_block(spec, 0, n)["utilization"])


def test_disk_check_counts_the_sampled_inputs_and_versions_are_part_of_the_config():
    plan = make_plan(spec_from_dict(sample_file(n=1024)), "unused.zarr")
    assert plan.coordinate_bytes == (3 + 1) * 1024 * 8
    with pytest.raises(PlanError, match=r"and 32.0 KiB of sampled inputs"):
        plan.check_disk(budget=plan.bytes_total + 1)
    versions = plan.normalized()["sampler_versions"]
    assert versions["numpy"] == np.__version__ and versions["scipy"]


def test_grid_config_hashes_did_not_change():
    """Sample mode's new sections must not change the identity of existing grid stores (a
    changed hash would refuse their resumes): pinned values of two shipped sweeps."""
    from pathlib import Path

    from sweep.spec.config import load_config

    configs = Path(__file__).resolve().parent.parent / "configs"
    pinned = {
        "hopper-vs-blackwell.yaml":
            "d2e85b0d73fc59c152693c5ae535ab51aa0ecb74b6a86b8455d6db900e18e689",
        "price-throughput-grid.yaml":
            "cfd1e78504a750a92c09a4335f0ea55cbdac2eb3916f493df428a9798da54044",
    }
    for name, digest in pinned.items():
        assert make_plan(load_config(configs / name), "x.zarr").config_hash == digest, name


def test_verify_refuses_whole_results(tmp_path, capsys):
    d = sample_file("saltelli", n=16, chunk=None)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    store = tmp_path / "r.zarr"
    assert main(["sensitivity", str(path), "--store", str(store), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["verify", str(store)]) == 2
    assert "is a sensitivity result" in capsys.readouterr().err


def test_a_charts_folder_that_is_a_file_is_refused_before_computing(tmp_path, capsys):
    d = sample_file("saltelli", n=16, chunk=None)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    (tmp_path / "afile").write_text("")
    store = tmp_path / "r.zarr"
    assert main(["sensitivity", str(path), "--store", str(store), "--charts",
                 str(tmp_path / "afile" / "charts")]) == 2
    assert "--charts" in capsys.readouterr().err
    assert not store.exists()


def test_a_killed_sample_run_resumes_to_the_same_store(tmp_path):
    """Killed after 2 of its 6 chunks, a sobol sample run resumes the other 4 and ends equal
    to an uninterrupted run: outputs and sampled inputs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sample_file("sobol", n=512, chunk=100), sort_keys=False))

    def cli(store, *extra, fault=None):
        env = {**os.environ, **({"TOKEN_SWEEP_FAULT": fault} if fault else {})}
        return subprocess.run([sys.executable, "-P", "-m", "sweep", "run", str(path),
                               "--store", str(store), "--backend", "numba", "--workers", "1",
                               "--no-progress", *extra], capture_output=True, text=True,
                              cwd=root, env=env, timeout=300)

    assert cli(tmp_path / "ref.zarr").returncode == 0
    assert cli(tmp_path / "k.zarr", fault="kill-after:2").returncode == -9
    done = cli(tmp_path / "k.zarr", "--resume")
    assert done.returncode == 0, done.stderr
    assert "resumed: computed 4 of 6 chunk(s), 2 were already complete" in done.stdout
    ref, got = sweep.open_result(tmp_path / "ref.zarr"), sweep.open_result(tmp_path / "k.zarr")
    for name in ("usd_per_mtok", "gross_margin", "utilization", "tokens_per_s_per_gpu"):
        np.testing.assert_array_equal(got[name].values, ref[name].values, err_msg=name)


def test_reduce_blocks_draw_bounded_samples_and_the_pilot_sees_enough():
    from sweep.engine.reduce import SAMPLE_BLOCK, make_reduce_plan
    from sweep.planning.folding import subsampled_inputs

    d = sample_file("mc", n=2**22, chunk=None)
    d["reduce"] = {"over": ["sample"]}
    plan = make_reduce_plan(spec_from_dict(d))
    assert plan.chunk_shape == (2, SAMPLE_BLOCK)            # never 2^22 samples at once
    d["sample"]["chunk"] = 10
    assert make_reduce_plan(spec_from_dict(d)).n_chunks <= 1000
    # three categorical axes: the labels are thinned, the samples get the rest of the pilot
    d = sample_file("mc", n=65536, chunk=None, axes={
        "a": {"labels": ["x", "y"], "set": {"pue": [1.1, 1.2]}},
        "b": {"labels": ["p", "q", "r"], "set": {"opex_usd_per_gpu_hour": [0.1, 0.2, 0.3]}},
        "c": {"labels": ["s", "t", "u"], "set": {"capex_usd_per_gpu": [0.0, 1.0, 2.0]}}})
    d["reduce"] = {"over": ["sample"]}
    (pilot,) = subsampled_inputs(make_reduce_plan(spec_from_dict(d)))   # one part
    assert pilot.shape[:3] == (2, 3, 3) and pilot.shape[3] > 10_000


def test_chunks_may_name_the_sample_dim_and_result_dims_are_reserved():
    plan = make_plan(spec_from_dict(sample_file(chunk=None, chunks={"sample": 128})), "u.zarr")
    assert plan.chunk_shape[-1] == 128
    d = sample_file(axes={"input": {"labels": ["a"], "set": {"pue": [1.2]}}})
    with pytest.raises(ConfigError, match="`input` is a dim of the sensitivity result"):
        spec_from_dict(d)
