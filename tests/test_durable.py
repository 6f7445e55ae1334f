"""Durable runs: killed and resumed runs, verify and repair, refusals before any write,
deterministic chunk writes, and a local cluster that loses workers (fault injection)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from conftest import eight_chunk_dict, files_of, sweep_cli
from sweep import run
from sweep.cli import main
from sweep.engine.execute import ChunkError, run_plan
from sweep.engine.repair import repair_store
from sweep.planning.planner import make_plan
from sweep.spec.config import spec_from_dict
from sweep.storage import store as zstore
from sweep.storage.verify import (
    DIGEST_MISMATCH,
    MISSING_CHUNK,
    MISSING_MARKER,
    TORN_CHUNK,
    verify_store,
)

ROOT = Path(__file__).resolve().parents[1]


def chunk_file(store: Path, var: str, name: str) -> Path:
    return store / var / "c" / Path(*name.split("."))


def test_killed_run_resumes_only_missing_chunks_bit_for_bit(tmp_path, eight_chunk_file,
                                                            eight_chunk_store):
    store = tmp_path / "killed.zarr"
    env = {**os.environ, "TOKEN_SWEEP_FAULT": "kill-after:3"}
    proc = sweep_cli("run", str(eight_chunk_file), "--store", str(store), "--backend", "numba",
                     "--workers", "1", "--no-progress", env=env)
    assert proc.returncode == -9                         # SIGKILLed after its 3rd marker
    assert zstore.store_attrs(store)["sweep_status"] == zstore.STATUS_RUNNING
    assert len(zstore.read_markers(store)) == 3
    with pytest.warns(zstore.IncompleteStoreWarning, match=r"5 of 8 chunk\(s\).*missing: "):
        zstore.open_result(store)
    refused = sweep_cli("run", str(eight_chunk_file), "--store", str(store), "--no-progress")
    assert refused.returncode == 2 and "--resume" in refused.stderr

    proc = sweep_cli("run", str(eight_chunk_file), "--store", str(store), "--backend", "numba",
                     "--resume", "--no-progress", check_rc=0)
    assert "resumed: computed 5 of 8 chunk(s), 3 were already complete" in proc.stdout
    assert zstore.store_attrs(store)["sweep_status"] == zstore.STATUS_COMPLETE
    assert files_of(store) == files_of(eight_chunk_store)          # bit for bit
    ref_markers = zstore.read_markers(eight_chunk_store)
    assert {k: m["digest"] for k, m in zstore.read_markers(store).items()} == \
        {k: m["digest"] for k, m in ref_markers.items()}
    assert verify_store(store, progress=False).ok


def test_verify_names_torn_chunk_and_repair_recomputes_exactly_it(eight_chunk_store, capsys):
    original = files_of(eight_chunk_store)
    torn = chunk_file(eight_chunk_store, "usd_per_mtok", "1.0.1")
    torn.write_bytes(torn.read_bytes()[: len(torn.read_bytes()) // 2])
    assert main(["verify", str(eight_chunk_store), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert f"chunk 1.0.1 of usd_per_mtok: {TORN_CHUNK}" in out
    assert "1 flagged" in out

    before, after = repair_store(eight_chunk_store, progress=False)
    assert before.flagged == ["1.0.1"] and after.ok
    attrs = zstore.store_attrs(eight_chunk_store)
    assert attrs["sweep_chunks_computed_last_run"] == 1
    assert attrs["sweep_status"] == zstore.STATUS_COMPLETE
    assert files_of(eight_chunk_store) == original


def test_flipped_byte_is_a_digest_mismatch_and_repair_fixes_it(tmp_path, write_file, capsys):
    path = write_file("raw.yaml", yaml.safe_dump(eight_chunk_dict(codec="none"), sort_keys=False))
    store = tmp_path / "raw.zarr"
    assert main(["run", str(path), "--store", str(store), "--no-progress"]) == 0
    original = files_of(store)
    target = chunk_file(store, "joules_per_token", "0.1.0")
    data = bytearray(target.read_bytes())
    data[17] ^= 0x10
    target.write_bytes(bytes(data))
    report = verify_store(store, progress=False)
    assert [(f.chunk, f.variable, f.problem) for f in report.findings] == \
        [("0.1.0", "joules_per_token", DIGEST_MISMATCH)]
    assert main(["repair", str(store), "--no-progress"]) == 0
    assert "recomputed 1 chunk(s): 0.1.0" in capsys.readouterr().out
    assert files_of(store) == original


def test_deleted_chunk_with_its_marker_is_missing_not_fill(eight_chunk_store):
    chunk_file(eight_chunk_store, "tokens_per_s_per_mw", "0.0.0").unlink()
    (eight_chunk_store / zstore.MARKERS / "1.1.1.json").unlink()
    report = verify_store(eight_chunk_store, progress=False)
    found = {(f.chunk, f.variable, f.problem) for f in report.findings}
    assert found == {("0.0.0", "tokens_per_s_per_mw", MISSING_CHUNK),
                     ("1.1.1", None, MISSING_MARKER)}


def test_all_nan_chunk_without_a_file_verifies(tmp_path):
    # zarr does not store chunks that are all fill value (NaN); the marker says so
    d = eight_chunk_dict()
    d["axes"]["utilization"] = {"values": [0.0, 0.5]}     # utilization 0: usd_per_mtok NaN
    d["chunks"]["utilization"] = 1
    store = tmp_path / "nan.zarr"
    run(spec_from_dict(d), store=store, progress=False)
    assert not chunk_file(store, "usd_per_mtok", "0.0.0").exists()
    assert zstore.read_markers(store)["0.0.0"]["outputs"]["usd_per_mtok"]["nan_count"] == 15
    assert verify_store(store, progress=False).ok


def test_resume_with_a_changed_axis_is_refused_and_changes_nothing(tmp_path, write_file,
                                                                    eight_chunk_store, capsys):
    before = {str(p): p.read_bytes() for p in eight_chunk_store.rglob("*") if p.is_file()}
    d = eight_chunk_dict()
    d["axes"]["electricity_usd_per_kwh"]["linspace"]["stop"] = 0.31
    changed = write_file("changed.yaml", yaml.safe_dump(d, sort_keys=False))
    code = main(["run", str(changed), "--store", str(eight_chunk_store), "--resume",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "written from another config" in err and "axes.electricity_usd_per_kwh" in err
    after = {str(p): p.read_bytes() for p in eight_chunk_store.rglob("*") if p.is_file()}
    assert after == before


def test_resume_of_a_complete_store_computes_nothing(eight_chunk_store, eight_chunk_file, capsys):
    assert main(["run", str(eight_chunk_file), "--store", str(eight_chunk_store), "--resume",
                 "--no-progress"]) == 0
    assert "computed 0 of 8 chunk(s), 8 were already complete" in capsys.readouterr().out


def test_the_same_chunk_written_twice_at_once_leaves_the_same_bytes(tmp_path):
    plan = make_plan(spec_from_dict(eight_chunk_dict()), tmp_path / "twice.zarr")
    result = run_plan(plan, backend="numba", progress=False)
    assert result.n_computed == 8
    original = files_of(plan.store)
    from sweep.backends import get_backend
    from sweep.engine.execute import _json_float, compute_chunk

    key = next(k for k in plan.keys() if k.name == "1.1.0")
    values, stats = compute_chunk(plan, key, get_backend("numba"))
    info = {"outputs": {n: {"nan_count": int(stats.nan_counts[k]),
                            "min": _json_float(stats.minima[k]),
                            "max": _json_float(stats.maxima[k])}
                        for k, n in enumerate(plan.outputs)}}
    threads = [threading.Thread(target=zstore.write_chunk, args=(plan, key, values, info))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert files_of(plan.store) == original
    assert verify_store(plan.store, progress=False).ok
    assert not list((plan.store / zstore.MARKERS).glob("*.tmp"))


def test_a_plan_that_straddles_zarr_chunks_is_refused(tmp_path):
    plan = make_plan(spec_from_dict(eight_chunk_dict()), tmp_path / "s.zarr")
    run_plan(plan, backend="numba", progress=False)
    d = eight_chunk_dict()
    d["chunks"]["electricity_usd_per_kwh"] = 10           # tasks of 10 over Zarr chunks of 15
    other = make_plan(spec_from_dict(d), plan.store)
    with pytest.raises(zstore.StoreError, match="straddle"):
        zstore.open_outputs(other)


# --------------------------------------------------------------------------- refusals


def test_disk_budget_smaller_than_the_estimate_is_refused_before_any_write(
        tmp_path, eight_chunk_file, capsys):
    target = tmp_path / "out" / "s.zarr"
    code = main(["run", str(eight_chunk_file), "--store", str(target), "--disk-budget", "4KB"])
    err = capsys.readouterr().err
    assert code == 2
    # 240 points x 3 outputs x 8 B = 5.6 KiB, over 4000 B
    assert "needs 5.6 KiB uncompressed" in err and "disk budget of 3.9 KiB" in err
    assert "--disk-budget" in err
    assert not (tmp_path / "out").exists()


def test_chunk_cap_is_refused_with_a_bigger_chunk_suggestion(tmp_path, eight_chunk_file, capsys):
    target = tmp_path / "s.zarr"
    assert main(["run", str(eight_chunk_file), "--store", str(target), "--max-chunks", "4"]) == 2
    err = capsys.readouterr().err
    assert "8 chunks" in err and "cap of 4" in err and "chunks:" in err
    assert not target.exists()


def test_dry_run_prints_the_checks_and_touches_nothing(tmp_path, eight_chunk_file, capsys):
    target = tmp_path / "dry" / "s.zarr"
    assert main(["run", str(eight_chunk_file), "--store", str(target), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for check in ("chunks", "disk", "memory", "target"):
        assert f"  {check}" in out
    assert "8 chunk(s)" in out
    assert not (tmp_path / "dry").exists()
    assert main(["run", str(eight_chunk_file), "--store", str(target), "--dry-run",
                 "--disk-budget", "1KB"]) == 2
    assert "disk      REFUSED" in capsys.readouterr().out
    assert not (tmp_path / "dry").exists()


INVALID = {
    # name: (yaml text, dotted path the message must name)
    "negative": ("name: x\naxes:\n  gpu_hour_usd: {values: [1.0, -2.0]}\n",
                 "axes.gpu_hour_usd.values[1]"),
    "nan": ("name: x\naxes:\n  pue: {values: [1.1, .nan]}\n", "axes.pue.values[1]"),
    "inf": ("name: x\naxes:\n  pue: {values: [1.1]}\nconstants: {kw_per_gpu: .inf}\n",
            "constants.kw_per_gpu"),
    "wrong-type": ("name: x\naxes:\n  pue: {values: [1.1]}\nconstants: {kw_per_gpu: lots}\n",
                   "constants.kw_per_gpu"),
    "unknown-key": ("name: x\naxes:\n  utilisation: {values: [0.5]}\n", "axes.utilisation"),
    "empty-axis": ("name: x\naxes:\n  pue: {values: []}\n", "axes.pue.values"),
    "duplicate-values": ("name: x\naxes:\n  pue: {values: [1.1, 1.2, 1.1]}\n",
                         "axes.pue.values[2]"),
    "start-after-stop": ("name: x\naxes:\n  pue: {linspace: {start: 1.5, stop: 1.1, num: 3}}\n",
                         "axes.pue.linspace.stop"),
    "log-through-zero": ("name: x\naxes:\n  electricity_usd_per_kwh: "
                         "{geomspace: {start: 0.0, stop: 0.2, num: 3}}\n",
                         "axes.electricity_usd_per_kwh.geomspace.start"),
    "bound-twice": ("name: x\naxes:\n  pue: {values: [1.1]}\n  p:\n    labels: [a]\n"
                    "    set: {pue: [1.3]}\n", "axes.p: each input bound once; pue is already set"),
    "needs-unset-input": ("name: x\naxes:\n  pue: {values: [1.1]}\noutputs: [gross_margin]\n",
                          "outputs[0]"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_invalid_input_names_its_field_and_creates_nothing(case, tmp_path, capsys):
    text, field = INVALID[case]
    src = tmp_path / f"{case}.yaml"
    src.write_text(text)
    target = tmp_path / "out" / "s.zarr"
    assert main(["run", str(src), "--store", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{src}: {field}" in err, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- numerical policy


def test_no_kernel_is_compiled_with_fastmath():
    from sweep.kernels import cpu
    from sweep.model import codegen, default_model

    model = default_model()
    kernel = cpu.kernel_for(model, ("usd_per_mtok",), frozenset(model.leaves[:1]), False,
                            frozenset())
    assert not kernel.targetoptions.get("fastmath")
    for fn in codegen.compiled_nodes(model, cpu.JIT_INLINE, cpu.TARGET).values():
        assert not fn.targetoptions.get("fastmath")
    for path in [*(ROOT / "kernels").glob("*.py"), *(ROOT / "sweep" / "model").glob("*.py")]:
        assert "fastmath=True" not in path.read_text(), path


# --------------------------------------------------------------------------- a local cluster


@pytest.fixture
def local_cluster(monkeypatch):
    distributed = pytest.importorskip("distributed")

    def start(fault: str | None, allowed_failures: int = 3):
        if fault:
            monkeypatch.setenv("TOKEN_SWEEP_FAULT", fault)
        import dask

        with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=":0")
        client = distributed.Client(cluster)
        opened.append((client, cluster))
        return client

    opened: list = []
    yield start
    for client, cluster in opened:
        client.close()
        cluster.close()


@pytest.mark.slow
def test_a_local_cluster_survives_a_killed_worker_and_the_store_verifies(
        tmp_path, local_cluster, eight_chunk_store):
    flag = tmp_path / "killed-once"
    client = local_cluster(f"kill-once-at:0.1.0:{flag}")
    spec = spec_from_dict(eight_chunk_dict())
    result = run(spec, store=tmp_path / "cluster.zarr", backend="numba", progress=False,
                 client=client)
    assert flag.exists()                                  # a worker really died
    assert result.n_computed == 8
    assert verify_store(tmp_path / "cluster.zarr", progress=False).ok
    assert files_of(tmp_path / "cluster.zarr") == files_of(eight_chunk_store)


@pytest.mark.slow
def test_a_chunk_that_keeps_killing_workers_is_named_and_the_rest_recorded(
        tmp_path, local_cluster):
    client = local_cluster("kill-at:1.0.1", allowed_failures=1)
    spec = spec_from_dict(eight_chunk_dict())
    store = tmp_path / "poison.zarr"
    with pytest.raises(ChunkError, match=r"chunk 1\.0\.1 .*killed every worker") as info:
        run(spec, store=store, backend="numba", progress=False, client=client)
    assert "the other 7 chunk(s) are recorded" in str(info.value)
    assert sorted(zstore.read_markers(store)) == sorted(
        k.name for k in make_plan(spec, store).keys() if k.name != "1.0.1")
    assert zstore.store_attrs(store)["sweep_status"] == zstore.STATUS_RUNNING


@pytest.mark.slow
def test_cli_runs_on_a_scheduler_address_and_on_a_local_cluster(tmp_path, eight_chunk_file,
                                                                 local_cluster, capsys):
    client = local_cluster(None)
    address = client.scheduler.address
    assert main(["run", str(eight_chunk_file), "--store", str(tmp_path / "a.zarr"), "--scheduler",
                 address, "--backend", "numba", "--no-progress"]) == 0
    assert main(["run", str(eight_chunk_file), "--store", str(tmp_path / "b.zarr"), "--cluster",
                 "local:2", "--backend", "numba", "--no-progress"]) == 0
    assert files_of(tmp_path / "a.zarr") == files_of(tmp_path / "b.zarr")
    assert main(["verify", str(tmp_path / "b.zarr"), "--no-progress"]) == 0
    assert "ok: every chunk matches its marker" in capsys.readouterr().out


# --------------------------------------------------------------------------- from the review


def test_resume_with_another_backend_is_refused_and_changes_nothing(tmp_path, eight_chunk_file,
                                                                    capsys):
    store = tmp_path / "b.zarr"
    env = {**os.environ, "TOKEN_SWEEP_FAULT": "kill-after:2"}
    sweep_cli("run", str(eight_chunk_file), "--store", str(store), "--backend", "numba",
              "--workers", "1", "--no-progress", env=env)
    before = {str(p): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    assert main(["run", str(eight_chunk_file), "--store", str(store), "--resume", "--backend",
                 "numpy", "--no-progress"]) == 2
    assert "written by backend 'numba'" in capsys.readouterr().err
    assert {str(p): p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
    # without --backend (the file says auto) the store's own backend is used
    assert main(["run", str(eight_chunk_file), "--store", str(store), "--resume",
                 "--no-progress"]) == 0
    assert {m["backend"] for m in zstore.read_markers(store).values()} == {"numba"}


def test_verify_checks_coordinates_and_repair_rewrites_them(eight_chunk_store, capsys):
    original = files_of(eight_chunk_store)
    for f in (eight_chunk_store / "electricity_usd_per_kwh" / "c").rglob("*"):
        if f.is_file():
            f.unlink()
    assert main(["verify", str(eight_chunk_store), "--no-progress"]) == 1
    assert "chunk * of electricity_usd_per_kwh: coordinate differs" in capsys.readouterr().out
    before, after = repair_store(eight_chunk_store, progress=False)
    assert after.ok and before.flagged == []
    assert files_of(eight_chunk_store) == original


def test_unreadable_markers_count_as_missing(eight_chunk_store):
    (eight_chunk_store / zstore.MARKERS / "0.0.1.json").write_text("[]")
    (eight_chunk_store / zstore.MARKERS / "0.1.1.json").write_text('{"key": [0, 1')
    report = verify_store(eight_chunk_store, progress=False)
    assert {(f.chunk, f.problem) for f in report.findings} == {("0.0.1", MISSING_MARKER),
                                                              ("0.1.1", MISSING_MARKER)}


def test_overwrite_never_deletes_a_zarr_store_that_is_not_ours(tmp_path, small_spec):
    import zarr

    target = tmp_path / "theirs.zarr"
    zarr.open_group(target, mode="w", zarr_format=3).attrs["owner"] = "someone else"
    with pytest.raises(zstore.StoreError, match="not written by token-sweep"):
        run(small_spec, store=target, overwrite=True, progress=False)
    assert zarr.open_group(target, mode="r").attrs["owner"] == "someone else"


def test_a_failed_creation_leaves_no_store_and_no_staging(tmp_path, small_spec, monkeypatch):
    import xarray as xr

    def boom(*args, **kwargs):
        raise OSError("disk vanished")

    monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    with pytest.raises(OSError, match="disk vanished"):
        run(small_spec, store=tmp_path / "s.zarr", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_into_a_folder_that_is_not_a_store_is_refused(tmp_path, small_spec):
    (tmp_path / "plain").mkdir()
    with pytest.raises(zstore.StoreError, match="not a Zarr store; nothing to resume"):
        run(small_spec, store=tmp_path / "plain", resume=True, progress=False)


def test_an_unreachable_scheduler_is_exit_2_with_a_fix(tmp_path, eight_chunk_file, capsys):
    pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["run", str(eight_chunk_file), "--store", str(tmp_path / "s.zarr"),
                     "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()


def test_every_bit_flipped_in_a_marker_is_found_and_repaired(eight_chunk_store):
    """A marker carries a digest of its own content, and verify checks its key against the
    plan and its NaN count and extremes against the data: 24 single-bit flips, each in a
    fresh copy of one marker, are each flagged (damaged, unreadable or of another config)
    and repaired."""
    import random
    import shutil

    from sweep.storage.verify import DAMAGED_MARKER, STALE_MARKER

    rng = random.Random(16)
    name = "1.0.1"
    marker = zstore.marker_path(eight_chunk_store, name)
    text = marker.read_bytes()
    summary = zstore.store_attrs(eight_chunk_store)["sweep_summary"]
    flips = rng.sample(range(len(text) * 8), 24)
    for bit in flips:
        copy = eight_chunk_store.with_name(f"flip-{bit}.zarr")
        shutil.copytree(eight_chunk_store, copy)
        data = bytearray(text)
        data[bit // 8] ^= 1 << (bit % 8)
        zstore.marker_path(copy, name).write_bytes(bytes(data))
        report = verify_store(copy, progress=False)
        assert report.flagged == [name], (bit, report.describe())
        assert {f.problem for f in report.findings} <= {DAMAGED_MARKER, MISSING_MARKER,
                                                        STALE_MARKER}
        before, after = repair_store(copy, progress=False)
        assert after.ok and zstore.store_attrs(copy)["sweep_summary"] == summary
        assert zstore.marker_path(copy, name).read_bytes() != bytes(data)
        shutil.rmtree(copy)


def test_a_marker_with_a_consistent_but_false_count_is_damaged(eight_chunk_store):
    """A marker rewritten with a wrong NaN count and its digest recomputed (so the digest
    itself agrees) is still caught: verify recounts from the data it reads."""
    import json

    from sweep.storage.verify import DAMAGED_MARKER

    path = zstore.marker_path(eight_chunk_store, "0.0.0")
    marker = json.loads(path.read_text())
    marker["outputs"]["usd_per_mtok"]["nan_count"] += 1
    marker["self_digest"] = zstore.marker_digest(marker)
    path.write_text(json.dumps(marker))
    report = verify_store(eight_chunk_store, progress=False)
    assert [(f.chunk, f.variable, f.problem) for f in report.findings] == \
        [("0.0.0", "usd_per_mtok", DAMAGED_MARKER)]
    assert "nan_count" in report.findings[0].detail


def test_gpu_cluster_and_scheduler_file_refusals_are_one_line_before_any_work(
        tmp_path, eight_chunk_file, capsys, monkeypatch):
    import builtins

    store = tmp_path / "x.zarr"
    real = builtins.__import__

    def no_dask_cuda(name, *args, **kwargs):
        if name == "dask_cuda":
            raise ImportError("no dask_cuda")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask_cuda)
    assert main(["run", str(eight_chunk_file), "--store", str(store), "--cluster",
                 "local-cuda"]) == 2
    assert "--cluster local-cuda needs dask-cuda" in capsys.readouterr().err
    monkeypatch.setattr(builtins, "__import__", real)
    assert main(["run", str(eight_chunk_file), "--store", str(store), "--scheduler-file",
                 str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert f"--scheduler-file {tmp_path / 'none.json'}: no such file" in err
    assert not store.exists()
