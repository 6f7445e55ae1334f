"""Measured frontiers: importing both formats (and refusing malformed ones with the line and
the field), Pareto fronts, the log-log PCHIP read at a target interactivity (exact at the
measured points, monotone between, NaN outside) on every backend, through ``sweep run`` and
reduce, and the sweep file's refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sweep
from conftest import gpu_backend_problem
from sweep.cli import main
from sweep.frontiers import front, interp
from sweep.frontiers.read import MeasuredError, read_measured
from sweep.model.frontier import READS
from sweep.spec.config import ConfigError, load_config, spec_from_dict

HEADER = ("Model,ISL,OSL,Hardware,Hardware Key,Framework,Precision,TP,Concurrency,Date,"
          "Throughput/GPU (tok/s),Output Throughput/GPU (tok/s),Input Throughput/GPU (tok/s),"
          "Median TTFT (ms),Median TPOT (ms),Median Interactivity (tok/s/user),"
          "Disaggregated,Num Prefill GPUs,Num Decode GPUs,Spec Decoding,EP")
#: (concurrency, tokens/s per GPU, tokens/s per user): one front with a dominated point
#: (conc 24: less throughput than conc 16 at lower interactivity)
POINTS = [(4, 1900.0, 112.0), (8, 3100.0, 92.0), (16, 4700.0, 68.0), (24, 4500.0, 60.0),
          (32, 6500.0, 47.0), (64, 9100.0, 32.0), (128, 10050.0, 24.0)]


def csv_text(points=POINTS, hw="b200", seconds=True, header=HEADER, extra_rows=()):
    """An InferenceX export; latencies in seconds under the '(ms)' headers, as exports
    have been seen to hold them (``seconds=False``: true milliseconds)."""
    scale = 1.0 if seconds else 1000.0
    rows = [header]
    for conc, tput, intvty in points:
        tpot = 1.0 / intvty
        rows.append(f"MiniMax-M2.5,8192,1024,{hw},{hw}_vllm,vllm,fp8,2,{conc},2026-05-22,"
                    f"{tput},{tput * 1024 / 9216:.6f},{tput * 8192 / 9216:.6f},"
                    f"{0.5 * scale},{tpot * scale!r},{intvty},false,,,,1")
    rows += list(extra_rows)
    return "\n".join(rows) + "\n"


def imported(tmp_path, text=None, name="m.csv", **kw):
    path = tmp_path / name
    path.write_text(text if text is not None else csv_text(**kw))
    written, measured = front.import_measured(path, tmp_path / "frontiers")
    return written, measured


# --------------------------------------------------------------------------- reading


def test_the_csv_export_is_read_with_headers_matched_loosely_and_either_latency_unit(
        tmp_path):
    loose = HEADER.replace("Throughput/GPU (tok/s),", "throughput / gpu,", 1) \
        .replace("Median Interactivity (tok/s/user)", "MEDIAN  interactivity") \
        .replace("Concurrency", " concurrency ")
    (tmp_path / "a.csv").write_text(csv_text(header=loose.replace("throughput / gpu",
                                                                  "Throughput/GPU")))
    (tmp_path / "b.csv").write_text(csv_text(seconds=False))
    a, b = read_measured(tmp_path / "a.csv"), read_measured(tmp_path / "b.csv")
    assert not a.problems and not b.problems and len(a.rows) == len(POINTS)
    assert (a.latency_unit, b.latency_unit) == ("s", "ms")
    for ra, rb, (conc, tput, intvty) in zip(a.rows, b.rows, POINTS, strict=True):
        assert ra.conc == rb.conc == conc
        assert ra.tput_per_gpu == rb.tput_per_gpu == tput
        assert ra.tpot == pytest.approx(1 / intvty, rel=1e-12)
        assert rb.tpot == pytest.approx(1 / intvty, rel=1e-12)
        assert ra.ttft == rb.ttft == pytest.approx(0.5)
        assert ra.gpus == 2 and ra.tp == 2 and not ra.disagg
    assert a.sha256 != b.sha256 and len(a.sha256) == 64 and a.source == "a.csv"


def test_missing_required_columns_are_named(tmp_path):
    header = HEADER.replace("Concurrency,", "").replace("Throughput/GPU (tok/s),", "", 1)
    header = header.replace("Median TPOT (ms),Median Interactivity (tok/s/user),", "")
    (tmp_path / "m.csv").write_text(header + "\n")
    with pytest.raises(MeasuredError) as exc:
        read_measured(tmp_path / "m.csv")
    text = str(exc.value)
    for column in ("line 1", "Concurrency", "Throughput/GPU (tok/s)",
                   "Median Interactivity (tok/s/user) or Median TPOT (ms)"):
        assert column in text


def test_malformed_rows_are_reported_by_line_and_field_and_the_rest_imported(tmp_path,
                                                                             capsys):
    good = csv_text().splitlines()
    bad = [good[1].replace(",4,2026", ",four,2026"),            # line 9: concurrency
           good[2].replace(",3100.0,", ",-3100.0,"),            # line 10: throughput
           good[3].replace(",16,2026", ",16.5,2026"),           # line 11: not whole
           good[4].replace("false", "maybe")]                   # line 12: flag
    path = tmp_path / "m.csv"
    path.write_text("\n".join(good + bad) + "\n")
    assert main(["frontier", "import", str(path), "--out", str(tmp_path / "fr")]) == 0
    err = capsys.readouterr().err
    assert "line 9: Concurrency: 'four' (expected a number)" in err
    assert "line 10: Throughput/GPU (tok/s): '-3100.0'" in err
    assert "line 11: Concurrency: '16.5' (expected a whole number)" in err
    assert "line 12: Disaggregated: 'maybe' (expected true or false)" in err
    f = front.load(tmp_path / "fr", "minimaxm2.5-fp8-b200-vllm-8k1k")
    assert f.source["rows"] == len(POINTS) and f.source["lines"] == list(range(2, 9))


def test_a_file_with_no_usable_row_is_refused_and_nothing_is_written(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text(csv_text().replace(",2,", ",zero,"))
    assert main(["frontier", "import", str(path), "--out", str(tmp_path / "fr")]) == 2
    err = capsys.readouterr().err
    assert "cannot import" in err and "line 2: TP: 'zero'" in err
    assert not (tmp_path / "fr").exists()
    path.write_text(HEADER + "\n")
    assert main(["frontier", "import", str(path), "--out", str(tmp_path / "fr")]) == 2
    assert "no data rows" in capsys.readouterr().err and not (tmp_path / "fr").exists()


def test_agg_bmk_json_rows_with_mtp_and_disaggregation(tmp_path):
    rows = [{"hw": "gb200", "model": "deepseek-ai/DeepSeek-R1-0528", "framework": "dynamo-trt",
             "precision": "fp4", "spec_decoding": "mtp", "disagg": True, "isl": 1024,
             "osl": 1024, "conc": c, "tp": 8, "num_prefill_gpu": 8, "num_decode_gpu": 16,
             "tput_per_gpu": t, "output_tput_per_gpu": t / 2, "median_tpot": 1 / i,
             "median_intvty": i, "median_ttft": 0.2}
            for c, t, i in [(16, 2000.0, 90.0), (64, 5000.0, 60.0), (256, 9000.0, 30.0)]]
    rows.append({**rows[0], "conc": 512})
    del rows[-1]["tput_per_gpu"]
    rows.append({**rows[0], "median_intvty": "fast"})
    text = "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n"
    written, measured = imported(tmp_path, text, name="agg_bmk.json")
    assert measured.problems == ["line 5: missing field(s) tput_per_gpu",
                                 "line 6: median_intvty: 'fast' (expected a number)"]
    (f, _), = written
    assert f.key == "dsr1-fp4-gb200-dynamo-trt-mtp-disagg-1k1k"
    assert [p["gpus"] for p in f.points] == [24, 24, 24] and f.spec_decoding == "mtp"
    assert f.source["format"] == "agg_bmk.json"
    (tmp_path / "bad.json").write_text('[{"hw": "h100",\n "conc": }]')
    with pytest.raises(MeasuredError, match="line 2: invalid JSON"):
        read_measured(tmp_path / "bad.json")


def test_pareto_drops_points_dominated_in_both_and_keeps_one_of_identical(tmp_path):
    extra = csv_text(points=[(48, 4000.0, 50.0), (8, 3100.0, 92.0)]).splitlines()[1:]
    written, _ = imported(tmp_path, csv_text(extra_rows=extra))
    (f, replaced), = written
    assert not replaced
    kept = [(p["intvty"], p["tput_per_gpu"]) for p in f.points]
    want = sorted((i, t) for c, t, i in POINTS if c != 24)
    assert kept == want and f.dropped == 3
    x, y = np.array(kept).T
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) < 0)
    assert f.points[0]["line"] == 8    # the first of the two identical conc-8 rows is line 3
    assert [p["line"] for p in f.points if p["conc"] == 8] == [3]


def test_frontier_keys_name_model_precision_hardware_framework_and_lengths():
    from sweep.frontiers.read import MeasuredRow

    row = MeasuredRow(1, "DeepSeek-R1-0528", 1024, 1024, "GB200", "dynamo-trt", "FP4", 64,
                      1.0, 1.0, disagg=True, spec_decoding="mtp")
    assert front.frontier_key(row) == "dsr1-fp4-gb200-dynamo-trt-mtp-disagg-1k1k"
    row = MeasuredRow(1, "Llama-3.3-70B-Instruct-FP8", 8192, 1024, "H100 SXM", "vllm",
                      "fp8", 64, 1.0, 1.0)
    assert front.frontier_key(row) == "llama70b-fp8-h100-sxm-vllm-8k1k"


def test_frontier_import_and_list_print_key_points_and_range(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text(csv_text())
    out = tmp_path / "fr"
    assert main(["frontier", "import", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    line = "minimaxm2.5-fp8-b200-vllm-8k1k: 6 points, 24-112 tokens/s/user"
    assert line in text and "1 dominated point(s) dropped" in text
    assert main(["frontier", "list", str(out)]) == 0
    assert capsys.readouterr().out.strip() == line
    assert main(["frontier", "import", str(path), "--out", str(out), "--name", "b200"]) == 0
    assert "(replaced)" not in capsys.readouterr().out
    assert front.keys(out) == ["b200", "minimaxm2.5-fp8-b200-vllm-8k1k"]


# --------------------------------------------------------------------------- reading a front


def test_interpolation_is_exact_at_the_points_monotone_between_and_nan_outside(tmp_path):
    (f, _), = imported(tmp_path)[0]
    tab = interp.table(f)
    x, y = f.column("intvty"), f.column("tput_per_gpu")
    np.testing.assert_allclose(interp.evaluate(tab, x), y, rtol=1e-13)
    np.testing.assert_allclose(interp.evaluate(tab, x, "o"), f.column("output_tput_per_gpu"),
                               rtol=1e-13)
    dense = np.geomspace(x[0], x[-1], 2001)
    v = interp.evaluate(tab, dense)
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) < 0)
    # between two neighbours the value stays between theirs (no overshoot)
    seg = np.searchsorted(x, dense, side="right").clip(1, len(x) - 1)
    assert np.all((v <= y[seg - 1] * (1 + 1e-12)) & (v >= y[seg] * (1 - 1e-12)))
    outside = interp.evaluate(tab, [x[0] * 0.999, x[-1] * 1.001, 0.0, -1.0, np.nan])
    assert np.all(np.isnan(outside))


def test_without_output_throughput_an_aggregated_front_reads_its_output_share(tmp_path):
    header = HEADER.replace("Output Throughput/GPU (tok/s)", "Unused")
    (f, _), = imported(tmp_path, header=header)[0]
    assert np.isnan(f.column("output_tput_per_gpu")).all()
    tab = interp.table(f)
    x = f.column("intvty")
    np.testing.assert_allclose(interp.evaluate(tab, x, "o"),
                               f.column("tput_per_gpu") * 1024 / 9216, rtol=1e-13)
    f.disagg = True     # a disaggregated front's output GPUs are others: unknown, NaN
    assert np.isnan(interp.evaluate(interp.table(f), x, "o")).all()


def test_a_one_point_frontier_is_defined_at_its_point_only(tmp_path):
    (f, _), = imported(tmp_path, points=[(64, 9100.0, 32.0)])[0]
    tab = interp.table(f)
    got = interp.evaluate(tab, [31.99, 32.0, 32.01])
    assert np.isnan(got[0]) and np.isnan(got[2]) and got[1] == pytest.approx(9100.0,
                                                                             rel=1e-14)


def sweep_dict(tmp_path, backend="numba", **over) -> dict:
    """Two platforms reading two frontiers at interactivities that hit measured points,
    fall between them and outside."""
    d = {
        "name": "fr",
        "frontiers": str(tmp_path / "frontiers"),
        "axes": {
            "platform": {"labels": ["B200", "H100"],
                         "frontier": ["minimaxm2.5-fp8-b200-vllm-8k1k",
                                      "minimaxm2.5-fp8-h100-vllm-8k1k"],
                         "set": {"gpu_hour_usd": [3.5, 2.35]}},
            "tokens_per_s_per_user": {"values": [10.0, 20.0, 24.0, 30.0, 32.0, 47.0, 50.0,
                                                 92.0, 100.0, 112.0, 130.0]},
            "utilization": {"values": [0.5, 0.9]},
        },
        "constants": {"kw_per_gpu": 1.7},
        "outputs": ["usd_per_mtok", "tokens_per_s_per_gpu", "output_tokens_per_s_per_gpu",
                    "usd_per_mtok_output"],
        "backend": backend,
        "store": str(tmp_path / f"{backend}.zarr"),
    }
    d.update(over)
    return d


def two_frontiers(tmp_path):
    imported(tmp_path)
    h100 = [(c, t / 4, i * 0.95) for c, t, i in POINTS]
    imported(tmp_path, name="h.csv", points=h100, hw="h100")
    return [front.load(tmp_path / "frontiers", k) for k in
            ("minimaxm2.5-fp8-b200-vllm-8k1k", "minimaxm2.5-fp8-h100-vllm-8k1k")]


@pytest.mark.parametrize("backend", ["numpy", "numba",
                                     pytest.param("cuda", marks=pytest.mark.gpu)])
def test_sweep_run_reads_the_frontiers_on_every_backend(backend, tmp_path, capsys):
    if backend == "cuda" and gpu_backend_problem(backend):
        pytest.skip(f"backend cuda: {gpu_backend_problem(backend)}")
    fronts = two_frontiers(tmp_path)
    d = sweep_dict(tmp_path, backend)
    assert main(["run", _write(tmp_path, d), "--no-progress"]) == 0
    out = capsys.readouterr().out
    ds = sweep.open_result(d["store"]).load()
    at = ds["tokens_per_s_per_user"].values
    for i, f in enumerate(fronts):
        tab = interp.table(f)
        for node, series in READS.items():
            want = interp.evaluate(tab, at, series)[:, None] * np.ones(2)
            got = ds[node].values[i]
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=node)
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=node)
        tput = ds["tokens_per_s_per_gpu"].values[i]
        price = d["axes"]["platform"]["set"]["gpu_hour_usd"][i] + 1.7 * 1.2 * 0.08
        want = price / (tput * ds["utilization"].values * 3600) * 1e6
        np.testing.assert_allclose(ds["usd_per_mtok"].values[i], want, rtol=1e-12)
    assert list(ds["platform_frontier"].values) == d["axes"]["platform"]["frontier"]
    # B200 measured 24-112: 10, 20, 130 outside; H100 22.8-106.4: 10, 20, 112, 130 outside
    outside = (3 + 4) * 2
    assert int(np.isnan(ds["tokens_per_s_per_gpu"].values).sum()) == outside
    assert (f"frontiers: {outside} of 44 point(s) (31.8 %) outside the measured "
            "interactivity range") in out
    assert "H100: minimaxm2.5-fp8-h100-vllm-8k1k, 6 measured point(s)" in out
    assert "_frontier" not in out and not any(c.startswith("_") for c in ds.coords)
    report = json.loads(ds.attrs["sweep_frontiers"])
    assert report["labels"]["B200"]["source"]["sha256"] == fronts[0].source["sha256"]
    assert "_frontier" not in ds.attrs["sweep_spec"]


def _write(tmp_path, d, name="s.yaml"):
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump(d))
    return str(path)


def test_a_reduce_over_interactivity_counts_the_points_outside(tmp_path):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path, "numpy")        # the grid by the oracle, the reduce by numba
    grid = sweep.open_result(sweep.run(spec_from_dict(d), overwrite=True,
                                       progress=False).store).load()
    d["reduce"] = {"over": ["tokens_per_s_per_user", "utilization"]}
    d["backend"] = "numba"
    ds = sweep.run(spec_from_dict(d), overwrite=True, progress=False).dataset
    for o in ("usd_per_mtok", "tokens_per_s_per_gpu"):
        values = grid[o].values.reshape(2, -1)
        np.testing.assert_array_equal(ds[f"{o}_nan_count"].values,
                                      np.isnan(values).sum(axis=1))
        np.testing.assert_allclose(ds[f"{o}_mean"].values, np.nanmean(values, axis=1),
                                   rtol=1e-12)
        np.testing.assert_allclose(ds[f"{o}_min"].values, np.nanmin(values, axis=1),
                                   rtol=1e-12)


def test_a_relative_frontiers_folder_is_relative_to_the_sweep_file(tmp_path, monkeypatch):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path, frontiers="frontiers")
    (tmp_path / "elsewhere").mkdir()
    path = _write(tmp_path, d)
    monkeypatch.chdir(tmp_path / "elsewhere")
    spec = load_config(path)
    assert spec.frontier_points == 6
    with pytest.raises(ConfigError, match="frontier"):
        spec_from_dict(d)   # no file: relative to the working directory, where none is


def test_the_config_hash_follows_the_measured_data(tmp_path):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path)
    first = sweep.plan(spec_from_dict(d)).config_hash
    assert sweep.plan(spec_from_dict(d)).config_hash == first
    imported(tmp_path, points=[(c, t * 1.01, i) for c, t, i in POINTS])
    assert sweep.plan(spec_from_dict(d)).config_hash != first


@pytest.mark.parametrize("change,path,words", [
    (lambda d: d["axes"]["platform"]["frontier"].__setitem__(1, "nope"),
     "axes.platform.frontier[1]", "frontier 'nope' not found (one of "),
    (lambda d: d["axes"]["platform"]["frontier"].pop(),
     "axes.platform.frontier", "2 frontier keys, one per label"),
    (lambda d: d["axes"].pop("tokens_per_s_per_user"),
     "axes.platform.frontier", "tokens_per_s_per_user set too"),
    (lambda d: d["constants"].update(tokens_per_s_per_gpu=100.0),
     "constants.tokens_per_s_per_gpu", "left to the frontier axis platform"),
    (lambda d: d["axes"].update(gpu={"presets": ["B200"], "frontier": ["x"]}),
     "axes.gpu.frontier", "'frontier' only beside 'labels'"),
    (lambda d: (d["axes"].pop("tokens_per_s_per_user"),
                d["axes"]["platform"]["set"].update(tokens_per_s_per_user=[30.0, 40.0])),
     "axes.platform", "as a numeric axis or a constant"),
    (lambda d: d.update(derived={"output_tokens_per_s_per_gpu": {"expr": "1.0"}}),
     "derived.output_tokens_per_s_per_gpu", "no derived output_tokens_per_s_per_gpu"),
])
def test_each_frontier_refusal_names_its_field(change, path, words, tmp_path):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path)
    change(d)
    with pytest.raises(ConfigError) as exc:
        spec_from_dict(d)
    assert any(p.path == path and words in p.expected for p in exc.value.problems), \
        [p.render() for p in exc.value.problems]


def test_files_without_frontiers_keep_their_identity():
    """``frontier`` and ``frontiers`` are left out of the hash while unused."""
    from conftest import small_spec_dict
    from sweep.storage.provenance import spec_hash

    spec = spec_from_dict(small_spec_dict())
    dump = spec.model_dump(mode="json")
    assert dump["frontiers"] is None and dump["axes"]["platform"]["frontier"] is None
    from sweep.spec.config import drop_unused_keys

    dropped = drop_unused_keys(dump)
    assert "frontiers" not in dropped and "frontier" not in dropped["axes"]["platform"]
    assert spec_hash(spec) == spec_hash(spec_from_dict({**small_spec_dict(),
                                                        "frontiers": None}))


def test_the_frontier_nodes_in_cuda_c_built_for_the_host_equal_the_oracle(tmp_path):
    """The cupy backend's CUDA C of a sweep that reads frontiers (no GPU here: built as host
    C++), against the NumPy oracle, NaN points included; and NVRTC compiles it for sm_90
    where the CUDA wheels are installed."""
    from conftest import assert_cuda_c_matches_oracle

    two_frontiers(tmp_path)
    source = assert_cuda_c_matches_oracle(tmp_path,
                                          sweep.plan(spec_from_dict(sweep_dict(tmp_path))))
    from test_gpu import _nvrtc_ptx

    ptx = _nvrtc_ptx(source)
    if ptx is not None:
        assert ".target sm_90" in ptx


def test_a_frontier_store_verifies_and_repairs_without_the_frontiers_folder(tmp_path,
                                                                            capsys):
    """The store keeps a copy of the frontiers it read (``sweep_frontier_data``): verify
    and repair rebuild its sweep from that copy, not from a folder that may have moved."""
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path, chunks={"platform": 1})
    store = d["store"]
    sweep.run(spec_from_dict(d), overwrite=True, progress=False)
    before = sweep.open_result(store).load()
    chunk = next(p for p in sorted((tmp_path / "numba.zarr" / "usd_per_mtok").rglob("*"))
                 if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    (tmp_path / "frontiers").rename(tmp_path / "moved")
    assert main(["verify", store]) == 1
    assert main(["repair", store, "--no-progress"]) == 0
    capsys.readouterr()
    after = sweep.open_result(store).load()
    np.testing.assert_array_equal(after["usd_per_mtok"].values, before["usd_per_mtok"].values)
    assert json.loads(after.attrs["sweep_frontier_data"]).keys() == {
        "minimaxm2.5-fp8-b200-vllm-8k1k", "minimaxm2.5-fp8-h100-vllm-8k1k"}


def test_frontiers_that_cannot_be_read_give_one_problem_each_not_a_cascade(tmp_path):
    d = sweep_dict(tmp_path)     # no frontiers imported
    with pytest.raises(ConfigError) as exc:
        spec_from_dict(d)
    paths = [p.path for p in exc.value.problems]
    assert paths == ["axes.platform.frontier[0]", "axes.platform.frontier[1]"], paths
    assert "import measured results first" in exc.value.problems[0].expected


@pytest.mark.parametrize("change,path", [
    (lambda d: d["axes"]["platform"]["set"].update(_frontier_low=[1.0, 1.0]),
     "axes.platform.set._frontier_low"),
    (lambda d: d["constants"].update(_frontier_high=1e9), "constants._frontier_high"),
    (lambda d: d["outputs"].append("_frontier_lu"), "outputs[4]"),
    (lambda d: d.update(derived={"foo": {"expr": "_frontier_low * 2"}}), "derived.foo.expr"),
])
def test_the_engines_own_names_cannot_be_set_read_or_stored(change, path, tmp_path):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path)
    change(d)
    with pytest.raises(ConfigError) as exc:
        spec_from_dict(d)
    assert path in [p.path for p in exc.value.problems], [p.render() for p in
                                                            exc.value.problems]


def test_a_frontier_key_is_a_key_not_a_path(tmp_path, capsys):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path)
    for key in (str(tmp_path / "frontiers" / "minimaxm2.5-fp8-b200-vllm-8k1k"),
                "../frontiers/minimaxm2.5-fp8-b200-vllm-8k1k"):
        d["axes"]["platform"]["frontier"][0] = key
        with pytest.raises(ConfigError, match="not a path"):
            spec_from_dict(d)
    assert main(["calibrate", "../x", "--model", "MiniMax-M2.5", "--hardware", "B200",
                 "--frontiers", str(tmp_path / "frontiers")]) == 2
    assert "not a path" in capsys.readouterr().err


def test_a_file_the_csv_reader_cannot_finish_is_refused_whole(tmp_path):
    rows = csv_text().splitlines()
    rows.insert(3, rows[2].replace("MiniMax-M2.5", '"' + "x" * 200_000 + '"'))
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(MeasuredError, match="line 4: not CSV .*nothing was imported"):
        read_measured(tmp_path / "m.csv")


def test_numbers_with_thousands_separators_read_and_a_decimal_comma_is_refused(tmp_path):
    text = csv_text().replace(",9100.0,", ',"9,100.0",').replace(",4700.0,", ',"4,7",')
    m = read_measured(_put(tmp_path, "m.csv", text))
    assert any(r.tput_per_gpu == 9100.0 for r in m.rows)
    assert m.problems == ["line 4: Throughput/GPU (tok/s): '4,7' (expected a number)"]


def _put(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("damage", [
    lambda j: j.update(points=[1, 2]),
    lambda j: j.update(isl="8k"),
    lambda j: j.update(isl=0),
    lambda j: j.update(disagg="false"),
    lambda j: j["points"][0].update(tput_per_gpu=True),
    lambda j: j["points"][-1].update(tput_per_gpu=1e9),    # no longer a Pareto front
    lambda j: j.pop("model"),
])
def test_a_damaged_frontier_file_is_one_clear_error(damage, tmp_path, capsys):
    two_frontiers(tmp_path)
    path = tmp_path / "frontiers" / "minimaxm2.5-fp8-b200-vllm-8k1k.json"
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="a damaged frontier file"):
        spec_from_dict(sweep_dict(tmp_path))
    assert main(["frontier", "list", str(tmp_path / "frontiers")]) == 1
    out = capsys.readouterr()
    assert "minimaxm2.5-fp8-h100-vllm-8k1k: 6 points" in out.out   # the others still listed
    assert "a damaged frontier file" in out.err


def test_two_frontier_axes_and_a_non_positive_target_are_one_problem_each(tmp_path):
    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path)
    d["axes"]["gpu"] = {"labels": ["x"], "frontier": ["minimaxm2.5-fp8-b200-vllm-8k1k"]}
    with pytest.raises(ConfigError) as exc:
        spec_from_dict(d)
    assert [p.path for p in exc.value.problems] == ["axes.gpu.frontier"]
    d = sweep_dict(tmp_path)
    d["axes"]["tokens_per_s_per_user"] = {"values": [0.0, 30.0]}
    with pytest.raises(ConfigError) as exc:
        spec_from_dict(d)
    assert [p.path for p in exc.value.problems] == ["axes.tokens_per_s_per_user"]


def test_distinct_models_and_lengths_never_share_a_frontier_key():
    from sweep.frontiers.read import MeasuredRow

    def key(model, isl=8192, osl=1024):
        return front.frontier_key(MeasuredRow(1, model, isl, osl, "h100", "vllm", "fp8", 1,
                                              1.0, 1.0))
    assert key("DeepSeek-R1-0528").startswith("dsr1-")
    assert key("DeepSeek-R1-Distill-Llama-70B").startswith("deepseek-r1-distill-llama-70b-")
    assert key("meta-llama/Llama-3.3-70B-Instruct").startswith("llama70b-")
    assert key("Llama-2-70b-hf").startswith("llama-2-70b-hf-")
    assert key("x", 1001, 100) != key("x", 100, 1100)
    assert key("x", 1000, 200).endswith("-1000-200")


def test_a_sweep_over_measured_frontiers_draws_them_with_iso_cost_lines(tmp_path):
    from sweep.plots import defaults

    two_frontiers(tmp_path)
    d = sweep_dict(tmp_path, backend="numpy")
    sweep.run(spec_from_dict(d), progress=False)
    ds = sweep.open_result(d["store"])
    (chart,) = defaults.charts_for(ds, defaults.Options(kind="frontier"))
    ax = chart.figure.axes[0]
    assert ax.get_yscale() == "log" and "tokens/s per GPU" in ax.get_ylabel()
    assert any("USD/Mtok" in t.get_text() for t in ax.texts)
    got = chart.data["tokens_per_s_per_gpu"].sel(platform="B200")
    want = ds["tokens_per_s_per_gpu"].sel(platform="B200", utilization=got["utilization"])
    np.testing.assert_array_equal(got.values, want.values)
    # interactivity is the axis itself (the CSV's coordinate column)
    np.testing.assert_array_equal(chart.data["tokens_per_s_per_user"].values,
                                  ds["tokens_per_s_per_user"].values)
    assert float(chart.data["utilization"]) == 0.9        # held at the headline (nearest 1)
