"""Per-label and relative distributions (issue 17, item 3): one file compares platforms
under uncertainty, each label drawn from its own distribution on the same uniforms."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sweep
from sweep.planning.planner import PlanError
from sweep.spec.config import ConfigError, spec_from_dict

TWO = {
    "name": "two",
    "axes": {"platform": {"labels": ["H200", "B200"],
                          "set": {"gpu_hour_usd": [3.5, 6.0], "kw_per_gpu": [1.4, 1.8]}}},
    "distributions": {
        "tokens_per_s_per_gpu": {"lognormal": {"median": [1300, 5500], "sigma": 0.3}},
        "gpu_hour_usd": {"relative": {"uniform": {"low": 0.8, "high": 1.2}}},
        "utilization": {"uniform": {"low": 0.4, "high": 0.9}},
    },
    "sample": {"method": "sobol", "n": 1024, "seed": 3},
    "outputs": ["usd_per_mtok", "gross_margin"],
    "constants": {"price_usd_per_mtok": 1.0},
}


def _one(label: int) -> dict:
    """The same sweep for one platform, with scalar distributions."""
    d = copy.deepcopy(TWO)
    p = d["axes"]["platform"]
    p["labels"] = [p["labels"][label]]
    p["set"] = {k: [v[label]] for k, v in p["set"].items()}
    d["distributions"]["tokens_per_s_per_gpu"]["lognormal"]["median"] = [1300, 5500][label]
    d["distributions"]["gpu_hour_usd"] = {"uniform": {"low": 0.8 * [3.5, 6.0][label],
                                                      "high": 1.2 * [3.5, 6.0][label]}}
    del p["set"]["gpu_hour_usd"]
    return d


def test_each_label_is_drawn_from_its_own_distribution_on_the_same_uniforms(tmp_path):
    sweep.run(spec_from_dict(TWO), store=tmp_path / "two.zarr", progress=False)
    ds = sweep.open_result(tmp_path / "two.zarr")
    t, g = ds["tokens_per_s_per_gpu"], ds["gpu_hour_usd"]
    assert t.dims == ("platform", "sample") and g.dims == ("platform", "sample")
    assert ds["utilization"].dims == ("sample",)
    assert np.allclose(np.median(t.values, axis=1), [1300, 5500], rtol=0.02)
    assert np.allclose(g.values.min(axis=1), [2.8, 4.8], rtol=0.01)
    assert np.allclose(g.values.max(axis=1), [4.2, 7.2], rtol=0.01)
    assert (g.values >= [[2.8], [4.8]]).all() and (g.values <= [[4.2], [7.2]]).all()
    # common random numbers: the same uniform gives the same quantile on every label
    assert np.allclose(t.values[0] / 1300, t.values[1] / 5500)
    assert list(ds["gpu_hour_usd_base"].values) == [3.5, 6.0]
    # each label's values are those of the same sweep run for that platform alone
    for i, label in enumerate(["H200", "B200"]):
        sweep.run(spec_from_dict(_one(i)), store=tmp_path / f"{label}.zarr", progress=False)
        alone = sweep.open_result(tmp_path / f"{label}.zarr")
        for name in ("usd_per_mtok", "gross_margin"):
            np.testing.assert_allclose(ds[name].sel(platform=label).values,
                                       alone[name].sel(platform=label).values, rtol=1e-12)
    from sweep.storage.verify import verify_store

    assert verify_store(tmp_path / "two.zarr").ok


def test_chunks_are_one_label_wide_whatever_the_file_asks(tmp_path):
    plan = sweep.plan(spec_from_dict({**TWO, "chunks": {"platform": 2, "sample": 256}}))
    assert plan.chunk_shape == (1, 256) and plan.by_label == (0,)
    keys = list(plan.keys())
    assert len(keys) == 8
    wide = type(keys[0])((0, 0), (0, 0), (2, 256))
    with pytest.raises(ValueError, match="more than one label"):
        plan.chunk_inputs(wide)


def test_reduce_compares_labels_with_their_own_distributions(tmp_path):
    data = {**TWO, "sample": {"method": "mc", "n": 20000, "seed": 5},
            "reduce": {"over": ["sample"], "quantiles": [0.5], "histogram": {"bins": 128},
                       "compare": {"axis": "platform", "pairs": [["B200", "H200"]]}}}
    res = sweep.run(spec_from_dict(data), store=tmp_path / "r.zarr", progress=False).dataset
    sweep.run(spec_from_dict({k: v for k, v in data.items() if k != "reduce"}),
              store=tmp_path / "g.zarr", progress=False)
    grid = sweep.open_result(tmp_path / "g.zarr")
    cost = grid["usd_per_mtok"].values
    assert np.allclose(res["usd_per_mtok_mean"].values, cost.mean(axis=1), rtol=1e-9)
    frac = float(res["compare_frac_first_lower"][0])
    assert frac == pytest.approx(float(np.mean(cost[1] < cost[0])))


def test_sensitivity_runs_per_label_from_one_file(tmp_path):
    data = {**TWO, "sample": {"method": "saltelli", "n": 512, "seed": 3},
            "outputs": ["usd_per_mtok"]}
    ds = sweep.run(spec_from_dict(data), store=tmp_path / "s.zarr").dataset
    assert ds["input_base"].dims == ("platform", "input")
    base = ds["input_base"].sel(input="tokens_per_s_per_gpu").values
    assert np.allclose(base, [1300, 5500], rtol=1e-9)
    assert np.allclose(ds["input_base"].sel(input="gpu_hour_usd").values, [3.5, 6.0])
    # the indices are those of the one-platform file: the same design, the same uniforms
    for i, label in enumerate(["H200", "B200"]):
        alone = sweep.run(spec_from_dict({**_one(i), "sample": data["sample"],
                                          "outputs": ["usd_per_mtok"]}),
                          store=tmp_path / f"{label}.zarr").dataset
        np.testing.assert_allclose(ds["ST"].sel(platform=label).values,
                                   alone["ST"].sel(platform=label).values, rtol=1e-9)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["distributions"]["tokens_per_s_per_gpu"]["lognormal"].update(
        median=[1300, 5500, 9000]), "2 value(s), one per label of platform"),
    (lambda d: d["distributions"]["tokens_per_s_per_gpu"].update(per="gpu"),
     "per: a categorical axis, one of platform"),
    (lambda d: d["distributions"]["tokens_per_s_per_gpu"]["lognormal"].update(
        median=[1300, -1]), "median > 0"),
    (lambda d: d["distributions"].update(
        pue={"relative": {"uniform": {"low": 0.9, "high": 1.1}}}),
     "pue set by a categorical axis (set, presets) or a constant"),
    (lambda d: d["distributions"]["gpu_hour_usd"]["relative"]["uniform"].update(low=-0.1),
     "a factor >= 0"),
    (lambda d: d["distributions"].update(
        kw_per_gpu={"uniform": {"low": 1.0, "high": 2.0}}),
     "is already set by axes.platform"),
])
def test_bad_per_label_or_relative_distributions_are_refused_by_name(change, message):
    d = copy.deepcopy(TWO)
    change(d)
    with pytest.raises(ConfigError) as err:
        spec_from_dict(d)
    assert message in str(err.value)


def test_a_relative_range_outside_the_valid_range_is_refused_before_any_work(tmp_path):
    d = copy.deepcopy(TWO)
    d["axes"]["platform"]["set"]["utilization"] = [0.9, 0.95]
    d["distributions"]["utilization"] = {"relative": {"uniform": {"low": 0.8, "high": 1.2}}}
    with pytest.raises(PlanError, match=r"distributions.utilization.relative: platform H200: "
                                        r"0.9 x \[0.8, 1.2\] = \[0.72, 1.08\], outside"):
        sweep.run(spec_from_dict(d), store=tmp_path / "x.zarr", progress=False)
    assert not (tmp_path / "x.zarr").exists()


def test_every_backend_draws_the_same_per_label_samples(tmp_path, backend_name):
    d = {**TWO, "sample": {"method": "sobol", "n": 64, "seed": 3}}
    sweep.run(spec_from_dict(d), store=tmp_path / "ref.zarr", backend="numpy", progress=False)
    sweep.run(spec_from_dict(d), store=tmp_path / "be.zarr", backend=backend_name,
              progress=False)
    ref, got = sweep.open_result(tmp_path / "ref.zarr"), sweep.open_result(tmp_path / "be.zarr")
    np.testing.assert_array_equal(got["tokens_per_s_per_gpu"].values,
                                  ref["tokens_per_s_per_gpu"].values)
    np.testing.assert_allclose(got["usd_per_mtok"].values, ref["usd_per_mtok"].values,
                               rtol=1e-13)
