"""Checking a store against its completion ledger (``sweep verify``), and repairing it.

Every chunk task writes its data, then a marker holding a digest of each output's values
(``sweep.storage.store.write_chunk``). Verifying reads every chunk back and compares: a chunk with
no marker, a marker whose chunk file is gone (Zarr would read it as NaN without a word), a
chunk that cannot be decoded (torn by a killed write) and a chunk whose values no longer
match their digest (a flipped byte) are each reported with the variable and the chunk.
Repairing (:mod:`sweep.engine.repair`) recomputes exactly the chunks verify flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np
import zarr

from sweep.planning.planner import ChunkKey, Plan, make_plan
from sweep.spec.config import stored_spec
from sweep.storage import objects
from sweep.storage import store as zstore
from sweep.storage.location import StoreURL, parse

MISSING_MARKER = "missing marker"
STALE_MARKER = "marker from another config"
MISSING_CHUNK = "missing chunk"
TORN_CHUNK = "torn chunk"
DIGEST_MISMATCH = "digest mismatch"
DAMAGED_MARKER = "damaged marker"
MISSING_ARRAY = "missing array"
BAD_COORDINATE = "coordinate differs from the sweep"
#: The ``chunk`` of findings about the store as a whole (arrays, coordinates).
WHOLE_STORE = "*"


@dataclass(frozen=True)
class Finding:
    """One problem with one chunk (of one variable, where it is about the data)."""

    chunk: str
    problem: str
    variable: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"chunk {self.chunk}" + (f" of {self.variable}" if self.variable else "")
        return f"{where}: {self.problem}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class VerifyReport:
    """What :func:`verify_store` found."""

    store: Path | StoreURL
    status: str
    n_chunks: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No finding (the status may still be ``running`` when no run finished it)."""
        return not self.findings

    @property
    def flagged(self) -> list[str]:
        """Names of the chunks with at least one finding, sorted (not the whole-store ones)."""
        return sorted({f.chunk for f in self.findings if f.chunk != WHOLE_STORE})

    @property
    def structural(self) -> list[Finding]:
        """Findings about the store as a whole: missing arrays, wrong coordinates."""
        return [f for f in self.findings if f.chunk == WHOLE_STORE]

    def describe(self) -> str:
        """The report in words."""
        head = (f"{self.store}: status {self.status}, {self.n_chunks} chunk(s), "
                f"{len(self.flagged)} flagged")
        return "\n".join([head, *(f"  {f}" for f in self.findings)])


def plan_of_store(store: str | Path, attrs: dict | None = None) -> Plan:
    """The plan a store was written from, rebuilt from its ``sweep_spec`` attribute.

    Raises :class:`~sweep.storage.store.StoreError` when the rebuilt plan does not have the store's
    config hash (a store written by another version of the engine, or edited attributes).
    """
    store = parse(store)
    attrs = attrs if attrs is not None else zstore.store_attrs(store)
    try:
        spec = stored_spec(attrs["sweep_spec"], attrs.get("sweep_frontier_data"),
                           attrs.get("sweep_calibration_data"))
    except (KeyError, ValueError) as exc:
        raise zstore.StoreError(f"{store}: cannot rebuild its sweep from the stored spec: "
                                f"{exc}") from exc
    plan = make_plan(spec, store)
    if plan.config_hash != attrs.get("sweep_config_hash"):
        raise zstore.StoreError(
            f"{store}: the stored spec gives config hash {plan.config_hash[:16]}, the store says "
            f"{str(attrs.get('sweep_config_hash'))[:16]}; it was written by another version "
            "of token-sweep or its attributes were edited")
    return plan


def _check_chunk(plan: Plan, key: ChunkKey, marker: dict | None,
                 arrays: dict[str, zarr.Array]) -> list[Finding]:
    if marker is None:
        return [Finding(key.name, MISSING_MARKER)]
    if marker.get("config_hash") != plan.config_hash:
        return [Finding(key.name, STALE_MARKER)]
    if "self_digest" in marker and marker["self_digest"] != _marker_digest(marker):
        return [Finding(key.name, DAMAGED_MARKER, None,
                        "its content does not match its own digest")]
    where = (list(key.index), list(key.start), list(key.stop))
    if (marker.get("key"), marker.get("start"), marker.get("stop")) != where:
        return [Finding(key.name, DAMAGED_MARKER, None,
                        f"key/start/stop {marker.get('key')}/{marker.get('start')}/"
                        f"{marker.get('stop')}, the plan's {where[0]}/{where[1]}/{where[2]}")]
    found = []
    digests = marker.get("digest") or {}
    outputs = marker.get("outputs") or {}
    for name, array in arrays.items():
        expected = digests.get(name)
        if expected is None:
            found.append(Finding(key.name, MISSING_MARKER, name, "the marker has no digest"))
            continue
        chunk_key = f"{name}/{array.metadata.encode_chunk_key(key.index)}"
        if not zstore.chunk_exists(plan.store, chunk_key):
            # Zarr does not store a chunk that is all fill value (NaN): fine when the marker
            # says every value is NaN, otherwise the data is gone
            all_nan = outputs.get(name, {}).get("nan_count") == key.size
            if not (all_nan and zstore.digest(np.full(key.shape, np.nan, array.dtype))
                    == expected):
                found.append(Finding(key.name, MISSING_CHUNK, name,
                                     f"{chunk_key} does not exist"))
            continue
        try:
            values = array[key.slices]
        except Exception as exc:  # noqa: BLE001 - any decode failure is a torn chunk
            if objects.is_library_error(exc) or isinstance(exc, PermissionError):
                # the store did not answer: no finding about the chunk, which may be fine
                raise zstore.StoreError(f"{plan.store}: cannot read chunk {key.name} of "
                                        f"{name}: {objects.reason(exc, plan.store)}") from None
            found.append(Finding(key.name, TORN_CHUNK, name,
                                 f"cannot decode: {type(exc).__name__}: {exc}"[:200]))
            continue
        got = zstore.digest(values)
        if got != expected:
            found.append(Finding(key.name, DIGEST_MISMATCH, name,
                                 f"values give {got}, the marker says {expected}"))
            continue
        wrong = _wrong_stats(values, outputs.get(name))
        if wrong:
            found.append(Finding(key.name, DAMAGED_MARKER, name, wrong))
    return found


def _marker_digest(marker: dict) -> str | None:
    try:
        return zstore.marker_digest(marker)
    except (TypeError, ValueError):   # not JSON-able as written (a NaN, a bad type)
        return None


def _as_json(x: float) -> float | str:
    """As markers keep numbers (JSON has no infinities: they are strings)."""
    return x if np.isfinite(x) else ("inf" if x > 0 else "-inf")


def _wrong_stats(values: np.ndarray, stats: dict | None) -> str:
    """What the marker's NaN count and extremes say against the values read ("" when they
    agree): the summary and `sweep show` are built from them."""
    if stats is None:
        return "the marker has no NaN count or extremes"
    finite = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    nan_count = int(values.size - finite.size)
    lo = _as_json(float(finite.min())) if finite.size else None
    hi = _as_json(float(finite.max())) if finite.size else None
    got = {"nan_count": nan_count, "min": lo, "max": hi}
    bad = [f"{k} {stats.get(k)!r}, the values {v!r}" for k, v in got.items()
           if stats.get(k) != v]
    return "; ".join(bad)


def _check_coordinates(plan: Plan, group: zarr.Group) -> list[Finding]:
    """Each coordinate array (axis values, labels, inputs set by a categorical axis) against
    the sweep: Zarr would read a lost coordinate chunk as NaN without a word."""
    expected = zstore.template(plan, "", "").coords
    sampled = plan.sampled
    found = []
    for name, var in expected.items():
        if name in sampled:
            continue   # drawn once for all of them, chunk by chunk, below
        got = _read(group, name, slice(None), found)
        if got is None:
            continue
        want = np.asarray(var.values)
        if want.dtype.kind in "fiub":
            same = got.shape == want.shape and np.array_equal(
                got, want, equal_nan=want.dtype.kind == "f")
        else:
            same = got.shape == want.shape and [str(x) for x in got] == [str(x) for x in want]
        if not same:
            found.append(Finding(WHOLE_STORE, BAD_COORDINATE, name))
    if sampled:
        bad: set[str] = set()
        n, step = plan.shape[-1], plan.chunk_shape[-1]
        for start in range(0, n, step):
            for name, want in plan.sampled_table(start, min(start + step, n)).items():
                if name in bad:
                    continue
                got = _read(group, name, (..., slice(start, start + want.shape[-1])), found)
                if got is None:
                    bad.add(name)
                elif not np.array_equal(got, want, equal_nan=True):
                    bad.add(name)
                    found.append(Finding(WHOLE_STORE, BAD_COORDINATE, name))
    return found


def _read(group: zarr.Group, name: str, where: slice, found: list[Finding]):
    """``group[name][where]``, or None with a finding when it is missing or cannot be
    decoded (a torn coordinate chunk)."""
    try:
        return group[name][where]
    except KeyError:
        found.append(Finding(WHOLE_STORE, MISSING_ARRAY, name))
    except Exception as exc:  # noqa: BLE001 - a torn coordinate chunk
        found.append(Finding(WHOLE_STORE, BAD_COORDINATE, name,
                             f"cannot decode: {type(exc).__name__}"))
    return None


def verify_store(store: str | Path, *, progress: bool | None = None,
                 num_workers: int | None = None, executor=None,
                 callbacks: list | None = None) -> VerifyReport:
    """Check every chunk of ``store`` against its marker (see the module docstring).

    Reads every chunk in parallel on ``executor`` (default: ``threads``, ``num_workers`` of
    them; see :func:`sweep.executors.create_executor`), with a progress bar on terminals
    (``progress``) or ``callbacks``.
    """
    from sweep.executors import create_executor, tracker

    store = parse(store)
    attrs = zstore.store_attrs(store)
    mode = attrs.get("sweep_mode")
    if mode in ("reduce", "sensitivity", "morris"):
        what = "reduce-mode" if mode == "reduce" else mode
        raise zstore.StoreError(f"{store} is a {what} result, written whole at the end of "
                                "its run: it has no chunk ledger to verify")
    plan = plan_of_store(store, attrs)
    markers = zstore.read_markers(store)
    group = zarr.open_group(zstore.zarr_target(store, read_only=True), mode="r",
                            zarr_format=3)
    structural = _check_coordinates(plan, group)
    arrays = {}
    for name in plan.outputs:
        try:
            arrays[name] = group[name]
        except KeyError:
            structural.append(Finding(WHOLE_STORE, MISSING_ARRAY, name))
    if len(arrays) < len(plan.outputs):
        return VerifyReport(store=store, status=str(attrs.get("sweep_status")),
                            n_chunks=plan.n_chunks, findings=structural)
    keys = list(plan.keys())
    tasks = [dask.delayed(_check_chunk, pure=False)(plan, key, markers.get(key.name), arrays,
                                                    dask_key_name=f"verify-{key.name}")
             for key in keys]
    sizes = {f"verify-{key.name}": key.size for key in keys}
    executor = executor or create_executor(workers=num_workers)
    with tracker(f"verify {store.name}", sizes, progress, callbacks) as track:
        results = executor.compute(tasks, track)
    findings = structural + [f for chunk in results for f in chunk]
    return VerifyReport(store=store, status=str(attrs.get("sweep_status")),
                        n_chunks=len(keys), findings=findings)
