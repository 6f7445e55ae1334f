"""The sweep file: both formats, one model, every problem reported with its path, no writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_spec_dict
from sweep.cli import main
from sweep.planning.axes import resolved_axes
from sweep.planning.planner import make_plan
from sweep.spec.config import ConfigError, load_config, spec_from_dict

REPO = Path(__file__).resolve().parents[1]

YAML = """
name: both-formats
axes:
  platform:
    labels: [HGX H200, GB300 NVL72]
    set:
      gpu_hour_usd: [1.41, 2.65]
      tokens_per_s_per_gpu: [90, 6000]
  utilization: {linspace: {start: 0.1, stop: 1.0, num: 10}}
  electricity_usd_per_kwh: {values: [0.05, 0.08, 0.12]}
  pue: {geomspace: {start: 1.05, stop: 1.6, num: 4}}
  cost_of_capital: {arange: {start: 0.0, stop: 0.2, step: 0.05}}
constants: {kw_per_gpu: 1.7}
outputs: [usd_per_mtok, tokens_per_s_per_mw]
dtype: float32
chunks: {utilization: 5}
"""

TOML = """
name = "both-formats"
outputs = ["usd_per_mtok", "tokens_per_s_per_mw"]
dtype = "float32"
chunks = {utilization = 5}
constants = {kw_per_gpu = 1.7}

[axes.platform]
labels = ["HGX H200", "GB300 NVL72"]
set = {gpu_hour_usd = [1.41, 2.65], tokens_per_s_per_gpu = [90, 6000]}

[axes.utilization]
linspace = {start = 0.1, stop = 1.0, num = 10}

[axes.electricity_usd_per_kwh]
values = [0.05, 0.08, 0.12]

[axes.pue]
geomspace = {start = 1.05, stop = 1.6, num = 4}

[axes.cost_of_capital]
arange = {start = 0.0, stop = 0.2, step = 0.05}
"""


def test_yaml_and_toml_give_the_same_spec_and_hash(write_file):
    a = load_config(write_file("s.yaml", YAML))
    b = load_config(write_file("s.toml", TOML))
    assert a == b
    pa, pb = make_plan(a), make_plan(b)
    assert pa.config_hash == pb.config_hash
    assert pa.shape == (2, 10, 3, 4, 4)
    assert [len(x) for x in resolved_axes(a)] == [2, 10, 3, 4, 4]
    assert pa.chunk_shape[1] == 5


def test_the_hash_changes_with_what_defines_the_values(write_file):
    a = make_plan(load_config(write_file("s.yaml", YAML)))
    b = make_plan(load_config(write_file("t.yaml", YAML.replace("1.7", "1.8"))))
    c = make_plan(load_config(write_file("u.yaml", YAML + "store: elsewhere.zarr\n")))
    assert a.config_hash != b.config_hash
    assert a.config_hash == c.config_hash  # where the store goes is not part of its identity


def test_shipped_configs_validate():
    from sweep.engine.sensitivity import make_sensitivity_plan

    for path in sorted((REPO / "configs").glob("*.*")):
        spec = load_config(path)
        if spec.sample is not None:
            assert make_sensitivity_plan(spec).n_evaluations >= 1, path
        else:
            assert make_plan(spec).n_points >= 1, path


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        spec_from_dict(data, "f.yaml")
    return [f"{p.path} | {p.value!r} | {p.expected}" for p in info.value.problems]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda d: d["axes"].update(utilisation={"values": [0.5]}), "axes.utilisation",
         "did you mean 'utilization'"),
        (lambda d: d.update(outptus=["usd_per_mtok"]), "outptus", "did you mean 'outputs'"),
        (lambda d: d["axes"]["utilization"]["linspace"].update(start=-0.5),
         "axes.utilization.linspace.start", "utilization must be a finite number in [0, 1]"),
        (lambda d: d["axes"]["utilization"]["linspace"].update(start=1.0, stop=0.5),
         "axes.utilization.linspace.stop", "stop > start"),
        (lambda d: d["axes"]["electricity_usd_per_kwh"].update(values=[]),
         "axes.electricity_usd_per_kwh.values", "at least one value"),
        (lambda d: d["axes"]["electricity_usd_per_kwh"].update(values=[0.05, 0.05]),
         "axes.electricity_usd_per_kwh.values[1]", "duplicate"),
        (lambda d: d["axes"]["electricity_usd_per_kwh"].update(values=[float("nan")]),
         "axes.electricity_usd_per_kwh.values[0]", "finite number"),
        (lambda d: d["axes"]["electricity_usd_per_kwh"].update(values=["cheap"]),
         "axes.electricity_usd_per_kwh.values[0]", "a number, not text"),
        (lambda d: d["axes"]["electricity_usd_per_kwh"].update(values=[True]),
         "axes.electricity_usd_per_kwh.values[0]", "not true/false"),
        (lambda d: d["constants"].update(kw_per_gpu="1.5"), "constants.kw_per_gpu",
         "a number, not text"),
        (lambda d: d.update(chunks={"utilization": True}), "chunks.utilization",
         "a whole number"),
        (lambda d: d["axes"].update(usd_per_mtok={"labels": ["x"],
                                                  "set": {"pue": [1.1]}}),
         "axes.usd_per_mtok", "not an output name"),
        (lambda d: d["axes"].update({"a/b": {"labels": ["x"], "set": {"pue": [1.1]}}}),
         "axes.a/b", "letters, digits and _"),
        (lambda d: d["axes"].update(_sweep_chunks={"labels": ["x"], "set": {"pue": [1.1]}}),
         "axes._sweep_chunks", "starting with a letter"),
        (lambda d: d["axes"].update(pue={"geomspace": {"start": 0.0, "stop": 2.0, "num": 3}}),
         "axes.pue.geomspace.start", "cannot reach or cross zero"),
        (lambda d: d["constants"].update(utilization=0.5), "constants.utilization",
         "already set by axes.utilization"),
        (lambda d: d["constants"].update(gpu_hour_usd=1.0), "constants.gpu_hour_usd",
         "already set by axes.platform"),
        (lambda d: d.update(outputs=["gross_margin"]), "outputs[0]",
         "price_usd_per_mtok"),
        (lambda d: d.update(outputs=["usd_per_token"]), "outputs[0]", "an output name"),
        (lambda d: d["axes"]["platform"]["set"].update(gpu_hour_usd=[1.0]),
         "axes.platform.set.gpu_hour_usd", "2 values, one per label"),
        (lambda d: d["axes"]["platform"].update(labels=["A", "A"]), "axes.platform.labels[1]",
         "duplicate"),
        (lambda d: d["axes"]["utilization"].update(values=[0.5]), "axes.utilization",
         "exactly one of"),
        (lambda d: d.update(dtype="float16"), "dtype", "float64"),
        (lambda d: d.update(chunks={"nope": 3}), "chunks.nope", "an axis name"),
        (lambda d: d["axes"].update(platform2={"presets": ["HGX H300"]}),
         "axes.platform2.presets[0]", "a platform preset"),
    ],
)
def test_each_error_names_its_path_value_and_expectation(change, path, fragment):
    d = small_spec_dict()
    change(d)
    found = problems(d)
    assert any(line.startswith(f"{path} |") and fragment in line for line in found), found


def test_every_problem_is_reported_at_once():
    d = small_spec_dict()
    d["axes"]["utilization"]["linspace"]["start"] = -1.0
    d["constants"]["pue"] = 0.5
    d["axes"]["tokens"] = {"values": [1.0]}
    d["outputs"] = ["usd_per_mtok", "nonsense"]
    found = problems(d)
    assert len(found) == 4, found


def test_a_bad_axis_does_not_cause_false_missing_input_errors():
    d = small_spec_dict()
    d["axes"]["platform"]["set"]["gpu_hour_usd"] = [1.0]        # wrong length
    found = problems(d)
    assert len(found) == 1 and "one per label" in found[0], found


def test_duplicate_yaml_keys_are_refused(write_file, capsys):
    p = write_file("dup.yaml", "name: d\naxes:\n  pue: {values: [1.1]}\n  pue: {values: [1.3]}\n"
                   "constants: {tokens_per_s_per_gpu: 1}\n")
    assert main(["plan", str(p)]) == 2
    err = capsys.readouterr().err
    assert "duplicate key 'pue'" in err and str(p) in err


def test_yaml_one_e_three_without_a_dot_is_still_a_number(write_file):
    # PyYAML reads 1e3 (no dot) as a string; the model coerces it to a float
    p = write_file("n.yaml", "name: n\naxes:\n  tokens_per_s_per_gpu: {values: [1e3, 2.5e3]}\n")
    spec = load_config(p)
    assert spec.axes["tokens_per_s_per_gpu"].values == [1000.0, 2500.0]


def test_presets_axis_sets_price_power_and_peak_flops():
    spec = spec_from_dict({
        "name": "p", "axes": {"platform": {"presets": ["HGX H100", "GB300 NVL72"],
                                           "precision": "fp8",
                                           "set": {"tokens_per_s_per_gpu": [100, 5000]}}},
        "outputs": ["usd_per_mtok", "pflops_per_usd_hour"],
    })
    (axis,) = resolved_axes(spec)
    assert set(axis.binds) == {"gpu_hour_usd", "kw_per_gpu", "peak_pflops",
                               "tokens_per_s_per_gpu"}
    assert axis.binds["gpu_hour_usd"][1] == 2.65


def test_fp4_on_hopper_is_refused_only_when_peak_flops_are_needed():
    axes = {"platform": {"presets": ["HGX H100"], "precision": "fp4",
                         "set": {"tokens_per_s_per_gpu": [100.0]}}}
    found = problems({"name": "p", "axes": axes, "outputs": ["pflops_per_usd_hour"]})
    assert any("axes.platform.precision" in x and "supports" in x for x in found), found
    spec = spec_from_dict({"name": "p", "axes": axes, "outputs": ["usd_per_mtok"]})
    assert spec.axes["platform"].precision == "fp4"


BAD_FILES = {
    "unknown-key.yaml": "name: x\naxes:\n  utilisation: {values: [0.5]}\n",
    "negative.toml": 'name = "x"\n[axes.gpu_hour_usd]\nvalues = [-1.0]\n',
    "nan.yaml": "name: x\naxes:\n  pue: {values: [.nan]}\n",
    "inf.toml": 'name = "x"\n[axes.pue]\nvalues = [inf]\n',
    "broken.yaml": "name: x\naxes: [\n",
    "not-a-mapping.yaml": "- just\n- a list\n",
    "wrong.json": "{}",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_rejects_bad_files_with_exit_2_and_writes_nothing(name, tmp_path, capsys):
    src = tmp_path / "in" / name
    src.parent.mkdir()
    src.write_text(BAD_FILES[name])
    target = tmp_path / "out" / "result.zarr"
    code = main(["run", str(src), "--store", str(target), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(src) in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_cli_error_line_has_file_path_value_and_expectation(write_file, capsys):
    p = write_file("bad.yaml", "name: x\naxes:\n  utilization: {values: [0.5, 1.5]}\n")
    assert main(["plan", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}: axes.utilization.values[1]: utilization must be a finite number in " \
           "[0, 1] (dimensionless) (got 1.5)" in err


def test_unknown_keys_do_not_hide_the_other_problems():
    d = small_spec_dict()
    d["outptus"] = ["usd_per_mtok"]                        # unknown key (structural)
    d["dtype"] = "float16"                                 # bad value of a defaulted key
    d["axes"]["utilization"]["linspace"]["start"] = -1.0   # out of range (model check)
    d["constants"]["pue"] = 0.5                            # out of range (model check)
    found = problems(d)
    paths = sorted(line.split(" |")[0] for line in found)
    assert paths == ["axes.utilization.linspace.start", "constants.pue", "dtype", "outptus"]
