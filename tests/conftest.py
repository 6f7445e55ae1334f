"""Shared fixtures: backends by availability, sweep files on disk, small specs.

GPU code runs in Numba's CUDA simulator unless ``TOKEN_SWEEP_REAL_GPU=1`` (set by
``make gpu-check`` on a GPU machine): the variable must be set before Numba is imported,
so it is set here, when pytest loads this file.
"""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("TOKEN_SWEEP_REAL_GPU") == "1":
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    # small test grids launch few blocks; the warning about it would be an error here
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")
else:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402

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
