"""End to end: sweep file -> plan -> Dask -> Zarr store -> xarray, and the CLI around it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import small_spec_dict
from sweep import load_config, open_result, run
from sweep.backends import NumpyBackend, get_backend
from sweep.cli import main
from sweep.engine.execute import ChunkError
from sweep.spec.config import spec_from_dict
from sweep.storage.store import MARKERS, IncompleteStoreWarning, StoreError, create

REPO = Path(__file__).resolve().parents[1]


def reference(spec):
    """The whole grid through the NumPy reference, in one piece."""
    from sweep.planning.planner import make_plan

    plan = make_plan(spec, target_chunk_bytes=2**40)
    (key,) = list(plan.keys())
    values, _ = NumpyBackend().compute(plan.chunk_inputs(key), plan.output_codes, plan.dtype)
    return values


def test_store_round_trip_through_xarray(tmp_path, small_spec):
    result = run(small_spec, store=tmp_path / "s.zarr", progress=False, backend="numba")
    ds = xr.open_zarr(tmp_path / "s.zarr", consolidated=False)
    assert ds["usd_per_mtok"].dims == ("platform", "utilization", "electricity_usd_per_kwh")
    assert ds.sizes == {"platform": 2, "utilization": 3, "electricity_usd_per_kwh": 4}
    assert list(ds["platform"].values) == ["A", "B"]
    np.testing.assert_allclose(ds["utilization"].values, [0.25, 0.625, 1.0])
    assert ds["usd_per_mtok"].attrs["units"] == "USD/Mtok"
    assert ds["tokens_per_s_per_mw"].attrs["units"] == "tokens/s/MW"
    assert ds["utilization"].attrs["units"] == "1"
    assert ds["gpu_hour_usd"].dims == ("platform",)     # what the categorical axis sets
    np.testing.assert_allclose(ds["gpu_hour_usd"].values, [1.41, 2.65])
    a = ds.attrs
    assert a["sweep_status"] == "complete"
    assert a["sweep_backend"] == "numba" and a["sweep_device"] == "cpu"
    assert a["sweep_dtype"] == "float64" and a["sweep_version"]
    assert len(a["sweep_config_hash"]) == 64
    assert json.loads(a["sweep_config"])["spec"]["name"] == "small"
    assert a["sweep_created"] <= a["sweep_finished"]
    values = np.stack([ds[o].values for o in ("usd_per_mtok", "tokens_per_s_per_mw")])
    np.testing.assert_array_max_ulp(values, reference(small_spec), maxulp=4)
    assert result.nan_counts == {"usd_per_mtok": 0, "tokens_per_s_per_mw": 0}
    assert a["sweep_summary"]["usd_per_mtok"]["max"] == pytest.approx(float(values[0].max()))


@pytest.mark.parametrize("chunks", [{"utilization": 1},
                                    {"platform": 1, "electricity_usd_per_kwh": 3},
                                    {"utilization": 2, "electricity_usd_per_kwh": 1}])
def test_results_do_not_depend_on_chunking_or_backend(tmp_path, chunks, backend_name):
    spec = spec_from_dict(small_spec_dict(chunks=chunks, dtype="float32"))
    run(spec, store=tmp_path / "c.zarr", backend=backend_name, progress=False)
    base = spec_from_dict(small_spec_dict(dtype="float32"))
    run(base, store=tmp_path / "one.zarr", backend="numpy", progress=False)
    got = open_result(tmp_path / "c.zarr").load()
    ref = open_result(tmp_path / "one.zarr").load()
    for name in ("usd_per_mtok", "tokens_per_s_per_mw"):
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name].values, ref[name].values)
    zarr_chunks = got.attrs["sweep_chunk_shape"]
    for axis, size in chunks.items():
        assert zarr_chunks[list(got["usd_per_mtok"].dims).index(axis)] == size


def test_zero_denominators_are_counted_and_nan(tmp_path):
    d = small_spec_dict()
    d["axes"]["utilization"] = {"values": [0.0, 0.5, 1.0]}
    result = run(spec_from_dict(d), store=tmp_path / "z.zarr", progress=False)
    ds = open_result(tmp_path / "z.zarr")
    mtok = ds["usd_per_mtok"].values
    assert np.isnan(mtok[:, 0, :]).all() and np.isfinite(mtok[:, 1:, :]).all()
    assert result.nan_counts["usd_per_mtok"] == 2 * 4
    assert result.nan_counts["tokens_per_s_per_mw"] == 0
    assert ds.attrs["sweep_summary"]["usd_per_mtok"]["nan_count"] == 8


def test_existing_store_is_refused_unless_overwrite(tmp_path, small_spec):
    target = tmp_path / "s.zarr"
    run(small_spec, store=target, progress=False)
    with pytest.raises(StoreError, match="already exists"):
        run(small_spec, store=target, progress=False)
    run(small_spec, store=target, progress=False, overwrite=True)
    assert open_result(target).attrs["sweep_status"] == "complete"


def test_overwrite_never_deletes_what_is_not_a_store(tmp_path, small_spec):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.tex").write_text("do not delete")
    with pytest.raises(StoreError, match="not a Zarr store"):
        run(small_spec, store=target, progress=False, overwrite=True)
    assert (target / "thesis.tex").read_text() == "do not delete"


def test_incomplete_store_warns_loudly(tmp_path, small_spec):
    from sweep.planning.planner import make_plan

    plan = make_plan(small_spec, tmp_path / "half.zarr")
    create(plan, "numpy", "cpu")
    with pytest.warns(IncompleteStoreWarning, match=r"INCOMPLETE .* 1 of 1 chunk"):
        open_result(tmp_path / "half.zarr")


class FailingBackend(NumpyBackend):
    def compute(self, inputs, codes, dtype, out=None):
        if inputs.shape[1] == 1 and inputs.table[9, 0] == 1.0:
            raise FloatingPointError("simulated fault")
        return super().compute(inputs, codes, dtype, out)


def test_a_failing_chunk_is_named_and_the_store_stays_running(tmp_path, monkeypatch):
    spec = spec_from_dict(small_spec_dict(chunks={"utilization": 1}))
    monkeypatch.setattr("sweep.engine.execute.get_backend", lambda name, **kw: FailingBackend())
    with pytest.raises(ChunkError, match=r"chunk 0\.2\.0 \(platform\[0:2\], "
                                         r"utilization\[2:3\].*simulated fault"):
        run(spec, store=tmp_path / "f.zarr", progress=False, num_workers=1)
    with pytest.warns(IncompleteStoreWarning):
        ds = open_result(tmp_path / "f.zarr")
    assert ds.attrs["sweep_status"] == "running"
    markers = sorted(p.name for p in (tmp_path / "f.zarr" / MARKERS).glob("*.json"))
    assert "0.2.0.json" not in markers


def test_cli_run_show_and_plan_on_the_default_sweep(tmp_path, capsys):
    target = tmp_path / "hb.zarr"
    cfg = str(REPO / "configs" / "hopper-vs-blackwell.yaml")
    assert main(["plan", cfg, "--store", str(target)]) == 0
    out = capsys.readouterr().out
    assert "points      80" in out and not target.exists()
    assert main(["run", cfg, "--store", str(target), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "[complete]" in out
    # the headline row is the rent-only figure (the article's prices are all-in): the
    # check by hand is left out, as the table already shows 1.41 / (90 x 3600) x 1e6
    headline = out.split("by platform at utilization=1, electricity_usd_per_kwh=0:")[1]
    assert re.search(r"\n  HGX H200 +4\.352 ", headline)
    assert re.search(r"\n  GB300 NVL72 +0\.1227 ", headline)
    assert "rent alone" not in out
    assert "printed 4.20" in out
    assert "tokens_per_s_per_mw x51.9" in out
    assert "by platform at utilization=1, electricity_usd_per_kwh=0:" in out
    assert "usd_per_mtok x0.0282 (35.5x lower)" in out        # the article's "35x"
    assert "tokens_per_s_per_gpu x66.7" in out                 # the article's "65x"
    assert main(["run", cfg, "--store", str(target), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["run", cfg, "--store", str(target), "--no-progress", "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["show", str(target)]) == 0
    out = capsys.readouterr().out
    # 80 points: `auto` takes NumPy
    assert "usd_per_mtok" in out and "USD/Mtok" in out and "numpy on cpu" in out
    ds = open_result(target)
    at = ds.sel(platform="HGX H200", utilization=1.0, electricity_usd_per_kwh=0.0)
    assert float(at["usd_per_mtok"]) == pytest.approx(4.352, rel=1e-3)


def test_python_dash_m_sweep_works():
    out = subprocess.run([sys.executable, "-m", "sweep", "plan",
                          str(REPO / "configs" / "hopper-vs-blackwell.yaml")],
                         capture_output=True, text=True, check=True).stdout
    assert "platform=2 x utilization=10 x electricity_usd_per_kwh=4" in out


def test_load_config_public_api_round_trip(tmp_path):
    spec = load_config(REPO / "configs" / "hopper-vs-blackwell.yaml")
    assert spec.name == "hopper-vs-blackwell"
    assert get_backend("numpy").name == "numpy"


@pytest.mark.parametrize("codec", ["zstd", "zstd-bitshuffle", "lz4", "none"])
def test_every_codec_stores_the_same_values(tmp_path, codec):
    spec = spec_from_dict(small_spec_dict(codec=codec, dtype="float32"))
    run(spec, store=tmp_path / "c.zarr", progress=False, backend="numpy")
    ds = open_result(tmp_path / "c.zarr")
    compressors = ds["usd_per_mtok"].encoding.get("compressors") or ()
    if codec == "none":
        assert compressors == ()
    else:
        assert compressors[0].to_dict()["configuration"]["cname"] == codec.split("-")[0]
    np.testing.assert_array_equal(ds["usd_per_mtok"].values,
                                  reference(spec)[0].astype(np.float32))


def test_progress_bar_reports_chunks_when_asked_and_is_quiet_otherwise(tmp_path, capsys):
    spec = spec_from_dict(small_spec_dict(chunks={"utilization": 1}))
    run(spec, store=tmp_path / "p.zarr", progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "chunks" in err and "Mpoints/s" in err
    run(spec, store=tmp_path / "q.zarr", progress=None)   # not a terminal under pytest
    assert capsys.readouterr().err == ""


def test_overwrite_keeps_the_old_store_when_the_new_template_fails(tmp_path, small_spec,
                                                                   monkeypatch):
    target = tmp_path / "s.zarr"
    run(small_spec, store=target, progress=False)

    def broken_template(*args, **kwargs):
        raise RuntimeError("template failed")

    monkeypatch.setattr("sweep.storage.store.template", broken_template)
    with pytest.raises(RuntimeError, match="template failed"):
        run(small_spec, store=target, progress=False, overwrite=True)
    assert open_result(target).attrs["sweep_status"] == "complete"


def test_cli_refuses_bad_workers_and_unusable_targets(tmp_path, capsys):
    cfg = str(REPO / "configs" / "hopper-vs-blackwell.yaml")
    with pytest.raises(SystemExit) as info:
        main(["run", cfg, "--workers", "0"])
    assert info.value.code == 2
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["run", cfg, "--store", str(blocker / "x.zarr"), "--no-progress"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_show_refuses_a_store_token_sweep_did_not_write(tmp_path, capsys):
    import zarr

    zarr.open_group(tmp_path / "other.zarr", mode="w", zarr_format=3)
    assert main(["show", str(tmp_path / "other.zarr")]) == 2
    assert "not written by token-sweep" in capsys.readouterr().err


@pytest.mark.parametrize("value,text", [(2.17e9, "2.17 G points/s"), (3.75e4, "37.5 k points/s"),
                                        (1.2e6, "1.2 M points/s"), (12.0, "12 points/s"),
                                        (0.0, "0 points/s")])
def test_throughputs_print_three_digits_at_any_size(value, text):
    from sweep.report.summary import rate

    assert rate(value) == text


def test_xarrays_own_plot_labels_axes_with_short_names_and_units(tmp_path):
    """Coordinates carry a short ``long_name`` (the full sentence is ``description``), so
    xarray's ``.plot()`` labels an axis 'utilization [1]', not the input's description."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sweep
    from conftest import small_spec_dict
    from sweep.spec.config import spec_from_dict

    spec = spec_from_dict(small_spec_dict(store=str(tmp_path / "s.zarr"), backend="numpy"))
    ds = sweep.open_result(sweep.run(spec, progress=False).store)
    assert ds["utilization"].attrs["long_name"] == "utilization"
    assert "fraction of hours" in ds["utilization"].attrs["description"]
    fig, ax = plt.subplots()
    ds["usd_per_mtok"].sel(platform="A").plot(ax=ax, x="utilization")
    assert ax.get_xlabel() == "utilization [1]"
    assert ax.get_ylabel() == "electricity price [USD/kWh]"
    label = ax.figure.axes[-1].get_ylabel().replace("\n", " ")
    assert label == "cost per million delivered tokens [USD/Mtok]"
    plt.close(fig)
