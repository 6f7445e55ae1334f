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
