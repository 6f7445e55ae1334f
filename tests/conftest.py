"""Shared fixtures: backends by availability, sweep files on disk, small specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.config import spec_from_dict

CPU_BACKENDS = ["numpy", "numba"]


@pytest.fixture(params=CPU_BACKENDS)
def backend_name(request) -> str:
    """Each backend that runs on this machine (GPU backends join in their own issue)."""
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
