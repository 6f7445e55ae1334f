"""Any slice of a stored result as a table or a CSV file: ``sweep show STORE --sel DIM=V[,V]
... [--output NAME] [--csv FILE]``.

A slice is chosen by coordinate values (labels of a categorical dim, numbers of a numeric one,
matched to within a relative 1e-6 so that ``0.3`` finds ``0.30000000000000004``). Its rows
are the points of the result's *row dims* (a grid's dims; a reduce result's kept dims) and
its columns are the variables: a grid's outputs, a reduce result's statistics per output
(count, NaN count, min, max, mean, std, quantiles with their brackets, threshold fractions).
A variable with a further small dim (quantiles, thresholds) gives one column per value of
it; histograms are left to ``xarray`` (their counts are not a table).

Only the slice is read (xarray's lazy selection on the Dask-backed store).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import xarray as xr

from sweep.stored import (  # noqa: F401 - part of this module's API
    ANALYSES,
    SliceError,
    cell,
    outputs,
    positions,
)

#: Rows printed on the terminal (a CSV file gets them all).
PRINT_ROWS = 200
#: Rows a CSV slice may have: more is refused (narrow the slice with ``--sel``).
MAX_ROWS = 10_000_000
#: A table of at most this many rows and more than TURN_COLUMNS value columns is printed
#: turned (a line per column).
TURN_ROWS, TURN_COLUMNS = 12, 8
#: A variable's further dim is spread over columns up to this many values.
MAX_SPREAD = 64


def parse_sel(items: list[str] | None) -> dict[str, list[str]]:
    """``["platform=HGX H200,B200", "utilization=0.5"]`` -> ``{dim: [text, ...]}``."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        dim, eq, values = item.partition("=")
        dim = dim.strip()
        parts = [v.strip() for v in values.split(",")]
        if not eq or not dim or not all(parts):
            raise SliceError(f"--sel {item!r}: expected DIM=VALUE[,VALUE...]")
        if dim in out:
            raise SliceError(f"--sel {dim}: given twice (list its values once, "
                             "comma-separated)")
        out[dim] = parts
    return out


def _row_dims(ds: xr.Dataset, outputs: list[str]) -> tuple[str, ...]:
    mode = ds.attrs.get("sweep_mode")
    if mode in ANALYSES:
        return tuple(ds[ANALYSES[mode]].dims)
    if mode == "reduce":
        return tuple(ds[f"{outputs[0]}_count"].dims) if outputs else ()
    return tuple(ds[outputs[0]].dims) if outputs else ()


def _owner(name: str, outputs: list[str]) -> str | None:
    """The output a reduce variable belongs to: the longest output name it starts with
    (``usd_per_mtok_rent_mean`` is ``usd_per_mtok_rent``'s, not ``usd_per_mtok``'s)."""
    owners = [o for o in outputs if name.startswith(f"{o}_")]
    return max(owners, key=len) if owners else None


def variables(ds: xr.Dataset, output: str | None) -> list[str]:
    """The variables a slice shows: every output of a grid (or the one named); of a reduce
    result, every output's per-point statistics (or those of the output named, or the one
    variable named)."""
    listed = outputs(ds)
    mode = ds.attrs.get("sweep_mode")
    reduce = mode == "reduce"
    if mode in ANALYSES:   # every index over the rows; --output selects along `output`
        if output is not None and output not in listed:
            raise SliceError(f"--output {output!r}: not in this store (outputs: "
                             f"{', '.join(listed)})")
        rows = set(_row_dims(ds, listed))
        return [v for v in ds.data_vars if set(ds[v].dims) == rows]
    if output is not None:
        if not reduce and output in listed:
            return [output]
        if reduce and output in listed:
            chosen = [output]
        elif reduce and output in ds.data_vars:
            return [output]
        else:
            raise SliceError(f"--output {output!r}: not in this store (outputs: "
                             f"{', '.join(listed) or 'none'})")
    else:
        chosen = listed
    if not reduce:
        return chosen
    rows = set(_row_dims(ds, listed))
    out = []
    for o in chosen:
        for v in ds.data_vars:
            extra = [d for d in ds[v].dims if d not in rows]
            if (_owner(v, listed) == o and not v.startswith(f"{o}_hist")
                    and set(ds[v].dims) >= rows and len(extra) <= 1
                    and (not extra or ds.sizes[extra[0]] <= MAX_SPREAD)):
                out.append(v)
    return out


def take(ds: xr.Dataset, sel: dict[str, list[str]], output: str | None = None
         ) -> tuple[xr.Dataset, tuple[str, ...]]:
    """The slice (still lazy) and its row dims; :class:`SliceError` for an unknown dim,
    value or output."""
    names = variables(ds, output)
    rows = _row_dims(ds, outputs(ds))
    if ds.attrs.get("sweep_mode") in ANALYSES and output is not None:
        sel = {**sel, "output": [output]}
    elif len(names) == 1 and not set(rows) <= set(ds[names[0]].dims):
        rows = tuple(ds[names[0]].dims)   # one variable named: its own dims are the rows
    for dim in sel:
        if dim not in rows:
            raise SliceError(f"--sel {dim}: not a dim of this store's table (dims: "
                             f"{', '.join(rows) or 'none'})")
    index = {dim: positions(ds, dim, texts) for dim, texts in sel.items()}
    sub = ds[names].isel(index)
    n = math.prod(int(sub.sizes[d]) for d in rows) if rows else 1
    if n > MAX_ROWS:
        raise SliceError(f"the slice has {n:,} rows (at most {MAX_ROWS:,}): narrow it with "
                         "--sel DIM=VALUE")
    return sub, rows


def n_rows(sub: xr.Dataset, rows: tuple[str, ...]) -> int:
    """How many rows the slice has."""
    return math.prod(int(sub.sizes[d]) for d in rows) if rows else 1


def head(sub: xr.Dataset, rows: tuple[str, ...], k: int) -> xr.Dataset:
    """The slice's first ``k`` rows in row-major order, still lazy (the outer dims cut to
    one value where the inner ones already give ``k`` rows): what the terminal shows, so
    that printing never reads more than that."""
    index = {}
    inner = n_rows(sub, rows)
    for d in rows:
        inner //= max(1, int(sub.sizes[d]))
        index[d] = slice(0, max(1, -(-k // max(1, inner))))
    return sub.isel(index)


def _columns(sub: xr.Dataset, rows: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Per column its header and its values in row order (row dims row-major)."""
    cols = []
    for v in sub.data_vars:
        da = sub[v].transpose(*rows, ...)
        unit = sub[v].attrs.get("units", "")
        extra = [d for d in da.dims if d not in rows]
        values = np.asarray(da.values)
        head = f"{v} ({unit})" if unit not in ("", "1") else v
        if not extra:
            cols.append((head, values.reshape(-1)))
            continue
        flat = values.reshape(-1, values.shape[-1])
        for j, c in enumerate(sub[extra[0]].values):
            c = c.item() if isinstance(c, np.generic) else c
            cols.append((f"{head}[{c:g}]" if isinstance(c, float) else f"{head}[{c}]",
                         flat[:, j]))
    return cols


def records(sub: xr.Dataset, rows: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """The slice's header and its rows of text (the coordinates, then the values)."""
    sub = sub.compute()
    cols = _columns(sub, rows)
    header = [*rows, *(h for h, _ in cols)]
    coords = [sub[d].values for d in rows]
    out = []
    for i, idx in enumerate(np.ndindex(*[len(c) for c in coords])):
        out.append([cell(c[k]) for c, k in zip(coords, idx, strict=True)]
                   + [cell(vals[i]) for _, vals in cols])
    return header, out


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    """The table as CSV text (one header line)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write the table to ``path`` whole or not at all; its folder must exist."""
    from sweep.textfile import write_text_atomic

    path = Path(path)
    if not path.parent.is_dir():
        raise SliceError(f"--csv {path}: the folder {path.parent} does not exist")
    write_text_atomic(path, to_csv(header, rows))


def lines(header: list[str], rows: list[list[str]], n_dims: int = 0,
          limit: int = PRINT_ROWS, total: int | None = None) -> list[str]:
    """The table for the terminal: at most ``limit`` rows, then how many were left out. A
    few rows of many columns (a reduce result's statistics) are printed turned, one line
    per column; ``n_dims``: how many leading columns are coordinates; ``total``: how many
    rows the whole slice has (default: ``len(rows)``)."""
    from sweep.report.summary import _table

    if rows and len(rows) <= TURN_ROWS and len(header) - n_dims > TURN_COLUMNS:
        names = [" ".join(r[:n_dims]) or "value" for r in rows]
        turned = [[" ".join(header[:n_dims]) or "variable", *names]]
        turned += [[h, *(r[j] for r in rows)] for j, h in enumerate(header) if j >= n_dims]
        return _table(turned)
    shown = rows[:limit]
    total = len(rows) if total is None else total
    out = _table([header, *shown]) if shown else ["  (no rows)"]
    if total > len(shown):
        out.append(f"  ... {total - len(shown):,} more row(s): --csv FILE writes them all")
    return out
