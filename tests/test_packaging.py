"""The built wheel ships kernels/ as sweep.kernels and no top-level module named `kernels`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # build from a copy, so that setuptools' build/ and *.egg-info stay out of the checkout
    src = tmp_path_factory.mktemp("src") / "token-sweep"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", "build", "*.egg-info", "__pycache__", ".hypothesis",
        ".pytest_cache", "out"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (whl,) = out.glob("token_sweep-*.whl")
    return whl


def test_wheel_layout(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "sweep/kernels/cpu.py" in names
    assert "sweep/kernels/cuda.py" in names and "sweep/backends/gpu.py" in names
    # the model registry and the generators of every backend's kernels (CUDA C included)
    assert "sweep/model/cost.py" in names and "sweep/model/cudac.py" in names
    assert "sweep/kernels/__init__.py" in names
    assert "sweep/data/presets.yaml" in names
    # measured frontiers: the reader, and the measured table shipped as data
    assert "sweep/frontiers/read.py" in names and "sweep/model/frontier.py" in names
    assert "sweep/data/inferencex-measured.csv" in names
    assert not any(n.startswith("kernels/") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    assert "sweep = sweep.cli:main" in text


def test_installed_wheel_imports_sweep_kernels(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    code = ("import sweep, sweep.kernels.cpu as k, sweep.backends.gpu as g; "
            "assert '__global__' in g.cuda_c_source(); "
            f"assert sweep.__file__.startswith({str(target)!r}), sweep.__file__; "
            "import importlib.util as u; assert u.find_spec('kernels') is None; print('ok')")
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
