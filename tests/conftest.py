"""Shared fixtures: backends by availability, sweep files on disk, small specs.

GPU code runs in Numba's CUDA simulator unless ``TOKEN_SWEEP_REAL_GPU=1`` (set by
``make gpu-check`` on a GPU machine): the variable must be set before Numba is imported,
so it is set here, when pytest loads this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if os.environ.get("TOKEN_SWEEP_REAL_GPU") == "1":
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    # small test grids launch few blocks; the warning about it would be an error here
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")
else:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402
import yaml  # noqa: E402

from sweep.spec.config import spec_from_dict  # noqa: E402

CPU_BACKENDS = ["numpy", "numba"]
ALL_BACKENDS = [*CPU_BACKENDS, "cuda", "cupy"]
#: The GPU backends as test parameters, marked ``gpu`` (so that ``make gpu-check`` runs them
#: on the device; here cuda runs in the simulator and cupy skips)
GPU_BACKENDS = [pytest.param(n, marks=pytest.mark.gpu) for n in ("cuda", "cupy")]


def gpu_backend_problem(name: str) -> str | None:
    """Why GPU backend ``name`` cannot run in this test session (None: it can; ``cuda``
    runs in the CUDA simulator without a GPU)."""
    from sweep.backends import gpu

    return gpu.cuda_problem() if name == "cuda" else gpu.cupy_problem()


@pytest.fixture(params=[*CPU_BACKENDS, *(pytest.param(n, marks=pytest.mark.gpu)
                                         for n in ("cuda", "cupy"))])
def backend_name(request) -> str:
    """Each backend that runs here: numpy and numba always, cuda on a GPU or in the CUDA
    simulator, cupy on a GPU with CuPy."""
    if request.param in ("cuda", "cupy"):
        problem = gpu_backend_problem(request.param)
        if problem:
            pytest.skip(f"backend {request.param}: {problem}")
    return request.param


def small_spec_dict(**overrides) -> dict:
    """A 2 x 3 x 4 sweep with a categorical axis, used across tests."""
    d = {
        "name": "small",
        "axes": {
            "platform": {
                "labels": ["A", "B"],
                "set": {"gpu_hour_usd": [1.41, 2.65], "tokens_per_s_per_gpu": [90.0, 6000.0]},
            },
            "utilization": {"linspace": {"start": 0.25, "stop": 1.0, "num": 3}},
            "electricity_usd_per_kwh": {"values": [0.0, 0.05, 0.08, 0.12]},
        },
        "constants": {"pue": 1.2, "kw_per_gpu": 1.5},
        "outputs": ["usd_per_mtok", "tokens_per_s_per_mw"],
    }
    d.update(overrides)
    return d


@pytest.fixture
def small_spec():
    return spec_from_dict(small_spec_dict())


@pytest.fixture
def write_file(tmp_path: Path):
    """Write text to a file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write


def build_cuda_c_for_host(tmp_path: Path, source: str, opt: str = "-O2") -> Path:
    """The generated CUDA C ``source`` built as host C++ with ``tests/cuda_c_host.cpp``
    (skips without a C++ compiler); returns the executable."""
    import shutil
    import subprocess

    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler to build the CUDA C kernel's host check")
    (tmp_path / "generated.cu").write_text(source)
    exe = tmp_path / "cuda_c_host"
    proc = subprocess.run([cxx, opt, "-std=c++17", "-I", str(tmp_path),
                           str(Path(__file__).parent / "cuda_c_host.cpp"), "-o", str(exe)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return exe


def run_cuda_c_on_host(exe: Path, tmp_path: Path, inputs, n_codes: int):
    """Run a host build of the CUDA C kernel over one chunk (``ChunkInputs``); returns the
    float64 and float32 outputs, each (n_codes, *shape)."""
    import subprocess

    import numpy as np

    shape = tuple(inputs.shape)
    n_points = int(np.prod(shape))
    header = np.array([len(shape), inputs.table.shape[1], n_codes, n_points], np.int64)
    (tmp_path / "in.bin").write_bytes(b"".join([
        header.tobytes(), np.asarray(shape, np.int64).tobytes(),
        inputs.bind.astype(np.int64).tobytes(), inputs.table.astype(np.float64).tobytes()]))
    proc = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    raw = (tmp_path / "out.bin").read_bytes()
    n = n_codes * n_points
    return (np.frombuffer(raw[: 8 * n], dtype=np.float64).reshape(n_codes, *shape),
            np.frombuffer(raw[8 * n:], dtype=np.float32).reshape(n_codes, *shape))


def assert_cuda_c_matches_oracle(tmp_path: Path, plan) -> str:
    """Build the cupy backend's CUDA C for ``plan`` as host C++, run it over the plan's
    first chunk, and hold it to the NumPy oracle (same NaN mask, values to 1e-12; the
    chunk must have NaN and non-NaN points). Returns the CUDA C source."""
    import numpy as np

    from sweep.backends import get_backend, gpu

    inputs = plan.chunk_inputs(next(plan.keys()))
    source = gpu.cuda_c_source(plan.model, plan.outputs)
    exe = build_cuda_c_for_host(tmp_path, source)
    got, _ = run_cuda_c_on_host(exe, tmp_path, inputs, len(plan.output_codes))
    ref, _ = get_backend("numpy").compute(inputs, plan.output_codes, np.dtype(np.float64))
    assert np.isnan(ref).any() and not np.isnan(ref).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-12)
    return source


# --------------------------------------------------------------------------- the eight-chunk sweep
# (the durability tests, on a local disk and on object storage)

ROOT = Path(__file__).resolve().parents[1]


def eight_chunk_dict(**overrides) -> dict:
    """A 2 x 4 x 30 sweep in 8 chunks (2 x 2 x 2), float64, three outputs."""
    d = small_spec_dict(
        outputs=["usd_per_mtok", "tokens_per_s_per_mw", "joules_per_token"],
        chunks={"platform": 1, "utilization": 2, "electricity_usd_per_kwh": 15},
    )
    d["axes"]["utilization"] = {"values": [0.0, 0.25, 0.5, 1.0]}   # includes NaN points
    d["axes"]["electricity_usd_per_kwh"] = {"linspace": {"start": 0.0, "stop": 0.3, "num": 30}}
    d.update(overrides)
    return d


def files_of(store: Path) -> dict[str, bytes]:
    """Every file of a store, by relative path (markers and attributes aside: they hold
    timestamps)."""
    from sweep.storage.store import MARKERS

    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and MARKERS not in p.parts and p.name != "zarr.json"}


def sweep_cli(*args, env=None, check_rc=None):
    proc = subprocess.run([sys.executable, "-P", "-m", "sweep", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def eight_chunk_file(write_file):
    return write_file("eight.yaml", yaml.safe_dump(eight_chunk_dict(), sort_keys=False))


@pytest.fixture
def eight_chunk_store(tmp_path, eight_chunk_file):
    """An uninterrupted run of the eight-chunk sweep."""
    from sweep.cli import main

    store = tmp_path / "reference.zarr"
    assert main(["run", str(eight_chunk_file), "--store", str(store), "--backend", "numba",
                 "--no-progress"]) == 0
    return store


# --------------------------------------------------------------------------- an S3-API server


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's standalone S3-API server on the loopback interface and a free port (port 0:
    the system picks one), for the whole session (stopped at its end); its address."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    """A bucket of the test server, read and changed through boto3 (not the engine's
    client): ``url(name)`` is a store URL in it."""

    def __init__(self, name: str, endpoint: str):
        import boto3

        self.name, self.endpoint = name, endpoint
        self.client = boto3.client("s3", endpoint_url=endpoint)
        self.client.create_bucket(Bucket=name)

    def url(self, name: str) -> str:
        return f"s3://{self.name}/runs/{name}"

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name,
                                                                      Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix``, by key relative to it."""
        return {k[len(prefix):].lstrip("/"): self.get(k) for k in self.keys(prefix + "/")}


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A new bucket on the test server, with the standard AWS environment pointing at it
    (test credentials; moto accepts any)."""
    import uuid

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return Bucket(f"sweep-{uuid.uuid4().hex[:12]}", s3_endpoint)
