"""A sweep file's own inputs (``inputs:``) and derived outputs (``derived:``) joined to the
registered families: the model that file evaluates, compiled into the same kernels."""

from __future__ import annotations

import json
import math
import re
import threading

from sweep.model.family import Input
from sweep.model.graph import ORIGINAL, Model, ModelError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CACHE: dict[str, Model] = {}
_LOCK = threading.Lock()


def _get(decl, key, default=None):
    if isinstance(decl, dict):
        return decl.get(key, default)
    return getattr(decl, key, default)


def user_inputs(inputs: dict) -> list[Input]:
    """The ``inputs:`` section as :class:`Input` s (fields already validated by pydantic)."""
    out = []
    for name, d in inputs.items():
        out.append(Input(name, _get(d, "unit", "1") or "1",
                         _get(d, "description", "") or f"{name} (declared in the sweep file)",
                         _get(d, "default"), float(_get(d, "low")), float(_get(d, "high")),
                         integer=bool(_get(d, "integer", False))))
    return out


def bound_names(spec) -> frozenset[str]:
    """Every name a sweep file binds (numeric axes, the inputs categorical axes set,
    constants, distributions), from a validated spec or its JSON form."""
    def get(key):
        return (spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)) or {}

    names = set(get("constants")) | set(get("distributions"))
    for name, axis in get("axes").items():
        labels = any(_get(axis, k) is not None
                     for k in ("labels", "presets", "models", "calibrations"))
        names |= set(_get(axis, "set") or {}) if labels else {name}
    return frozenset(names)


#: The node ``best:`` folds: its objective where every constraint holds, NaN elsewhere (a
#: name no sweep file can give: names starting with ``_`` are reserved).
BEST_NODE = "_best"


def best_expression(best) -> str:
    """The expression of :data:`BEST_NODE` for a ``best:`` section (objective, ``min``/
    ``max`` bounds, inclusive): ``where(c1 * c2 ..., objective, NaN)``; a NaN constraint
    value fails its bound."""
    checks = []
    for name, lim in _get(best, "subject_to", {}).items():
        for key, op in (("min", ">="), ("max", "<=")):
            value = _get(lim, key)
            if value is not None:
                checks.append(f"({name} {op} {float(value)!r})")
    objective = _get(best, "minimize") or _get(best, "maximize")
    if not checks:
        return objective
    return f"where({' * '.join(checks)}, {objective}, 0.0 / 0.0)"


def frontier_nodes(spec) -> tuple[list[Input], dict[str, str]]:
    """The inputs and formulas that read a sweep's measured frontiers (none without a
    frontier axis): the interpolation tables the frontier axis sets, and the nodes they
    give, ``tokens_per_s_per_gpu`` and ``output_tokens_per_s_per_gpu`` (replacing the
    throughput family's), read at ``tokens_per_s_per_user`` (see
    :mod:`sweep.model.frontier`)."""
    n = getattr(spec, "frontier_points", 0) if not isinstance(spec, dict) else 0
    if not n:
        return [], {}
    from sweep.model import frontier

    inputs = [Input(name, "1", "a measured frontier's interpolation table (set by the "
                    "frontier axis)", None, -math.inf, math.inf)
              for name in frontier.input_names(n)]
    return inputs, frontier.formulas(n)


def internal_formulas(spec) -> dict[str, str]:
    """Nodes the engine adds to a sweep's model (not the file's: no name clash, never
    stored): :data:`BEST_NODE` for a reduce with ``best:``, and the frontier nodes of
    :func:`frontier_nodes`."""
    reduce = _get(spec, "reduce")
    best = _get(reduce, "best") if reduce is not None else None
    out = dict(frontier_nodes(spec)[1])
    if best is not None:
        out[BEST_NODE] = best_expression(best)
    return out


def internal_inputs(spec) -> list[Input]:
    """Inputs the engine adds to a sweep's model (see :func:`frontier_nodes`)."""
    return frontier_nodes(spec)[0]


def user_model(inputs: dict, derived: dict, bound: frozenset[str] = frozenset(),
               internal: dict[str, str] | None = None,
               internal_inputs: list[Input] | None = None) -> Model:
    """The registered families with ``inputs`` and ``derived`` added, the formula nodes
    among ``bound`` (names the file binds) made leaves, and the engine's ``internal``
    nodes (name: expression). Raises :class:`~sweep.model.graph.ModelError` naming the
    dotted path of the first problem (:func:`build` lists them all)."""
    model, problems = build(inputs, derived, bound, internal, internal_inputs)
    if problems:
        raise problems[0]
    return model


def build(inputs: dict, derived: dict, bound: frozenset[str] = frozenset(),
          internal: dict[str, str] | None = None,
          internal_inputs: list[Input] | None = None) -> tuple[Model, list[ModelError]]:
    """The model of ``inputs`` and ``derived`` (formula nodes in ``bound`` made leaves) and
    every problem found; with problems, the model holds the parts that have none (so that
    the rest of a file can still be checked). Cached for files without problems."""
    from sweep.model.registry import FAMILIES, default_model

    base = default_model()
    internal = internal or {}
    internal_inputs = list(internal_inputs or [])
    if not inputs and not derived and not internal:
        nodes = frozenset(n for n in bound if n in base.formulas)
        if not nodes:
            return base, []
    key = json.dumps([sorted(FAMILIES), _dump(inputs), _dump(derived), sorted(bound),
                      internal, [i.name for i in internal_inputs]], sort_keys=True)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key], []
    model, problems = _build(inputs, derived, bound, internal, internal_inputs)
    if not problems:
        with _LOCK:
            model = _CACHE.setdefault(key, model)
    return model, problems


def _dump(section: dict) -> dict:
    return {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
            for k, v in section.items()}


def _input_problems(i: Input) -> list[ModelError]:
    from sweep.model.expr import reserved

    path = f"inputs.{i.name}"
    out = []
    if not _NAME.match(i.name) or reserved(i.name):
        out.append(ModelError(path, i.name, "an input name of letters, digits and _, starting "
                              "with a letter, that is no keyword or function of the "
                              "expression language"))
    if not i.low <= i.high:
        out.append(ModelError(f"{path}.high", i.high, f"high >= low ({i.low:g})"))
    elif i.default is not None and not i.accepts(i.default):
        out.append(ModelError(f"{path}.default", i.default, f"a default that is "
                              f"{i.expected()}"))
    return out


def _build(inputs: dict, derived: dict, bound: frozenset[str] = frozenset(),
           internal: dict[str, str] | None = None,
           internal_inputs: list[Input] | None = None) -> tuple[Model, list[ModelError]]:
    from sweep.model.registry import FAMILIES, default_model

    base = default_model()
    extra, problems = _checked_inputs(inputs, base)
    extra += list(internal_inputs or [])
    names = set(base.input_specs) | set(base.formulas) | {i.name for i in extra}
    names |= set(derived)
    formulas, found = _derived_formulas(inputs, derived, base, names)
    problems += found
    problems += _add_internal_formulas(internal or {}, base, names, formulas)
    nodes = {f.name for f in formulas} | set(base.formulas)
    leaves = frozenset(n for n in bound if n in nodes)
    try:
        model = Model(FAMILIES.values(), extra, formulas, leaves)
    except ModelError as exc:   # a cycle, or a name read by a refused derived output
        problems.append(exc)
        model = Model(FAMILIES.values(), extra, bound=leaves & set(base.formulas))
    return model, problems


def _checked_inputs(inputs: dict, base: Model) -> tuple[list[Input], list[ModelError]]:
    """The file's inputs that have no problem, and the problems of the others (a name of
    the model among them)."""
    from sweep.model.registry import FAMILIES

    core = {i.name for fam in FAMILIES.values() if fam.defaults_always for i in fam.inputs}
    extra: list[Input] = []
    problems: list[ModelError] = []
    for i in user_inputs(inputs):
        found = _input_problems(i)
        # an input of a later family may be redeclared (its declaration is the file's then):
        # files written before the throughput family declared some of its names themselves
        if i.name in core or i.name in base.formulas:
            found.append(ModelError(f"inputs.{i.name}", i.name, "a new input name; "
                                    f"{i.name} is already a name of the model"))
        problems += found
        if not found:
            extra.append(i)
    return extra, problems


def _derived_formulas(inputs: dict, derived: dict, base: Model,
                      names: set[str]) -> tuple[list, list[ModelError]]:
    """The formulas of the file's derived outputs that have no problem (their expressions
    read ``names``), and the problems of the others."""
    from sweep.model.expr import ExprError, formula
    from sweep.model.registry import FAMILIES

    core_nodes = {f.name for fam in FAMILIES.values() if fam.defaults_always
                  for f in fam.formulas}
    formulas = []
    problems: list[ModelError] = []
    for name, d in derived.items():
        path = f"derived.{name}"
        replace = _replaces(name, d, base, core_nodes)
        problem = _derived_problem(name, replace, inputs, base)
        if problem is not None:
            problems.append(problem)
            continue
        # a replacing formula keeps the node's unit and long name unless it gives its own
        original = base.formulas.get(name) if replace else None
        unit = _get(d, "unit") or (original.unit if original else "") or "1"
        long_name = _get(d, "long_name") or (original.long_name if original else "") or name
        try:   # a file's expression reads no engine node (names starting with _)
            formulas.append(formula(name, _get(d, "expr"),
                                    {n for n in names if not n.startswith("_")}, unit,
                                    long_name))
        except ExprError as exc:
            problems.append(ModelError(f"{path}.expr", exc.token, exc.expected))
    return formulas, problems


def _replaces(name: str, d, base: Model, core_nodes: set[str]) -> bool:
    """Whether derived output ``name`` replaces a node of the model: with ``replace: true``,
    or as a node of a later family (files written before it joined used such names for
    outputs of their own, which now replace that node)."""
    replace = bool(_get(d, "replace", False))
    return replace or (name in base.formulas and name not in core_nodes)


def _derived_problem(name: str, replace: bool, inputs: dict,
                     base: Model) -> ModelError | None:
    """The problem with the name of derived output ``name`` (None: it has none)."""
    from sweep.model.expr import reserved

    path = f"derived.{name}"
    if not _NAME.match(name) or reserved(name) or name.endswith(ORIGINAL):
        return ModelError(path, name, "a derived name of letters, digits and _, "
                          "starting with a letter, that is no keyword or "
                          "function of the expression language")
    if name in base.input_specs or name in inputs:
        return ModelError(path, name, "a derived name that is not an input")
    if name in base.formulas and not replace:
        return ModelError(path, name, "a name that is not already a node of the "
                          "model, or `replace: true` to replace that node "
                          "(inside its expr the name then means the model's "
                          "original)")
    if replace and name not in base.formulas:
        return ModelError(f"{path}.replace", True, "replace: true only for a "
                          "name the model computes, one of "
                          + ", ".join(base.formulas))
    return None


def _add_internal_formulas(internal: dict[str, str], base: Model, names: set[str],
                           formulas: list) -> list[ModelError]:
    """Append the formulas of the engine's ``internal`` nodes to ``formulas`` (each may read
    ``names`` and the formulas before it); the problems of those that do not compile."""
    from sweep.model.expr import ExprError, formula

    problems: list[ModelError] = []
    for name, text in internal.items():
        try:
            # the engine's own text: longer than a file's expressions may be
            original = base.formulas.get(name)
            formulas.append(formula(name, text, names | {f.name for f in formulas},
                                    original.unit if original else "",
                                    original.long_name if original else "",
                                    max_chars=max(len(text) + 1, 2000)))
        except ExprError as exc:
            problems.append(ModelError("reduce.best" if name == BEST_NODE else name,
                                       exc.token, exc.expected))
    return problems
