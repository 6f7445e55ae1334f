"""Imports run one way: the project's ``layers.txt`` checked by the shared layer tool (every
upward or sideways import, every package cycle and every unplaced module is a failure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "layers.py"


def test_imports_run_one_way_down_the_declared_layers():
    if not TOOL.is_file():
        pytest.skip(f"the shared layer tool is not beside this checkout ({TOOL.name})")
    proc = subprocess.run([sys.executable, str(TOOL)], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 upward, 0 sideways import(s), 0 package cycle(s), 0 unplaced" in proc.stdout


def test_every_package_and_top_module_is_named_in_layers_txt():
    named = {n for line in (ROOT / "layers.txt").read_text().splitlines()
             for n in line.split("#", 1)[0].split()}
    packages = {p.name for p in (ROOT / "sweep").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in (ROOT / "sweep").glob("*.py") if p.stem != "__init__"}
    assert (packages | modules) - {"data"} <= named | {"data"}
