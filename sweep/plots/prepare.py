"""What a chart draws, taken from a store without loading it whole.

Every selection here is xarray's lazy indexing on the Dask-backed store (``isel`` with
integer positions and strides): only the chunks that hold the drawn cells are read, and a
chart never draws more than :data:`MAX_CELLS` cells (longer dims are thinned by a stride,
so that every drawn value is a stored one, exactly).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

#: The most cells a chart draws (its dims are thinned by strides beyond that).
MAX_CELLS = 1_000_000

#: The kinds of store, by their ``sweep_mode`` (a ``sweep bench`` folder is ``bench``).
KINDS = {"materialize": "grid", "sample": "sample", "reduce": "reduce",
         "sensitivity": "sensitivity", "morris": "screening"}


class PlotError(ValueError):
    """A chart that cannot be drawn from this store (an unknown dim, output or kind): one
    line, and nothing is written."""


def kind_of(ds: xr.Dataset) -> str:
    """``grid``, ``sample``, ``reduce``, ``sensitivity`` or ``screening``."""
    mode = ds.attrs.get("sweep_mode", "")
    if mode not in KINDS:
        raise PlotError(f"a store of mode {mode!r}; expected one token-sweep writes")
    return KINDS[mode]


def outputs_of(ds: xr.Dataset) -> list[str]:
    """The outputs, in the file's order (:func:`sweep.stored.outputs`)."""
    from sweep.stored import outputs

    return outputs(ds)


def is_categorical(ds: xr.Dataset, dim: str) -> bool:
    return ds[dim].dtype.kind in "OUST"


def is_geometric(values: np.ndarray) -> bool:
    """Whether a coordinate is evenly spaced on a log scale (and not on a linear one): such
    an axis is drawn on log scale."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 3 or not (v > 0).all():
        return False
    linear = np.allclose(np.diff(v), v[1] - v[0], rtol=1e-6)
    ratios = v[1:] / v[:-1]
    return not linear and np.allclose(ratios, ratios[0], rtol=1e-6)


def axis_label(ds: xr.Dataset, name: str) -> str:
    """``long_name [units]`` of a coordinate or variable (the name where it has none)."""
    a = ds[name].attrs
    text = a.get("long_name") or name
    unit = a.get("units")
    return f"{text} [{unit}]" if unit else text


def output_label(ds: xr.Dataset, output: str) -> str:
    """An output's short name and unit for an axis: ``usd_per_mtok [USD/Mtok]``."""
    from sweep.stored import model_of as _model

    specs = _model(ds).output_specs
    unit = specs[output].unit if output in specs else ds[output].attrs.get("units", "")
    return f"{output} [{unit}]" if unit else output


def model_outputs(ds: xr.Dataset) -> list[str]:
    """Every output of the store's model (those it could compute, stored or not)."""
    from sweep.stored import model_of as _model

    return list(_model(ds).output_specs)


def better(ds: xr.Dataset, output: str) -> str:
    """``lower``, ``higher`` or ``""`` (the model's :attr:`~sweep.model.Output.better`)."""
    from sweep.stored import model_of as _model

    specs = _model(ds).output_specs
    return specs[output].better if output in specs else ""


def check_output(ds: xr.Dataset, output: str | None) -> str:
    """The output a chart draws: ``output``, else the file's first; :class:`PlotError` for
    one the store does not hold."""
    outputs = outputs_of(ds)
    if output is None:
        if not outputs:
            raise PlotError("the store holds no output to draw")
        return outputs[0]
    if output not in outputs:
        raise PlotError(f"--output {output!r}: not in this store (outputs: "
                        f"{', '.join(outputs) or 'none'})")
    return output


def check_dims(ds: xr.Dataset, var: str, *dims: str | None) -> None:
    for d in dims:
        if d is not None and d not in ds[var].dims:
            raise PlotError(f"{d!r}: not a dim of {var} (dims: {', '.join(ds[var].dims)})")


def positions(ds: xr.Dataset, sel: dict[str, list[str]]) -> dict[str, list[int]]:
    """``--sel`` values (text) as positions on their dims; :class:`PlotError` for an
    unknown dim or value."""
    from sweep import stored

    out = {}
    for dim, texts in sel.items():
        if dim not in ds.dims:
            raise PlotError(f"--sel {dim}: not a dim of this store (dims: "
                            f"{', '.join(map(str, ds.dims))})")
        try:
            out[dim] = stored.positions(ds, dim, texts)
        except stored.SliceError as exc:
            raise PlotError(str(exc)) from None
    return out


def headline_index(ds: xr.Dataset, var: str, sel: dict[str, list[int]]) -> dict[str, int]:
    """For every dim of ``var``: the position ``--sel`` gives (its first value), else the
    headline point's (the file's ``headline``, else each input's default, else the middle;
    see :func:`sweep.stored.reference_point`), else the first label."""
    from sweep.stored import reference_point

    cats = [d for d in ds[var].dims if is_categorical(ds, d)]
    point = reference_point(ds, cats[0] if cats else "") if var in ds.data_vars else {}
    out = {}
    for d in ds[var].dims:
        if d in sel:
            out[d] = sel[d][0]
        elif d in point and not is_categorical(ds, d):
            out[d] = int(np.argmin(np.abs(ds[d].values - point[d])))
        else:
            out[d] = 0
    return out


def thin(sizes: dict[str, int], max_cells: int = MAX_CELLS) -> dict[str, int]:
    """A stride per dim such that the strided sizes multiply to at most ``max_cells`` (the
    longest dims thinned first; every stride >= 1)."""
    stride = {d: 1 for d in sizes}

    def cells() -> int:
        return math.prod(-(-n // stride[d]) for d, n in sizes.items())

    while cells() > max_cells:
        d = max(sizes, key=lambda k: -(-sizes[k] // stride[k]))
        stride[d] += 1
    return stride


def take(ds: xr.Dataset, var: str, keep: list[str], sel: dict[str, list[int]] | None = None,
         max_cells: int = MAX_CELLS) -> xr.DataArray:
    """``var`` over the dims ``keep`` (each at the positions ``sel`` lists, else whole,
    thinned to at most ``max_cells`` cells), every other dim at its headline position;
    computed (only the chunks holding those cells are read)."""
    sel = sel or {}
    for d, chosen in sel.items():
        if d in ds[var].dims and d not in keep and len(chosen) > 1:
            raise PlotError(f"--sel {d}: one value (this chart holds {d} at one value; "
                            f"it draws {', '.join(keep)})")
    at = headline_index(ds, var, sel)
    index: dict[str, object] = {}
    for d in ds[var].dims:
        if d in keep:
            index[d] = sel.get(d, slice(None))
        else:
            index[d] = at[d]
    da = ds[var].isel(index)
    stride = thin({d: int(da.sizes[d]) for d in keep}, max_cells)
    da = da.isel({d: slice(None, None, s) for d, s in stride.items() if s > 1})
    return da.transpose(*keep).compute()


def fixed_at(ds: xr.Dataset, var: str, keep: list[str], sel: dict[str, list[int]] | None
             = None) -> dict[str, object]:
    """Where :func:`take` holds the dims it does not keep: ``{dim: value}``."""
    at = headline_index(ds, var, sel or {})
    out = {}
    for d in ds[var].dims:
        if d not in keep:
            v = ds[d].values[at[d]]
            out[d] = v.item() if isinstance(v, np.generic) else v
    return out


def where_text(fixed: dict[str, object]) -> str:
    """``at utilization=1, electricity_usd_per_kwh=0`` (empty for none)."""
    if not fixed:
        return ""
    return "at " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in fixed.items())
