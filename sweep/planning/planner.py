"""The plan of a sweep: shape, chunk keys aligned to Zarr chunks, sizes, and pre-flight checks."""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sweep._version import __version__
from sweep.chunks import ChunkInputs, ChunkKey, fill_inputs  # noqa: F401 - re-exported
from sweep.model import Model, model_for
from sweep.planning import preflight
from sweep.planning.preflight import (  # noqa: F401 - re-exported
    DEFAULT_MAX_CHUNKS,
    PlanError,
    defaults_line,
    human_bytes,
    nearest_existing,
)
from sweep.spec.config import Axis, SweepSpec, drop_unused_keys
from sweep.storage.location import StoreURL

#: Default target size of one Zarr chunk of one output variable.
DEFAULT_CHUNK_BYTES = 32 * 2**20
#: Smaller grids are still cut into about this many chunks (for parallel tasks), but no chunk
#: is made smaller than MIN_CHUNK_BYTES. Both are fixed numbers, not the machine's core
#: count, so that a sweep's chunking (part of its identity) is the same on every machine.
MIN_CHUNKS = 8
MIN_CHUNK_BYTES = 2**20


@dataclass(frozen=True)
class Plan:
    """Everything decided before computing: grid, chunking, sizes, identity."""

    spec: SweepSpec
    axes: tuple[Axis, ...]
    chunk_shape: tuple[int, ...]
    store: Path | StoreURL
    constants: dict[str, float] = field(default_factory=dict)
    #: a reduce plan's resolved folding (:func:`sweep.planning.folding.resolve_folding`)
    folding: object = field(default=None, compare=False, repr=False)

    # ---------------------------------------------------------------- sizes
    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names, in file order."""
        return tuple(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape."""
        return tuple(len(a) for a in self.axes)

    @property
    def n_points(self) -> int:
        """Number of grid points (a Python int: no overflow)."""
        return math.prod(self.shape)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Requested outputs, in file order."""
        return tuple(self.spec.outputs)

    @functools.cached_property
    def model(self) -> Model:
        """The model this sweep evaluates (the registered families and the file's own
        ``inputs`` and ``derived``)."""
        return model_for(self.spec)

    @property
    def defaults(self) -> dict[str, dict]:
        """The inputs left at their defaults (see :func:`defaults_used`)."""
        return defaults_used(self.spec, self.constants, self.model)

    @property
    def output_codes(self) -> np.ndarray:
        """Kernel codes of the requested outputs (indices into ``model.outputs``)."""
        return np.asarray([self.model.code(o) for o in self.outputs], dtype=np.int64)

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype."""
        return np.dtype(self.spec.dtype)

    @property
    def blocks(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-n // c) for n, c in zip(self.shape, self.chunk_shape, strict=True))

    @property
    def n_chunks(self) -> int:
        """Number of chunk keys (tasks)."""
        return math.prod(self.blocks)

    @property
    def bytes_per_chunk(self) -> int:
        """Uncompressed bytes of one full chunk of one output."""
        return math.prod(self.chunk_shape) * self.dtype.itemsize

    @property
    def bytes_total(self) -> int:
        """Uncompressed bytes of all outputs."""
        return self.n_points * self.dtype.itemsize * len(self.outputs)

    @property
    def coordinate_bytes(self) -> int:
        """Bytes of coordinates as large as a dim (sample mode's sampled inputs); grid axes'
        coordinates are negligible."""
        return 0

    # ---------------------------------------------------------------- keys
    def keys(self) -> Iterator[ChunkKey]:
        """Chunk keys in row-major order (lazily: a plan may have many)."""
        for index in itertools.product(*(range(b) for b in self.blocks)):
            start = tuple(i * c for i, c in zip(index, self.chunk_shape, strict=True))
            stop = tuple(min(s + c, n) for s, c, n in zip(start, self.chunk_shape, self.shape,
                                                           strict=True))
            yield ChunkKey(index, start, stop)

    @property
    def sampled(self) -> tuple[str, ...]:
        """The inputs drawn along a ``sample`` dim (sample mode); none for a grid."""
        return ()

    @property
    def by_label(self) -> tuple[int, ...]:
        """The dims some sampled input depends on (chunks one label wide along them; see
        :attr:`SamplePlan.by_label`); none for a grid."""
        return ()

    def _axis_values(self, key: ChunkKey) -> list[tuple[int, dict[str, np.ndarray]]]:
        return [(d, {name: values[key.start[d]:key.stop[d]]
                     for name, values in axis.binds.items()})
                for d, axis in enumerate(self.axes)]

    def chunk_inputs(self, key: ChunkKey) -> ChunkInputs:
        """The kernel inputs for ``key`` (see :class:`ChunkInputs`)."""
        return fill_inputs(self.constants, self._axis_values(key), key.shape, self.model)

    def point_inputs(self, pos: np.ndarray) -> ChunkInputs:
        """Kernel inputs of the points ``pos`` (rows of dim indices, all valid) laid along
        one dim: every leaf an axis sets gathered at the point's index, constants as they
        are, and in sample mode the point's drawn inputs."""
        pos = np.asarray(pos, dtype=np.int64).reshape(-1, len(self.shape))
        values: dict[str, np.ndarray] = {}
        for d, axis in enumerate(self.axes):
            for name, v in axis.binds.items():
                values[name] = np.asarray(v, dtype=np.float64)[pos[:, d]]
        if self.sampled:
            last = len(self.shape) - 1
            drawn = [self.sample_values(int(p[last]), int(p[last]) + 1, tuple(int(x) for x in p))
                     for p in pos]
            for name in self.sampled:
                values[name] = np.asarray([row[name][0] for row in drawn], dtype=np.float64)
        return fill_inputs(self.constants, [(0, values)], (len(pos),), self.model)

    # ---------------------------------------------------------------- identity
    @functools.cached_property
    def _normalized(self) -> dict:
        # where the store goes, which backend ran and how the summary reads do not change
        # the stored values
        spec = self.spec.model_dump(mode="json",
                                    exclude={"store", "backend", "notes", "headline"})
        # sections added after stores were written leave the hash alone when unused, so
        # that those stores still resume
        for key in ("distributions", "sample", "inputs", "derived"):
            if not spec.get(key):
                spec.pop(key, None)
        drop_unused_keys(spec)
        if spec.get("reduce") and spec["reduce"].get("histogram"):
            # the scale each output is binned on (what defines the result), written as the
            # one word it was before per-output scales where every output is on it
            scales = histogram_scales(self.spec, self.model)
            kinds = set(scales.values())
            spec["reduce"]["histogram"]["scale"] = kinds.pop() if len(kinds) == 1 \
                and "auto" not in kinds else scales
        axes = {}
        for a in self.axes:
            digest = hashlib.sha256()
            for name, values in sorted(a.binds.items()):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
            entry: dict = {"length": len(a), "binds_sha256": digest.hexdigest()}
            if a.categorical:   # small: labels and the values they set, spelled out
                entry["labels"] = [str(c) for c in a.coord]
                entry["binds"] = {k: v.tolist() for k, v in a.binds.items()}
            axes[a.name] = entry
        return {
            "spec": spec,
            "axes": axes,
            "constants": self.constants,
            "chunk_shape": list(self.chunk_shape),
            "engine_version": __version__,
        }

    def normalized(self) -> dict:
        """The normalized config (JSON-able, small even for long axes): the validated spec,
        per axis its length and a SHA-256 of the values it sets (the values themselves are
        the store's coordinates), the constants, the chunking and the engine version."""
        return copy.deepcopy(self._normalized)

    @functools.cached_property
    def config_hash(self) -> str:
        """SHA-256 of the normalized config: what defines the stored values."""
        blob = json.dumps(self._normalized, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    # ---------------------------------------------------------------- checks
    def check_disk(self, budget: int | None = None, points: int | None = None) -> None:
        """Refuse (before anything is written) when the uncompressed output of ``points``
        points (default: all) would not fit on the target's disk, or exceeds ``budget``
        bytes when one is given (see :func:`sweep.planning.preflight.disk`)."""
        whole = points is None or points == self.n_points
        points = self.n_points if points is None else points
        need = points * self.dtype.itemsize * len(self.outputs)
        what = (f"{human_bytes(need)} uncompressed ({points:,} points x {len(self.outputs)} "
                f"output(s) x {self.dtype.itemsize} B)")
        if whole and self.coordinate_bytes:
            need += self.coordinate_bytes
            what = (f"{human_bytes(need)} uncompressed ({points:,} points x "
                    f"{len(self.outputs)} output(s) x {self.dtype.itemsize} B, and "
                    f"{human_bytes(self.coordinate_bytes)} of sampled inputs)")
        preflight.disk(self.store, need, what, budget)   # (the budget only, on object stores)

    def check_chunk_count(self, cap: int | None = None) -> None:
        """Refuse plans of more than ``cap`` chunks (default :data:`DEFAULT_MAX_CHUNKS`)."""
        bigger = tuple(min(n, 2 * c) for n, c in zip(self.shape, self.chunk_shape, strict=True))
        preflight.chunk_count(self.n_chunks, cap, self.chunk_shape,
                              dict(zip(self.dims, bigger, strict=True)))

    def bytes_per_task(self) -> int:
        """Memory one chunk task holds: its output buffer (every output) and the kernel's
        float64 scratch rows (one per input, the length of the innermost axis)."""
        outputs = len(self.outputs) * math.prod(self.chunk_shape) * self.dtype.itemsize
        return outputs + (len(self.model.leaves) + 1) * self.chunk_shape[-1] * 8

    def check_memory(self, workers: int, fraction: float = 0.5) -> None:
        """Refuse (before anything is written) chunks whose tasks, ``workers`` at a time,
        would hold more than ``fraction`` of this machine's memory."""
        preflight.task_memory(self.bytes_per_task(), workers,
                              f"chunks of {self.chunk_shape}",
                              "use smaller `chunks` (or `chunks: auto`)", fraction)

    def grid_lines(self) -> list[str]:
        """The grid's dims and point count, as lines of :meth:`describe`."""
        return ["  dims        " + " x ".join(f"{d}={n}" for d, n in
                                          zip(self.dims, self.shape, strict=True)),
                f"  points      {self.n_points:,}"]

    def describe(self) -> str:
        """The plan in words, for ``sweep plan``."""
        lines = [
            f"sweep {self.spec.name!r}",
            *self.grid_lines(),
            f"  outputs     {', '.join(self.outputs)} ({self.spec.dtype})",
            f"  chunks      {self.chunk_shape} -> {self.n_chunks:,} chunk(s) of <= "
            f"{human_bytes(self.bytes_per_chunk)} per output",
            f"  size        {human_bytes(self.bytes_total)} uncompressed",
            f"  store       {self.store}",
            f"  backend     {self.spec.backend}",
            f"  config hash {self.config_hash[:16]}",
        ]
        for a in self.axes:
            if a.categorical:
                vals = ", ".join(map(str, a.coord))
                sets = ", ".join(a.shown_binds)
                if a.frontier:
                    from sweep.model.frontier import READS

                    sets += (", " if sets else "") + (
                        f"{' and '.join(READS)} from frontiers " + ", ".join(a.frontier))
                lines.append(f"  axis {a.name}: [{vals}] sets {sets}")
            elif a.name == SAMPLE_DIM and self.sampled:
                smp = self.spec.sample
                lines.append(f"  axis {a.name}: {len(a):,} samples ({smp.method}, seed "
                             f"{smp.seed}) of {', '.join(self.sampled)}")
            else:
                lines.append(f"  axis {a.name}: {len(a)} values in [{a.coord.min():g}, "
                             f"{a.coord.max():g}]")
        own = {k: v for k, v in self.constants.items()
               if k in self.spec.constants and k not in self.sampled}   # not a relative base
        if own:
            consts = ", ".join(f"{k}={v:g}" for k, v in own.items())
            lines.append(f"  inputs fixed {consts}")
        defaults = defaults_line(self.defaults)
        if defaults:
            lines.append(f"  {defaults}")
        from sweep.planning.axes import frontier_report

        report = frontier_report(self.spec)
        if report:
            lines.append(f"  frontiers   {report['points_outside']:,} of {report['points']:,} "
                         "point(s) outside the measured interactivity range (NaN)")
        return "\n".join(lines)


def auto_chunks(shape: tuple[int, ...], itemsize: int, fixed: dict[int, int] | None = None,
                target_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[int, ...]:
    """Chunk shape near ``target_bytes`` per output, filled from the innermost axis outward
    (so the innermost axis is contiguous and whole where it fits). ``fixed`` pins some axes."""
    fixed = fixed or {}
    budget = max(1, target_bytes // itemsize)
    for d, c in fixed.items():
        budget = max(1, budget // min(c, shape[d]))
    out = [0] * len(shape)
    for d in range(len(shape) - 1, -1, -1):
        if d in fixed:
            out[d] = min(fixed[d], shape[d])
            continue
        out[d] = max(1, min(shape[d], budget))
        budget = max(1, budget // out[d])
    return tuple(out)


def constants_for(spec: SweepSpec, axes: tuple[Axis, ...]) -> dict[str, float]:
    """The file's constants, plus the default of every input that no axis, constant or
    distribution sets."""
    bound = ({name for a in axes for name in a.binds} | set(spec.constants)
             | set(spec.distributions))
    constants = dict(spec.constants)
    model = model_for(spec)
    for name in defaulted_inputs(spec, model):
        if name not in bound:
            constants[name] = model.input_specs[name].default
    return constants


def defaults_used(spec: SweepSpec, constants: dict[str, float],
                  model: Model | None = None) -> dict[str, dict]:
    """The inputs ``constants`` holds that the file left at their defaults (neither a
    constant nor set by an axis or distribution): ``{name: {"value": v, "unit": u}}`` in
    model order. What every summary declares and every result's provenance records."""
    model = model or model_for(spec)
    specs = model.input_specs
    return {name: {"value": float(v), "unit": specs[name].unit if name in specs else ""}
            for name, v in constants.items() if name not in spec.constants}


def histogram_scales(spec: SweepSpec, model: Model) -> dict[str, str]:
    """Per output of a reduce with a histogram, the scale it is binned on: the file's
    (``histogram.scale``, for all or per output), else ``log`` where the model knows the
    output positive, ``linear`` where it may be zero or negative, else ``auto`` (decided
    at run time by the output's range: :func:`sweep.engine.reduce.histogram_ranges`)."""
    h = spec.reduce.histogram if spec.reduce is not None else None
    if h is None:
        return {}
    given = h.scale if isinstance(h.scale, dict) else {o: h.scale for o in spec.outputs
                                                       if h.scale is not None}
    out = {}
    for o in spec.outputs:
        sign = model.output_specs[o].sign if o in model.output_specs else ""
        if o in h.range and not h.range[o][0] > 0:
            sign = "signed"   # the file's own range reaches zero or below
        out[o] = given.get(o) or {"positive": "log", "signed": "linear"}.get(sign, "auto")
    return out


def defaulted_inputs(spec: SweepSpec, model: Model) -> list[str]:
    """The inputs with a default that a sweep records among its constants (in model
    order): every input of the families marked ``defaults_always`` (the cost family), the
    file's own, and every other input with a default that the requested outputs read, or
    that belongs to a family one of them comes from. (Recording more would change the
    config hash of files that never read them.)"""
    wanted = [o for o in (*spec.outputs, *_reduce_nodes(spec)) if o in model.formulas
              or o in model.leaves]
    read = {leaf for o in wanted for leaf in model.needs(o)}
    # a family whose formula computes a wanted node (not a derived output replacing it)
    families = [f for f in model.families
                if f.defaults_always or any(model.formulas.get(g.name) is g
                                            for g in f.formulas if g.name in wanted)]
    if getattr(spec, "frontier_points", 0):
        # a sweep that reads measured frontiers (new: no stored identity to keep) records
        # only the defaults it reads, not the roofline's it replaces
        families = [f for f in families if f.defaults_always]
    own = {i.name for f in families for i in f.inputs} | {i.name for i in model.extra_inputs}
    return [name for name, meta in model.input_specs.items()
            if meta.default is not None and (name in own or name in read)]


def _reduce_nodes(spec: SweepSpec) -> list[str]:
    """The nodes a reduce section reads besides the outputs (``best:``'s objective and
    constraints)."""
    best = spec.reduce.best if spec.reduce is not None else None
    if best is None:
        return []
    return [best.objective, *best.subject_to]


def make_plan(spec: SweepSpec, store: str | Path | None = None,
              target_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Plan:
    """Plan ``spec``: expand axes, choose chunks, fix the store path. Computes nothing.

    A sample-mode file (``mc``, ``lhs``, ``sobol``) becomes a :class:`SamplePlan`: its
    categorical axes, then a ``sample`` dim."""
    from sweep.planning.axes import resolved_axes

    axes = tuple(resolved_axes(spec))
    if spec.sample is not None:
        axes = (*axes, _sample_axis(spec))
    constants = constants_for(spec, axes)
    shape = tuple(len(a) for a in axes)
    fixed = {}
    if isinstance(spec.chunks, dict):
        names = [a.name for a in axes]
        fixed = {names.index(k): v for k, v in spec.chunks.items()}
    if spec.sample is not None and spec.sample.chunk:
        fixed[len(axes) - 1] = min(spec.sample.chunk, shape[-1])
    if spec.sample is not None:
        from sweep.planning.sampling import dependence, relative_problems

        problems = relative_problems(spec, axes)
        if problems:
            raise PlanError("\n".join(problems))
        names = [a.name for a in axes]
        for deps in dependence(spec, axes).values():
            fixed.update({names.index(d): 1 for d in deps})   # one label per chunk
    itemsize = np.dtype(spec.dtype).itemsize
    per_output = math.prod(shape) * itemsize
    target = min(target_chunk_bytes, max(MIN_CHUNK_BYTES, per_output // MIN_CHUNKS))
    chunk_shape = auto_chunks(shape, itemsize, fixed, target)
    path = spec.store_path(store)
    kind = SamplePlan if spec.sample is not None else Plan
    return kind(spec=spec, axes=axes, chunk_shape=chunk_shape, store=path, constants=constants)


# --------------------------------------------------------------------------- sample mode

#: The dim along which sample mode lays out its samples (after any categorical axes).
SAMPLE_DIM = "sample"
#: Most samples a stored or reduced sample-mode sweep may have (its index coordinate is
#: held in memory: 1 GiB at this size); `sweep sensitivity` streams any number.
MAX_GRID_SAMPLES = 2**27


def _sample_axis(spec: SweepSpec) -> Axis:
    s = spec.sample
    if s.method == "saltelli":
        raise PlanError("sample.method: 'saltelli' designs are for `sweep sensitivity` (Sobol' "
                        "indices); to store or reduce samples use method mc, lhs or sobol")
    if s.n > MAX_GRID_SAMPLES:
        raise PlanError(f"sample.n: {s.n:,}; at most 2**27 = {MAX_GRID_SAMPLES:,} samples "
                        "can be stored or reduced (the sample index is held in memory)")
    return Axis(name=SAMPLE_DIM, coord=np.arange(s.n, dtype=np.int64), binds={})


@dataclass(frozen=True)
class SamplePlan(Plan):
    """Sample mode (``mc``, ``lhs``, ``sobol``) as a grid: any categorical axes, then the
    ``sample`` dim. The sampled inputs vary along ``sample``; their values are drawn per
    chunk (:func:`sweep.planning.sampling.sample_block`), never held whole, and are the same in any
    chunking."""

    @property
    def sampled(self) -> tuple[str, ...]:
        """The inputs drawn from ``distributions``, in file order (never empty)."""
        return tuple(self.spec.distributions)

    @functools.cached_property
    def label_dims(self) -> dict[str, tuple[str, ...]]:
        """Per sampled input, the categorical dims its values depend on (a distribution
        given per label, or relative to each label's value); empty for most."""
        from sweep.planning.sampling import dependence

        return dependence(self.spec, self.axes)

    @property
    def by_label(self) -> tuple[int, ...]:
        """The dims (numbers) some sampled input depends on: chunks are one label wide
        along them, so that a chunk's samples are drawn from one label's distributions."""
        names = {d for deps in self.label_dims.values() for d in deps}
        return tuple(i for i, d in enumerate(self.dims) if d in names)

    def sampled_dims(self, name: str) -> tuple[str, ...]:
        """The dims of the stored coordinate of sampled input ``name``."""
        return (*self.label_dims.get(name, ()), SAMPLE_DIM)

    @property
    def coordinate_bytes(self) -> int:
        """The sampled inputs and the sample index, float64 / int64 along ``sample``."""
        sizes = dict(zip(self.dims, self.shape, strict=True))
        per = sum(math.prod(sizes[d] for d in self.label_dims.get(n, ())) for n in self.sampled)
        return (per + 1) * self.shape[-1] * 8

    @functools.cached_property
    def _normalized(self) -> dict:
        # the samples are NumPy's and SciPy's numbers: another version may draw others, so
        # a resume or repair under other versions is refused as another config
        import scipy

        return {**super()._normalized,
                "sampler_versions": {"numpy": np.__version__, "scipy": scipy.__version__}}

    def sample_values(self, start: int, stop: int, at: tuple[int, ...] | None = None,
                      u: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The sampled inputs of samples ``[start, stop)`` (float64, input units) at the
        grid position ``at`` (its indices on the categorical dims; needed where a
        distribution depends on the labels, see :attr:`label_dims`); ``u``: their uniforms
        when drawn already."""
        from sweep.planning.sampling import sample_block

        labels = None if at is None else {self.dims[d]: at[d] for d in self.by_label}
        return sample_block(self.spec, start, stop, labels, self.axes, u)

    def sampled_table(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Each sampled input over its stored dims (:meth:`sampled_dims`) for samples
        ``[start, stop)``: what the store keeps as its coordinates."""
        if not self.by_label:
            return self.sample_values(start, stop)
        from sweep.planning.sampling import sample_uniforms

        sizes = dict(zip(self.dims, self.shape, strict=True))
        out = {n: np.empty((*(sizes[d] for d in self.label_dims[n]), stop - start))
               for n in self.sampled}
        u = sample_uniforms(self.spec, start, stop)   # drawn once: the same for every label
        for combo in itertools.product(*(range(self.shape[d]) for d in self.by_label)):
            at = [0] * len(self.shape)
            for d, i in zip(self.by_label, combo, strict=True):
                at[d] = i
            for name, values in self.sample_values(start, stop, tuple(at), u).items():
                out[name][tuple(at[self.dims.index(d)] for d in self.label_dims[name])] = values
        return out

    def chunk_inputs(self, key: ChunkKey) -> ChunkInputs:
        last = len(self.axes) - 1
        if any(key.shape[d] != 1 for d in self.by_label):
            raise ValueError(f"chunk {key.name}: more than one label along a dim the "
                             "distributions depend on")
        drawn = self.sample_values(key.start[last], key.stop[last], key.start)
        return fill_inputs(self.constants, [*self._axis_values(key), (last, drawn)],
                           key.shape, self.model)
