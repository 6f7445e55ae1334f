"""``best:`` in reduce mode against brute force on the materialized grid: exact, independent
of the blocks, on numba and cuda (the simulator here), composed with ``compare``."""

from __future__ import annotations

import numpy as np
import pytest

import sweep
from conftest import GPU_BACKENDS, gpu_backend_problem
from sweep.engine.reduce import run_reduce
from sweep.spec.config import ConfigError, spec_from_dict

OUTPUTS = ["usd_per_mtok", "tokens_per_s_per_user", "tokens_per_s_per_gpu"]


def best_dict(sense="minimize", objective="usd_per_mtok", slo=200.0, **reduce) -> dict:
    subject = {"tokens_per_s_per_user": {"min": slo}} if slo is not None else {}
    return {
        "name": "best",
        "axes": {
            "platform": {"presets": ["HGX H200", "GB300 NVL72"], "precision": "fp8"},
            "llm": {"models": ["DeepSeek-R1", "Llama-3.3-70B"], "weights": "fp8", "kv": "fp8"},
            "gpus_per_replica": {"values": [1, 2, 4, 8, 16]},
            "mbu": {"values": [0.4, 0.7]},
            "concurrency": {"values": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]},
        },
        "constants": {"input_tokens": 7373, "output_tokens": 922, "step_overhead_ms": 4.0},
        "outputs": OUTPUTS,
        "reduce": {"over": ["gpus_per_replica", "mbu", "concurrency"],
                   "best": {sense: objective, "subject_to": subject}, **reduce},
    }


def brute_force(d: dict, tmp_path, sense="minimize", objective="usd_per_mtok", slo=200.0,
                outputs=OUTPUTS):
    """The materialized grid, and per kept (platform, llm) the best feasible point found by
    NumPy: (value, feasible count, index of the first best point in the folded sub-grid)."""
    m = dict(d)
    m.pop("reduce")
    m["outputs"] = list(outputs)
    m["store"] = str(tmp_path / "grid.zarr")
    result = sweep.run(spec_from_dict(m), overwrite=True, progress=False)
    ds = sweep.open_result(result.store).load()
    obj = ds[objective].values.reshape(2, 2, -1)
    ok = ~np.isnan(obj)
    if slo is not None:
        with np.errstate(invalid="ignore"):
            ok &= ds["tokens_per_s_per_user"].values.reshape(2, 2, -1) >= slo
    masked = np.where(ok, obj, np.inf if sense == "minimize" else -np.inf)
    pick = np.argmin(masked, axis=-1) if sense == "minimize" else np.argmax(masked, axis=-1)
    value = np.take_along_axis(masked, pick[..., None], axis=-1)[..., 0]
    count = ok.sum(axis=-1)
    return ds, np.where(count > 0, value, np.nan), count, np.where(count > 0, pick, -1)


@pytest.mark.parametrize("backend,sense", [("numba", "minimize"), ("numba", "maximize"),
                                           *(pytest.param(b.values[0], "minimize",
                                                          marks=b.marks)
                                             for b in GPU_BACKENDS)])
def test_best_equals_brute_force_on_the_materialized_grid(backend, sense, tmp_path):
    if backend in ("cuda", "cupy") and gpu_backend_problem(backend):
        pytest.skip(f"backend {backend}: {gpu_backend_problem(backend)}")
    objective = "usd_per_mtok" if sense == "minimize" else "tokens_per_s_per_gpu"
    d = best_dict(sense, objective)
    grid, value, count, pick = brute_force(d, tmp_path, sense, objective)
    assert (count > 0).any() and (count == 0).any()      # some kept points are infeasible
    # several blocks on the CPU; the CUDA simulator runs threads in Python: fewer launches
    ds = run_reduce(spec_from_dict(d), write=False, progress=False, backend=backend,
                    block_points=37 if backend == "numba" else 200).dataset
    np.testing.assert_array_equal(ds["best_feasible_count"].values, count)
    np.testing.assert_array_equal(np.isnan(ds["best_value"].values), count == 0)
    np.testing.assert_allclose(ds["best_value"].values, value, rtol=1e-12)
    folded = (5, 2, 10)
    for (i, j), p in np.ndenumerate(pick):
        if p < 0:
            assert ds["best_concurrency"].values[i, j] != ds["best_concurrency"].values[i, j]
            assert np.isnan(ds["best_usd_per_mtok"].values[i, j])
            continue
        g, m_, c = np.unravel_index(p, folded)
        assert ds["best_gpus_per_replica"].values[i, j] == grid["gpus_per_replica"].values[g]
        assert ds["best_mbu"].values[i, j] == grid["mbu"].values[m_]
        assert ds["best_concurrency"].values[i, j] == grid["concurrency"].values[c]
        for o in OUTPUTS:
            want = grid[o].values[i, j, g, m_, c]
            assert ds[f"best_{o}"].values[i, j] == pytest.approx(want, rel=1e-12), o


def test_best_does_not_depend_on_the_blocks():
    spec = spec_from_dict(best_dict())
    a = run_reduce(spec, write=False, progress=False, block_points=7).dataset
    b = run_reduce(spec, write=False, progress=False).dataset
    for name in [v for v in a.data_vars if v.startswith("best_")]:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_ties_keep_the_first_point_in_grid_order(tmp_path):
    # usd_per_gpu_hour does not depend on the folded dims: every feasible point ties, and
    # the best is the first feasible one in grid order (NumPy's argmin), in any blocks
    d = best_dict(objective="usd_per_gpu_hour")
    d["outputs"] = [*OUTPUTS, "usd_per_gpu_hour"]
    _, _, count, pick = brute_force(d, tmp_path, objective="usd_per_gpu_hour",
                                    outputs=d["outputs"])
    assert (count > 1).any()
    for block_points in (11, 10**6):
        ds = run_reduce(spec_from_dict(d), write=False, progress=False,
                        block_points=block_points).dataset
        for (i, j), p in np.ndenumerate(pick):
            if p >= 0:
                g, m_, c = np.unravel_index(p, (5, 2, 10))
                assert ds["best_gpus_per_replica"].values[i, j] == [1, 2, 4, 8, 16][g]
                assert ds["best_mbu"].values[i, j] == [0.4, 0.7][m_]
                assert ds["best_concurrency"].values[i, j] == 2.0 ** c


def test_best_composes_with_compare_and_the_summary_says_it(capsys, tmp_path):
    d = best_dict(compare={"axis": "platform", "pairs": [["GB300 NVL72", "HGX H200"]]})
    d["reduce"]["over"] = ["llm", "gpus_per_replica", "mbu", "concurrency"]
    d["store"] = str(tmp_path / "b.zarr")
    path = tmp_path / "b.yaml"
    import yaml

    path.write_text(yaml.safe_dump(d))
    from sweep.cli import main

    assert main(["run", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "best: minimum of usd_per_mtok subject to tokens_per_s_per_user >= 200" in out
    ds = sweep.open_result(tmp_path / "b.zarr").load()
    ratio = ds["best_compare_ratio"].values
    v = ds["best_value"].values
    assert ratio.shape == (1,)
    assert ratio[0] == pytest.approx(v[1] / v[0], rel=1e-12)
    assert "GB300 NVL72 vs HGX H200: best value ratio" in out


@pytest.mark.parametrize("best,path,words", [
    ({"subject_to": {}}, "reduce.best", "exactly one of minimize, maximize"),
    ({"minimize": "usd_per_mtok", "maximize": "batch"}, "reduce.best", "exactly one"),
    ({"minimize": "usd_per_mtk"}, "reduce.best.minimize", "did you mean 'usd_per_mtok'"),
    ({"minimize": "usd_per_mtok", "subject_to": {"ttft": {"max": 2}}},
     "reduce.best.subject_to.ttft", "an output or input name"),
    ({"minimize": "usd_per_mtok", "subject_to": {"ttft_s": {}}},
     "reduce.best.subject_to.ttft_s", "a bound: min, max or both"),
    ({"minimize": "usd_per_mtok", "subject_to": {"ttft_s": {"min": 3, "max": 2}}},
     "reduce.best.subject_to.ttft_s.max", "max >= min"),
])
def test_each_best_refusal_names_its_field(best, path, words):
    d = best_dict()
    d["reduce"]["best"] = best
    with pytest.raises(ConfigError) as err:
        spec_from_dict(d)
    assert any(p.path == path and words in p.expected for p in err.value.problems), \
        str(err.value)


def test_best_refuses_an_output_whose_best_name_is_taken_and_unset_inputs_of_its_nodes():
    d = best_dict()
    d["derived"] = {"value": {"expr": "usd_per_mtok * 2"}}
    d["outputs"] = [*OUTPUTS, "value"]
    with pytest.raises(ConfigError, match=r"outputs\[3\]: with best:, an output name other "
                                          "than value"):
        spec_from_dict(d)
    # the objective and the bounds need their inputs set like any output
    d = best_dict(objective="decode_memory_s")
    d["constants"].pop("input_tokens")
    d["outputs"] = ["usd_per_gpu_hour"]
    with pytest.raises(ConfigError) as err:
        spec_from_dict(d)
    paths = {p.path: p.expected for p in err.value.problems}
    assert "input_tokens" in paths["reduce.best.minimize"]
    assert "input_tokens" in paths["reduce.best.subject_to.tokens_per_s_per_user"]


def test_best_on_an_intermediate_records_the_defaults_it_reads():
    d = best_dict(objective="decode_memory_s")
    d["outputs"] = ["usd_per_gpu_hour"]
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    assert (ds["best_feasible_count"].values > 0).any()
    assert np.isfinite(ds["best_value"].values[ds["best_feasible_count"].values > 0]).all()


def test_the_iceberg_study_answers_its_question(tmp_path):
    """configs/iceberg-dsr1.yaml: at every interactivity target GB300 NVL72 is cheaper than
    HGX H200, an H200 replica stays in its 8-GPU node, higher targets cost more, and the
    optimum meets its target."""
    from pathlib import Path

    from sweep.spec.config import load_config

    spec = load_config(Path(__file__).resolve().parent.parent / "configs" / "iceberg-dsr1.yaml")
    ds = run_reduce(spec, write=False, progress=False).dataset
    v = ds["best_value"].values[:, 0, :]            # platform x target (one model)
    assert (ds["best_feasible_count"].values > 0).all()
    assert (np.diff(v, axis=1) > 0).all()            # 20 < 50 < 100 tokens/s/user
    ratio = ds["best_compare_ratio"].values.ravel()  # GB300 NVL72 over HGX H200
    assert (ratio < 1).all()
    np.testing.assert_allclose(ratio, (v[1] / v[0]).ravel(), rtol=1e-12)
    assert (ds["best_gpus_per_replica"].values[0] <= 8).all()
    slo = ds["slo_tokens_per_s_per_user"].values
    assert (ds["best_tokens_per_s_per_user"].values[:, 0, :] >= slo).all()


def test_best_over_samples_picks_the_best_drawn_point(tmp_path):
    """In sample mode ``best:`` folds the samples: the optimum is one drawn sample, and the
    outputs there are that sample's, as a stored sample grid of the same file shows."""
    d = {
        "name": "best-samples",
        "axes": {"platform": {"presets": ["HGX H200", "GB300 NVL72"], "precision": "fp8"},
                 "llm": {"models": ["DeepSeek-R1"], "weights": "fp8", "kv": "fp8"}},
        "constants": {"input_tokens": 7373, "output_tokens": 922, "gpus_per_replica": 8},
        "distributions": {"concurrency": {"discrete": {"values": [1, 4, 16, 64, 256]}},
                          "mbu": {"calibration": "tuned-hopper"},
                          "step_overhead_ms": {"uniform": {"low": 2.0, "high": 6.0}}},
        "sample": {"method": "sobol", "n": 256, "seed": 3},
        "outputs": OUTPUTS,
        "reduce": {"over": ["sample"],
                   "best": {"minimize": "usd_per_mtok",
                            "subject_to": {"tokens_per_s_per_user": {"min": 30}}}},
    }
    ds = run_reduce(spec_from_dict(d), write=False, progress=False).dataset
    grid = dict(d)
    grid.pop("reduce")
    grid["store"] = str(tmp_path / "samples.zarr")
    stored = sweep.open_result(sweep.run(spec_from_dict(grid), progress=False).store).load()
    for i in range(2):
        cost = stored["usd_per_mtok"].values[i, 0]
        ok = stored["tokens_per_s_per_user"].values[i, 0] >= 30
        assert ds["best_feasible_count"].values[i, 0] == ok.sum() > 0
        pick = int(np.argmin(np.where(ok, cost, np.inf)))
        assert ds["best_sample"].values[i, 0] == pick
        assert ds["best_value"].values[i, 0] == cost[pick]
        for o in OUTPUTS:
            assert ds[f"best_{o}"].values[i, 0] == pytest.approx(
                stored[o].values[i, 0, pick], rel=1e-12)


def test_the_shipped_best_study_leads_with_the_optima_and_their_ratio():
    from sweep.report.summary import describe_reduce
    from sweep.spec.config import load_config

    ds = run_reduce(load_config("configs/iceberg-dsr1.yaml"), write=False,
                    progress=False).dataset
    text = describe_reduce(ds)
    body = text.split("\n\n", 1)[1]                      # after the title and question
    assert body.startswith("best: minimum of usd_per_mtok")
    first_stats = text.index("usd_per_mtok [USD/Mtok]")
    ratio_line = next(line for line in text.splitlines() if "best value ratio" in line)
    assert text.index(ratio_line) < first_stats           # the answer before the reference
    at_50 = ratio_line.split("slo_tokens_per_s_per_user=50: ")[1].split(",")[0]
    assert at_50.startswith("0.08") and at_50.endswith("(GB300 NVL72 lower)")
    assert "for reference, statistics over every configuration" in text
    assert "(every point, feasible or not: not the optima above)" in text
