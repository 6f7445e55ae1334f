"""A model as a graph: the registered families, a sweep file's own inputs and derived
outputs, and what the sweep binds. What the engine needs to know of a model (``needs``,
evaluation order, input and output order and codes, which outputs exist) is read from here.

Nodes are inputs (leaves, with units and ranges) and formulas (functions of other nodes,
named by their parameters). A formula node that the sweep file binds (a constant, an axis,
a distribution) is a leaf too: its formula is skipped. The kernels receive the leaves, in
:attr:`Model.leaves` order, as the rows of ``ChunkInputs.table``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sweep.model.family import Family, Formula, Input, Output


class ModelError(ValueError):
    """A model that cannot be built (a cycle, an unknown name); ``path`` says where."""

    def __init__(self, path: str, value: object, expected: str):
        self.path, self.value, self.expected = path, value, expected
        super().__init__(f"{path}: {expected} (got {value!r})")


#: Suffix of a model node that a ``replace: true`` derived output shadows: inside the
#: user's expression the node's own name means this original.
ORIGINAL = "__model"


def function_source(fn) -> str:
    """The source of a formula's function, without decorators (for hashing and for the
    CUDA C translator)."""
    text = textwrap.dedent(inspect.getsource(fn))
    lines = text.splitlines()
    while lines and lines[0].lstrip().startswith("@"):
        # a decorator may span several lines: drop up to the `def`
        lines.pop(0)
        while lines and not lines[0].lstrip().startswith("def "):
            lines.pop(0)
    return "\n".join(lines) + "\n"


class Model:
    """The model a sweep evaluates.

    Parameters
    ----------
    families
        The families, in order; a name that one family computes and another takes as an
        input is one node (computed unless bound).
    extra_inputs
        A sweep file's own inputs (``inputs:``), appended to the leaves.
    derived
        A sweep file's derived outputs (``derived:``), as formulas; one whose name is a node
        of the families replaces that node (its original stays reachable as
        ``<name>__model`` from the derived formula only).
    bound
        Formula nodes the sweep binds: leaves, their formulas skipped.
    """

    def __init__(self, families: Iterable[Family], extra_inputs: Iterable[Input] = (),
                 derived: Iterable[Formula] = (), bound: Iterable[str] = ()):
        self.families = tuple(families)
        self.extra_inputs = tuple(extra_inputs)
        self.derived = tuple(derived)
        formulas: dict[str, Formula] = {}
        for fam in self.families:
            for f in fam.formulas:
                formulas[f.name] = f
        self.input_specs: dict[str, Input] = {}
        for fam in self.families:
            for i in fam.inputs:
                self.input_specs.setdefault(i.name, i)
        core = {i.name for fam in self.families if fam.defaults_always for i in fam.inputs}
        for i in self.extra_inputs:
            # a file may redeclare an input of a family other than the core one (files
            # written before that family joined declared some of its names themselves)
            if i.name in core or i.name in formulas:
                raise ModelError(f"inputs.{i.name}", i.name,
                                 "a new input name, not a name of the model")
            self.input_specs[i.name] = i
        outputs = [f.name for f in formulas.values() if f.output]
        for d in self.derived:
            if d.name in formulas:
                original = formulas.pop(d.name)
                renamed = Formula(d.name + ORIGINAL, original.fn, original.params, False,
                                  original.unit, original.long_name, original.formula,
                                  original.source)
                formulas[renamed.name] = renamed
                params = tuple(p + ORIGINAL if p == d.name else p for p in d.params)
                d = Formula(d.name, d.fn, params, True, d.unit, d.long_name, d.formula,
                            d.source)
            elif d.name in self.input_specs:
                raise ModelError(f"derived.{d.name}", d.name,
                                 "a derived name that is not an input name")
            else:
                outputs.append(d.name)
            formulas[d.name] = d
        self.bound = frozenset(bound)
        for name in self.bound:
            if name not in formulas and name not in self.input_specs:
                raise ModelError("", name, "a node of the model")
        self.formulas = {n: f for n, f in formulas.items() if n not in self.bound}
        self._all = formulas
        self.outputs: tuple[str, ...] = tuple(outputs)
        for name, f in formulas.items():
            for p in f.params:
                if p not in formulas and p not in self.input_specs:
                    raise ModelError(f"derived.{name}" if f in self.derived else name, p,
                                     "a name of an input, an output or a derived output")
        # leaves: declared inputs that no formula computes, then bound formula nodes
        computed = set(self.formulas)
        self.leaves: tuple[str, ...] = tuple(
            [n for n in self.input_specs if n not in computed]
            + [n for n in formulas if n in self.bound and n not in self.input_specs])
        self._check_acyclic()

    # ---------------------------------------------------------------- graph
    def _check_acyclic(self) -> None:
        state: dict[str, int] = {}

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if state.get(name) == 2 or name not in self.formulas:
                return
            if state.get(name) == 1:
                cycle = trail[trail.index(name):] + (name,)
                where = next((c for c in cycle if c in {d.name for d in self.derived}),
                             cycle[0])
                raise ModelError(f"derived.{where}.expr", " -> ".join(cycle),
                                 "expressions without a cycle")
            state[name] = 1
            for p in self.formulas[name].params:
                visit(p, (*trail, name))
            state[name] = 2

        for name in self.formulas:
            visit(name, ())

    def order(self, wanted: Iterable[str]) -> tuple[str, ...]:
        """The formula nodes needed for ``wanted``, callees first (a topological order)."""
        seen: dict[str, None] = {}

        def visit(name: str) -> None:
            if name in seen or name not in self.formulas:
                return
            for p in self.formulas[name].params:
                visit(p)
            seen[name] = None

        for w in wanted:
            visit(w)
        return tuple(seen)

    @functools.cache  # noqa: B019 - a model lives as long as its plan; few nodes
    def needs(self, name: str) -> tuple[str, ...]:
        """The leaves ``name`` reads, directly or through other nodes, in leaf order."""
        if name in self.leaves:
            return (name,)
        found: set[str] = set()
        for node in self.order([name]):
            found.update(p for p in self.formulas[node].params if p in self.leaves)
        return tuple(n for n in self.leaves if n in found)

    def evaluate(self, leaves: dict[str, float], wanted: Iterable[str]) -> dict[str, float]:
        """``wanted`` nodes at one point, in plain Python (the formulas uncompiled): for
        tests and for checking a number by hand. ``leaves`` maps every leaf read to a
        float."""
        wanted = tuple(wanted)
        values = dict(leaves)
        for name in self.order(wanted):
            f = self.formulas[name]
            values[name] = f.fn(*(values[p] for p in f.params))
        return {w: values[w] for w in wanted}

    # ---------------------------------------------------------------- specs
    @functools.cached_property
    def output_specs(self) -> dict[str, Output]:
        """Every output (the families' and the derived ones), with the inputs it needs."""
        out = {}
        for name in self.outputs:
            f = self._all[name]
            out[name] = Output(name, f.unit, f.long_name, f.formula, self.needs(name), f.sign,
                               f.ratio, f.better)
        return out

    @functools.cached_property
    def bindable_specs(self) -> dict[str, Input]:
        """What a sweep file may bind (constant, axis, distribution): every input, and every
        formula node (then a leaf: its formula is skipped; any finite value accepted)."""
        out = dict(self.input_specs)
        for name, f in self._all.items():
            if name.endswith(ORIGINAL) or name in out:
                continue
            out[name] = Input(name, f.unit or "1",
                              f"{f.long_name or name} (given: its formula is skipped)",
                              None, -math.inf, math.inf, label=name.replace("_", " "))
        return out

    def code(self, output: str) -> int:
        """The kernel code of ``output``: its index in :attr:`outputs`."""
        return self.outputs.index(output)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of everything the generated kernels depend on: the families' modules,
        the derived formulas, the leaves. Part of every compiled kernel's name."""
        digest = hashlib.sha256()
        modules = dict.fromkeys(m for fam in self.families
                                for m in (fam.module, *(fn.__module__ for fn in fam.functions)))
        for module in modules:
            digest.update(Path(sys.modules[module].__file__).read_bytes())
        if self.derived:
            from sweep.model import scalar

            digest.update(Path(scalar.__file__).read_bytes())
        for d in self.derived:
            # the source names its parameters a0, a1, ...: the nodes they are matter too
            digest.update((d.name + "\0" + (d.source or "") + "\0" + ",".join(d.params)
                           + "\0").encode())
        digest.update(repr((self.leaves, self.outputs)).encode())
        return digest.hexdigest()

    def reference_nodes(self, x: dict) -> dict:
        """Per node, a function computing it with NumPy (the families' oracles and the
        derived formulas evaluated with NumPy); ``x`` holds the leaves as arrays."""
        from sweep.model.expr import numpy_function

        nodes: dict = {}
        replaced = [d.name for d in self.derived if d.name + ORIGINAL in self._all]

        def families(skip: str | None) -> dict:
            merged: dict = {}
            view = _Overrides(x, [r for r in replaced if r != skip], nodes)
            for fam in self.families:
                if fam.reference is None:
                    raise ModelError("", fam.name, "a family with a NumPy reference")
                merged.update(fam.reference(view))
            return merged

        nodes.update(families(None))
        for name, f in self._all.items():
            if name not in nodes and f not in self.derived:
                # a formula its family's oracle does not restate (yet): its scalar function,
                # vectorized (slow, and not independent: write the NumPy form when it stays)
                vec = np.vectorize(f.fn, otypes=[np.float64])

                def make(vec=vec, params=f.params):
                    return lambda: vec(*(x[p] if p in x else nodes[p]() for p in params))
                nodes[name] = _memo(make())
        for name in replaced:
            nodes[name + ORIGINAL] = families(name)[name]
        for d in self.derived:
            fn = numpy_function(d)

            def make(fn=fn, params=self._all[d.name].params):
                return lambda: fn(*(x[p] if p in x else nodes[p]() for p in params))
            nodes[d.name] = _memo(make())
        for name in self.bound:
            nodes[name] = (lambda name=name: x[name])
        return nodes


class _Overrides(dict):
    """The leaves, plus the nodes a derived output replaces (computed on first use): what a
    family's oracle reads as ``x``. A name that is neither (a node another family computes,
    such as the throughput family's ``tokens_per_s_per_gpu`` that the cost family reads) is
    read from the merged oracles, though ``in`` says no: an oracle takes a node from ``x``
    only when it is given, and computes it otherwise."""

    def __init__(self, leaves: dict, replaced: list[str], nodes: dict):
        super().__init__(leaves)
        self._replaced = set(replaced)
        self._nodes = nodes

    def __contains__(self, name) -> bool:
        return super().__contains__(name) or name in self._replaced

    def __getitem__(self, name):
        if super().__contains__(name):
            return super().__getitem__(name)
        if name in self._nodes:
            return self._nodes[name]()
        raise KeyError(name)


def _memo(get):
    cache: list = []

    def inner():
        if not cache:
            cache.append(get())
        return cache[0]
    return inner
