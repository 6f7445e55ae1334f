"""What a stored result says about itself, without computing anything: the sweep file it
was run from, its model, its outputs in the file's order, the headline point, the
positions of ``--sel`` values and the label groups of an analysis. Read by the report, the
charts and the command line (a module below all three)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import xarray as xr

from sweep.model.user import bound_names, user_model

#: The results whose variables are indices over ``output x labels x input`` (one of them
#: gives the row dims).
ANALYSES = {"sensitivity": "S1", "morris": "mu"}


class SliceError(ValueError):
    """A slice that cannot be taken (an unknown dim, value or output): one line."""


def spec_of(ds: xr.Dataset) -> dict:
    """The sweep file as validated, from the store's ``sweep_spec`` attribute."""
    return json.loads(ds.attrs.get("sweep_spec", "{}"))


def model_of(ds: xr.Dataset):
    """The model the store's sweep file evaluated."""
    spec = spec_of(ds)
    return user_model(spec.get("inputs") or {}, spec.get("derived") or {}, bound_names(spec))


def output_names(ds: xr.Dataset) -> list[str]:
    """A grid's outputs in the order the sweep file listed them."""
    listed = spec_of(ds).get("outputs", [])
    return [o for o in listed if o in ds.data_vars] or sorted(ds.data_vars)


def outputs(ds: xr.Dataset) -> list[str]:
    """The outputs of a stored result in the file's order: a grid's variables, a reduce
    result's outputs (those with statistics), an analysis result's ``output`` labels."""
    if ds.attrs.get("sweep_mode") in ANALYSES:
        return [str(o) for o in ds["output"].values]
    listed = spec_of(ds).get("outputs", [])
    if ds.attrs.get("sweep_mode") == "reduce":
        return [o for o in listed if f"{o}_count" in ds]
    return [o for o in listed if o in ds.data_vars] or sorted(ds.data_vars)


def reference_point(ds: xr.Dataset, categorical: str) -> dict[str, float]:
    """For the headline table: on each numeric axis, the coordinate nearest the sweep file's
    ``headline`` value for it, else nearest the input's default (the middle value for inputs
    without one)."""
    wanted = spec_of(ds).get("headline", {}) or {}
    point = {}
    sampled = bool(spec_of(ds).get("sample"))
    for dim in ds[output_names(ds)[0]].dims:
        if dim == categorical or (sampled and dim == "sample"):   # samples: averaged
            continue
        coord = ds[dim].values
        if coord.dtype.kind in "OUST":
            point[dim] = coord[0]
            continue
        specs = model_of(ds).input_specs
        default = specs[dim].default if dim in specs else None
        default = wanted.get(dim, default)
        if default is None:
            point[dim] = float(coord[len(coord) // 2])
        else:
            point[dim] = float(coord[int(np.argmin(np.abs(coord - default)))])
    return point


def groups(ds: xr.Dataset, var: str = "S1") -> list[dict]:
    """Every combination of the categorical dims' labels of an analysis result's ``var``
    (``S1``, or ``mu`` for a screening), one empty dict if there are none."""
    gdims = [d for d in ds[var].dims if d not in ("output", "input")]
    labels = [list(ds[d].values) for d in gdims]
    return [dict(zip(gdims, combo, strict=True)) for combo in itertools.product(*labels)]


def cell(x) -> str:
    """A coordinate or value as text: floats to 10 significant digits, NaN as ``nan``."""
    if isinstance(x, (float, np.floating)):
        return "nan" if math.isnan(x) else f"{float(x):.10g}"
    return str(x.item() if isinstance(x, np.generic) else x)


def positions(ds: xr.Dataset, dim: str, texts: list[str]) -> list[int]:
    """The positions of the values ``texts`` (labels or numbers) on ``dim``; numbers match
    to a relative 1e-6. :class:`SliceError` for a value that is not there."""
    coord = ds[dim].values
    out = []
    for text in texts:
        if coord.dtype.kind in "OUST":
            hits = np.flatnonzero([str(c) == text for c in coord])
        else:
            try:
                value = float(text)
            except ValueError:
                raise SliceError(f"--sel {dim}={text}: not a number ({dim} is numeric)") \
                    from None
            hits = np.flatnonzero(np.isclose(coord.astype(np.float64), value, rtol=1e-6,
                                             atol=0.0))
        if not len(hits):
            shown = ", ".join(map(cell, coord[:12])) + (", ..." if len(coord) > 12 else "")
            raise SliceError(f"--sel {dim}={text}: not a value of {dim} (values: {shown})")
        out.append(int(hits[0]))
    return out
