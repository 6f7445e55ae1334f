"""token-sweep: cost-per-token scenario sweeps, chunked by Dask, stored as Zarr-backed xarray.

The public API is the handful of names in ``__all__``::

    spec = load_config("configs/hopper-vs-blackwell.yaml")
    p = plan(spec)                 # shape, chunks, sizes; computes nothing
    result = run(spec)             # materialize into the Zarr store
    ds = open_result(result.store) # lazy xarray.Dataset
"""

__version__ = "0.1.0"

from sweep.config import ConfigError, SweepSpec, load_config  # noqa: E402
from sweep.execute import RunResult, run, run_plan  # noqa: E402
from sweep.planner import make_plan as plan  # noqa: E402
from sweep.store import open_result  # noqa: E402

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
