"""Answers a user can trust at a glance (issue 17): defaults declared, the whole small grid
shown, ratios only where they mean something, the rent-only check under its own heading,
any slice of a store as a table or CSV, NumPy for tiny sweeps."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
import yaml

import sweep
from sweep.backends import AUTO_NUMPY_POINTS, choose_auto
from sweep.cli import main
from sweep.model import default_model
from sweep.report.summary import FULL_TABLE_POINTS
from sweep.spec.config import spec_from_dict

SMALL = {
    "name": "answers",
    "axes": {
        "platform": {"labels": ["a", "b"],
                     "set": {"gpu_hour_usd": [2.0, 3.0], "tokens_per_s_per_gpu": [1000, 2500]}},
        "utilization": {"values": [0.5, 0.7, 1.0]},
    },
    "outputs": ["usd_per_mtok", "gross_margin", "breakeven_utilization"],
    "constants": {"price_usd_per_mtok": 1.0},
}


def _write(tmp_path, data, name="s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def small_store(tmp_path):
    path = tmp_path / "s.zarr"
    sweep.run(spec_from_dict(SMALL), store=path, progress=False)
    return path


def test_every_defaulted_input_is_declared_by_plan_run_and_show_and_kept_in_provenance(
        tmp_path, capsys):
    cfg = _write(tmp_path, SMALL)
    target = tmp_path / "s.zarr"
    assert main(["plan", cfg, "--store", str(target)]) == 0
    planned = capsys.readouterr().out
    assert main(["run", cfg, "--store", str(target), "--no-progress"]) == 0
    ran = capsys.readouterr().out
    assert main(["show", str(target)]) == 0
    shown = capsys.readouterr().out
    for text in (planned, ran, shown):
        line = next(x for x in text.splitlines() if "defaults (not set by the file" in x)
        # the inputs the file left alone, with their values and units; not those it set
        assert "kw_per_gpu=1 kW" in line and "pue=1.2" in line
        assert "electricity_usd_per_kwh=0.08 USD/kWh" in line
        assert "price_usd_per_mtok" not in line and "gpu_hour_usd" not in line
    recorded = json.loads(sweep.open_result(target).attrs["sweep_defaults"])
    assert recorded["kw_per_gpu"] == {"value": 1.0, "unit": "kW"}
    assert "price_usd_per_mtok" not in recorded and "utilization" not in recorded
    # set one: it is no longer declared as a default
    assert main(["plan", _write(tmp_path, {**SMALL, "constants": {
        "price_usd_per_mtok": 1.0, "kw_per_gpu": 1.4}}, "t.yaml")]) == 0
    assert "kw_per_gpu=1 kW" not in capsys.readouterr().out


def test_a_sensitivity_result_declares_its_defaults_too(tmp_path, capsys):
    data = {"name": "sens", "axes": {"platform": SMALL["axes"]["platform"]},
            "distributions": {"utilization": {"uniform": {"low": 0.4, "high": 0.9}}},
            "sample": {"method": "saltelli", "n": 256, "seed": 1},
            "outputs": ["usd_per_mtok"]}
    cfg = _write(tmp_path, data)
    assert main(["sensitivity", cfg, "--store", str(tmp_path / "r.zarr"),
                 "--charts", str(tmp_path / "charts")]) == 0
    out = capsys.readouterr().out
    assert "defaults (not set by the file; set them to change): " in out
    assert "kw_per_gpu=1 kW" in out


def test_a_small_grid_is_printed_whole_and_a_large_one_as_its_headline(small_store):
    from sweep.report.summary import describe

    text = describe(sweep.open_result(small_store))
    rows = text.split("every point:")[1].splitlines()[3:9]
    ds = sweep.open_result(small_store)
    want = ds["usd_per_mtok"].values.ravel()
    got = [float(r.split()[2]) for r in rows]
    assert np.allclose(got, want, rtol=1e-3)
    assert [r.split()[:2] for r in rows] == [[p, u] for p in ("a", "b")
                                             for u in ("0.5", "0.7", "1")]
    big = {**SMALL, "axes": {**SMALL["axes"], "utilization": {
        "linspace": {"start": 0.1, "stop": 1.0, "num": FULL_TABLE_POINTS}}}}
    sweep.run(spec_from_dict(big), store=small_store.parent / "big.zarr", progress=False)
    ds = sweep.open_result(small_store.parent / "big.zarr")
    text = describe(ds)
    assert "every point:" not in text and "by platform at utilization=1:" in text


def test_ratio_lines_only_for_outputs_whose_ratio_means_something(small_store):
    from sweep.report.summary import describe

    specs = default_model().output_specs
    assert specs["usd_per_mtok"].ratio and specs["tokens_per_s_per_gpu"].ratio
    assert not specs["gross_margin"].ratio and not specs["breakeven_utilization"].ratio
    assert not specs["margin_usd_per_mtok"].ratio and not specs["profit_usd_per_mw_year"].ratio
    line = next(x for x in describe(sweep.open_result(small_store)).splitlines()
                if x.startswith("  b: "))
    assert "usd_per_mtok x0.591" in line
    assert "gross_margin" not in line and "breakeven" not in line


def test_the_rent_only_check_has_its_own_heading_and_only_where_it_differs(tmp_path,
                                                                           small_store):
    from sweep.report.summary import describe

    text = describe(sweep.open_result(small_store))
    heading = [x for x in text.splitlines() if "rent alone at full utilization" in x]
    assert len(heading) == 1 and heading[0].startswith("to check by hand")
    # no other cost and full utilization: the table already shows the rent-only figure
    rent_only = {**SMALL, "axes": {"platform": SMALL["axes"]["platform"]},
                 "constants": {"kw_per_gpu": 0.0, "utilization": 1.0}, "outputs": ["usd_per_mtok"]}
    sweep.run(spec_from_dict(rent_only), store=tmp_path / "rent.zarr", progress=False)
    ds = sweep.open_result(tmp_path / "rent.zarr")
    assert "rent alone" not in describe(ds)


def test_show_prints_and_writes_any_slice_of_a_grid(small_store, tmp_path, capsys):
    assert main(["show", str(small_store), "--sel", "platform=b", "--sel",
                 "utilization=0.5,1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["platform", "utilization", "usd_per_mtok"]
    assert [r.split()[:2] for r in out[2:]] == [["b", "0.5"], ["b", "1"]]
    target = tmp_path / "slice.csv"
    assert main(["show", str(small_store), "--output", "gross_margin", "--csv",
                 str(target)]) == 0
    rows = list(csv.reader(target.read_text().splitlines()))
    assert rows[0] == ["platform", "utilization", "gross_margin"]
    ds = sweep.open_result(small_store)
    assert np.allclose([float(r[2]) for r in rows[1:]], ds["gross_margin"].values.ravel(),
                       rtol=1e-9)


def test_show_slices_a_reduce_result_per_output(tmp_path, capsys):
    data = {**SMALL, "axes": {**SMALL["axes"], "utilization": {
        "linspace": {"start": 0.2, "stop": 1.0, "num": 50}}},
            "reduce": {"over": ["utilization"], "quantiles": [0.5], "histogram": {"bins": 64},
                       "below": {"usd_per_mtok": [0.5, 1.0]}}}
    store = tmp_path / "r.zarr"
    sweep.run(spec_from_dict(data), store=store, progress=False)
    target = tmp_path / "r.csv"
    assert main(["show", str(store), "--output", "usd_per_mtok", "--csv", str(target)]) == 0
    rows = list(csv.DictReader(target.read_text().splitlines()))
    ds = sweep.open_result(store)
    assert [r["platform"] for r in rows] == ["a", "b"]
    assert np.allclose([float(r["usd_per_mtok_mean (USD/Mtok)"]) for r in rows],
                       ds["usd_per_mtok_mean"].values)
    assert np.allclose([float(r["usd_per_mtok_frac_below[0.5]"]) for r in rows],
                       ds["usd_per_mtok_frac_below"].values[:, 0])
    assert not any(k.startswith("gross_margin") for k in rows[0])


@pytest.mark.parametrize("args, message", [
    (["--sel", "platform=c"], "--sel platform=c: not a value of platform (values: a, b)"),
    (["--sel", "power=1"], "--sel power: not a dim"),
    (["--sel", "utilization=half"], "not a number"),
    (["--sel", "utilization"], "expected DIM=VALUE"),
    (["--output", "margin"], "--output 'margin': not in this store"),
])
def test_show_refuses_an_unknown_dim_value_or_output_and_writes_nothing(
        small_store, tmp_path, capsys, args, message):
    target = tmp_path / "x.csv"
    assert main(["show", str(small_store), *args, "--csv", str(target)]) == 2
    assert message in capsys.readouterr().err
    assert not target.exists()


def test_auto_takes_numpy_for_tiny_sweeps_and_says_why(small_store, caplog):
    assert sweep.open_result(small_store).attrs["sweep_backend"] == "numpy"
    with caplog.at_level(logging.INFO, logger="sweep.backends"):
        assert choose_auto(6) == "numpy"
    assert "6 point(s)" in caplog.text and "compiling" in caplog.text
    assert choose_auto(AUTO_NUMPY_POINTS) == "numpy"
    assert choose_auto(AUTO_NUMPY_POINTS + 1) != "numpy"
    assert choose_auto() != "numpy"   # no size given: as before


def test_show_slices_a_sensitivity_result_and_prints_only_the_first_rows(tmp_path, capsys):
    data = {"name": "sens", "axes": {"platform": SMALL["axes"]["platform"]},
            "distributions": {"utilization": {"uniform": {"low": 0.4, "high": 0.9}},
                              "pue": {"uniform": {"low": 1.1, "high": 1.4}}},
            "sample": {"method": "saltelli", "n": 128, "seed": 1},
            "outputs": ["usd_per_mtok", "gross_margin"],
            "constants": {"price_usd_per_mtok": 1.0}}
    store = tmp_path / "s.zarr"
    sweep.run(spec_from_dict(data), store=store)
    assert main(["show", str(store), "--output", "gross_margin", "--sel", "platform=b"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["output", "platform", "input"]
    assert {r.split()[0] for r in out[2:]} == {"gross_margin"} and len(out) == 4
    ds = sweep.open_result(store)
    row = next(r for r in out[2:] if r.split()[2] == "pue")
    assert float(row.split()[3]) == pytest.approx(float(ds["S1"].sel(
        output="gross_margin", platform="b", input="pue")), rel=1e-9)
    big = {**SMALL, "axes": {**SMALL["axes"], "utilization": {
        "linspace": {"start": 0.1, "stop": 1.0, "num": 500}}}}
    sweep.run(spec_from_dict(big), store=tmp_path / "big.zarr", progress=False)
    assert main(["show", str(tmp_path / "big.zarr"), "--output", "usd_per_mtok"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 200 + 1 and out[-1].startswith("  ... 800 more row(s)")


def test_a_morris_dry_run_declares_its_defaults(tmp_path, capsys):
    data = {"name": "m", "axes": {"platform": SMALL["axes"]["platform"]},
            "distributions": {"utilization": {"uniform": {"low": 0.4, "high": 0.9}}},
            "sample": {"method": "mc", "n": 64, "seed": 1}, "outputs": ["usd_per_mtok"]}
    cfg = _write(tmp_path, data)
    assert main(["sensitivity", cfg, "--morris", "4", "--dry-run", "--store",
                 str(tmp_path / "m.zarr")]) == 0
    assert "kw_per_gpu=1 kW" in capsys.readouterr().out
    assert not (tmp_path / "m.zarr").exists()
