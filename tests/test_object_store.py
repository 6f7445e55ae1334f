"""Stores on object storage: a real S3-API server (moto's, on the loopback interface) holds
the stores; the ledger, resume, verify/repair, --overwrite, atomic creation, a local
cluster writing to the bucket, reading back, refusals, and credentials kept out of
everything written or printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import eight_chunk_dict, files_of, sweep_cli
from sweep.cli import main
from sweep.spec.config import ConfigError, spec_from_dict
from sweep.storage import objects
from sweep.storage import store as zstore
from sweep.storage.location import StoreURL, parse
from sweep.storage.verify import DIGEST_MISMATCH, MISSING_CHUNK, verify_store


def prefix_of(url: str) -> str:
    return parse(url).prefix


def data_objects(bucket, url: str) -> dict[str, bytes]:
    """The store's objects as ``files_of`` gives a local store's files (markers and every
    ``zarr.json`` aside: they hold timestamps)."""
    return {k: v for k, v in bucket.objects(prefix_of(url)).items()
            if not k.startswith(zstore.MARKERS) and not k.endswith("zarr.json")}


# --------------------------------------------------------------------------- round trip


def test_a_run_into_a_bucket_equals_a_local_run_and_reads_back(s3, eight_chunk_file,
                                                               eight_chunk_store, capsys):
    url = s3.url("eight.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--backend", "numba",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {url}" in out
    # the same layout and the same bytes as on a local disk
    assert data_objects(s3, url) == files_of(eight_chunk_store)
    assert zstore.store_attrs(url)["sweep_status"] == zstore.STATUS_COMPLETE
    assert sorted(zstore.read_markers(url)) == sorted(zstore.read_markers(eight_chunk_store))
    # read back: open_result, `sweep show`, and plain xarray over zarr's ObjectStore
    ds, ref = zstore.open_result(url), zstore.open_result(eight_chunk_store)
    for name in ref.data_vars:
        np.testing.assert_array_equal(ds[name].values, ref[name].values)
    from obstore.store import from_url
    from zarr.storage import ObjectStore

    plain = xr.open_zarr(ObjectStore(from_url(url, client_options={"allow_http": True}),
                                     read_only=True), consolidated=False)
    np.testing.assert_array_equal(plain["usd_per_mtok"].values, ref["usd_per_mtok"].values)
    def shown(store) -> list[str]:   # `sweep show` but its timings
        assert main(["show", str(store)]) == 0
        return [line.replace(str(store), "STORE") for line in capsys.readouterr().out.splitlines()
                if not line.startswith(("  created", "  time"))]

    assert shown(url) == shown(eight_chunk_store)
    assert main(["verify", url, "--no-progress"]) == 0


def test_xarray_opens_the_url_itself_through_fsspec(s3, eight_chunk_file, eight_chunk_store):
    url = s3.url("fsspec.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    ds = xr.open_zarr(url, consolidated=False,
                      storage_options={"endpoint_url": s3.endpoint})
    ref = zstore.open_result(eight_chunk_store)
    np.testing.assert_array_equal(ds["joules_per_token"].values, ref["joules_per_token"].values)


def test_small_results_go_to_a_bucket_whole(s3, write_file, capsys):
    d = eight_chunk_dict(reduce={"over": ["electricity_usd_per_kwh"],
                                 "histogram": {"bins": 16}, "quantiles": [0.5]})
    path = write_file("reduce.yaml", yaml.safe_dump(d, sort_keys=False))
    url = s3.url("reduce.zarr")
    assert main(["run", str(path), "--store", url, "--no-progress"]) == 0
    ds = zstore.open_result(url)
    assert ds.attrs["sweep_mode"] == "reduce"
    assert zstore.CREATING not in s3.objects(prefix_of(url))
    assert main(["run", str(path), "--store", url, "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["run", str(path), "--store", url, "--overwrite", "--no-progress"]) == 0


# --------------------------------------------------------------------------- the ledger


def test_a_killed_run_resumes_to_the_same_bytes(s3, eight_chunk_file, eight_chunk_store):
    url = s3.url("killed.zarr")
    env = {**os.environ, "TOKEN_SWEEP_FAULT": "kill-after:3"}
    proc = sweep_cli("run", str(eight_chunk_file), "--store", url, "--backend", "numba",
                     "--workers", "1", "--no-progress", env=env)
    assert proc.returncode == -9, proc.stderr                   # SIGKILLed after 3 markers
    assert zstore.store_attrs(url)["sweep_status"] == zstore.STATUS_RUNNING
    assert len(zstore.read_markers(url)) == 3
    with pytest.warns(zstore.IncompleteStoreWarning, match=r"5 of 8 chunk\(s\)"):
        zstore.open_result(url)
    refused = sweep_cli("run", str(eight_chunk_file), "--store", url, "--no-progress")
    assert refused.returncode == 2 and "--resume" in refused.stderr
    proc = sweep_cli("run", str(eight_chunk_file), "--store", url, "--backend", "numba",
                     "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "resumed: computed 5 of 8 chunk(s), 3 were already complete" in proc.stdout
    assert zstore.store_attrs(url)["sweep_status"] == zstore.STATUS_COMPLETE
    assert data_objects(s3, url) == files_of(eight_chunk_store)          # bit for bit
    assert verify_store(url, progress=False).ok


def test_verify_finds_a_deleted_and_a_flipped_chunk_and_repair_restores_them(
        s3, eight_chunk_file, capsys):
    url = s3.url("damaged.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    before = data_objects(s3, url)
    prefix = prefix_of(url)
    s3.delete(f"{prefix}/usd_per_mtok/c/0/1/0")
    flipped = f"{prefix}/joules_per_token/c/1/0/1"
    raw = bytearray(s3.get(flipped))
    raw[len(raw) // 2] ^= 0x10
    s3.put(flipped, bytes(raw))
    report = verify_store(url, progress=False)
    assert {(f.chunk, f.problem, f.variable) for f in report.findings} >= {
        ("0.1.0", MISSING_CHUNK, "usd_per_mtok")}
    assert report.flagged == ["0.1.0", "1.0.1"]
    assert any(f.chunk == "1.0.1" and f.problem in (DIGEST_MISMATCH, "torn chunk")
               for f in report.findings)
    capsys.readouterr()
    assert main(["verify", url, "--no-progress"]) == 1
    assert f"sweep repair {url}" in capsys.readouterr().err
    assert main(["repair", url, "--no-progress"]) == 0
    assert "recomputed 2 chunk(s): 0.1.0, 1.0.1" in capsys.readouterr().out
    assert data_objects(s3, url) == before
    assert verify_store(url, progress=False).ok


def test_a_damaged_marker_object_is_found_and_repaired(s3, eight_chunk_file):
    url = s3.url("marker.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    key = f"{prefix_of(url)}/{zstore.marker_key('1.1.0')}"
    s3.put(key, s3.get(key).replace(b'"nan_count": 0', b'"nan_count": 1', 1))
    assert verify_store(url, progress=False).flagged == ["1.1.0"]
    assert main(["repair", url, "--no-progress"]) == 0
    assert verify_store(url, progress=False).ok


# --------------------------------------------------------------------------- creation, overwrite


def test_overwrite_replaces_only_a_token_sweep_store(s3, eight_chunk_file, capsys):
    url = s3.url("replace.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    first = data_objects(s3, url)
    s3.put(f"{prefix_of(url)}/usd_per_mtok/c/9/9/9", b"stale")   # not in the new store
    assert main(["run", str(eight_chunk_file), "--store", url, "--overwrite", "--no-progress"]) == 0
    assert data_objects(s3, url) == first                       # the stale object is gone
    # a prefix holding other objects, and a Zarr store of someone else's: never deleted
    s3.put("runs/notes.zarr/readme.txt", b"mine")
    assert main(["run", str(eight_chunk_file), "--store", s3.url("notes.zarr"), "--overwrite",
                 "--no-progress"]) == 2
    assert "is not a Zarr store; refusing to delete" in capsys.readouterr().err
    s3.put("runs/foreign.zarr/zarr.json",
           b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    assert main(["run", str(eight_chunk_file), "--store", s3.url("foreign.zarr"), "--overwrite",
                 "--no-progress"]) == 2
    assert "not written by token-sweep" in capsys.readouterr().err
    assert s3.get("runs/notes.zarr/readme.txt") == b"mine"
    assert s3.keys("runs/foreign.zarr/") == ["runs/foreign.zarr/zarr.json"]


def test_a_failed_creation_is_not_a_store_and_is_named_so(s3, eight_chunk_file, monkeypatch,
                                                          capsys):
    url = s3.url("interrupted.zarr")
    real_put = objects.put

    def put(where, key, data):
        if key == "zarr.json":   # the root metadata, written last
            raise zstore.StoreError("injected: the connection dropped")
        real_put(where, key, data)

    monkeypatch.setattr(objects, "put", put)
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 2
    monkeypatch.setattr(objects, "put", real_put)
    capsys.readouterr()
    left = s3.objects(prefix_of(url))
    assert "zarr.json" not in left and zstore.CREATING in left
    assert not zstore.is_store(url)
    assert main(["run", str(eight_chunk_file), "--store", url, "--resume", "--no-progress"]) == 2
    assert "creation was interrupted: rerun with --overwrite" in capsys.readouterr().err
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 2
    assert "interrupted creation" in capsys.readouterr().err
    assert main(["run", str(eight_chunk_file), "--store", url, "--overwrite", "--no-progress"]) == 0
    assert zstore.CREATING not in s3.objects(prefix_of(url))
    assert verify_store(url, progress=False).ok


# --------------------------------------------------------------------------- a cluster


@pytest.mark.slow
def test_a_local_cluster_of_two_worker_processes_writes_to_the_bucket(
        s3, eight_chunk_file, eight_chunk_store, capsys):
    url = s3.url("cluster.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--cluster", "local:2",
                 "--backend", "numba", "--no-progress"]) == 0
    assert data_objects(s3, url) == files_of(eight_chunk_store)
    assert main(["verify", url, "--no-progress"]) == 0


# --------------------------------------------------------------------------- refusals, secrets


def test_a_missing_bucket_and_a_wrong_endpoint_are_one_line_before_any_work(
        s3, eight_chunk_file, monkeypatch, capsys):
    assert main(["run", str(eight_chunk_file), "--store", "s3://no-such-bucket-here/x.zarr",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "the bucket 'no-such-bucket-here' does not exist" in err
    closed = closed_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    assert main(["run", str(eight_chunk_file), "--store", s3.url("x.zarr"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot connect at http://127.0.0.1:{closed}" in err
    assert s3.keys() == []                                      # nothing written anywhere
    # the dry run says the same in its target check
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert main(["run", str(eight_chunk_file), "--store", "s3://no-such-bucket-here/x.zarr",
                 "--dry-run"]) == 2
    assert "does not exist" in capsys.readouterr().out


@pytest.mark.parametrize("text, expected", [
    ("ftp://host/x.zarr", "scheme 'ftp' is not supported"),
    ("s3://bucket-only", "expected s3://BUCKET/PREFIX/NAME.zarr"),
    ("s3://AKIA:sentinel-value@bucket/x.zarr", "credentials do not belong in a store URL"),
    ("s3://bucket/x.zarr?endpoint=http://a", "no '?' query"),
    ("s3://bucket/x.zarr?X-Amz-Security-Token=sentinel-value", "no '?' query"),
    ("s3://bucket/a/../x.zarr", "without empty, '.' or '..' parts"),
])
def test_bad_store_urls_are_refused_by_field_and_as_an_option(text, expected, write_file,
                                                              capsys):
    with pytest.raises(ConfigError) as info:
        spec_from_dict(eight_chunk_dict(store=text))
    assert "store" in str(info.value) and expected in str(info.value)
    assert "sentinel-value" not in str(info.value)
    path = write_file("eight.yaml", yaml.safe_dump(eight_chunk_dict(), sort_keys=False))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(path), "--store", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "sentinel-value" not in err


def test_file_urls_are_local_paths(tmp_path):
    assert parse(f"file://{tmp_path}/a.zarr") == tmp_path / "a.zarr"
    assert parse("s3://b/p/n.zarr") == StoreURL("s3", "b", "p/n.zarr")
    assert str(parse("s3://b/p/n.zarr/")) == "s3://b/p/n.zarr"


def test_the_secret_is_never_written_printed_or_logged(s3, eight_chunk_file, monkeypatch):
    secret, key_id = "SENTINEL-secret-7f3a9c", "SENTINELKEYID42"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    url = s3.url("secret.zarr")
    said = []
    for args in (["run", str(eight_chunk_file), "--store", url, "--no-progress"],
                 ["show", url], ["verify", url, "--no-progress"],
                 ["run", str(eight_chunk_file), "--store", url, "--no-progress"],
                 ["run", str(eight_chunk_file), "--store", "s3://no-such-bucket-x/y.zarr",
                  "--no-progress"]):
        proc = sweep_cli("--verbose", *args)
        said.append(proc.stdout + proc.stderr)
    assert "complete" in said[0] and "already exists" in said[3] and "does not exist" in said[4]
    written = b"".join(s3.objects(prefix_of(url)).values())
    for value in (secret, key_id):
        assert value.encode() not in written
        assert all(value not in text for text in said)
    # a library message that did echo a secret would be masked
    assert objects.mask(f"denied for {secret}") == "denied for ***"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_environment_picks_the_endpoint_for_each_client(s3, monkeypatch):
    url = parse(s3.url("env.zarr"))
    assert objects.probe(url) == []
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(zstore.StoreError, match="cannot connect"):
        objects.probe(url)


def test_a_write_into_a_missing_bucket_is_one_line(s3):
    url = parse("s3://no-such-bucket-for-puts/x.zarr")
    with pytest.raises(zstore.StoreError) as info:
        objects.put(url, "zarr.json", b"{}")
    assert "\n" not in str(info.value) and "does not exist" in str(info.value)
    assert objects.get(parse(s3.url("empty.zarr")), "zarr.json") is None


def test_overwrite_touches_no_sibling_prefix(s3, eight_chunk_file):
    s3.put("runs/twin.zarr2/keep.txt", b"x2")
    s3.put("runs/twin.zarrfoo", b"object beside")
    url = s3.url("twin.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    assert main(["run", str(eight_chunk_file), "--store", url, "--overwrite", "--no-progress"]) == 0
    assert s3.get("runs/twin.zarr2/keep.txt") == b"x2"
    assert s3.get("runs/twin.zarrfoo") == b"object beside"
    assert not any(k.startswith("runs/twin.zarr2/") for k in s3.keys(f"{prefix_of(url)}/"))


def test_a_creation_killed_after_its_root_leaves_a_store_that_resume_cleans(s3, eight_chunk_file,
                                                                           capsys):
    url = s3.url("late.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    s3.put(f"{prefix_of(url)}/{zstore.CREATING}", b"{}")   # as a kill before its delete
    assert main(["run", str(eight_chunk_file), "--store", url, "--resume", "--no-progress"]) == 0
    assert zstore.CREATING not in s3.objects(prefix_of(url))
    zstore.open_result(url)   # and no warning about an object Zarr does not know


def test_a_store_that_does_not_answer_is_no_finding_about_its_chunks(s3, eight_chunk_file,
                                                                     monkeypatch):
    import obstore
    import zarr
    from obstore.store import from_url

    url = s3.url("silent.zarr")
    assert main(["run", str(eight_chunk_file), "--store", url, "--no-progress"]) == 0
    dead = from_url("s3://b/x", endpoint=f"http://127.0.0.1:{closed_port()}",
                    client_options={"allow_http": True}, retry_config={"max_retries": 0})
    try:
        obstore.get(dead, "k")
    except Exception as exc:  # noqa: BLE001 - obstore's own error, raised below
        error = exc
    real = zarr.Array.__getitem__

    def unreachable(self, where):
        if self.path == "usd_per_mtok":
            raise error
        return real(self, where)

    monkeypatch.setattr(zarr.Array, "__getitem__", unreachable)
    with pytest.raises(zstore.StoreError, match=r"cannot read chunk .* cannot connect"):
        verify_store(url, progress=False, num_workers=1)


def test_a_sensitivity_result_goes_to_a_bucket_and_its_charts_to_a_local_folder(
        s3, tmp_path, capsys):
    from test_sensitivity import study

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study(n=64), sort_keys=False))
    url = s3.url("sobol.zarr")
    charts = tmp_path / "charts"
    assert main(["sensitivity", str(path), "--store", url, "--charts", str(charts)]) == 0
    assert f"wrote {url}" in capsys.readouterr().out
    assert sorted(p.suffix for p in charts.iterdir()) and zstore.is_store(url)
    assert zstore.open_result(url).attrs["sweep_mode"] == "sensitivity"
    assert main(["plot", url, "--out", str(tmp_path / "plots")]) == 0
    assert any((tmp_path / "plots").glob("*.png"))


def test_an_object_store_error_inside_a_chunk_is_one_line_without_the_secret(s3, monkeypatch):
    import obstore
    from obstore.store import from_url

    from sweep.engine.execute import _cause

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SENTINEL-in-a-message")
    store = from_url("s3://bucket-x/y.zarr", endpoint="http://127.0.0.1:9",
                     client_options={"allow_http": True}, retry_config={"max_retries": 0})
    with pytest.raises(Exception) as info:   # noqa: B017 - obstore's own error class
        obstore.get(store, "zarr.json")
    assert "\n" in str(info.value)                         # the library's message: many lines
    line = _cause(info.value)
    assert "\n" not in line and "cannot connect" in line
    assert _cause(RuntimeError("SENTINEL-in-a-message leaked")) == "RuntimeError: *** leaked"


@pytest.fixture
def s3_checking_keys(monkeypatch):
    """A second moto server, its own process, that checks every request's credentials
    (``INITIAL_NO_AUTH_ACTION_COUNT=0``: no IAM user exists, so every key is refused)."""
    import socket
    import time

    port = closed_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        yield
    finally:
        proc.kill()
        proc.wait()


def test_refused_credentials_are_one_line_without_the_key(s3_checking_keys, eight_chunk_file,
                                                          monkeypatch):
    secret, key_id = "SENTINEL-secret-41c7", "SENTINELKEY0077"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = "s3://keys-checked/runs/x.zarr"
    for args in (["run", str(eight_chunk_file), "--store", url, "--no-progress"],
                 ["show", url], ["verify", url, "--no-progress"]):
        proc = sweep_cli("--verbose", *args)
        said = proc.stdout + proc.stderr
        assert proc.returncode == 2, said
        errors = [line for line in said.splitlines() if not line.startswith("INFO ")]
        assert len(errors) == 1, said
        assert "InvalidAccessKeyId" in errors[0] or "access denied" in errors[0], said
        assert secret not in said and key_id not in said
