"""A fast start (issue 16, item 6): the commands that compute nothing load none of the
heavy libraries (Dask arrays, xarray, Zarr, Numba, SciPy, matplotlib, distributed, the
object-store client)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("dask.array", "xarray", "zarr", "numba", "scipy", "matplotlib", "distributed",
         "obstore")

PROBE = r"""
import contextlib, io, json, sys
from sweep.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:        # --help
        code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in HEAVY if m in sys.modules),
                  "out": out.getvalue()[:200]}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ("--help",),
    ("presets",),
    ("plan", "configs/hopper-vs-blackwell.yaml"),          # a grid
    ("plan", "configs/reduce-renter-1e12.yaml"),            # reduce mode
    ("plan", "configs/iceberg-dsr1.yaml"),                  # the throughput model, best:
    ("plan", "configs/sensitivity-h200-buyer.yaml"),        # sample mode, Sobol'
    ("plan", "configs/recipes/3-sensitivity-both-platforms.yaml"),   # per-label
    ("plan", "configs/hopper-vs-blackwell.yaml", "--store", "s3://bucket/x/hb.zarr"),  # a URL
])
def test_commands_that_compute_nothing_load_no_heavy_library(args):
    got = _probe(*args)
    assert got["code"] == 0, got
    assert got["loaded"] == [], f"sweep {' '.join(args)} imported {got['loaded']}"


def test_import_sweep_is_light_and_its_names_still_resolve():
    code = (f"import sys, sweep; before = [m for m in {HEAVY!r} if m in sys.modules]; "
            "sweep.load_config, sweep.plan, sweep.run, sweep.open_result, sweep.ConfigError; "
            "print(before, 'open_result' in dir(sweep))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "[] True"
