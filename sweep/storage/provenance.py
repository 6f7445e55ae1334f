"""Provenance, in one schema for every kind of result (a stored grid or sample grid, a
reduce result, Sobol' indices, a Morris screening): what was run, from which config, by
which engine and libraries, on which backend and device, and when.

Every result's attributes hold these keys (each kind adds its own beside them):
``sweep_mode``, ``sweep_name``, ``sweep_spec`` (the validated file as JSON),
``sweep_config_hash``, ``sweep_version``, ``sweep_versions`` (Python and the libraries),
``sweep_backend``, ``sweep_device``, ``sweep_created``, ``sweep_finished`` (UTC, ISO 8601;
empty while a run is going on) and ``sweep_status``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime

from sweep._version import __version__
from sweep.planning.preflight import defaults_line  # noqa: F401 - part of this module's API

#: the keys every result carries
KEYS = ("sweep_mode", "sweep_name", "sweep_spec", "sweep_config_hash", "sweep_version",
        "sweep_versions", "sweep_backend", "sweep_device", "sweep_created", "sweep_finished",
        "sweep_status")


def now() -> str:
    """The time, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def versions() -> dict[str, str]:
    """Python's and the numerical libraries' versions."""
    import dask
    import numba
    import numpy as np
    import xarray as xr
    import zarr

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "dask": dask.__version__,
        "xarray": xr.__version__,
        "zarr": zarr.__version__,
    }


def spec_hash(spec) -> str:
    """SHA-256 of a validated sweep file, without what does not change the results (where
    they go, how the summary reads): the config hash of results that have no plan hash."""
    from sweep.spec.config import drop_unused_keys

    dump = drop_unused_keys(spec.model_dump(mode="json",
                                            exclude={"store", "backend", "notes", "headline"}))
    report = _frontier_report(spec)
    if report:   # the measured data read is part of what defines the results
        dump["frontier_sha256"] = {
            k: hashlib.sha256(json.dumps(f, sort_keys=True).encode()).hexdigest()
            for k, f in spec.frontier_data().items()}
    fitted = spec.calibration_data() if hasattr(spec, "calibration_data") else {}
    if fitted:   # and so are the fitted calibrations' numbers
        dump["calibration_data"] = fitted
    blob = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _frontier_report(spec) -> dict | None:
    """Where a sweep file's frontier axis reads its frontiers (None without one, or for an
    object that is no sweep file)."""
    from sweep.planning.axes import frontier_report
    from sweep.spec.config import SweepSpec

    return frontier_report(spec) if isinstance(spec, SweepSpec) else None


def stored_defaults(attrs: dict) -> dict[str, dict] | None:
    """The defaults a stored result recorded (``None`` for results written before they
    were recorded)."""
    raw = attrs.get("sweep_defaults")
    return json.loads(raw) if raw else None


def record(mode: str, spec, *, config_hash: str | None = None, backend: str = "",
           device: str = "", created: str | None = None, finished: str | None = "",
           status: str = "complete", defaults: dict | None = None) -> dict:
    """The provenance attributes of a result of ``mode`` from ``spec``. ``config_hash``
    defaults to :func:`spec_hash`; ``created`` to now; ``finished`` to now when the status is
    complete and nothing else is given. ``defaults``: the inputs the file left at their
    defaults (:func:`sweep.planning.planner.defaults_used`), kept as ``sweep_defaults``."""
    created = created or now()
    if finished == "" and status == "complete":
        finished = now()
    report = _frontier_report(spec)
    extra = {}
    if report:   # what was read, and a copy of it (the store is then self-contained)
        extra = {"sweep_frontiers": json.dumps(report, sort_keys=True),
                 "sweep_frontier_data": json.dumps(spec.frontier_data(), sort_keys=True)}
    fitted = spec.calibration_data() if hasattr(spec, "calibration_data") else {}
    if defaults is not None:
        extra["sweep_defaults"] = json.dumps(defaults)
    if fitted:
        extra["sweep_calibration_data"] = json.dumps(fitted, sort_keys=True)
    return {**extra,
        "sweep_mode": mode,
        "sweep_name": spec.name,
        "sweep_spec": spec.model_dump_json(),
        "sweep_config_hash": config_hash or spec_hash(spec),
        "sweep_version": __version__,
        "sweep_versions": versions(),
        "sweep_backend": backend,
        "sweep_device": device,
        "sweep_created": created,
        "sweep_finished": finished or "",
        "sweep_status": status,
    }
