"""Modes own their code: the file says which mode runs it, the API and the CLI dispatch
once, every mode's plan and pre-flight checks print the same way, and every result kind
carries the same provenance."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_reduce import reduce_dict
from test_sampling import sample_dict

import sweep
from conftest import small_spec_dict
from sweep import modes
from sweep.engine.execute import RunResult
from sweep.engine.reduce import ReduceResult
from sweep.engine.sensitivity import SensitivityResult
from sweep.spec.config import spec_from_dict
from sweep.storage import provenance


def sample_grid_dict(method="sobol", n=256, **kw):
    d = sample_dict(method, n, **kw)
    d["outputs"] = ["usd_per_gpu_hour"]
    return d


@pytest.mark.parametrize(("data", "mode"), [
    (small_spec_dict(), "materialize"),
    (reduce_dict(), "reduce"),
    (sample_grid_dict(), "sample"),
    (sample_grid_dict("saltelli"), "sensitivity"),
    (sample_grid_dict(reduce={"over": ["sample"]}), "reduce"),
])
def test_the_file_says_which_mode_runs_it(data, mode):
    spec = spec_from_dict(data)
    assert spec.mode == mode
    assert modes.for_spec(spec).name == mode


@pytest.mark.parametrize(("data", "kind"), [
    (small_spec_dict(), RunResult),
    (reduce_dict(), ReduceResult),
    (sample_grid_dict(), RunResult),
    (sample_grid_dict("saltelli"), SensitivityResult),
])
def test_sweep_run_dispatches_on_the_mode_and_every_result_has_one_provenance(
        tmp_path, data, kind):
    spec = spec_from_dict({**data, "store": str(tmp_path / "out.zarr")})
    result = sweep.run(spec, overwrite=True, progress=False)
    assert isinstance(result, kind)
    attrs = sweep.open_result(result.store).attrs if kind is RunResult \
        else result.dataset.attrs
    missing = [k for k in provenance.KEYS if k not in attrs]
    assert not missing, missing
    assert attrs["sweep_mode"] == spec.mode
    assert attrs["sweep_status"] == "complete" and attrs["sweep_finished"]
    assert attrs["sweep_backend"] and attrs["sweep_versions"]["numpy"]
    assert len(attrs["sweep_config_hash"]) == 64


def test_a_morris_result_has_the_same_provenance(tmp_path):
    from sweep.engine.screening import morris

    ds = morris(spec_from_dict(sample_grid_dict()), 4, backend="numba")
    assert all(k in ds.attrs for k in provenance.KEYS)
    assert ds.attrs["sweep_mode"] == "morris"


def test_resume_and_clients_are_refused_outside_materialize_mode(tmp_path):
    from sweep.planning.planner import PlanError

    spec = spec_from_dict({**reduce_dict(), "store": str(tmp_path / "r.zarr")})
    with pytest.raises(PlanError, match="materialize runs, not to reduce"):
        sweep.run(spec, resume=True)
    assert not (tmp_path / "r.zarr").exists()


@pytest.mark.parametrize(("data", "lines"), [
    (reduce_dict(), ["memory    ok"]),
    (small_spec_dict(), ["chunks    ok", "disk      ok", "memory    ok"]),
])
def test_sweep_plan_prints_the_plan_and_its_mode_checks(tmp_path, data, lines):
    import yaml

    f = tmp_path / "f.yaml"
    f.write_text(yaml.safe_dump(data))
    proc = subprocess.run([sys.executable, "-m", "sweep", "plan", str(f)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for line in lines:
        assert line in proc.stdout, proc.stdout
    assert "target" not in proc.stdout       # `sweep plan` does not look at the target
