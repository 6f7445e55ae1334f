"""The sweep file: one pydantic model for YAML and TOML, its checks, and readable errors."""

from __future__ import annotations

import contextvars
import copy
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sweep.model import DEFAULT_OUTPUTS
from sweep.spec.distributions import Distribution, Integer, Number, _Strict
from sweep.spec.presets import (
    PresetError,
    calibration_distribution,
)
from sweep.spec.validation import Problem, _suggest, semantic_problems
from sweep.storage.location import StoreURL, redact
from sweep.storage.location import parse as parse_store

#: The folder of frontiers when a sweep file does not name one.
DEFAULT_FRONTIER_DIR = "frontiers"
#: The folder of the sweep file being validated (relative ``frontiers`` resolve there).
_BASE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("sweep_base", default=None)
#: Frontiers given with the file (a store's copy, by key), read instead of the folder's.
_GIVEN: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sweep_frontiers",
                                                                     default=None)


def _frontier_folder(given: str | None, base: Path | None) -> Path:
    """The folder of frontiers a file names (``given``, default ``frontiers``), relative to
    ``base`` (the sweep file's folder; None: the working directory)."""
    folder = Path(given or DEFAULT_FRONTIER_DIR)
    return base / folder if base is not None and not folder.is_absolute() else folder


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key repeated in one mapping (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode,
                                deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"duplicate key {key!r}",
                key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _mapping_without_duplicates)


class Linspace(_Strict):
    """``num`` evenly spaced values from ``start`` to ``stop``, both included."""

    start: Number
    stop: Number
    num: Integer = Field(ge=1)


class Geomspace(_Strict):
    """``num`` values evenly spaced on a log scale from ``start`` to ``stop`` (both > 0)."""

    start: Number
    stop: Number
    num: Integer = Field(ge=1)


class Arange(_Strict):
    """Values ``start, start + step, ...`` below ``stop`` (as ``numpy.arange``)."""

    start: Number
    stop: Number
    step: Number = Field(gt=0)


#: The axis kinds: numeric, then categorical.
NUMERIC_KINDS = ("values", "linspace", "geomspace", "arange")
CATEGORICAL_KINDS = ("labels", "presets", "models", "calibrations")


class AxisSpec(_Strict):
    """One axis: numeric (exactly one of ``values``, ``linspace``, ``geomspace``, ``arange``,
    named after the input it sweeps) or categorical (``labels`` with ``set``; or presets:
    ``presets`` (platforms, at a ``precision``), ``models`` (LLMs, at a ``weights`` format
    and a ``kv`` dtype) or ``calibrations``, each with an optional ``set`` that adds or
    overrides inputs)."""

    values: list[Number] | None = None
    linspace: Linspace | None = None
    geomspace: Geomspace | None = None
    arange: Arange | None = None
    labels: list[str] | None = None
    presets: list[str] | None = None
    precision: Literal["fp4", "fp8", "bf16"] | None = None
    models: list[str] | None = None
    weights: Literal["bf16", "fp8", "nvfp4", "mxfp4"] | None = None
    kv: Literal["bf16", "fp8"] | None = None
    calibrations: list[str] | None = None
    #: with ``labels``: per label the key of the measured frontier that gives its
    #: ``tokens_per_s_per_gpu`` and ``output_tokens_per_s_per_gpu``
    frontier: list[str] | None = None
    set: dict[str, list[Number]] | None = None

    @property
    def kinds(self) -> list[str]:
        """Which of the axis kinds are given."""
        return [k for k in (*NUMERIC_KINDS, *CATEGORICAL_KINDS) if getattr(self, k) is not None]

    @property
    def categorical(self) -> bool:
        """True for ``labels``, ``presets``, ``models`` and ``calibrations`` axes."""
        return any(getattr(self, k) is not None for k in CATEGORICAL_KINDS)

    @property
    def label_list(self) -> list[str]:
        """The labels of a categorical axis (empty for a numeric one)."""
        for k in CATEGORICAL_KINDS:
            if getattr(self, k) is not None:
                return list(getattr(self, k))
        return []


Scale = Literal["linear", "log"]


class HistogramSpec(_Strict):
    """Fixed-bin histograms of every output (reduce mode)."""

    bins: Integer = Field(default=256, ge=1, le=65536)
    #: ``log`` or ``linear`` for every output, or per output (``{output: scale}``); an
    #: output without one gets ``log`` where the model knows its values are positive,
    #: ``linear`` where they may be zero or negative, and for the others (derived outputs)
    #: ``log`` only where its given range, else the first pass, finds nothing <= 0
    scale: Scale | dict[str, Scale] | None = None
    #: per output ``[low, high]``; an output without one gets the extremes of a first pass
    #: over a subsampled grid (points outside land in the under/overflow bins, counted)
    range: dict[str, list[Number]] = Field(default_factory=dict)


class CompareSpec(_Strict):
    """Label pairs of a categorical axis to compare over every other dim (reduce mode)."""

    axis: str
    pairs: list[list[str]] = Field(min_length=1)
    output: str | None = None


class Limits(_Strict):
    """Bounds on one node at the optimum of ``best:`` (each inclusive; one or both)."""

    min: Number | None = None
    max: Number | None = None


class BestSpec(_Strict):
    """The best point over the folded dims, per kept coordinate: the lowest (``minimize``)
    or highest (``maximize``) value of one node among the points that meet every bound of
    ``subject_to`` (see :mod:`sweep.engine.best`)."""

    minimize: str | None = None
    maximize: str | None = None
    subject_to: dict[str, Limits] = Field(default_factory=dict)

    @property
    def objective(self) -> str:
        """The node optimized."""
        return self.minimize if self.minimize is not None else (self.maximize or "")

    @property
    def sense(self) -> str:
        """``"min"`` or ``"max"``."""
        return "min" if self.minimize is not None else "max"


class ReduceSpec(_Strict):
    """Reduce mode: statistics over the ``over`` dims instead of a stored grid."""

    over: list[str] = Field(min_length=1)
    histogram: HistogramSpec | None = None
    quantiles: list[Number] = Field(default_factory=list)
    below: dict[str, list[Number]] = Field(default_factory=dict)
    above: dict[str, list[Number]] = Field(default_factory=dict)
    weights: dict[str, list[Number]] = Field(default_factory=dict)
    compare: CompareSpec | None = None
    question: str | None = None
    best: BestSpec | None = None


class SampleSpec(_Strict):
    """Sample mode: how the ``distributions`` are sampled (see :mod:`sweep.planning.sampling`)."""

    method: Literal["mc", "lhs", "sobol", "saltelli"] = "sobol"
    #: samples; for ``saltelli`` the base samples N (N * (D + 2) model evaluations)
    n: Integer
    seed: Integer = 0
    #: samples per chunk (``None``: the engine chooses)
    chunk: Integer | None = None


class InputDecl(_Strict):
    """A new input declared by the sweep file (``inputs:``), bound like any other."""

    unit: str = Field(default="1", max_length=100)
    description: str = Field(default="", max_length=500)
    #: ``None``: the input must be set (constant, axis or distribution) where it is needed
    default: Number | None = None
    low: Number
    high: Number
    integer: StrictBool = False


class DerivedDecl(_Strict):
    """An output the sweep file defines by an expression (``derived:``): compiled into the
    same kernels as the model's own (see :mod:`sweep.model.expr` for what ``expr`` allows)."""

    expr: str
    #: default: the replaced node's unit, else ``1``
    unit: str | None = Field(default=None, max_length=100)
    #: default: the replaced node's long name, else the derived name
    long_name: str | None = Field(default=None, max_length=500)
    #: replace the model's node of that name (inside ``expr`` the name is the original)
    replace: StrictBool = False


class SweepSpec(_Strict):
    """A validated sweep file (see the README's sweep-file reference)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=200)
    #: at least one axis, except in sample mode (checked in sweep.spec.validation)
    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    constants: dict[str, Number] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTPUTS), min_length=1)
    dtype: Literal["float64", "float32"] = "float64"
    chunks: Literal["auto"] | dict[str, Integer] = "auto"
    backend: Literal["auto", "numpy", "numba", "cuda", "cupy"] = "auto"
    codec: Literal["zstd", "zstd-bitshuffle", "lz4", "none"] = "zstd"
    store: str | None = None
    notes: list[str] = Field(default_factory=list)
    headline: dict[str, Number] = Field(default_factory=dict)
    reduce: ReduceSpec | None = None
    #: per input, the distribution it is sampled from (sample mode)
    distributions: dict[str, Distribution] = Field(default_factory=dict)
    sample: SampleSpec | None = None
    #: the file's own inputs and derived outputs, compiled into the kernels
    inputs: dict[str, InputDecl] = Field(default_factory=dict)
    derived: dict[str, DerivedDecl] = Field(default_factory=dict)
    #: the folder of measured frontiers (``sweep frontier import``) and of fitted
    #: calibrations (``sweep calibrate``); relative paths are relative to the sweep file
    frontiers: str | None = Field(default=None, max_length=1000)

    #: the frontiers the file's frontier axis names, by key (read while validating)
    _frontiers: dict = PrivateAttr(default_factory=dict)
    #: what planning derives from the file, once (see :meth:`memo`: the frontiers' fitted
    #: interpolation tables)
    _tables: dict = PrivateAttr(default_factory=dict)
    #: where ``frontiers`` is relative to (the sweep file's folder; None: the working one)
    _base: Path | None = PrivateAttr(default=None)
    #: the fitted calibrations the file's calibration axes name, by label, as in their
    #: files (read while validating)
    _fitted: dict = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # the file's content: where it was read from (and the frontiers read) aside
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None   # mutable, as every pydantic model

    @field_validator("store")
    @classmethod
    def _store_place(cls, value: str | None) -> str | None:
        if value is not None:
            parse_store(value)   # a ValueError saying what was expected, for this field
        return value

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        self._base = _BASE.get()
        problems = self._load_frontiers()
        labels = [lab for a in self.axes.values() for lab in (a.calibrations or [])]
        if labels:
            from sweep.spec.presets import user_calibration_entries

            self._fitted = user_calibration_entries(self.frontier_dir(), labels)
        problems += list(semantic_problems(self))
        if problems:
            raise PydanticCustomError(
                "sweep_semantics",
                "{count} problem(s) in the sweep",
                {"count": len(problems), "problems": problems},
            )
        return self

    def frontier_dir(self) -> Path:
        """The folder of measured frontiers and fitted calibrations: ``frontiers`` (default
        ``frontiers``), relative to the sweep file's folder."""
        return _frontier_folder(self.frontiers, self._base)

    def _load_frontiers(self) -> list[Problem]:
        from sweep.frontiers.front import FrontierError, from_json, load

        out: list[Problem] = []
        self._frontiers, self._tables = {}, {}
        given = _GIVEN.get() or {}
        for name, axis in self.axes.items():
            for i, key in enumerate(axis.frontier or []):
                if key in self._frontiers:
                    continue
                try:
                    self._frontiers[key] = (from_json(given[key], f"the stored {key}")
                                            if key in given else
                                            load(self.frontier_dir(), key))
                except FrontierError as exc:
                    out.append(Problem(f"axes.{name}.frontier[{i}]", key,
                                       f"a frontier in {self.frontiers or DEFAULT_FRONTIER_DIR}/"
                                       f" ({exc})"))
        return out

    @property
    def frontier_points(self) -> int:
        """The most points of any frontier the file reads (0: it reads none; 1 while
        checking a file whose frontiers could not be read, so that its other problems are
        checked against the nodes a frontier gives)."""
        if any(a.frontier for a in self.axes.values()):
            return max((len(f.points) for f in self._frontiers.values()), default=1)
        return 0

    def calibration_data(self) -> dict:
        """The fitted calibrations (``sweep calibrate``) the file's calibration axes name,
        by label, as in their files (a store keeps this copy too)."""
        return dict(self._fitted)

    def calibration_table(self) -> dict:
        """The shipped calibrations and the fitted ones the file names."""
        from sweep.spec.presets import calibration_from_entry, load_calibrations

        return {**{k: calibration_from_entry(k, e) for k, e in self._fitted.items()},
                **load_calibrations()}

    def frontier_data(self) -> dict:
        """The frontiers the file reads, by key, as written in a folder of frontiers (a
        store keeps this copy, so that it can be verified and repaired without the
        folder)."""
        return {k: f.to_json() for k, f in self._frontiers.items()}

    @property
    def reads_frontiers(self) -> bool:
        """Whether the file's frontiers were read (a frontier axis, its files found)."""
        return bool(self._frontiers)

    def frontier(self, key: str):
        """The measured frontier ``key`` the file reads, as read while validating it (a
        :class:`sweep.frontiers.front.Frontier`)."""
        return self._frontiers[key]

    def memo(self, kind: str, key, make):
        """``make()``, computed once per spec and ``(kind, key)``: where planning keeps
        what it derives from the file (a frontier's fitted interpolation table)."""
        cache = self._tables.setdefault(kind, {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    @property
    def mode(self) -> str:
        """Which mode evaluates this file: ``reduce`` (a ``reduce`` section, over a grid or
        samples), ``sensitivity`` (``sample.method: saltelli``), ``sample`` (a stored sample
        grid: ``mc``, ``lhs``, ``sobol``) or ``materialize`` (a stored grid). Screening
        (``sweep sensitivity --morris``) is asked for on the command line."""
        if self.reduce is not None:
            return "reduce"
        if self.sample is not None:
            return "sensitivity" if self.sample.method == "saltelli" else "sample"
        return "materialize"

    def store_path(self, override: str | Path | StoreURL | None = None) -> Path | StoreURL:
        """Where the store goes: ``override`` if given (a ``--store``), else ``store`` (a
        path or a store URL), else ``results/<name>.zarr``."""
        if override is not None:
            return parse_store(override)
        return parse_store(self.store) if self.store else Path("results") / f"{self.name}.zarr"

    def wanted_nodes(self) -> list[str]:
        """The nodes the file asks for: its outputs, and ``best:``'s objective and
        constraints."""
        best = self.reduce.best if self.reduce is not None else None
        extra = [best.objective, *best.subject_to] if best is not None else []
        return [*self.outputs, *(n for n in extra if n not in self.outputs)]

    def read_inputs(self) -> set[str]:
        """The leaves the wanted nodes read (with what the file binds made leaves)."""
        from sweep.model import model_for

        model = model_for(self)
        known = set(model.formulas) | set(model.leaves)
        return {leaf for o in self.wanted_nodes() if o in known for leaf in model.needs(o)}


@dataclass(frozen=True)
class Axis:
    """An expanded axis: its coordinate (numbers or labels) and the inputs it sets.

    ``binds`` maps each input name to its float64 values along the axis.
    """

    name: str
    coord: np.ndarray
    binds: dict[str, np.ndarray]
    #: per label, the key of the measured frontier it reads (empty: none)
    frontier: tuple[str, ...] = ()

    @property
    def shown_binds(self) -> list[str]:
        """The inputs the axis sets, without the engine's own (names starting with ``_``,
        such as a frontier's interpolation tables)."""
        return [n for n in self.binds if not n.startswith("_")]

    @property
    def categorical(self) -> bool:
        """True when the coordinate holds string labels."""
        return self.coord.dtype.kind in "OUST"

    def __len__(self) -> int:
        return int(self.coord.shape[0])


def numeric_values(spec: AxisSpec) -> np.ndarray:
    """A numeric axis's values (float64), from ``values``, ``linspace``, ``geomspace`` or
    ``arange``."""
    if spec.values is not None:
        return np.asarray(spec.values, dtype=np.float64)
    if spec.linspace is not None:
        s = spec.linspace
        return np.linspace(s.start, s.stop, s.num, dtype=np.float64)
    if spec.geomspace is not None:
        s = spec.geomspace
        return np.geomspace(s.start, s.stop, s.num, dtype=np.float64)
    assert spec.arange is not None
    s = spec.arange
    return np.arange(s.start, s.stop, s.step, dtype=np.float64)


#: Axis keys added after stores were written: left out of a config's identity when unused.
NEW_AXIS_KEYS = ("models", "weights", "kv", "calibrations", "frontier")
#: Distribution keys added after stores were written (per-label and relative distributions).
NEW_DISTRIBUTION_KEYS = ("relative", "per")


def drop_unused_keys(spec: dict) -> dict:
    """``spec`` (a sweep file's JSON dump) without the keys added after stores were written,
    where they are unused (so that those stores keep their identity)."""
    for key in NEW_AXIS_KEYS:
        for axis in spec.get("axes", {}).values():
            if axis.get(key) is None:
                axis.pop(key, None)
    if spec.get("reduce") and spec["reduce"].get("best") is None:
        spec["reduce"].pop("best", None)
    if spec.get("frontiers") is None:
        spec.pop("frontiers", None)
    for dist in (spec.get("distributions") or {}).values():
        for key in NEW_DISTRIBUTION_KEYS:
            if dist.get(key) is None:
                dist.pop(key, None)
    return spec



# --------------------------------------------------------------------------- loading


class ConfigError(ValueError):
    """A sweep file that cannot be used; ``problems`` lists every reason at once."""

    def __init__(self, source: str | None, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = [p.render(source) for p in problems]
        super().__init__("\n".join(lines))


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


_MAPPINGS_OF_MODELS: dict[str, type[BaseModel]] = {"axes": AxisSpec,
                                                   "distributions": Distribution,
                                                   "inputs": InputDecl,
                                                   "derived": DerivedDecl}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of ``loc`` (for 'unknown key' hints)."""
    model: Any = SweepSpec
    i = 0
    while i < len(loc) - 1:
        key = loc[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        if key not in model.model_fields:
            return None
        ann = model.model_fields[key].annotation
        # dict[str, AxisSpec] and dict[str, Distribution] consume the next key too
        if key in _MAPPINGS_OF_MODELS and model is SweepSpec:
            model, i = _MAPPINGS_OF_MODELS[key], i + 2
            continue
        nested = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        if not nested:
            return None
        model, i = nested[0], i + 1
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    return None


def problems_from_validation_error(err: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into :class:`Problem` s with dotted paths."""
    out: list[Problem] = []
    for e in err.errors(include_url=False):
        if e["type"] == "sweep_semantics":
            out.extend(e["ctx"]["problems"])
            continue
        loc = tuple(e["loc"])
        # drop pydantic's union-branch tags such as 'literal['auto']' or 'dict[str,int]'
        loc = tuple(x for x in loc
                    if not (isinstance(x, str) and ("[" in x or x == "function-after")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            owner = _model_at(loc)
            allowed = ", ".join(owner.model_fields) if owner else ""
            name = loc[-1] if loc else ""
            msg = "a known key" + (f" ({allowed})" if allowed else "")
            if owner:
                msg += _suggest(str(name), list(owner.model_fields))
            out.append(Problem(_dotted(loc), name, msg))
            continue
        value = e.get("input")
        if loc == ("store",) and isinstance(value, str):
            value = redact(value)   # a URL's credentials are never repeated
        out.append(Problem(_dotted(loc), value, msg))
    # one problem per (path, expected): union branches can repeat themselves
    unique: dict[tuple[str, str], Problem] = {}
    for p in out:
        unique.setdefault((p.path, p.expected), p)
    return list(unique.values())


def parse_text(text: str, fmt: str, source: str | None = None) -> dict[str, Any]:
    """Parse YAML (``fmt='yaml'``) or TOML (``fmt='toml'``) text into a mapping."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.load(text, _UniqueKeyLoader)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        problem = Problem("", fmt.upper(), f"valid {fmt.upper()}: {exc}")
        raise ConfigError(source, [problem]) from exc
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("", type(data).__name__, "a mapping at the top level")])
    return data


#: Top-level keys with defaults: a bad value there can be dropped to check the rest.
_DEFAULTED = ("constants", "outputs", "dtype", "chunks", "backend", "codec", "store", "notes",
              "headline")


def _salvage(data: dict[str, Any], err: ValidationError) -> dict[str, Any] | None:
    """``data`` without the parts pydantic rejected, when they can be dropped without
    changing what the rest means: unknown keys, and bad values of top-level keys that have a
    default. ``None`` when some error is of another kind."""
    drops: list[tuple[Any, ...]] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            drops.append(loc)
        elif loc and loc[0] in _DEFAULTED:
            # a bad entry of a mapping (constants.x, chunks.x) goes alone; else the whole key
            keep = 2 if loc[0] in ("constants", "chunks") and len(loc) > 1 else 1
            drops.append(loc[:keep])
        else:
            return None
    pruned = copy.deepcopy(data)
    for loc in drops:
        node: Any = pruned
        for key in loc[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return pruned


def _expand_calibrations(data: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """``data`` with every ``distributions.X: {calibration: NAME}`` replaced by the
    distribution it stands for (see :func:`sweep.spec.presets.calibration_distribution`),
    and the problems of those that name no regime. The file's other entries are left for
    the validator."""
    dists = data.get("distributions")
    if not isinstance(dists, dict) or not any(
            isinstance(d, dict) and "calibration" in d for d in dists.values()):
        return data, []
    problems: list[Problem] = []
    out = dict(dists)
    given = data.get("frontiers")
    folder = _frontier_folder(given if isinstance(given, str) else None, _BASE.get())
    for name, d in dists.items():
        if not (isinstance(d, dict) and "calibration" in d):
            continue
        path = f"distributions.{name}"
        if len(d) != 1:
            problems.append(Problem(path, sorted(d), "calibration alone (it stands for the "
                                    "whole distribution)"))
            continue
        if not isinstance(d["calibration"], str):
            problems.append(Problem(f"{path}.calibration", d["calibration"],
                                    "the name of a calibration preset"))
            continue
        try:
            out[name] = calibration_distribution(str(name), d["calibration"], folder)
        except PresetError as exc:
            problems.append(Problem(exc.field, exc.value, exc.expected))
    return {**data, "distributions": out}, problems


def spec_from_dict(data: dict[str, Any], source: str | None = None,
                   base: str | Path | None = None) -> SweepSpec:
    """Validate a mapping into a :class:`SweepSpec`; raise :class:`ConfigError` listing every
    problem at once. ``base``: the folder relative paths of the file (``frontiers``) are
    relative to (default: the working directory).

    The model's own checks (ranges, bindings, outputs) run only on a structurally valid
    mapping; when the structural problems are unknown keys or bad values of keys that have
    defaults, the rest is checked without them, so that those problems are reported too.
    """
    token = _BASE.set(Path(base) if base is not None else None)
    try:
        return _validate(data, source)
    finally:
        _BASE.reset(token)


def _validate(data: dict[str, Any], source: str | None) -> SweepSpec:
    data, expanded = _expand_calibrations(data)
    if expanded:
        raise ConfigError(source, expanded)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as err:
        problems = problems_from_validation_error(err)
        pruned = _salvage(data, err)
        if pruned is not None:
            try:
                SweepSpec.model_validate(pruned)
            except ValidationError as again:
                seen = {p.path for p in problems}
                problems += [p for p in problems_from_validation_error(again)
                             if p.path not in seen]
        raise ConfigError(source, problems) from None


def stored_spec(spec_json: str, frontiers_json: str | None = None,
                calibrations_json: str | None = None) -> SweepSpec:
    """A sweep file as a store recorded it (``sweep_spec``), with the frontiers and fitted
    calibrations it read (``sweep_frontier_data``, ``sweep_calibration_data``) instead of
    a folder's. Raises pydantic's ``ValueError`` for a spec that no longer validates."""
    from sweep.spec.presets import GIVEN_CALIBRATIONS

    token = _GIVEN.set(json.loads(frontiers_json) if frontiers_json else None)
    cal = GIVEN_CALIBRATIONS.set(json.loads(calibrations_json) if calibrations_json else None)
    try:
        return SweepSpec.model_validate_json(spec_json)
    finally:
        _GIVEN.reset(token)
        GIVEN_CALIBRATIONS.reset(cal)


def load_config(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (``.yaml``/``.yml`` or ``.toml``).

    Raises
    ------
    ConfigError
        naming the file, the dotted field path, the bad value and what was expected, for
        every problem found. Nothing is written anywhere.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(str(p), [Problem("", p.suffix, "a .yaml, .yml or .toml file")])
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem("", str(p), f"a readable file ({exc.strerror})")
        raise ConfigError(str(p), [problem]) from None
    data = parse_text(text, "toml" if suffix == ".toml" else "yaml", str(p))
    return spec_from_dict(data, str(p), base=p.parent)
