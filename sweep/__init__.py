"""token-sweep: cost-per-token scenario sweeps, chunked by Dask, stored as Zarr-backed xarray.

The public API is the handful of names in ``__all__``::

    spec = load_config("configs/hopper-vs-blackwell.yaml")
    p = plan(spec)                 # shape, chunks, sizes; computes nothing
    result = run(spec)             # in the file's mode: a grid into its Zarr store, ...
    ds = open_result(result.store) # lazy xarray.Dataset
"""

from sweep._version import __version__
from sweep.api import run
from sweep.engine.execute import RunResult, run_plan
from sweep.planning.planner import make_plan as plan
from sweep.spec.config import ConfigError, SweepSpec, load_config
from sweep.storage.store import open_result

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
