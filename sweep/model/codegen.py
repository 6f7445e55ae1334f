"""Row and point evaluators generated from a model's graph, for the Numba kernels.

For one (model, requested outputs, which leaves vary in the kernel's inner loop) this writes
straight-line Python source that computes every needed node once per point, in a
topological order, with everything that does not vary along the inner loop hoisted out of
it, and compiles it with the caller's ``jit`` (``numba.njit`` for the CPU kernels, a CUDA
device-function decorator for the CUDA ones). The kernels keep only their loop structure.

The source is written by this module from the model's node names (identifiers checked when
the model was built); nothing from a sweep file is compiled as text, and the source is only
compiled, never executed (:func:`sweep.model.family.define_functions`).
"""

from __future__ import annotations

import hashlib
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sweep.model import scalar
from sweep.model.family import define_functions
from sweep.model.graph import Model


def clone(fn: Callable, namespace: dict, name: str | None = None) -> Callable:
    """``fn`` with ``namespace`` as its globals (so that calls resolve to compiled versions)."""
    out = types.FunctionType(fn.__code__, namespace, name or fn.__name__, fn.__defaults__,
                             fn.__closure__)
    out.__doc__ = fn.__doc__
    if name:
        out.__qualname__ = name
    return out


_COMPILED: dict[tuple[str, str], dict[str, Callable]] = {}
_LOCK = threading.Lock()


def compiled_nodes(model: Model, jit: Callable, target: str) -> dict[str, Callable]:
    """Every formula node of ``model`` compiled with ``jit``, by node name; the helpers they
    call are compiled too and resolved by name. Cached per model and ``target`` name."""
    key = (model.fingerprint, target)
    with _LOCK:
        if key in _COMPILED:
            return _COMPILED[key]
    import sys

    by_fn: dict[int, Callable] = {}
    spaces: dict[str, dict] = {}   # one namespace per module: calls resolve within it
    for fam in model.families:
        for fn in fam.functions:
            ns = spaces.setdefault(fn.__module__, dict(vars(sys.modules[fn.__module__])))
            ns[fn.__name__] = by_fn[id(fn)] = jit(clone(fn, ns))
    ns_scalar = dict(vars(scalar))
    for fn in scalar.FUNCTIONS:
        ns_scalar[fn.__name__] = jit(clone(fn, ns_scalar))
    out: dict[str, Callable] = {}
    for name, f in model.formulas.items():
        if id(f.fn) in by_fn:
            out[name] = by_fn[id(f.fn)]
        else:   # a derived formula: its helpers are the scalar module's
            out[name] = jit(clone(f.fn, ns_scalar))
    with _LOCK:
        _COMPILED.setdefault(key, out)
        return _COMPILED[key]


@dataclass(frozen=True)
class Evaluator:
    """Generated evaluator source, its compiled functions' namespace and its fingerprint."""

    source: str
    namespace: dict
    fingerprint: str

    def function(self, name: str) -> Callable:
        """A compiled generated function by name."""
        return self.namespace[name]


def _var(model: Model, name: str) -> str:
    return ("x_" if name in model.leaves else "n_") + name


def _call(model: Model, name: str) -> str:
    f = model.formulas[name]
    args = ", ".join(_var(model, p) for p in f.params)
    return f"F_{name}({args})"


def _varying(model: Model, nodes: tuple[str, ...], leaves: set[str]) -> set[str]:
    varies = set(leaves)
    for n in nodes:
        if any(p in varies for p in model.formulas[n].params):
            varies.add(n)
    return varies


def _reads(model: Model, nodes: Iterable[str], wanted: Iterable[str]) -> set[str]:
    used = set(wanted)
    for n in nodes:
        used.update(model.formulas[n].params)
    return used


def column_nodes(model: Model, wanted: tuple[str, ...], inner: frozenset[str],
                 outer: frozenset[str]) -> tuple[str, ...]:
    """The nodes a row evaluator takes from the chunk's column cache: those that vary
    along the innermost axis (they read a leaf of ``inner``) but read no leaf of
    ``outer`` (leaves bound to the other axes), and that the loop reads, or that are
    wanted. They are the same in every row of a chunk: computed once per chunk, not once
    per point (a node that depends on the innermost axis only, like the touched experts
    over a concurrency axis, is the expensive case)."""
    order = model.order(wanted)
    varies = _varying(model, order, set(inner))
    moves = _varying(model, order, set(outer))
    column = [n for n in order if n in varies and n not in moves]
    if not column:
        return ()
    in_loop = [n for n in order if n in varies and n not in column]
    read = _reads(model, in_loop, [w for w in wanted if w in varies])
    return tuple(n for n in column if n in read)


def column_source(model: Model, wanted: tuple[str, ...], inner: frozenset[str],
                  outer: frozenset[str]) -> str:
    """Source of ``_column_eval(work, rv, inner)``: the :func:`column_nodes` at every column
    of a chunk, into the rows of ``work`` after the leaves' (row ``len(model.leaves) + c``
    for column node c), from the constant leaves in ``rv`` and the innermost axis's leaves
    in ``work``; called once per chunk before its rows (nothing to do where there are no
    column nodes)."""
    cached = column_nodes(model, wanted, inner, outer)
    head = ["def _column_eval(work, rv, inner):"]
    if not cached:
        return "\n".join(head + ["    return 0"]) + "\n"
    order = model.order(cached)
    varies = _varying(model, order, set(inner))
    used = _reads(model, order, cached)
    idx = {n: i for i, n in enumerate(model.leaves)}
    loop = ["    for j in range(inner):"]
    for leaf in model.leaves:
        if leaf in used and leaf in varies:
            loop.append(f"        x_{leaf} = work[{idx[leaf]}, j]")
        elif leaf in used:
            head.append(f"    x_{leaf} = rv[{idx[leaf]}]")
    for n in order:
        line = f"n_{n} = {_call(model, n)}"
        (loop.append("        " + line) if n in varies else head.append("    " + line))
    base = len(model.leaves)
    for c, n in enumerate(cached):
        loop.append(f"        work[{base + c}, j] = n_{n}")
    return "\n".join(head + loop + ["    return 0"]) + "\n"


def row_source(model: Model, wanted: tuple[str, ...], inner: frozenset[str],
               extremes: bool = False, outer: frozenset[str] | None = None) -> str:
    """Source of ``_row_eval(work, rv, out, r, cnt)`` for the CPU kernels (with
    ``extremes``: ``_row_eval(work, rv, out, r, cnt, lo, hi)``, which also folds the keys of
    each output's stored extremes into ``lo[k]``/``hi[k]`` with ``_row_keys``, a function
    of the kernel's module, while the row is still in cache).

    ``rv[i]``: leaf i's value where it is constant along the row; ``work[i, j]``: its value
    at column j where it varies (leaves in ``inner``); writes output k of the row into
    ``out[k, r, :]`` and adds its NaN count to ``cnt[k]``. Everything that does not vary
    along the row is computed once, before the loop; an output that does not vary is
    written in the same loop (one pass over the row) and its NaN count taken once. With
    ``outer`` (the leaves bound to the other axes), the :func:`column_nodes` are read from
    the rows ``_column_eval`` filled (:func:`column_source`), not computed.
    """
    order = model.order(wanted)
    varies = _varying(model, order, set(inner))
    cached = column_nodes(model, wanted, inner, outer) if outer is not None else ()
    row_of = {n: len(model.leaves) + c for c, n in enumerate(cached)}
    # nodes only a cached node reads are not computed in the loop at all
    needed = [n for n in order if n not in varies or n not in row_of]
    live = set(cached) | set(wanted)
    for n in reversed(needed):
        if n in live:
            live.update(model.formulas[n].params)
    order = tuple(n for n in needed if n in live and (n not in varies or n not in row_of))
    moving = [k for k, w in enumerate(wanted) if w in varies]
    used = _reads(model, order, wanted)
    used_in_loop = _reads(model, [n for n in order if n in varies],
                          [wanted[k] for k in moving])
    idx = {n: i for i, n in enumerate(model.leaves)}
    args = "work, rv, out, r, cnt, lo, hi" if extremes else "work, rv, out, r, cnt"
    head = [f"def _row_eval({args}):", "    inner = out.shape[2]"]
    loop = ["    for j in range(inner):"]
    for leaf in model.leaves:
        if leaf in varies and leaf in used_in_loop:
            loop.append(f"        x_{leaf} = work[{idx[leaf]}, j]")
        elif leaf in used and leaf not in varies:
            head.append(f"    x_{leaf} = rv[{idx[leaf]}]")
    for n in cached:
        if n in used_in_loop:
            loop.append(f"        n_{n} = work[{row_of[n]}, j]")
    for n in order:
        line = f"n_{n} = {_call(model, n)}"
        (loop.append("        " + line) if n in varies else head.append("    " + line))
    tail = []
    for k, w in enumerate(wanted):
        head.append(f"    o{k} = out[{k}, r]")
        if k in moving:
            head.append(f"    c{k} = 0")
            loop.append(f"        v{k} = {_var(model, w)}")
            loop.append(f"        o{k}[j] = v{k}")
            loop.append(f"        c{k} += v{k} != v{k}")
            tail.append(f"    cnt[{k}] += c{k}")
        else:   # written in the same loop (one pass over the row), counted once
            head.append(f"    v{k} = {_var(model, w)}")
            loop.append(f"        o{k}[j] = v{k}")
            tail += [f"    if v{k} != v{k}:", f"        cnt[{k}] += inner"]
    if extremes:
        for k in range(len(wanted)):
            # a constant output's extremes are those of its first stored value
            row = f"o{k}" if k in moving else f"o{k}[:1]"
            nan = f"c{k} > 0" if k in moving else f"v{k} != v{k}"
            tail += [f"    a{k}, b{k} = _row_keys({row}, {nan})",
                     f"    lo[{k}] = min(lo[{k}], a{k})",
                     f"    hi[{k}] = max(hi[{k}], b{k})"]
    body = head + loop + tail
    return "\n".join(body) + "\n"


def point_source(model: Model, wanted: tuple[str, ...], outer: frozenset[str]
                 ) -> tuple[str, int]:
    """Source of ``_hoist(v, h)`` and ``_point(v, h, vals)`` for the CUDA kernels, and the
    length of ``h`` (the hoisted nodes ``_point`` reads; at least 1).

    A CUDA thread walks rows at a fixed column: the leaves in ``outer`` change from row to
    row, every other leaf is fixed for the thread. ``_hoist`` computes once per thread the
    nodes that read only fixed leaves (into ``h``); ``_point`` computes the rest at one
    point and writes output k into ``vals[k]``. ``v[i]``: leaf i's current value.
    """
    order = model.order(wanted)
    varies = _varying(model, order, set(outer))
    used_late = _reads(model, [n for n in order if n in varies], wanted)
    hoisted = [n for n in order if n not in varies]
    used_early = _reads(model, hoisted, ())
    keep = [n for n in hoisted if n in used_late]
    slot = {n: i for i, n in enumerate(keep)}
    idx = {n: i for i, n in enumerate(model.leaves)}
    hoist = ["def _hoist(v, h):"]
    for leaf in model.leaves:
        if leaf in used_early:
            hoist.append(f"    x_{leaf} = v[{idx[leaf]}]")
    for n in hoisted:
        hoist.append(f"    n_{n} = {_call(model, n)}")
    for n in keep:
        hoist.append(f"    h[{slot[n]}] = n_{n}")
    hoist.append("    return 0")
    point = ["def _point(v, h, vals):"]
    for leaf in model.leaves:
        if leaf in used_late:
            point.append(f"    x_{leaf} = v[{idx[leaf]}]")
    for n in keep:
        point.append(f"    n_{n} = h[{slot[n]}]")
    for n in order:
        if n in varies:
            point.append(f"    n_{n} = {_call(model, n)}")
    for k, w in enumerate(wanted):
        point.append(f"    vals[{k}] = {_var(model, w)}")
    point.append("    return 0")
    return "\n".join(hoist) + "\n\n\n" + "\n".join(point) + "\n", max(1, len(keep))


_EVALUATORS: dict[tuple, Evaluator] = {}


def evaluator(model: Model, kind: str, wanted: tuple[str, ...], varying: frozenset[str],
              jit: Callable, target: str, helpers: dict | None = None,
              outer: frozenset[str] | None = None) -> Evaluator:
    """The compiled evaluator of ``kind`` (``'row'`` and ``'row_extremes'``:
    :func:`row_source`, with ``outer`` also :func:`column_source` and ``N_COLUMNS``, the
    rows it adds to ``work``; ``'point'``: :func:`point_source`) for ``wanted`` outputs
    with ``varying`` leaves; ``helpers``: functions of the kernel's module the source
    calls. Cached."""
    # the generated source depends on ``outer`` only through the column nodes it gives:
    # files whose other axes differ but cache the same nodes share one evaluator
    cached = (column_nodes(model, wanted, varying, outer)
              if outer is not None and kind != "point" else None)
    key = (model.fingerprint, kind, wanted, varying, target, cached)
    with _LOCK:
        if key in _EVALUATORS:
            return _EVALUATORS[key]
    if kind in ("row", "row_extremes"):
        source = row_source(model, wanted, varying, kind == "row_extremes", outer)
        extra = {"N_COLUMNS": 0}
        if outer is not None:
            source = column_source(model, wanted, varying, outer) + "\n\n" + source
            extra["N_COLUMNS"] = len(column_nodes(model, wanted, varying, outer))
    else:
        source, n_hoist = point_source(model, wanted, varying)
        extra = {"N_HOIST": n_hoist}
    ns: dict = {f"F_{n}": fn for n, fn in compiled_nodes(model, jit, target).items()}
    ns.update(extra)
    ns.update(helpers or {})
    for name, fn in define_functions(source, f"<token-sweep {kind} evaluator>", ns).items():
        ns[name] = jit(fn)
    digest = hashlib.sha256((model.fingerprint + source).encode()).hexdigest()
    ev = Evaluator(source, ns, digest)
    with _LOCK:
        _EVALUATORS.setdefault(key, ev)
        return _EVALUATORS[key]
