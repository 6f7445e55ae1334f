"""Checks of a sweep file beyond its structure: ranges, bindings, outputs; every problem kept."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sweep.model import Model, default_model
from sweep.model.frontier import AT as FRONTIER_AT
from sweep.model.frontier import READS as FRONTIER_READS
from sweep.model.frontier import input_names as frontier_input_names
from sweep.model.user import bound_names, build, frontier_nodes
from sweep.spec.distributions import KINDS, Distribution, support, truncation
from sweep.spec.presets import (
    CALIBRATION_INPUTS,
    HARDWARE_INPUTS,
    MODEL_INPUTS,
    PRECISIONS,
    PRESET_INPUTS,
    damaged_calibrations,
    load_calibrations,
    load_models,
    load_presets,
)

#: Per preset axis kind, its table and what its labels are, in words.
_PRESET_TABLES = {
    "presets": lambda: (load_presets(), "a platform preset"),
    "models": lambda: (load_models(), "an LLM preset"),
    "calibrations": lambda: (load_calibrations(_FOLDER.get()), "a calibration preset"),
}

# The pydantic models live in sweep.spec.config, which calls these checks from its validator;
# they are typed `Any` here ("a sweep.spec.config.SweepSpec") to keep imports one-way.
SweepSpec = AxisSpec = Any

#: What a name of the engine's own (names starting with ``_``) gets, where a file names it.
ENGINE_NAME = ("a name of the model or of the file; names starting with _ are the engine's "
               "own (such as a frontier's interpolation tables)")

#: Refuse axes longer than this: a typo such as ``num: 1e9`` on one axis is caught early.
MAX_AXIS_LENGTH = 100_000_000

#: Latin hypercube designs are built whole (SciPy's cannot be fast-forwarded): at most this.
MAX_LHS_SAMPLES = 2**22
#: SciPy's Sobol' sequence (30 bits) has at most this many distinct points.
MAX_SOBOL_SAMPLES = 2**30
#: Seeds are used by NumPy's SeedSequence and SciPy's legacy ``seed=`` (32-bit).
MAX_SEED = 2**32 - 1
#: Tolerance on the sum of a discrete distribution's probabilities.
PROB_SUM_TOL = 1e-9


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a sweep file: where (dotted path), what was there, what was expected."""

    path: str
    value: Any
    expected: str

    def render(self, source: str | None = None) -> str:
        """``file: path: expected (got value)``."""
        where = f"{source}: " if source else ""
        path = self.path or "(top level)"
        return f"{where}{path}: {self.expected} (got {self.value!r})"


#: The model of the file being checked (its own inputs and derived outputs included): set by
#: :func:`semantic_problems` for the checks it calls.
_MODEL: ContextVar[Model | None] = ContextVar("sweep_model", default=None)


#: The folder of frontiers and fitted calibrations of the file being checked.
_FOLDER: ContextVar[Any] = ContextVar("sweep_folder", default=None)


def _model() -> Model:
    return _MODEL.get() or default_model()


def _inputs() -> dict:
    return _model().input_specs


def _bindable() -> dict:
    """Inputs and formula nodes: what the file may bind (see ``Model.bindable_specs``)."""
    return _model().bindable_specs


def _outputs() -> dict:
    return _model().output_specs


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s_/]+", str(text).lower()) if w]


def _suggest(name: str, choices: list[str]) -> str:
    """``; did you mean 'X'?``: the choice whose words include every word of ``name``
    (``H200`` -> ``HGX H200``), else the closest spelling, else nothing."""
    words = _words(name)
    whole = [c for c in choices if words and set(words) <= set(_words(c))]
    if whole:
        return f"; did you mean {min(whole, key=len)!r}?"
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_value(path: str, input_name: str, value: float) -> Problem | None:
    spec = _bindable()[input_name]
    if spec.accepts(value):
        return None
    return Problem(path, value, f"{input_name} must be {spec.expected()}")


_AXIS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _axis_problems(name: str, spec: AxisSpec, needed: set[str]) -> list[Problem]:
    base = f"axes.{name}"
    head = _axis_head_problems(base, name, spec)
    if head:
        return head
    kind = spec.kinds[0]
    if not spec.categorical:
        return _numeric_axis_spec_problems(base, name, kind, spec)
    return _categorical_axis_problems(base, name, kind, spec, needed)


def _axis_head_problems(base: str, name: str, spec: AxisSpec) -> list[Problem]:
    """The first problem of an axis's name or kind, which makes its other checks moot."""
    if not _AXIS_NAME.match(name):
        return [Problem(base, name, "an axis name of letters, digits and _, starting with "
                        "a letter (it names a dimension and a Zarr array)")]
    if name in _outputs() and spec.categorical:
        return [Problem(base, name, "an axis name that is not an output name (the output "
                        "is stored under that name)")]
    kinds = spec.kinds
    if len(kinds) != 1:
        return [Problem(base, kinds or "no values",
                        "exactly one of values, linspace, geomspace, arange, labels, "
                        "presets, models, calibrations")]
    return []


def _numeric_axis_spec_problems(base: str, name: str, kind: str,
                                spec: AxisSpec) -> list[Problem]:
    """A numeric axis: no categorical fields, named after a bindable input, valid values."""
    out: list[Problem] = []
    if spec.set is not None:
        out.append(Problem(f"{base}.set", spec.set,
                           "no 'set' on a numeric axis: 'set' belongs to labels/presets axes"))
    out.extend(_format_problems(base, spec))
    if name not in _bindable():
        inputs = list(_inputs())
        out.append(Problem(base, name, "a numeric axis named after the input it sweeps, one of "
                           + ", ".join(inputs) + _suggest(name, inputs)))
        return out
    out.extend(_numeric_axis_problems(base, name, kind, spec))
    return out


def _categorical_axis_problems(base: str, name: str, kind: str, spec: AxisSpec,
                               needed: set[str]) -> list[Problem]:
    """A categorical axis: its name, fields, frontier keys, labels and ``set`` values; for a
    presets axis with none of these problems, its precision against what ``needed`` reads."""
    out: list[Problem] = []
    if name in _bindable():
        out.append(Problem(base, name, "a categorical axis name that is not an input name "
                           "(e.g. 'platform'); put the input under 'set'"))
    labels = spec.label_list
    out.extend(_format_problems(base, spec))
    out.extend(_axis_frontier_problems(base, kind, spec, labels))
    if kind == "labels":
        if not spec.set and spec.frontier is None:
            out.append(Problem(f"{base}.set", spec.set,
                               "a labels axis sets at least one input: set: {input: [one value "
                               "per label]} (or reads a measured frontier per label: "
                               "frontier: [KEY, ...])"))
    else:
        out.extend(_preset_label_problems(base, kind, labels))
    out.extend(_label_problems(base, kind, labels))
    out.extend(_axis_set_problems(base, spec, labels))
    if kind == "presets" and not out:
        out.extend(_precision_problems(base, spec, labels, needed))
    return out


def _axis_frontier_problems(base: str, kind: str, spec: AxisSpec,
                            labels: list[str]) -> list[Problem]:
    """``frontier`` only on a labels axis, one key per label."""
    if spec.frontier is None:
        return []
    if kind != "labels":
        return [Problem(f"{base}.frontier", spec.frontier,
                        "'frontier' only beside 'labels' (one frontier key per label)")]
    if len(spec.frontier) != len(labels):
        return [Problem(f"{base}.frontier", spec.frontier,
                        f"{len(labels)} frontier keys, one per label")]
    return []


def _preset_label_problems(base: str, kind: str, labels: list[str]) -> list[Problem]:
    """Each label of a presets, models or calibrations axis names an entry of its table."""
    out: list[Problem] = []
    table, what = _PRESET_TABLES[kind]()
    damaged = damaged_calibrations(_FOLDER.get()) if kind == "calibrations" else {}
    for i, label in enumerate(labels):
        if label in damaged and label not in table:
            out.append(Problem(f"{base}.{kind}[{i}]", label, f"{what}; "
                               f"{damaged[label]}"))
        elif label not in table:
            out.append(Problem(f"{base}.{kind}[{i}]", label,
                               f"{what}, one of " + ", ".join(table)
                               + _suggest(label, list(table))))
    return out


def _label_problems(base: str, kind: str, labels: list[str]) -> list[Problem]:
    """At least one label; each non-empty and unique."""
    out: list[Problem] = []
    if not labels:
        out.append(Problem(f"{base}.{kind}", labels, "at least one label"))
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if not label.strip():
            out.append(Problem(f"{base}.{kind}[{i}]", label, "a non-empty label"))
        if label in seen:
            out.append(Problem(f"{base}.{kind}[{i}]", label, "unique labels (duplicate)"))
        seen.add(label)
    return out


def _axis_set_problems(base: str, spec: AxisSpec, labels: list[str]) -> list[Problem]:
    """Each input under ``set``: a bindable name, with one valid value per label."""
    out: list[Problem] = []
    for input_name, values in (spec.set or {}).items():
        path = f"{base}.set.{input_name}"
        if input_name.startswith("_"):
            out.append(Problem(path, input_name, ENGINE_NAME))
            continue
        if input_name not in _bindable():
            inputs = list(_inputs())
            out.append(Problem(path, input_name, "an input name, one of " + ", ".join(inputs)
                               + _suggest(input_name, inputs)))
            continue
        if len(values) != len(labels):
            out.append(Problem(path, values, f"{len(labels)} values, one per label"))
        for i, v in enumerate(values):
            p = _check_value(f"{path}[{i}]", input_name, v)
            if p:
                out.append(p)
    return out


def _precision_problems(base: str, spec: AxisSpec, labels: list[str],
                        needed: set[str]) -> list[Problem]:
    """A presets axis's precision gives every ``needed`` input the axis does not ``set``."""
    out: list[Problem] = []
    precision = spec.precision or "fp8"
    table = load_presets()
    for label in labels:
        values = {**table[label].inputs(precision), **table[label].hardware()}
        for input_name, value in values.items():
            if input_name in (spec.set or {}):
                continue
            if value is None and input_name in needed:
                out.append(Problem(f"{base}.precision", precision,
                                   f"a precision that preset {label!r} supports for "
                                   f"{input_name} (one of {', '.join(PRECISIONS)})"))
    return out


def _format_problems(base: str, spec: AxisSpec) -> list[Problem]:
    """``precision`` belongs to a presets axis, ``weights`` and ``kv`` to a models axis."""
    out = []
    for field, owner in (("precision", "presets"), ("weights", "models"), ("kv", "models")):
        if getattr(spec, field) is not None and getattr(spec, owner) is None:
            out.append(Problem(f"{base}.{field}", getattr(spec, field),
                               f"'{field}' only on a {owner} axis"))
    return out


def _numeric_axis_problems(base: str, name: str, kind: str, spec: AxisSpec) -> list[Problem]:
    out: list[Problem] = []
    if kind == "values":
        values = spec.values or []
        if not values:
            out.append(Problem(f"{base}.values", values, "at least one value"))
        seen: set[float] = set()
        for i, v in enumerate(values):
            p = _check_value(f"{base}.values[{i}]", name, v)
            if p:
                out.append(p)
            if v in seen:
                out.append(Problem(f"{base}.values[{i}]", v, "unique values (duplicate)"))
            seen.add(v)
        return out
    rng = getattr(spec, kind)
    path = f"{base}.{kind}"
    for field in ("start", "stop"):
        p = _check_value(f"{path}.{field}", name, getattr(rng, field))
        if p:
            out.append(p)
    if kind == "arange":
        if not rng.start < rng.stop:
            out.append(Problem(f"{path}.stop", rng.stop, f"stop > start ({rng.start:g})"))
        else:
            n = math.ceil((rng.stop - rng.start) / rng.step)
            if n > MAX_AXIS_LENGTH:
                out.append(Problem(f"{path}.step", rng.step,
                                   f"a step giving at most {MAX_AXIS_LENGTH} values (gives {n})"))
        return out
    if rng.num > MAX_AXIS_LENGTH:
        out.append(Problem(f"{path}.num", rng.num, f"at most {MAX_AXIS_LENGTH} values"))
    if rng.num > 1 and not rng.start < rng.stop:
        out.append(Problem(f"{path}.stop", rng.stop, f"stop > start ({rng.start:g})"))
    if rng.num == 1 and rng.start != rng.stop:
        out.append(Problem(f"{path}.num", rng.num, "num > 1 when start != stop"))
    if kind == "geomspace":
        for field in ("start", "stop"):
            v = getattr(rng, field)
            if not v > 0:
                out.append(Problem(f"{path}.{field}", v,
                                   "a value > 0 (a log-spaced axis cannot reach or cross zero)"))
    return out


def _not_an_input(path: str, name: str) -> Problem:
    inputs = list(_inputs())
    return Problem(path, name, "an input name, one of " + ", ".join(inputs)
                   + _suggest(name, inputs))


def semantic_problems(spec: SweepSpec) -> list[Problem]:
    """Every problem of a structurally valid sweep file, checked against its own model."""
    extra_inputs, extra_formulas = frontier_nodes(spec)
    model, model_problems = build(spec.inputs, spec.derived, bound_names(spec),
                                  extra_formulas, extra_inputs)
    token = _MODEL.set(model)
    folder = _FOLDER.set(spec.frontier_dir())
    try:
        return [Problem(p.path, p.value, p.expected) for p in model_problems] + \
            _semantic_problems(spec)
    finally:
        _MODEL.reset(token)
        _FOLDER.reset(folder)


def _semantic_problems(spec: SweepSpec) -> list[Problem]:
    bound_at: dict[str, str] = {}
    out = _axes_binding_problems(spec, bound_at)
    out.extend(_constant_problems(spec, bound_at))
    out.extend(_distribution_entry_problems(spec, bound_at))
    out.extend(_frontier_problems(spec, bound_at))
    out.extend(_output_problems(spec, bound_at))
    out.extend(_headline_problems(spec))
    out.extend(_chunk_problems(spec))
    if spec.reduce is not None:
        out.extend(_reduce_problems(spec))
    out.extend(_mode_problems(spec))
    return out


def _bind(bound_at: dict[str, str], input_name: str, where: str) -> list[Problem]:
    """Record in ``bound_at`` that ``where`` sets ``input_name``; a problem if it is set
    already."""
    if input_name in bound_at:
        return [Problem(where, input_name,
                        f"each input bound once; {input_name} is already set by "
                        f"{bound_at[input_name]}")]
    bound_at[input_name] = where
    return []


def _axes_binding_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """Each axis's problems, and the inputs each axis sets bound (in ``bound_at``)."""
    out: list[Problem] = []
    needed = {n for o in spec.wanted_nodes() if o in _outputs() for n in _outputs()[o].needs}
    order = list(_bindable())
    for name, axis in spec.axes.items():
        out.extend(_axis_problems(name, axis, needed))
        # bind what the axis sets even when it has problems, so that no false "input not
        # set" follows from them
        if axis.categorical:
            names = _names_set_by(spec, name, axis, needed)
            for input_name in sorted(names, key=order.index):
                out.extend(_bind(bound_at, input_name, f"axes.{name}"))
        elif name in _bindable():
            out.extend(_bind(bound_at, name, f"axes.{name}"))
    return out


def _names_set_by(spec: SweepSpec, name: str, axis: AxisSpec, needed: set[str]) -> set[str]:
    """The inputs a categorical axis sets: those under ``set``, its presets' (of the
    hardware inputs, the ``needed`` ones), and the first frontier axis's tables."""
    names = {n for n in (axis.set or {}) if n in _bindable()}
    if axis.presets is not None:
        names |= set(PRESET_INPUTS) | (set(HARDWARE_INPUTS) & needed)
    elif axis.models is not None:
        names |= set(MODEL_INPUTS)
    elif axis.calibrations is not None:
        names |= set(CALIBRATION_INPUTS)
    first = next(n for n, a in spec.axes.items() if a.frontier is not None) \
        if axis.frontier is not None else None
    if first == name and spec.frontier_points:   # a second one is refused alone
        names |= set(frontier_input_names(spec.frontier_points))
    return names


def _constant_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """Each constant: a bindable name with a valid value, bound (in ``bound_at``)."""
    out: list[Problem] = []
    for name, value in spec.constants.items():
        path = f"constants.{name}"
        if name.startswith("_"):
            out.append(Problem(path, name, ENGINE_NAME))
            continue
        if name not in _bindable():
            out.append(_not_an_input(path, name))
            continue
        p = _check_value(path, name, value)
        if p:
            out.append(p)
        out.extend(_bind(bound_at, name, path))
    return out


def _distribution_entry_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """Each entry of ``distributions``: a bindable name, a valid distribution, bound (in
    ``bound_at``) unless it is a ``relative`` factor on a value set elsewhere."""
    out: list[Problem] = []
    for name, dist in spec.distributions.items():
        path = f"distributions.{name}"
        if name.startswith("_"):
            out.append(Problem(path, name, ENGINE_NAME))
            continue
        if name not in _bindable():
            out.append(_not_an_input(path, name))
            continue
        out.extend(_per_label_problems(spec, name, dist, bound_at))
        if dist.relative is not None:
            continue   # a factor on the value set elsewhere (checked above)
        if name in bound_at:
            out.append(Problem(path, name,
                               f"an input set in one place only; {name} is already set by "
                               f"{bound_at[name]} (remove one of the two; or make the "
                               "distribution a factor on it: {relative: {...}})"))
        else:
            bound_at[name] = path
    return out


def _output_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """Each output: a unique output name the file does not set itself; then the inputs
    without a default that the outputs and ``best:`` need, and nothing sets."""
    out: list[Problem] = []
    outputs = list(_outputs())
    seen: set[str] = set()
    missing: dict[str, list[tuple[int, str]]] = {}
    for i, name in enumerate(spec.outputs):
        path = f"outputs[{i}]"
        if name.startswith("_"):
            out.append(Problem(path, name, ENGINE_NAME))
            continue
        if name not in _outputs():
            out.append(Problem(path, name, "an output name, one of " + ", ".join(outputs)
                               + _suggest(name, outputs)))
            continue
        if name in seen:
            out.append(Problem(path, name, "unique outputs (duplicate)"))
        seen.add(name)
        if name in bound_at:
            out.append(Problem(path, name, f"an output the file does not set itself; {name} "
                               f"is given by {bound_at[name]} (its formula is skipped)"))
            continue
        for needed in _outputs()[name].needs:
            if _bindable()[needed].default is None and needed not in bound_at:
                missing.setdefault(needed, []).append((i, name))
    out.extend(_best_input_problems(spec, bound_at))
    out.extend(_missing_problems(missing, spec.sample is not None))
    return out


def _best_input_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """The objective and constraints of ``best:`` computed from inputs that are set (or
    have a default)."""
    best = spec.reduce.best if spec.reduce is not None else None
    if best is None:
        return []
    out: list[Problem] = []
    objective = "reduce.best." + ("minimize" if best.minimize is not None else "maximize")
    for name, path in [(best.objective, objective),
                       *((n, f"reduce.best.subject_to.{n}") for n in best.subject_to)]:
        if name not in _model().formulas or name in bound_at:
            continue
        unset = [leaf for leaf in _model().needs(name)
                 if _bindable()[leaf].default is None and leaf not in bound_at]
        if unset:
            out.append(Problem(path, name, "inputs it needs, set (they have no "
                               "default): " + ", ".join(unset)))
    return out


def _headline_problems(spec: SweepSpec) -> list[Problem]:
    """Each ``headline`` entry names a numeric axis."""
    out: list[Problem] = []
    for axis_name in spec.headline:
        path = f"headline.{axis_name}"
        axis = spec.axes.get(axis_name)
        if axis is None or axis.categorical:
            numeric = [n for n, a in spec.axes.items() if not a.categorical]
            out.append(Problem(path, axis_name, "a numeric axis name, one of "
                               + ", ".join(numeric) + _suggest(axis_name, numeric)))
    return out


def _chunk_problems(spec: SweepSpec) -> list[Problem]:
    """Per-axis ``chunks``: each an axis (or ``sample``) with a size >= 1."""
    out: list[Problem] = []
    if isinstance(spec.chunks, dict):
        dims = [*spec.axes, *(["sample"] if spec.sample is not None else [])]
        for axis_name, size in spec.chunks.items():
            path = f"chunks.{axis_name}"
            if axis_name not in dims:
                out.append(Problem(path, axis_name, "an axis name, one of "
                                   + ", ".join(dims) + _suggest(axis_name, dims)))
            elif size < 1:
                out.append(Problem(path, size, "a chunk size >= 1"))
    return out


def _frontier_problems(spec: SweepSpec, bound_at: dict[str, str]) -> list[Problem]:
    """A frontier axis reads its frontiers at ``tokens_per_s_per_user``, which the file must
    set, and gives the throughputs, which the file must not set itself; one such axis."""
    axes = [name for name, a in spec.axes.items() if a.frontier is not None]
    if not axes:
        return []
    out = []
    if len(axes) > 1:
        out.append(Problem(f"axes.{axes[1]}.frontier", axes[1],
                           f"one frontier axis per sweep file ({axes[0]} is one already)"))
    path = f"axes.{axes[0]}.frontier"
    if FRONTIER_AT not in bound_at:
        out.append(Problem(path, spec.axes[axes[0]].frontier,
                           f"{FRONTIER_AT} set too, as an axis or a constant: the target "
                           "interactivity (tokens/s per user) the frontiers are read at"))
    elif bound_at[FRONTIER_AT].startswith("axes.") and \
            spec.axes[bound_at[FRONTIER_AT].split(".")[1]].categorical:
        out.append(Problem(bound_at[FRONTIER_AT], FRONTIER_AT,
                           f"{FRONTIER_AT} as a numeric axis or a constant with a frontier "
                           "axis (not set per label)"))
    elif not all(v > 0 for v in _values_of(spec, FRONTIER_AT)):
        out.append(Problem(bound_at[FRONTIER_AT], FRONTIER_AT,
                           f"{FRONTIER_AT} > 0 with a frontier axis (the target "
                           "interactivity, tokens/s per user)"))
    elif FRONTIER_AT in spec.distributions:
        out.append(Problem(f"distributions.{FRONTIER_AT}", FRONTIER_AT,
                           f"{FRONTIER_AT} as an axis or a constant with a frontier axis "
                           "(points outside a frontier's range are counted per "
                           "interactivity)"))
    for node in FRONTIER_READS:
        if node in bound_at:
            out.append(Problem(bound_at[node], node,
                               f"{node} left to the frontier axis {axes[0]} (it reads it from "
                               "the measured frontiers)"))
        if node in spec.derived:
            out.append(Problem(f"derived.{node}", node,
                               f"no derived {node} with a frontier axis (the frontier gives "
                               "it)"))
    return out


def _values_of(spec: SweepSpec, name: str) -> list[float]:
    """The values a numeric axis or a constant gives ``name`` (empty otherwise)."""
    if name in spec.constants:
        return [float(spec.constants[name])]
    axis = spec.axes.get(name)
    if axis is None or axis.categorical:
        return []
    if axis.values is not None:
        return [float(v) for v in axis.values]
    rng = axis.linspace or axis.geomspace or axis.arange
    return [float(rng.start), float(rng.stop)]


def _missing_problems(missing: dict[str, list[tuple[int, str]]], sampled: bool
                      ) -> list[Problem]:
    """One problem per set of unset inputs (without a default) that the same outputs
    need, at the first of those outputs: each names every input of its set, and the
    computed nodes the file could give instead (``tokens_per_s_per_gpu`` for the
    throughput family's inputs)."""
    model = _model()
    groups: dict[tuple, list[str]] = {}
    for name, users in missing.items():
        groups.setdefault(tuple(users), []).append(name)
    where = ("as a constant, on a categorical axis or by a distribution" if sampled
             else "as a constant or on an axis")
    out = []
    for users, names in groups.items():
        i, first = users[0]
        outputs = [o for _, o in users]
        instead = [n for n in model.order(outputs) if n in model.input_specs
                   and set(names) & set(model.needs(n))]
        what = (f"an input it needs, {names[0]}, set {where} (it has no default)"
                if len(names) == 1 else
                f"the inputs it needs, set {where} (they have no default): "
                + ", ".join(names))
        if len(outputs) > 1:
            what = what.replace(" it needs", f" {', '.join(outputs)} need", 1)
        if instead:
            what += ("; or give " + " or ".join(instead)
                     + " itself (its formula is then skipped)")
        out.append(Problem(f"outputs[{i}]", first, what))
    return out


def _mode_problems(spec: SweepSpec) -> list[Problem]:
    """Grid mode needs an axis; sample mode needs distributions, no numeric axis, no reduce."""
    out: list[Problem] = []
    sample = spec.sample
    if sample is None:
        if not spec.axes:
            out.append(Problem("axes", spec.axes, "at least one axis (or, for sample mode, "
                               "`distributions` with a `sample` section)"))
        if spec.distributions:
            out.append(Problem("distributions", list(spec.distributions),
                               "a `sample` section too, e.g. sample: {method: sobol, n: 65536} "
                               "(distributions are drawn in sample mode only)"))
        return out
    if not spec.distributions:
        out.append(Problem("distributions", spec.distributions, "at least one input's "
                           "distribution, since a `sample` section is given, e.g. "
                           "distributions: {utilization: {uniform: {low: 0.3, high: 0.9}}}"))
    for name, axis in spec.axes.items():
        if not axis.categorical:
            hint = (f"give {name} a distribution instead, e.g. distributions: {{{name}: "
                    "{uniform: {low: ..., high: ...}}}" if name in _inputs() else
                    "use distributions for numeric inputs")
            out.append(Problem(f"axes.{name}", axis.kinds or name,
                               "only categorical axes (labels, presets) with `sample`: "
                               + hint))
    for name, role in (("sample", "the dim of the samples"),
                       ("input", "a dim of the sensitivity result"),
                       ("output", "a dim of the sensitivity result")):
        if name in spec.axes:
            out.append(Problem(f"axes.{name}", name, f"another name: in sample mode `{name}` "
                               f"is {role}"))
    if spec.reduce is not None:
        if sample.method == "saltelli":
            out.append(Problem("sample.method", "saltelli", "mc, lhs or sobol with `reduce` "
                               "(a saltelli design is for `sweep sensitivity`)"))
        if "sample" not in spec.reduce.over:
            out.append(Problem("reduce.over", list(spec.reduce.over), "a list that folds "
                               "`sample` (statistics over the samples), e.g. over: [sample]"))
        if "sample" in spec.reduce.weights:
            out.append(Problem("reduce.weights.sample", "sample", "no weights on samples "
                               "(each sample already has the probability of its draw)"))
    out.extend(_sample_problems(sample))
    return out


def _sample_problems(sample: Any) -> list[Problem]:
    """Checks of the ``sample`` section on its own."""
    out: list[Problem] = []
    method, n = sample.method, sample.n
    if method in ("sobol", "saltelli"):
        what = "base samples N" if method == "saltelli" else "samples"
        if n > MAX_SOBOL_SAMPLES:
            out.append(Problem("sample.n", n, f"at most 2**30 = {MAX_SOBOL_SAMPLES} {what} for "
                               f"method {method} (SciPy's Sobol' sequence ends there); use "
                               "method mc for more"))
        elif n < 2 or n & (n - 1):
            below = 2 ** (n.bit_length() - 1) if n > 2 else 2
            above = 2 ** n.bit_length() if n > 2 else 2
            near = str(below) if below == above else f"{below} or {above}"
            out.append(Problem("sample.n", n, f"a power of 2 (>= 2) of {what} for method "
                               f"{method} (its balance properties need it), e.g. {near}"))
    elif n < 2:
        out.append(Problem("sample.n", n, f"at least 2 samples for method {method}"))
    elif method == "lhs" and n > MAX_LHS_SAMPLES:
        out.append(Problem("sample.n", n, f"at most 2**22 = {MAX_LHS_SAMPLES} samples for method "
                           "lhs (a Latin hypercube is built whole, in memory); use method sobol "
                           "for more"))
    if not 0 <= sample.seed <= MAX_SEED:
        out.append(Problem("sample.seed", sample.seed, f"a seed in [0, {MAX_SEED}]"))
    if sample.chunk is not None and sample.chunk < 1:
        out.append(Problem("sample.chunk", sample.chunk, "a chunk size >= 1 (samples per chunk)"))
    return out


def _in_range(path: str, input_name: str, field: str, value: float) -> Problem | None:
    p = _check_value(path, input_name, value)
    if p is None:
        return None
    return Problem(path, value, f"{field} inside the valid range of {input_name}: "
                   + _bindable()[input_name].expected())


def _per_label_problems(spec: SweepSpec, name: str, dist: Distribution,
                        bound_at: dict[str, str]) -> list[Problem]:
    """Checks of one entry of ``distributions``: ``per`` and the lists of per-label
    parameters against the categorical axes, ``relative`` against where the input is set,
    then each label's distribution (or factor) on its own."""
    base = f"distributions.{name}"
    kinds = dist.kinds
    if len(kinds) != 1:
        return [Problem(base, kinds or "no distribution",
                        "exactly one of " + ", ".join(KINDS))]
    out: list[Problem] = []
    relative = dist.relative is not None
    one, path = (dist.relative, f"{base}.relative") if relative else (dist, base)
    if relative:
        if len(one.kinds) != 1 or one.kinds == ["relative"]:
            return [Problem(path, one.kinds or "no distribution", "exactly one of "
                            + ", ".join(k for k in KINDS if k != "relative")
                            + " (the distribution of the factor)")]
        if one.per is not None:
            out.append(Problem(f"{path}.per", one.per, f"per beside relative, at {base}.per"))
        where = bound_at.get(name, "")
        on_axis = where.startswith("axes.") and spec.axes[where[5:]].categorical
        if not (on_axis or where.startswith("constants.")):
            out.append(Problem(base, "relative", f"{name} set by a categorical axis (set, "
                               "presets) or a constant, for the factor to multiply"
                               + (f"; it is set by {where}" if where else
                                  f"; nothing sets {name}")))
    lists = dist.per_label
    categorical = [n for n, a in spec.axes.items() if a.categorical]
    axis = dist.per
    if axis is not None and axis not in categorical:
        out.append(Problem(f"{base}.per", axis, "a categorical axis, one of "
                           + (", ".join(categorical) or "(none in this file)")
                           + _suggest(axis, categorical)))
        return out
    if axis is not None and not lists:
        out.append(Problem(f"{base}.per", axis, "parameters given as lists, one value per "
                           f"label of {axis} (per says which axis they follow)"))
    if not lists:
        out.extend(_distribution_problems(name, one, ranged=not relative, base=path))
        return out
    if axis is None:
        if len(categorical) != 1:
            out.append(Problem(base, sorted(lists), "per: AXIS naming the categorical axis "
                               "whose labels the lists follow (this file has "
                               + (", ".join(categorical) if categorical else "none") + ")"))
            return out
        axis = categorical[0]
    n = _axis_length(spec.axes[axis])
    kind = one.kind
    for field, values in lists.items():
        if n is not None and len(values) != n:
            out.append(Problem(f"{path}.{kind}.{field}", values,
                               f"{n} value(s), one per label of {axis}"))
    if out or n is None:
        return out
    names = spec.axes[axis].label_list
    for i in range(n):
        label = names[i] if i < len(names) else str(i)
        for problem in _distribution_problems(name, dist.for_label(i), ranged=not relative,
                                              base=path):
            out.append(dataclasses.replace(problem, path=f"{problem.path} ({axis} {label})"))
    return out


def _distribution_problems(name: str, dist: Distribution, ranged: bool = True,
                           base: str | None = None) -> list[Problem]:
    """Checks of one distribution (at ``base``, default ``distributions.NAME``) against
    the valid range of its input; ``ranged=False`` for the factor of a ``relative`` one,
    which is only checked to be a distribution of values >= 0."""
    base = base or f"distributions.{name}"
    kinds = dist.kinds
    if len(kinds) != 1:
        return [Problem(base, kinds or "no distribution",
                        "exactly one of " + ", ".join(KINDS))]
    kind = kinds[0]
    path = f"{base}.{kind}"
    if kind in ("uniform", "loguniform", "triangular"):
        return _bounded_problems(name, kind, dist.params, path, ranged)
    if kind in ("normal", "lognormal"):
        return _normal_problems(name, kind, dist, path, ranged)
    return _discrete_problems(name, dist.params, path, ranged)


def _fields_in_range(name: str, params: Any, path: str, ranged: bool,
                     *fields: str) -> list[Problem]:
    """The given fields of a distribution's parameters (those set) inside the valid range
    of ``name``; with ``ranged=False``, factors >= 0."""
    out: list[Problem] = []
    for field in fields:
        value = getattr(params, field)
        if value is None:
            continue
        if not ranged:
            if not value >= 0:
                out.append(Problem(f"{path}.{field}", value, f"a factor >= 0 ({field})"))
            continue
        problem = _in_range(f"{path}.{field}", name, field, value)
        if problem:
            out.append(problem)
    return out


def _bounded_problems(name: str, kind: str, p: Any, path: str, ranged: bool) -> list[Problem]:
    """A uniform, log-uniform or triangular distribution: bounds in range, low < high
    (low > 0 for a log-uniform one), a triangular mode between them."""
    fields = ("low", "mode", "high") if kind == "triangular" else ("low", "high")
    out = _fields_in_range(name, p, path, ranged, *fields)
    if not p.low < p.high:
        out.append(Problem(f"{path}.high", p.high, f"high > low ({p.low:g})"))
    if kind == "loguniform" and not p.low > 0:
        out.append(Problem(f"{path}.low", p.low,
                           "low > 0 (a log-uniform distribution cannot reach zero)"))
    if kind == "triangular" and not p.low <= p.mode <= p.high:
        out.append(Problem(f"{path}.mode", p.mode,
                           f"a mode in [low, high] = [{p.low:g}, {p.high:g}]"))
    return out


def _normal_problems(name: str, kind: str, dist: Distribution, path: str,
                     ranged: bool) -> list[Problem]:
    """A (log)normal distribution: a positive scale (and median), truncation bounds in
    range; then, with none of these problems, its truncation and center."""
    p = dist.params
    out: list[Problem] = []
    scale = "sd" if kind == "normal" else "sigma"
    if not getattr(p, scale) > 0:
        out.append(Problem(f"{path}.{scale}", getattr(p, scale), f"{scale} > 0"))
    if kind == "lognormal" and not p.median > 0:
        out.append(Problem(f"{path}.median", p.median, "median > 0 (ln median is the mean "
                           "of ln X)"))
    out.extend(_fields_in_range(name, p, path, ranged, "low", "high"))
    if out:
        return out
    return _truncation_problems(name, kind, dist, path, ranged)


def _truncation_problems(name: str, kind: str, dist: Distribution, path: str,
                         ranged: bool) -> list[Problem]:
    """A (log)normal distribution's truncation bounds (its own, else the valid range of
    its input) with low < high (high > 0 for a lognormal), its center inside them."""
    p = dist.params
    meta = _bindable().get(name, name) if ranged else None
    center = "mean" if kind == "normal" else "median"
    low, high = truncation(dist, meta)
    if not low < high:
        field = "high" if p.high is not None else "low"
        return [Problem(f"{path}.{field}", getattr(p, field),
                        f"truncation bounds with low < high (they are [{low:g}, "
                        f"{high:g}])")]
    if kind == "lognormal" and not high > 0:
        return [Problem(f"{path}.high", p.high, "high > 0 (a lognormal is positive)")]
    value = getattr(p, center)
    lo, hi = support(dist, meta)
    if not lo <= value <= hi:
        where = ("low/high" if p.low is not None or p.high is not None
                 else f"the valid range of {name}")
        return [Problem(f"{path}.{center}", value,
                        f"a {center} inside the truncation bounds [{lo:g}, {hi:g}] "
                        f"({where}); a {center} outside them piles the samples up "
                        "at one bound")]
    return []


def _discrete_problems(name: str, p: Any, path: str, ranged: bool) -> list[Problem]:
    """A discrete distribution: unique values in range (factors >= 0 with
    ``ranged=False``), probabilities >= 0, one per value, that sum to 1."""
    values = p.values
    out: list[Problem] = []
    if not values:
        out.append(Problem(f"{path}.values", values, "at least one value"))
    seen: set[float] = set()
    for i, v in enumerate(values):
        problem = (_in_range(f"{path}.values[{i}]", name, "a value", v) if ranged else
                   None if v >= 0 else Problem(f"{path}.values[{i}]", v, "a factor >= 0"))
        if problem:
            out.append(problem)
        if v in seen:
            out.append(Problem(f"{path}.values[{i}]", v, "unique values (duplicate)"))
        seen.add(v)
    if p.probs is not None:
        if len(p.probs) != len(values):
            out.append(Problem(f"{path}.probs", p.probs,
                               f"{len(values)} probabilities, one per value"))
        for i, q in enumerate(p.probs):
            if not q >= 0:
                out.append(Problem(f"{path}.probs[{i}]", q, "a probability >= 0"))
        total = math.fsum(p.probs)
        if abs(total - 1.0) > PROB_SUM_TOL:
            out.append(Problem(f"{path}.probs", p.probs,
                               f"probabilities that sum to 1 (within {PROB_SUM_TOL:g}; they sum "
                               f"to {total:.12g}), or no probs for equal weights"))
    return out


def _reduce_problems(spec: SweepSpec) -> list[Problem]:
    """Checks of the ``reduce`` section against the axes and outputs."""
    red = spec.reduce
    out = _reduce_axis_name_problems(spec)
    out.extend(_over_problems(spec))
    out.extend(_threshold_problems(spec))
    for i, q in enumerate(red.quantiles):
        if not 0.0 < q < 1.0:
            out.append(Problem(f"reduce.quantiles[{i}]", q, "a probability in (0, 1)"))
    if red.quantiles and red.histogram is None:
        out.append(Problem("reduce.quantiles", red.quantiles,
                           "a `histogram` too: quantiles are read from it"))
    if red.histogram is not None:
        out.extend(_histogram_problems(spec))
    out.extend(_weight_problems(spec))
    if red.best is not None:
        out.extend(_best_problems(spec))
    if red.compare is not None:
        out.extend(_compare_problems(spec))
    return out


def _reduce_axis_name_problems(spec: SweepSpec) -> list[Problem]:
    """No axis named as one of the result's own dims (an axis of that name would collide
    with them)."""
    out: list[Problem] = []
    reserved = {"quantile", "pair", "ratio_bin", "ratio_edge"}
    for name in spec.axes:
        if name in reserved or name.endswith(("_bin", "_edge", "_below", "_above")):
            out.append(Problem(f"axes.{name}", name, "in reduce mode, an axis name other than "
                               "quantile, pair, ratio_bin, ratio_edge and *_bin, *_edge, "
                               "*_below, *_above (names of the result's dims)"))
    return out


def _over_problems(spec: SweepSpec) -> list[Problem]:
    """``reduce.over`` folds dims reduce may fold (the axes, and in sample mode the
    samples), each once."""
    over = spec.reduce.over
    out: list[Problem] = []
    axes = [*spec.axes, *(["sample"] if spec.sample is not None else [])]
    for i, name in enumerate(over):
        if name not in axes:
            out.append(Problem(f"reduce.over[{i}]", name, "an axis name, one of "
                               + ", ".join(axes) + _suggest(name, axes)))
        elif over.index(name) != i:
            out.append(Problem(f"reduce.over[{i}]", name, "each axis once (duplicate)"))
    return out


def _threshold_problems(spec: SweepSpec) -> list[Problem]:
    """``reduce.below`` and ``reduce.above``: outputs of the sweep, each with a threshold."""
    out: list[Problem] = []
    for section in ("below", "above"):
        for name, values in getattr(spec.reduce, section).items():
            if name not in spec.outputs:
                out.append(Problem(f"reduce.{section}.{name}", name,
                                   "one of the sweep's outputs: " + ", ".join(spec.outputs)))
            if not values:
                out.append(Problem(f"reduce.{section}.{name}", values, "at least one threshold"))
    return out


def _histogram_problems(spec: SweepSpec) -> list[Problem]:
    """``reduce.histogram``: per-output scales and ranges name outputs; each range
    [low, high] with low < high, and low > 0 on a log scale."""
    histogram = spec.reduce.histogram
    out: list[Problem] = []
    scale = histogram.scale
    per_output = scale if isinstance(scale, dict) else {}
    for name in per_output:
        if name not in spec.outputs:
            out.append(Problem(f"reduce.histogram.scale.{name}", name, "one of the "
                               "sweep's outputs: " + ", ".join(spec.outputs)
                               + _suggest(name, spec.outputs)))
    for name, bounds in histogram.range.items():
        path = f"reduce.histogram.range.{name}"
        log = per_output.get(name) == "log" or scale == "log"
        if name not in spec.outputs:
            out.append(Problem(path, name, "one of the sweep's outputs: "
                               + ", ".join(spec.outputs)))
        elif len(bounds) != 2 or not bounds[0] < bounds[1]:
            out.append(Problem(path, bounds, "[low, high] with low < high"))
        elif log and not bounds[0] > 0:
            out.append(Problem(path, bounds, "low > 0 on a log scale (or scale: "
                               f"{{{name}: linear}} for an output that can be <= 0)"))
    return out


def _weight_problems(spec: SweepSpec) -> list[Problem]:
    """``reduce.weights``: on folded axes, one weight >= 0 per value, with a positive sum."""
    red = spec.reduce
    out: list[Problem] = []
    for name, probs in red.weights.items():
        path = f"reduce.weights.{name}"
        if name not in red.over:
            out.append(Problem(path, name, "an axis of reduce.over (weights make statistics "
                               "expectations over the folded dims)"))
            continue
        if name not in spec.axes:   # `sample`: refused in _mode_problems
            continue
        axis = spec.axes[name]
        n = _axis_length(axis)
        if n is not None and len(probs) != n:
            out.append(Problem(path, len(probs), f"{n} weights, one per value of the axis"))
        if any(p < 0 for p in probs) or not sum(probs) > 0:
            out.append(Problem(path, probs, "weights >= 0 with a positive sum"))
    return out


def _compare_problems(spec: SweepSpec) -> list[Problem]:
    """``reduce.compare``: a categorical axis, pairs of two different labels of it, and an
    output of the sweep."""
    c = spec.reduce.compare
    out: list[Problem] = []
    axis = spec.axes.get(c.axis)
    if axis is None or not axis.categorical:
        cats = [n for n, a in spec.axes.items() if a.categorical]
        out.append(Problem("reduce.compare.axis", c.axis, "a categorical axis, one of "
                           + (", ".join(cats) or "(none in this sweep)")))
    else:
        labels = axis.label_list
        for i, pair in enumerate(c.pairs):
            if len(pair) != 2 or pair[0] == pair[1] or any(x not in labels for x in pair):
                out.append(Problem(f"reduce.compare.pairs[{i}]", pair,
                                   "two different labels of axes." + c.axis + ": "
                                   + ", ".join(labels)))
    if c.output is not None and c.output not in spec.outputs:
        out.append(Problem("reduce.compare.output", c.output,
                           "one of the sweep's outputs: " + ", ".join(spec.outputs)))
    return out


def _best_problems(spec: SweepSpec) -> list[Problem]:
    """Checks of ``reduce.best``: one objective, a node of the model; constraints on nodes,
    each with a bound, low <= high; no folded dim whose name clashes with a result name."""
    best = spec.reduce.best
    out: list[Problem] = []
    nodes = [n for n in [*_outputs(), *(n for n in _bindable() if n not in _outputs())]
             if not n.startswith("_")]
    if (best.minimize is None) == (best.maximize is None):
        out.append(Problem("reduce.best", [k for k in ("minimize", "maximize")
                                           if getattr(best, k) is not None] or "neither",
                           "exactly one of minimize, maximize (the node to optimize)"))
    elif best.objective not in nodes:
        key = "minimize" if best.minimize is not None else "maximize"
        out.append(Problem(f"reduce.best.{key}", best.objective, "an output or input name, "
                           "one of " + ", ".join(_outputs()) + _suggest(best.objective,
                                                                         nodes)))
    for name, lim in best.subject_to.items():
        path = f"reduce.best.subject_to.{name}"
        if name not in nodes:
            out.append(Problem(path, name, "an output or input name to bound"
                               + _suggest(name, nodes)))
        if lim.min is None and lim.max is None:
            out.append(Problem(path, {}, "a bound: min, max or both, e.g. {min: 50}"))
        elif lim.min is not None and lim.max is not None and not lim.min <= lim.max:
            out.append(Problem(f"{path}.max", lim.max, f"max >= min ({lim.min:g})"))
    reserved = ("value", "feasible_count", "compare_ratio")
    for i, name in enumerate(spec.reduce.over):
        if name in reserved or name in spec.outputs:
            out.append(Problem(f"reduce.over[{i}]", name, "with best:, a folded axis name "
                               "other than value, feasible_count and compare_ratio (best_"
                               f"{name} would name two results)"))
    for i, name in enumerate(spec.outputs):
        if name in reserved:
            out.append(Problem(f"outputs[{i}]", name, "with best:, an output name other "
                               f"than value, feasible_count and compare_ratio (best_{name} "
                               "would name two results)"))
    return out


def _axis_length(axis: AxisSpec) -> int | None:
    """The number of values of an axis (None when it cannot be told before resolving)."""
    if axis.categorical:
        return len(axis.label_list)
    if axis.values is not None:
        return len(axis.values)
    if axis.linspace is not None:
        return axis.linspace.num
    if axis.geomspace is not None:
        return axis.geomspace.num
    return None
