"""``sweep plot`` (issue 15): every chart on small stores of each kind, the numbers each one
draws equal to the store's, a known iso-cost contour, byte-stable SVG, lazy selection."""

from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pytest
import yaml
import zarr

import sweep
from sweep.cli import main
from sweep.plots import charts as C
from sweep.plots import defaults, prepare
from sweep.spec.config import spec_from_dict

GRID = {
    "name": "plots",
    "axes": {
        "platform": {"labels": ["H200", "B200"],
                     "set": {"gpu_hour_usd": [3.5, 6.0], "tokens_per_s_per_gpu": [1300, 5500],
                             "kw_per_gpu": [1.3, 1.8]}},
        "utilization": {"linspace": {"start": 0.2, "stop": 1.0, "num": 41}},
        "electricity_usd_per_kwh": {"linspace": {"start": 0.0, "stop": 0.3, "num": 31}},
    },
    "constants": {"pue": 1.2, "price_usd_per_mtok": 1.0},
    "outputs": ["usd_per_mtok", "gross_margin"],
}


def _store(tmp_path, data, name):
    path = tmp_path / f"{name}.zarr"
    result = sweep.run(spec_from_dict(data), store=path, progress=False)
    return path, result


def _pixels(path):
    from matplotlib import image

    return image.imread(path)


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory):
    path, _ = _store(tmp_path_factory.mktemp("grid"), GRID, "grid")
    return path


def test_every_default_chart_of_a_grid_is_drawn_with_its_numbers(grid_store, tmp_path):
    ds = sweep.open_result(grid_store)
    charts = defaults.charts_for(ds)
    assert [c.name for c in charts] == ["heatmap-usd_per_mtok", "lines-usd_per_mtok",
                                        "winner-usd_per_mtok", "breakeven", "breakdown"]
    for chart in charts:
        picture, table = defaults.save(chart, tmp_path, "png")
        assert _pixels(picture).std() > 0.05          # not blank
        assert table.read_text().count("\n") > 2
        ax = chart.figure.axes[0]
        assert chart.title and chart.reading and "[" in ax.get_ylabel()   # units
        assert "[" in ax.get_xlabel() or ax.get_xlabel() == "platform"   # or the labels
    # the heatmap's numbers are the store's, cell by cell (electricity held at its default)
    rows = _rows(tmp_path / "heatmap-usd_per_mtok.csv")
    assert len(rows) == 2 * 41 * 31
    for r in rows[::97]:
        want = ds["usd_per_mtok"].sel(platform=r["platform"],
                                      utilization=float(r["utilization"]),
                                      electricity_usd_per_kwh=float(r["electricity_usd_per_kwh"]))
        assert float(r["usd_per_mtok"]) == pytest.approx(float(want), rel=1e-9)
    # the lines chart: at the headline electricity price (the input's default, 0.08)
    rows = _rows(tmp_path / "lines-usd_per_mtok.csv")
    assert {float(r["electricity_usd_per_kwh"]) for r in rows} == {0.08}
    r = rows[-1]
    assert float(r["usd_per_mtok"]) == pytest.approx(float(ds["usd_per_mtok"].sel(
        platform=r["platform"], utilization=1.0, electricity_usd_per_kwh=0.08)), rel=1e-9)
    # the winner: B200 is cheaper at every cell of this grid, by 1300/5500 x 6/3.5 ...
    rows = _rows(tmp_path / "winner-usd_per_mtok.csv")
    assert {r["best"] for r in rows} == {"B200"}
    # the breakdown: rent + energy = the stored all-in cost at the headline point
    parts = {(r["platform"], r["part"]): float(r["value"]) for r in
             _rows(tmp_path / "breakdown.csv")}
    for label in ("H200", "B200"):
        total = sum(v for (p, _), v in parts.items() if p == label)
        want = float(ds["usd_per_mtok"].sel(platform=label, utilization=1.0,
                                             electricity_usd_per_kwh=0.08))
        assert total == pytest.approx(want, rel=1e-9)
        assert parts[(label, "capital")] == 0.0
    # break-even: utilization x cost / price at each selling price
    rows = _rows(tmp_path / "breakeven.csv")
    r = next(r for r in rows if r["platform"] == "H200"
             and abs(float(r["price_usd_per_mtok"]) - 1.0) < 1e-9)
    cost_at_full = float(ds["usd_per_mtok"].sel(platform="H200", utilization=1.0,
                                                electricity_usd_per_kwh=0.08))
    assert float(r["breakeven_utilization"]) == pytest.approx(cost_at_full / 1.0, rel=1e-9)


def test_an_iso_cost_contour_passes_where_the_model_says(grid_store):
    ds = sweep.open_result(grid_store)
    (chart,) = defaults.charts_for(ds, defaults.Options(kind="heatmap"))
    contours = chart.artists["contours"][0]           # H200's facet
    level = float(contours.levels[len(contours.levels) // 2])
    # usd_per_mtok = (gpu_hour_usd + kw x pue x e) / (tps x u x 3600) x 1e6: on the line of
    # cost L, u = (3.5 + 1.3 x 1.2 x e) x 1e6 / (1300 x 3600 x L)
    paths = contours.allsegs[list(contours.levels).index(level)]
    vertices = np.concatenate([p for p in paths if len(p)])
    assert len(vertices) > 5
    u, e = vertices[:, 0], vertices[:, 1]
    want = (3.5 + 1.3 * 1.2 * e) * 1e6 / (1300 * 3600 * level)
    assert np.allclose(u, want, rtol=0.01)


def test_svg_is_byte_stable_across_runs(grid_store, tmp_path):
    ds = sweep.open_result(grid_store)
    a = defaults.save(defaults.charts_for(ds, defaults.Options(kind="heatmap"))[0],
                      tmp_path / "a", "svg")[0]
    b = defaults.save(defaults.charts_for(ds, defaults.Options(kind="heatmap"))[0],
                      tmp_path / "b", "svg")[0]
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert text.count("<path") > 20 and "<dc:date>" not in text


def test_a_chart_reads_only_the_chunks_it_draws(tmp_path, monkeypatch):
    data = copy.deepcopy(GRID)
    data["axes"]["pue"] = {"linspace": {"start": 1.1, "stop": 1.6, "num": 10}}
    del data["constants"]["pue"]
    data["chunks"] = {"platform": 1, "pue": 1, "utilization": 41, "electricity_usd_per_kwh": 31}
    data["outputs"] = ["usd_per_mtok"]
    path, _ = _store(tmp_path, data, "chunked")
    ds = sweep.open_result(path)
    reads = []
    real = zarr.storage.LocalStore.get

    async def counting(self, key, *args, **kwargs):
        if key.startswith("usd_per_mtok/c/"):
            reads.append(key)
        return await real(self, key, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", counting)
    (chart,) = defaults.charts_for(ds, defaults.Options(kind="heatmap"))
    # 2 x 10 chunks in the store; the heatmap at one pue reads the 2 that hold it
    assert len(set(reads)) == 2
    assert chart.data["usd_per_mtok"].shape == (2, 31, 41)


def test_large_dims_are_thinned_to_stored_values_within_the_cell_budget(grid_store):
    ds = sweep.open_result(grid_store)
    da = prepare.take(ds, "usd_per_mtok", ["platform", "electricity_usd_per_kwh",
                                           "utilization"], max_cells=600)
    assert da.size <= 600
    got = da.isel(platform=1)
    want = ds["usd_per_mtok"].sel(platform="B200",
                                  utilization=got["utilization"],
                                  electricity_usd_per_kwh=got["electricity_usd_per_kwh"])
    np.testing.assert_array_equal(got.values, want.transpose(*got.dims).values)
    strides = prepare.thin({"a": 10**4, "b": 10**4, "c": 3})
    assert np.prod([-(-n // strides[d]) for d, n in
                    {"a": 10**4, "b": 10**4, "c": 3}.items()]) <= prepare.MAX_CELLS


def test_reduce_sensitivity_and_screening_stores_draw_their_charts(tmp_path):
    data = {**GRID, "reduce": {"over": ["utilization", "electricity_usd_per_kwh"],
                               "histogram": {"bins": 64}, "quantiles": [0.05, 0.5, 0.95],
                               "below": {"usd_per_mtok": [1.0]},
                               "compare": {"axis": "platform", "pairs": [["B200", "H200"]]}}}
    path, result = _store(tmp_path, data, "reduce")
    ds = sweep.open_result(path)
    charts = defaults.charts_for(ds)
    assert [c.name for c in charts] == ["distribution-usd_per_mtok", "compare-B200-H200"]
    for chart in charts:
        picture, table = defaults.save(chart, tmp_path / "r", "png")
        assert _pixels(picture).std() > 0.05
    rows = _rows(tmp_path / "r" / "distribution-usd_per_mtok.csv")
    counts = ds["usd_per_mtok_hist_count"].sel(platform="H200").values
    assert [int(float(r["count"])) for r in rows if r["label"] == "H200"] == list(counts)
    assert sum(int(float(r["count"])) for r in rows) == 2 * 41 * 31
    compare = _rows(tmp_path / "r" / "compare-B200-H200.csv")
    assert sum(int(float(r["count"])) for r in compare) == int(ds["compare_count"][0])
    assert "lower at" in charts[1].title

    sens = {"name": "s", "axes": {"platform": GRID["axes"]["platform"]},
            "distributions": {"utilization": {"uniform": {"low": 0.3, "high": 0.9}},
                              "pue": {"uniform": {"low": 1.1, "high": 1.5}}},
            "sample": {"method": "saltelli", "n": 256, "seed": 2}, "outputs": ["usd_per_mtok"]}
    s = sweep.run(spec_from_dict(sens), store=tmp_path / "s.zarr").dataset
    (chart,) = defaults.charts_for(s)
    assert chart.name == "sensitivity-usd_per_mtok"
    titles = [ax.get_title() for ax in chart.figure.axes]
    assert "tornado: usd_per_mtok (platform=H200)" in titles
    assert "tornado: usd_per_mtok (platform=B200)" in titles
    picture, table = defaults.save(chart, tmp_path / "s", "png")
    assert _pixels(picture).std() > 0.05
    rows = _rows(table)
    r = next(r for r in rows if r["platform"] == "B200" and r["input"] == "utilization")
    assert float(r["ST"]) == pytest.approx(float(s["ST"].sel(
        output="usd_per_mtok", platform="B200", input="utilization")))

    from sweep.engine.screening import morris

    m = morris(spec_from_dict({**sens, "sample": {"method": "mc", "n": 64, "seed": 2}}),
               trajectories=8)
    (chart,) = defaults.charts_for(m)
    assert chart.name == "screening-usd_per_mtok"
    assert _pixels(defaults.save(chart, tmp_path / "m", "png")[0]).std() > 0.05


def test_a_throughput_grid_draws_its_frontier_with_iso_cost_lines(tmp_path):
    data = {"name": "front",
            "axes": {"platform": {"presets": ["HGX H200", "B200"], "precision": "fp8"},
                     "llm": {"models": ["Llama-3.3-70B"], "weights": "fp8", "kv": "fp8"},
                     "concurrency": {"values": [1, 2, 4, 8, 16, 32, 64, 128, 256]}},
            "constants": {"input_tokens": 1024, "output_tokens": 1024},
            "outputs": ["tokens_per_s_per_gpu", "tokens_per_s_per_user", "usd_per_mtok"]}
    path, _ = _store(tmp_path, data, "front")
    ds = sweep.open_result(path)
    (chart,) = defaults.charts_for(ds, defaults.Options(kind="frontier"))
    ax = chart.figure.axes[0]
    assert ax.get_xscale() == "log" and "tokens/s per user" in ax.get_xlabel()
    notes = [t.get_text() for t in ax.texts if "USD/Mtok" in t.get_text()]
    assert notes       # iso-cost lines, labelled
    picture, table = defaults.save(chart, tmp_path / "f", "png")
    rows = _rows(table)
    r = rows[3]
    assert float(r["tokens_per_s_per_gpu"]) == pytest.approx(float(ds["tokens_per_s_per_gpu"].sel(
        platform=r["platform"], concurrency=float(r["concurrency"]), llm=r["llm"])))


def test_nice_levels_are_round_and_inside_the_range():
    levels = C.nice_levels(np.array([0.13, 7.9]), log=True)
    assert list(levels) == [0.2, 0.5, 1.0, 2.0, 5.0]
    assert list(C.nice_levels(np.array([0.0, 0.95]), n=5)) == [0.2, 0.4, 0.6, 0.8]


@pytest.mark.parametrize("args, message", [
    (["--kind", "pie"], "--kind 'pie': expected one of heatmap"),
    (["--output", "margin"], "--output 'margin': not in this store"),
    (["--x", "power"], "'power': not a dim of usd_per_mtok"),
    (["--sel", "platform=A100"], "not a value of platform"),
    (["--kind", "distribution"], "--kind distribution: not a chart this grid store can draw"),
])
def test_plot_refuses_unknown_names_and_writes_nothing(grid_store, tmp_path, capsys, args,
                                                       message):
    out = tmp_path / "charts"
    assert main(["plot", str(grid_store), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_plot_and_report_refuse_a_missing_or_incomplete_store(grid_store, tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none.zarr")]) == 2
    assert "is not a Zarr store" in capsys.readouterr().err
    import shutil

    copy_of = tmp_path / "running.zarr"
    shutil.copytree(grid_store, copy_of)
    group = zarr.open_group(copy_of, mode="r+")
    group.attrs["sweep_status"] = "running"
    out = tmp_path / "c"
    assert main(["plot", str(copy_of), "--out", str(out)]) == 2
    assert "did not finish" in capsys.readouterr().err and not out.exists()
    page = tmp_path / "r.html"
    assert main(["report", str(grid_store), str(copy_of), "--out", str(page)]) == 2
    assert not page.exists()
    assert main(["report", str(grid_store), "--out", str(tmp_path / "r.txt")]) == 2


def test_plot_writes_every_chart_and_its_csv(grid_store, tmp_path, capsys):
    out = tmp_path / "charts"
    assert main(["plot", str(grid_store), "--out", str(out), "--format", "svg",
                 "--sel", "electricity_usd_per_kwh=0.1"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "heatmap-usd_per_mtok.svg" in names and "heatmap-usd_per_mtok.csv" in names
    assert len(names) == 10
    rows = _rows(out / "lines-usd_per_mtok.csv")
    assert {float(r["electricity_usd_per_kwh"]) for r in rows} == {0.1}
    assert "wrote" in capsys.readouterr().out


def test_the_report_is_one_self_contained_file(grid_store, tmp_path, capsys):
    page = tmp_path / "report.html"
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({**GRID, "reduce": {
        "question": "How often is B200 cheaper?", "over": ["utilization"],
        "histogram": {"bins": 32}, "quantiles": [0.5]}}))
    red = tmp_path / "red.zarr"
    assert main(["run", str(cfg), "--store", str(red), "--no-progress"]) == 0
    assert main(["report", str(grid_store), str(red), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count('<img src="data:image/png;base64,') == 6
    assert text.count('href="data:text/csv;base64,') == 6
    assert "How often is B200 cheaper?" in text and "config hash" in text
    assert "<script" not in text and 'src="http' not in text and "<link" not in text
    assert all(f'alt="{t}' in text for t in ("usd_per_mtok over", "What a million tokens"))
    # the embedded CSV is the chart's
    import base64
    import re

    first = re.search(r'href="data:text/csv;base64,([^"]+)"', text).group(1)
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(first).decode())))
    assert len(rows) == 2 * 41 * 31
    assert json.loads(sweep.open_result(grid_store).attrs["sweep_spec"])["name"] in text


def test_plot_redraws_a_bench_report_with_its_rows(tmp_path, capsys):
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "bench" / "sweep-bench" / "bench.json"
    folder = tmp_path / "bench"
    folder.mkdir()
    shutil.copy(shipped, folder / "bench.json")
    assert main(["plot", str(folder), "--out", str(tmp_path / "out")]) == 0
    assert _pixels(tmp_path / "out" / "bench.png").std() > 0.05
    rows = _rows(tmp_path / "out" / "bench.csv")
    report = json.loads(shipped.read_text())
    assert [float(r["points_per_s"]) for r in rows] == \
        [float(r["points_per_s"]) for r in report["results"]]


def test_a_sample_grid_draws_its_distribution_per_label(tmp_path):
    data = {"name": "samples", "axes": {"platform": GRID["axes"]["platform"]},
            "distributions": {"utilization": {"uniform": {"low": 0.3, "high": 0.9}}},
            "sample": {"method": "sobol", "n": 1024, "seed": 4},
            "outputs": ["usd_per_mtok"]}
    path, _ = _store(tmp_path, data, "samples")
    ds = sweep.open_result(path)
    (chart,) = defaults.charts_for(ds)
    assert chart.name == "distribution-usd_per_mtok"
    picture, table = defaults.save(chart, tmp_path / "d", "png")
    assert _pixels(picture).std() > 0.05
    rows = _rows(table)
    for label in ("H200", "B200"):
        assert sum(float(r["count"]) for r in rows if r["label"] == label) == 1024
    median = float(np.median(ds["usd_per_mtok"].sel(platform="B200").values))
    assert f"B200 median {median:.3g}" in chart.reading


def test_a_label_subset_holds_for_every_chart_and_bad_requests_are_refused(grid_store,
                                                                           tmp_path, capsys):
    out = tmp_path / "sub"
    assert main(["plot", str(grid_store), "--out", str(out), "--sel", "platform=B200"]) == 0
    for name in ("heatmap-usd_per_mtok", "breakdown", "breakeven"):
        assert {r["platform"] for r in _rows(out / f"{name}.csv")} == {"B200"}, name
    assert main(["plot", str(grid_store), "--x", "utilization", "--y", "utilization"]) == 2
    assert "--x and --y are both 'utilization'" in capsys.readouterr().err
    assert main(["plot", str(grid_store), "--kind", "lines", "--out", str(tmp_path / "l"),
                 "--sel", "electricity_usd_per_kwh=0.1,0.2"]) == 2
    assert "one value" in capsys.readouterr().err


def test_a_store_with_nothing_to_draw_is_refused(tmp_path, capsys):
    data = {**GRID, "reduce": {"over": ["utilization", "electricity_usd_per_kwh"]}}
    path, _ = _store(tmp_path, data, "bare")
    assert main(["plot", str(path), "--out", str(tmp_path / "c")]) == 2
    assert "no chart to draw" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_best_result_draws_the_optima_first(tmp_path):
    from sweep.engine.reduce import run_reduce
    from sweep.spec.config import load_config

    run_reduce(load_config("configs/iceberg-dsr1.yaml"), store=tmp_path / "ice.zarr",
               progress=False)
    ds = sweep.open_result(tmp_path / "ice.zarr")
    charts = defaults.charts_for(ds)
    assert [c.name for c in charts][:1] == ["best"]
    best = charts[0]
    assert "GB300 NVL72 lowest throughout" in best.title
    np.testing.assert_allclose(best.data["best_value"].values,
                               ds["best_value"].isel(llm=0).values)
    compare = next(c for c in charts if c.name.startswith("compare"))
    assert "every point, feasible or not" in compare.title
    picture, _ = defaults.save(best, tmp_path / "charts", "png")
    assert _pixels(picture).std() > 0.05
