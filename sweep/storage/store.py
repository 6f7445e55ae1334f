"""The Zarr v3 store: template first, whole chunks by region, per-chunk markers, status last."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
import zlib
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from sweep.planning.planner import SAMPLE_DIM, ChunkKey, Plan, nearest_existing
from sweep.storage import objects, provenance
from sweep.storage.layout import IncompleteStoreWarning, StoreError, is_store  # noqa: F401
from sweep.storage.location import StoreURL, Where, parse

#: The Zarr group (inside the store) whose folder holds one JSON marker per finished chunk.
MARKERS = "_sweep_chunks"
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
#: On an object store (no folder rename there), the object that says a store is being
#: created: written before anything else, deleted after the root metadata, which is
#: written last. A prefix holding it but no ``zarr.json`` is an interrupted creation.
CREATING = ".sweep-creating"


def zarr_target(store: Where | str, read_only: bool = False):
    """What Zarr and xarray open for ``store``: the local path itself, or the object
    store's ``zarr.storage.ObjectStore``."""
    where = parse(store)
    return objects.zarr_store(where, read_only) if isinstance(where, StoreURL) else where


def exists(store: Where | str) -> bool:
    """Whether anything is at ``store``: a file or folder, or any object under the prefix."""
    where = parse(store)
    return bool(objects.probe(where)) if isinstance(where, StoreURL) else where.exists()


def codec(name: str = "zstd") -> BloscCodec | None:
    """The compressor for a sweep file's ``codec`` (bench/RESULTS.md, "Codecs on the
    shipped sweep files", for the measurements):

    - ``zstd`` (default): Blosc zstd level 1 with byte shuffle: 5 % of the raw bytes on the
      large shipped grids, 8.6x smaller than zarr's default on the benchmark grid;
    - ``zstd-bitshuffle``: Blosc zstd level 1 with bit shuffle: a quarter smaller on the
      large grids, 9-26 % slower to write;
    - ``lz4``: Blosc lz4 level 5 with byte shuffle: about twice the write speed, 0-46 %
      larger;
    - ``none``: no compression.
    """
    if name == "none":
        return None
    if name == "lz4":
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    if name == "zstd-bitshuffle":
        return BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
    return BloscCodec(cname="zstd", clevel=1, shuffle="shuffle")


def check_target(path: Where | str, overwrite: bool) -> None:
    """Refuse, before anything is written, a target that exists (unless ``overwrite``), that
    is not a Zarr store (never deleted), or whose folder cannot be created or written; on an
    object store, one whose endpoint, bucket or credentials do not answer a listing."""
    path = parse(path)
    if isinstance(path, StoreURL):
        _check_url_target(path, overwrite)
        return
    if path.exists():
        if not overwrite:
            raise StoreError(f"{path} already exists; pass --overwrite to replace it, or --resume "
                             "to finish an interrupted run")
        if not path.is_dir() or not is_store(path):
            raise StoreError(f"{path} exists and is not a Zarr store; refusing to delete it")
        _check_ours(path)
    parent = nearest_existing(path.absolute().parent)
    if not parent.is_dir():
        raise StoreError(f"cannot create {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create {path}: {parent} is not writable")


def _check_ours(path: Where) -> None:
    """Refuse to delete a Zarr store whose root has no ``sweep_status``."""
    try:
        ours = "sweep_status" in zarr.open_group(zarr_target(path, read_only=True), mode="r",
                                                 zarr_format=3).attrs
    except Exception as exc:  # noqa: BLE001 - unreadable metadata: not provably ours
        if objects.is_library_error(exc):   # not an answer about the store: say why
            raise StoreError(f"{path}: cannot read its root metadata: "
                             f"{objects.reason(exc, path)}") from None
        ours = False
    if not ours:
        raise StoreError(f"{path} is a Zarr store not written by token-sweep; refusing to "
                         "delete it")


def interrupted_creation(store: Where) -> bool:
    """Whether ``store`` is an object-store prefix whose creation was interrupted (it holds
    :data:`CREATING` and no root ``zarr.json``); a local one never is (see :func:`_create`)."""
    where = parse(store)
    return (isinstance(where, StoreURL) and objects.has(where, CREATING)
            and not objects.has(where, "zarr.json"))


def _check_url_target(url: StoreURL, overwrite: bool) -> None:
    found = objects.probe(url)   # endpoint, bucket and credentials: refused here, in one line
    if not found:
        return
    if not objects.has(url, "zarr.json"):
        if objects.has(url, CREATING):   # an interrupted creation
            if not overwrite:
                raise StoreError(f"{url} holds an interrupted creation ({CREATING}, no "
                                 "zarr.json); pass --overwrite to start it again")
            return
        raise StoreError(f"{url} holds objects ({found[0]}, ...) and is not a Zarr store; "
                         "refusing to delete them")
    if not overwrite:
        raise StoreError(f"{url} already exists; pass --overwrite to replace it, or --resume "
                         "to finish an interrupted run")
    _check_ours(url)


def _coord(axis) -> np.ndarray:
    if axis.categorical:
        # variable-length UTF-8: the string type with a Zarr v3 spec (fixed-width UTF-32 has none)
        return np.asarray([str(c) for c in axis.coord], dtype=object)
    return axis.coord


def _sampled_coords(plan: Plan) -> dict[str, xr.Variable]:
    """The sampled inputs as coordinates along ``sample``: Dask arrays that draw each chunk
    of samples when computed (stored beside the outputs for plotting and for SALib)."""
    n, step = plan.shape[-1], plan.chunk_shape[-1]
    starts = list(range(0, n, step))
    blocks = {name: [] for name in plan.sampled}
    lead = {name: _label_sizes(plan, name) for name in plan.sampled}
    for start in starts:
        stop = min(start + step, n)
        drawn = dask.delayed(plan.sampled_table, pure=True)(start, stop)
        for name in plan.sampled:
            blocks[name].append(da.from_delayed(drawn[name], shape=(*lead[name], stop - start),
                                                dtype=np.float64))
    out = {}
    for name, parts in blocks.items():
        meta = plan.model.bindable_specs[name]
        out[name] = xr.Variable(plan.sampled_dims(name), da.concatenate(parts, axis=-1), {
            "units": meta.unit, "long_name": meta.short, "description": meta.description,
            "distribution": json.dumps(plan.spec.distributions[name].model_dump(
                mode="json", exclude_none=True))})
    return out


def _label_sizes(plan: Plan, name: str) -> tuple[int, ...]:
    """The sizes of the categorical dims sampled input ``name`` depends on."""
    return tuple(plan.shape[plan.dims.index(d)] for d in plan.sampled_dims(name)[:-1])


def _write_sampled(plan: Plan, target) -> None:
    """Draw and write the sampled-input coordinates chunk by chunk (bounded memory).
    Each array is opened by its own metadata: the root's may not be written yet."""
    if not plan.sampled:
        return
    arrays = {name: zarr.open_array(target, path=name, mode="r+", zarr_format=3)
              for name in plan.sampled}
    n, step = plan.shape[-1], plan.chunk_shape[-1]
    for start in range(0, n, step):
        stop = min(start + step, n)
        for name, values in plan.sampled_table(start, stop).items():
            arrays[name][..., start:stop] = values


def template(plan: Plan, backend: str, device: str) -> xr.Dataset:
    """The store's lazy template: dims, coordinates, one variable per output, provenance."""
    dims = plan.dims
    coords: dict[str, Any] = {}
    sample_chunks = {}
    for a in plan.axes:
        if plan.sampled and a.name == SAMPLE_DIM:
            attrs = {"long_name": f"sample index ({plan.spec.sample.method} design, seed "
                                  f"{plan.spec.sample.seed})"}
            sample_chunks = _sampled_coords(plan)
        elif not a.categorical:
            meta = plan.model.bindable_specs[a.name]
            attrs = {"units": meta.unit, "long_name": meta.short,
                     "description": meta.description}
        else:
            attrs = {"long_name": f"categorical axis; sets {', '.join(a.shown_binds)}"}
        coords[a.name] = xr.Variable((a.name,), _coord(a), attrs)
        if a.frontier:
            coords[f"{a.name}_frontier"] = xr.Variable(
                (a.name,), np.asarray(a.frontier, dtype=object),
                {"long_name": "measured frontier each label reads (its provenance is in the "
                              "sweep_frontiers attribute)"})
        for name, values in a.binds.items():
            if a.categorical and name in a.shown_binds:
                meta = plan.model.bindable_specs[name]
                attrs = {"units": meta.unit, "long_name": meta.short,
                         "description": meta.description}
                if name in plan.sampled:   # a relative distribution: the value it multiplies
                    name = f"{name}_base"
                    attrs["description"] = ("each label's value, which the sampled factor "
                                            f"multiplies ({attrs['description']})")
                coords[name] = xr.Variable((a.name,), values, attrs)
    coords.update(sample_chunks)
    data_vars = {}
    for name in plan.outputs:
        meta = plan.model.output_specs[name]
        data = da.empty(plan.shape, chunks=plan.chunk_shape, dtype=plan.dtype)
        data_vars[name] = xr.Variable(dims, data, {
            "units": meta.unit, "long_name": meta.long_name, "formula": meta.formula,
        })
    attrs = {
        "title": f"token-sweep {plan.spec.name}",
        **provenance.record(plan.spec.mode, plan.spec, config_hash=plan.config_hash,
                            backend=backend, device=device, finished=None,
                            status=STATUS_RUNNING, defaults=plan.defaults),
        "sweep_config": json.dumps(plan.normalized(), sort_keys=True),
        "sweep_dtype": plan.spec.dtype,
        "sweep_chunk_shape": list(plan.chunk_shape),
        "sweep_n_chunks": plan.n_chunks,
        "sweep_constants": {k: float(v) for k, v in plan.constants.items()},
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def create(plan: Plan, backend: str, device: str, overwrite: bool = False) -> None:
    """Write the template (metadata and coordinates, no output data) to ``plan.store``.

    The template is built in memory first; only then is an existing store replaced (with
    ``overwrite``, after :func:`check_target`'s refusals), so a failure to build it loses
    nothing.
    """
    check_target(plan.store, overwrite)
    ds = template(plan, backend, device)
    compressor = codec(plan.spec.codec)
    encoding = {
        name: {"chunks": plan.chunk_shape,
               "compressors": (compressor,) if compressor is not None else None,
               "fill_value": np.nan}
        for name in plan.outputs
    }
    if plan.sampled:
        encoding.update({name: {"chunks": (*_label_sizes(plan, name), plan.chunk_shape[-1])}
                         for name in plan.sampled})

    def build(target) -> None:
        ds.to_zarr(target, mode="w-", compute=False, zarr_format=3, consolidated=False,
                   encoding=encoding)
        # the marker folder is an (empty) Zarr group so that zarr and xarray list it cleanly
        zarr.open_group(target, mode="r+", zarr_format=3).create_group(
            MARKERS, attributes={"description": "token-sweep chunk completion markers"})

    _create(plan.store, build, lambda target: _write_sampled(plan, target))


def write_small(path: Where | str, ds: xr.Dataset, overwrite: bool) -> None:
    """Write a small result (reduce, sensitivity, screening) whole or not at all (as
    :func:`create` does); the target is checked first."""
    path = parse(path)
    check_target(path, overwrite)
    # Zarr lists a group's arrays by name: keep the result's own order for open_result
    ds = ds.assign_attrs(sweep_variables=list(ds.data_vars))
    _create(path, lambda target: ds.to_zarr(target, mode="w-", zarr_format=3,
                                            consolidated=False))


def _create(where: Where, build, fill=None) -> None:
    """Make a store at ``where`` that is whole or absent: ``build(target)`` writes the
    metadata and small arrays, ``fill(target)`` (optional) the large ones.

    On a local disk both go to a hidden sibling folder, renamed into place: a kill leaves
    no half-made store at the target (only a ``.<name>.creating-*`` folder). An object
    store has no rename: ``build`` goes to memory first; then the :data:`CREATING` object
    is written, any old store deleted (its ``zarr.json`` first, so that it no longer reads
    as a store), every object but the root ``zarr.json`` copied, ``fill`` run, and the root
    ``zarr.json`` written last. Until then the prefix is not a store, and
    :func:`check_target` names it an interrupted creation."""
    if isinstance(where, StoreURL):
        _create_on_object_store(where, build, fill)
        return
    where.parent.mkdir(parents=True, exist_ok=True)
    staging = where.with_name(f".{where.name}.creating-{uuid.uuid4().hex[:8]}")
    try:
        build(staging)
        if fill is not None:
            fill(staging)
        if where.exists():
            shutil.rmtree(where)
        os.replace(staging, where)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _create_on_object_store(url: StoreURL, build, fill) -> None:
    from zarr.storage import MemoryStore

    built: dict[str, Any] = {}
    build(MemoryStore(built))
    objects.put(url, CREATING, json.dumps({"creating": "token-sweep store",
                                           "started": provenance.now()}).encode())
    old = [k for k in objects.keys(url) if k != CREATING]
    if "zarr.json" in old:
        objects.delete(url, ["zarr.json"])
    objects.delete(url, [k for k in old if k != "zarr.json"])
    objects.put_many(url, {k: v.to_bytes() for k, v in built.items() if k != "zarr.json"})
    if fill is not None:
        fill(zarr_target(url))
    objects.put(url, "zarr.json", built["zarr.json"].to_bytes())
    objects.delete(url, [CREATING])


def write_coords(plan: Plan) -> None:
    """(Re)write the store's coordinate arrays from the plan (``sweep repair``)."""
    ds = template(plan, "", "")
    group = zarr.open_group(zarr_target(plan.store), mode="r+", zarr_format=3)
    for name, var in ds.coords.items():
        if name not in group:
            raise StoreError(f"{plan.store}: the coordinate array {name} is missing; the store's "
                             "structure is damaged: rerun the sweep with --overwrite")
        if name in plan.sampled:
            continue   # drawn again chunk by chunk below
        group[name][...] = np.asarray(var.values)
    _write_sampled(plan, zarr_target(plan.store))


def open_outputs(plan: Plan) -> list[zarr.Array]:
    """The store's output arrays, opened once per run and shared by the chunk tasks."""
    group = zarr.open_group(zarr_target(plan.store), mode="r+", zarr_format=3)
    arrays = [group[name] for name in plan.outputs]
    for name, array in zip(plan.outputs, arrays, strict=True):
        # one task = one whole Zarr chunk of each output, never part of one (two tasks
        # writing parts of one chunk would race on its read-modify-write)
        if tuple(array.shape) != plan.shape or tuple(array.chunks) != plan.chunk_shape:
            raise StoreError(
                f"{plan.store}/{name} has shape {tuple(array.shape)} in chunks of "
                f"{tuple(array.chunks)}, the plan {plan.shape} in chunks of {plan.chunk_shape}: "
                "task chunks would straddle Zarr chunks; refusing to write")
    return arrays


def digest(values: np.ndarray) -> str:
    """Digest of decoded chunk values: ``'crc32:xxxxxxxx'``, the zlib CRC-32 of their bytes
    (C order, native little-endian) with every NaN made the same quiet NaN, so that it does
    not depend on the codec or on NaN payloads."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            values = np.where(nan, values.dtype.type(np.nan), values)
    return f"crc32:{zlib.crc32(values) & 0xFFFFFFFF:08x}"


def marker_digest(marker: dict) -> str:
    """``'sha256:...'`` of a completion marker's canonical JSON (sorted keys, no spaces),
    its own ``self_digest`` left out: any change to a marker (a flipped bit in a count, an
    extreme, the key or the backend's name) no longer matches it."""
    body = {k: v for k, v in marker.items() if k != "self_digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def marker_key(key_name: str) -> str:
    """The key (path inside the store) of chunk ``key_name``'s completion marker."""
    return f"{MARKERS}/{key_name}.json"


def marker_path(store: Path, key_name: str) -> Path:
    """Where the completion marker of chunk ``key_name`` lives in a local store."""
    return Path(store) / marker_key(key_name)


def chunk_exists(store: Where, key: str) -> bool:
    """Whether the store holds object or file ``key`` (a chunk: ``NAME/c/0/1``)."""
    where = parse(store)
    return objects.has(where, key) if isinstance(where, StoreURL) else (where / key).is_file()


def write_chunk(plan: Plan, key: ChunkKey, values: np.ndarray, info: dict[str, Any],
                arrays: list[zarr.Array] | None = None) -> None:
    """Write one chunk of every output by region, then its completion marker (last).

    The marker holds the chunk key, the store's config hash, a :func:`digest` of each
    output's values, ``info`` (JSON-able: NaN counts, extremes) and a digest of itself
    (:func:`marker_digest`). ``arrays`` are the
    output arrays from :func:`open_outputs` (opened here when not given). The task owns
    exactly one Zarr chunk of each output and writes the same bytes every time, so a retried
    or duplicated task is harmless; the marker is replaced atomically (temp file, rename).
    """
    arrays = arrays if arrays is not None else open_outputs(plan)
    for k, array in enumerate(arrays):
        array[key.slices] = values[k]
    marker = {"key": list(key.index), "start": list(key.start), "stop": list(key.stop),
              "config_hash": plan.config_hash,
              "digest": {name: digest(values[k]) for k, name in enumerate(plan.outputs)},
              **info}
    marker["self_digest"] = marker_digest(marker)
    if isinstance(plan.store, StoreURL):   # one PUT: the marker is whole or absent
        objects.put(plan.store, marker_key(key.name), json.dumps(marker).encode())
        return
    path = marker_path(plan.store, key.name)
    # unique per writer (hosts, processes, threads): two tasks finishing the same chunk at
    # once never share a temp file
    tmp = path.with_name(f"{key.name}.json.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(marker))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_marker(store: Where, key_name: str) -> None:
    """Forget that chunk ``key_name`` is done (before rewriting it)."""
    where = parse(store)
    if isinstance(where, StoreURL):
        objects.delete(where, [marker_key(key_name)])
    else:
        marker_path(where, key_name).unlink(missing_ok=True)


def has_marker_group(store: Where) -> bool:
    """Whether the store has its markers' group (made with the template)."""
    where = parse(store)
    if isinstance(where, StoreURL):
        return objects.has(where, f"{MARKERS}/zarr.json")
    return (where / MARKERS).is_dir()


def set_status(store: Where, status: str, **attrs: Any) -> None:
    """Set the store's ``sweep_status`` (and other attributes)."""
    group = zarr.open_group(zarr_target(store), mode="r+", zarr_format=3)
    group.attrs.update({**attrs, "sweep_status": status})


def store_attrs(store: Where | str) -> dict[str, Any]:
    """The attributes of a token-sweep store (:class:`StoreError` for anything else)."""
    store = parse(store)
    if not is_store(store):
        raise StoreError(f"{store} is not a Zarr store (no zarr.json)")
    try:
        attrs = dict(zarr.open_group(zarr_target(store, read_only=True), mode="r",
                                     zarr_format=3).attrs)
    except Exception as exc:  # noqa: BLE001 - unreadable root metadata
        why = (objects.reason(exc, store) if objects.is_library_error(exc)
               else f"{type(exc).__name__}: {exc}")
        raise StoreError(f"{store}: its root metadata (zarr.json) cannot be read: "
                         f"{why}") from None
    if "sweep_status" not in attrs:
        raise StoreError(f"{store} was not written by token-sweep (no sweep_status attribute)")
    return attrs


def read_markers(store: Where | str) -> dict[str, dict]:
    """The completion markers of a store, keyed by chunk name."""
    where = parse(store)
    if isinstance(where, StoreURL):
        names = [k for k in objects.keys(where, MARKERS)
                 if k.endswith(".json") and k != f"{MARKERS}/zarr.json"]
        found = [(k[len(MARKERS) + 1: -len(".json")], data)
                 for k, data in objects.get_many(where, names).items()]
    else:
        folder = where / MARKERS
        if not folder.is_dir():
            return {}
        found = [(p.name[: -len(".json")], p) for p in folder.glob("*.json")
                 if p.name != "zarr.json"]
    markers = {}
    for name, source in found:
        try:
            data = source.read_bytes() if isinstance(source, Path) else source
            marker = json.loads(data) if data is not None else None
        except (OSError, ValueError):
            continue  # unreadable: the chunk counts as not done
        if isinstance(marker, dict):
            markers[name] = marker
    return markers


# --------------------------------------------------------------------------- the ledger
# One definition of "this chunk is done", used by the run (what to compute), resume, the
# pre-flight disk check, finalize, and verify/repair (which also check the marker's content).


def is_done(plan: Plan, key: ChunkKey, markers: dict[str, dict]) -> bool:
    """Whether chunk ``key`` has a completion marker written for this plan's config."""
    return markers.get(key.name, {}).get("config_hash") == plan.config_hash


def todo(plan: Plan, markers: dict[str, dict] | None = None,
         redo: set[str] | frozenset[str] = frozenset()) -> list[ChunkKey]:
    """The chunks still to compute: those not :func:`is_done` (reading the store's markers
    unless given), and those named in ``redo``."""
    markers = read_markers(plan.store) if markers is None else markers
    return [k for k in plan.keys() if k.name in redo or not is_done(plan, k, markers)]


def finalize(plan: Plan, extra_attrs: dict[str, Any],
             markers: dict[str, dict] | None = None) -> None:
    """Check every chunk has its marker (the store's, read here unless given), then mark
    the store complete."""
    markers = read_markers(plan.store) if markers is None else markers
    missing = [k.name for k in plan.keys() if not is_done(plan, k, markers)]
    if missing:
        raise StoreError(f"{plan.store}: {len(missing)} chunk(s) without a completion marker "
                         f"(first: {missing[:5]}); the store stays marked running")
    # No consolidated metadata: it is not part of the Zarr v3 specification (zarr warns), and
    # zarr's consolidation refuses a hierarchy holding non-Zarr objects such as the markers.
    # Readers open the store without it (``open_result``); ``sweep_status`` is what they check.
    set_status(plan.store, STATUS_COMPLETE, **extra_attrs, sweep_finished=provenance.now())
    if isinstance(plan.store, StoreURL):   # a creation killed after its root was written
        objects.delete(plan.store, [CREATING])


def _missing_chunks(ds: xr.Dataset, done: dict[str, dict]) -> list[str]:
    """Names of the chunks (from the store's chunk shape) that have no marker."""
    import itertools

    shape = [ds.sizes[d] for d in ds[next(iter(ds.data_vars))].dims] if ds.data_vars else []
    chunks = ds.attrs.get("sweep_chunk_shape") or shape
    blocks = [range(-(-n // c)) for n, c in zip(shape, chunks, strict=False)]
    return [".".join(map(str, i)) for i in itertools.product(*blocks)
            if ".".join(map(str, i)) not in done]


def _in_order(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its variables in an order that does not depend on how the store lists
    its arrays (a folder's listing order, an object store's concurrent reads): a small
    result's as it was built (per output: count ... fractions), a grid's outputs as the
    file names them; coordinates by dim, then by name."""
    order = [v for v in ds.attrs.get("sweep_variables", []) if v in ds.data_vars]
    if not order:
        try:
            named = json.loads(ds.attrs.get("sweep_config", "{}")).get("outputs", [])
        except (ValueError, AttributeError):
            named = []
        order = [v for v in named if v in ds.data_vars]
    order += sorted(v for v in ds.data_vars if v not in order)
    dims = [d for d in ds.dims if d in ds.coords]
    coords = dims + sorted(c for c in ds.coords if c not in dims)
    # every coordinate kept, those no variable uses too (a histogram's edges)
    out = xr.Dataset({v: ds[v].variable for v in order},
                     coords={c: ds[c].variable for c in coords}, attrs=ds.attrs)
    out.encoding = dict(ds.encoding)
    out.set_close(getattr(ds, "_close", None))   # `with open_result(...)` still closes it
    return out


def open_result(path: str | Path | StoreURL, **kwargs: Any) -> xr.Dataset:
    """Open a store written by ``sweep run`` as an xarray Dataset (lazy, Dask-backed):
    a local path or a store URL (``s3://bucket/prefix/name.zarr``).

    Warns with :class:`IncompleteStoreWarning`, naming how many chunks are missing, when the
    run that wrote it did not finish.
    """
    path = parse(path)
    if not is_store(path):
        raise StoreError(f"{path} is not a Zarr store (no zarr.json)")
    try:
        ds = xr.open_zarr(zarr_target(path, read_only=True), consolidated=False, **kwargs)
    except (KeyError, ValueError) as exc:
        raise StoreError(f"{path} cannot be opened as an xarray Dataset: {exc}") from exc
    status = ds.attrs.get("sweep_status")
    if status is None:
        raise StoreError(f"{path} was not written by token-sweep (no sweep_status attribute)")
    ds = _in_order(ds)
    if status != STATUS_COMPLETE:
        total = int(ds.attrs.get("sweep_n_chunks", 0))
        done = read_markers(path)
        missing = _missing_chunks(ds, done)
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        warnings.warn(
            f"{path} is INCOMPLETE (status {status!r}): {total - len(done)} of {total} chunk(s) "
            f"have no completion marker and read as NaN (missing: {shown or '-'}); "
            "finish it with `sweep run FILE --resume` or `sweep repair STORE`",
            IncompleteStoreWarning,
            stacklevel=2,
        )
    return ds
