"""Every recipe of the README's "Recipes" (configs/recipes/) runs and answers its question."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sweep
from sweep.cli import main
from sweep.spec.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "configs" / "recipes"


def test_every_recipe_is_in_the_readme_and_tested_here():
    readme = (RECIPES.parents[1] / "README.md").read_text()
    files = sorted(p.name for p in RECIPES.glob("*.yaml"))
    assert len(files) == 5
    for name in files:
        assert f"configs/recipes/{name}" in readme
        assert name.split("-", 1)[0] in {"1", "2", "3", "4", "5"}


def test_recipe_1_cost_and_breakeven_at_three_utilizations(tmp_path, capsys):
    store = tmp_path / "r1.zarr"
    assert main(["run", str(RECIPES / "1-cost-at-three-utilizations.yaml"), "--store",
                 str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = out.split("every point:")[1].splitlines()[3:9]
    assert [r.split()[-4] for r in rows] == ["0.5", "0.7", "0.9"] * 2
    ds = sweep.open_result(store)
    cost = ds["usd_per_mtok"].values
    u = ds["utilization"].values[None, :]
    # cost per token scales as 1 / utilization; break-even = utilization x cost / price
    assert np.allclose(cost * u, (cost * u)[:, :1])
    assert np.allclose(ds["breakeven_utilization"].values, u * cost / 0.60)
    # the presets' prices: HGX H200 1.41, B200 6.03 USD/GPU-h (sweep presets)
    assert list(ds["gpu_hour_usd"].values) == [1.41, 6.03]


def test_recipe_2_how_often_b200_is_cheaper_matches_the_grid(tmp_path):
    spec = load_config(RECIPES / "2-how-often-b200-is-cheaper.yaml")
    ds = sweep.run(spec, store=tmp_path / "r2.zarr").dataset
    # the same grid by hand, in NumPy
    price = np.linspace(1.0, 8.0, 100)[:, None, None, None]
    util = np.linspace(0.3, 1.0, 50)[None, :, None, None]
    elec = np.linspace(0.04, 0.20, 20)[None, None, :, None]
    pue = np.array([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0])[None, None, None, :]

    def cost(tps, kw):
        return (price + kw * pue * elec) / (tps * util * 3600) * 1e6

    h200, b200 = cost(1300, 1.275), cost(5500, 1.7875)
    assert float(ds["compare_frac_first_lower"][0]) == pytest.approx(np.mean(b200 < h200))
    ratio = b200 / h200
    assert float(ds["compare_ratio_min"][0]) == pytest.approx(ratio.min(), rel=1e-9)
    assert float(ds["compare_ratio_max"][0]) == pytest.approx(ratio.max(), rel=1e-9)
    assert float(ds["usd_per_mtok_frac_below"].sel(platform="B200")[0]) == pytest.approx(
        np.mean(b200 < 0.5))


def test_recipe_3_sensitivity_of_both_platforms_from_one_file(tmp_path):
    spec = load_config(RECIPES / "3-sensitivity-both-platforms.yaml")
    ds = sweep.run(spec, store=tmp_path / "r3.zarr").dataset
    base = ds["input_base"].sel(input="tokens_per_s_per_gpu").values
    assert np.allclose(base, [1300, 5500])
    assert np.allclose(ds["input_base"].sel(input="gpu_hour_usd").values, [1.41, 6.03])
    for label in ("HGX H200", "B200"):
        st = ds["ST"].sel(output="usd_per_mtok", platform=label)
        ranked = [str(n) for n in st["input"].values[np.argsort(-st.values)]]
        assert ranked[:2] == ["tokens_per_s_per_gpu", "utilization"]
    from sweep.report.sensitivity_report import charts

    paths = charts(ds, tmp_path / "charts", "r3")
    assert len(paths) == 1 and paths[0].stat().st_size > 10_000


def test_recipe_4_heatmap_with_xarrays_own_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    spec = load_config(RECIPES / "4-heatmap-price-utilization.yaml")
    result = sweep.run(spec, store=tmp_path / "r4.zarr", progress=False)
    ds = sweep.open_result(result.store)
    fig = Figure()
    ax = fig.subplots()
    ds.usd_per_mtok.sel(platform="B200").plot(ax=ax, x="gpu_hour_usd", y="utilization")
    assert ax.get_xlabel() == "GPU-hour price [USD/GPU/h]"
    assert ax.get_ylabel() == "utilization [1]"
    fig.savefig(tmp_path / "heatmap.png")
    assert (tmp_path / "heatmap.png").stat().st_size > 5_000


def test_recipe_5_three_mistakes_are_refused_by_name_and_nothing_is_written(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(RECIPES / "5-three-mistakes.yaml")
    text = str(err.value)
    assert "did you mean 'HGX H200'? (got 'H200')" in text
    assert "did you mean 'utilization'? (got 'utilisation')" in text
    assert "an input it needs, price_usd_per_mtok" in text
    assert len(err.value.problems) == 3
    assert main(["run", str(RECIPES / "5-three-mistakes.yaml"), "--store",
                 str(tmp_path / "r5.zarr")]) == 2
    assert not (tmp_path / "r5.zarr").exists()
