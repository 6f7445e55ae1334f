"""`sweep bench`: a real (tiny) benchmark run produces a valid report, and its numbers are
internally consistent."""

from __future__ import annotations

import json

import pytest

from sweep.benchmark.grid import axis_lengths, grid_spec
from sweep.benchmark.timing import measure
from sweep.cli import main


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = main(["bench", "--sizes", "1e4", "--repeat", "1", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    return out


def test_bench_writes_json_markdown_and_png(report_dir):
    report = json.loads((report_dir / "bench.json").read_text())
    assert (report_dir / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report_dir / "bench.md").read_text()
    assert "| mode | backend |" in md and "| ceiling |" in md and "| scaling |" in md
    assert set(report["backends"]["ran"]) == {"numpy", "numba"}
    # the GPU backends are listed with a reason, not silently dropped
    assert set(report["backends"]["skipped"]) == {"cuda", "cupy"}
    assert all(report["backends"]["skipped"].values())
    rows = {(r["mode"], r["backend"]) for r in report["results"]}
    assert rows == {(m, b) for m in ("kernel", "materialize", "reduce")
                    for b in ("numpy", "numba")}
    assert report["machine"]["cores"] >= 1 and report["machine"]["packages"]["numpy"]


def test_bench_numbers_are_positive_and_below_the_ceiling(report_dir):
    report = json.loads((report_dir / "bench.json").read_text())
    for r in report["results"]:
        assert r["points"] == 10_000
        assert r["points_per_s"] > 0 and r["seconds"] > 0 and len(r["times"]) == 1
    fill = [c for c in report["ceilings"] if c["name"] == "host_fill"]
    assert len(fill) == 1 and fill[0]["gb_per_s"] > 0
    # writing to memory is an upper bound of writing through the whole engine into Zarr
    for r in report["results"]:
        if r["mode"] == "materialize":
            assert r["points_per_s"] < fill[0]["points_per_s"]
            assert r["ceiling"] == "zarr_write" and r["pct_of_ceiling"] > 0
        if r["mode"] == "kernel":
            assert r["ceiling"] == "host_fill"
            assert r["pct_of_ceiling"] == pytest.approx(
                100 * r["points_per_s"] / fill[0]["points_per_s"])
        if r["backend"] == "numpy":
            assert r["speedup_vs_numpy"] == 1.0


def test_bench_scaling_covers_chunks_threads_and_processes(report_dir):
    report = json.loads((report_dir / "bench.json").read_text())
    settings = {(s["kind"], s["setting"]) for s in report["scaling"]}
    assert {("workers", "1 process(es)"), ("workers", "2 process(es)"),
            ("workers", "1 thread(s)")} <= settings
    assert len([s for s in report["scaling"] if s["kind"] == "chunk_size"]) == 4
    assert all(s["points_per_s"] > 0 for s in report["scaling"])


@pytest.mark.parametrize("args, message", [
    (["--modes", "kernel,fast"], "--modes: fast; expected some of kernel, materialize, reduce"),
    (["--backends", "gpu"], "--backends: gpu; expected some of numpy, numba, cuda, cupy"),
    (["--sizes", "4"], "--sizes: 4.0; expected grid sizes from 16 to 1e12 points"),
])
def test_bench_refuses_bad_options_before_running(tmp_path, capsys, args, message):
    assert main(["bench", *args, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bench_refuses_an_out_folder_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["bench", "--sizes", "1e4", "--out", str(tmp_path / "f")]) == 2
    assert "--out" in capsys.readouterr().err


def test_bench_sizes_must_be_numbers(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--sizes", "1e6,lots"])
    assert exc.value.code == 2
    assert "expected comma-separated point counts" in capsys.readouterr().err


@pytest.mark.gpu
def test_bench_cuda_rows_in_the_simulator(tmp_path):
    """Named explicitly, the cuda backend runs (here in the simulator, and says so): the
    engine path, the whole-grid device launch checked against NumPy, the device copies."""
    from sweep.backends.gpu import simulated

    if not simulated():
        pytest.skip("plumbing check for the simulator; a real GPU runs bench/gpu_check.sh")
    assert main(["bench", "--backends", "numba,cuda", "--sizes", "64", "--modes", "kernel",
                 "--repeat", "1", "--no-scaling", "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["simulated_gpu"] is True
    rows = {(r["mode"], r["backend"]) for r in report["results"]}
    assert rows == {("kernel", "numba"), ("kernel", "cuda"), ("device", "cuda")}
    assert {c["name"] for c in report["ceilings"]} == {"host_fill", "d2d_copy", "d2h_copy"}
    by = {(r["mode"], r["backend"]): r for r in report["results"]}
    assert by[("kernel", "cuda")]["ceiling"] == "d2h_copy"
    assert by[("device", "cuda")]["ceiling"] == "d2d_copy"
    assert "simulator" in (tmp_path / "bench.md").read_text()


def test_measure_keeps_the_warm_up_out():
    calls = []
    t = measure(lambda: calls.append(1), 3, setup=lambda: calls.append(0))
    assert len(t.times) == 3 and calls == [0, 1] * 4
    with pytest.raises(ValueError, match="repeat: 0"):
        measure(lambda: None, 0)


@pytest.mark.parametrize("points", [16, 1e4, 1e6, 1e8, 1e9])
def test_bench_grid_is_close_to_the_size_asked(points):
    lengths = axis_lengths(points)
    n = 1
    for v in lengths.values():
        n *= v
    assert 0.9 * points <= n <= 1.1 * points
    assert list(grid_spec(points)["axes"]) == list(lengths)


def test_bench_throughput_grid_runs_every_mode_with_best(tmp_path):
    """``--grid throughput``: the roofline over concurrency; its reduce rows add best:."""
    assert main(["bench", "--grid", "throughput", "--sizes", "2e4", "--repeat", "1",
                 "--no-scaling", "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["grid"]["name"] == "throughput"
    assert report["grid"]["axes"][-1] == "concurrency"
    assert report["grid"]["outputs"] == ["usd_per_mtok", "tokens_per_s_per_user"]
    reduce_rows = [r for r in report["results"] if r["mode"] == "reduce"]
    assert reduce_rows and all("best:" in r["what"] for r in reduce_rows)
    assert all(r["points_per_s"] > 0 for r in report["results"])


@pytest.mark.parametrize("points", [1e4, 1e7, 1e8])
def test_bench_throughput_grid_fits_and_is_close_to_the_size_asked(points):
    from sweep.benchmark.cases import make_spec
    from sweep.planning.planner import make_plan

    plan = make_plan(make_spec(points, grid="throughput"), "unused.zarr")
    assert 0.85 * points <= plan.n_points <= 1.15 * points
    assert plan.dims[-1] == "concurrency"
    # every point fits (no NaN): the largest concurrency is below the capacity
    from sweep.model import default_model

    top = {**plan.constants, "concurrency": float(plan.shape[-1]), "mbu": 1.0,
           "hbm_tb_s": 3.0, "step_overhead_ms": 0.0}
    v = default_model().evaluate(top, ["max_batch", "batch"])
    assert v["batch"] == plan.shape[-1] < v["max_batch"]


def test_bench_refuses_an_unknown_grid(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--grid", "roofline"])
    assert "invalid choice: 'roofline'" in capsys.readouterr().err
