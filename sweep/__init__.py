"""token-sweep: cost-per-token scenario sweeps, chunked by Dask, stored as Zarr-backed xarray.

The public API is the handful of names in ``__all__``::

    spec = load_config("configs/hopper-vs-blackwell.yaml")
    p = plan(spec)                 # shape, chunks, sizes; computes nothing
    result = run(spec)             # in the file's mode: a grid into its Zarr store, ...
    ds = open_result(result.store) # lazy xarray.Dataset
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sweep._version import __version__

#: Where each public name lives: imported on first use (PEP 562), so that ``import sweep``
#: and the command line load only what a command needs (``sweep --help`` no Dask, xarray,
#: Zarr, Numba, SciPy or matplotlib).
_LAZY = {
    "run": "sweep.api",
    "RunResult": "sweep.engine.execute",
    "run_plan": "sweep.engine.execute",
    "plan": ("sweep.planning.planner", "make_plan"),
    "ConfigError": "sweep.spec.config",
    "SweepSpec": "sweep.spec.config",
    "load_config": "sweep.spec.config",
    "open_result": "sweep.storage.store",
}

if TYPE_CHECKING:   # for type checkers and editors: the names as they are
    from sweep.api import run
    from sweep.engine.execute import RunResult, run_plan
    from sweep.planning.planner import make_plan as plan
    from sweep.spec.config import ConfigError, SweepSpec, load_config
    from sweep.storage.store import open_result


def __getattr__(name: str):
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'sweep' has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ConfigError",
    "RunResult",
    "SweepSpec",
    "__version__",
    "load_config",
    "open_result",
    "plan",
    "run",
    "run_plan",
]
