"""How a model family is declared: its inputs as data, its formulas as plain scalar functions.

A family is one module that builds a :class:`Family` and registers, with the decorators of
that object, every formula it computes. A formula is a plain Python function of float64
scalars whose *parameter names are the names of other nodes* (inputs, or other formulas):
the registry reads the graph from those signatures, so nothing else (``needs``, evaluation
order, input and output order) is written by hand. Helpers (``@family.helper``) are
functions the formulas call that are not nodes of the graph.

The functions are compiled with Numba for the CPU and CUDA and translated to CUDA C for the
``cupy`` backend, so they keep to a small subset: float arguments, local assignments,
``if``/``else``, ``return``, arithmetic, comparisons, ``and``/``or``/``not``, calls of
``math`` functions, of helpers and of other formulas, and module constants that are
numbers. Every division is guarded (``if not den > 0.0: return NAN``), so that a zero or NaN
denominator gives NaN on every backend and never an exception.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Input:
    """One model input: unit, meaning, default (``None``: must be set) and valid range.

    ``integer`` inputs accept only whole numbers (they still travel as float64)."""

    name: str
    unit: str
    description: str
    default: float | None
    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True
    integer: bool = False
    #: a short name for axis labels (``utilization``, ``GPU-hour price``); default: the
    #: name with spaces
    label: str = ""

    @property
    def short(self) -> str:
        """The short name (:attr:`label`, else the name with spaces)."""
        return self.label or self.name.replace("_", " ")

    def expected(self) -> str:
        """The valid range in words, for error messages."""
        lo = "[" if self.low_inclusive else "("
        hi = "]" if self.high_inclusive else ")"
        unit = "(dimensionless)" if self.unit == "1" else self.unit
        kind = "an integer" if self.integer else "a finite number"
        return f"{kind} in {lo}{_fmt(self.low)}, {_fmt(self.high)}{hi} {unit}"

    def accepts(self, value: float) -> bool:
        """Whether ``value`` lies in the valid range (NaN and inf never do)."""
        if not math.isfinite(value):
            return False
        if self.integer and value != math.floor(value):
            return False
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below


@dataclass(frozen=True)
class Output:
    """One model output: unit, long name, formula in words and the inputs it reads."""

    name: str
    unit: str
    long_name: str
    formula: str
    needs: tuple[str, ...]
    #: what the model knows of its values: ``positive`` (> 0 wherever finite, bar zero
    #: prices or powers), ``signed`` (may be zero or negative), ``""`` (nothing)
    sign: str = ""
    #: whether the ratio of two of its values means something (costs, throughputs,
    #: energy: "x 1.7 lower"), so that summaries print it; not for margins, fractions of
    #: a price or break-even points, nor for a file's derived outputs
    ratio: bool = False
    #: which way is better, for charts that say so: ``lower`` (costs, energy, latency),
    #: ``higher`` (throughputs, margins), ``""`` (neither, or unknown)
    better: str = ""


@dataclass(frozen=True)
class Formula:
    """One computed node of the graph: its function, the nodes it reads (the function's
    parameter names, in order) and, for an output, its unit, long name and formula text."""

    name: str
    fn: Callable[..., float]
    params: tuple[str, ...]
    output: bool
    unit: str = ""
    long_name: str = ""
    formula: str = ""
    #: the function's source, for functions made from text (``derived:`` expressions)
    source: str | None = None
    #: see :attr:`Output.sign`
    sign: str = ""
    #: see :attr:`Output.ratio`
    ratio: bool = False
    #: see :attr:`Output.better`
    better: str = ""


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass
class Family:
    """A model family: inputs (data) and formulas (functions), in declaration order.

    ``module`` is the name of the module that declares the family: the code generators read
    its source and its numeric constants from there.
    """

    name: str
    module: str
    description: str = ""
    inputs: tuple[Input, ...] = ()
    formulas: list[Formula] = field(default_factory=list)
    helpers: list[Callable[..., float]] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    #: the family's NumPy oracle (see :func:`sweep.model.cost.reference`), set by its module
    reference: Callable[[dict], dict] | None = None
    #: lines that spell out a headline's arithmetic, called as ``explain(per_label, num,
    #: shown)`` (see :func:`sweep.model.cost.explain`)
    explain: Callable[..., list[str]] | None = None
    #: every sweep records the defaults of all this family's inputs among its constants
    #: (the cost family: so every store has since the first version); another family's
    #: defaults are recorded where a sweep reads them, or asks for one of its outputs
    defaults_always: bool = False

    def _node(self, fn: Callable, output: bool, unit: str, long_name: str,
              formula: str, sign: str = "", ratio: bool = False) -> Callable:
        params = tuple(inspect.signature(fn).parameters)
        if any(f.name == fn.__name__ for f in self.formulas):
            raise ValueError(f"family {self.name}: formula {fn.__name__!r} declared twice")
        if sign not in ("", "positive", "signed"):
            raise ValueError(f"family {self.name}: {fn.__name__}: sign {sign!r}")
        self.formulas.append(Formula(fn.__name__, fn, params, output, unit, long_name,
                                     formula, sign=sign, ratio=ratio))
        return fn

    def output(self, unit: str, long_name: str, formula: str = "", sign: str = "",
               ratio: bool | None = None) -> Callable:
        """Decorator: the function computes an output of the family (stored on request);
        ``sign``: ``positive`` or ``signed`` (see :attr:`Output.sign`); ``ratio``: whether
        ratios of its values mean something (:attr:`Output.ratio`; default: where the
        output is positive)."""
        ratio = sign == "positive" if ratio is None else ratio
        return lambda fn: self._node(fn, True, unit, long_name, formula, sign, ratio)

    def better(self, **which: str) -> None:
        """Say which way is better for some of the family's outputs
        (``FAMILY.better(usd_per_mtok="lower")``; see :attr:`Output.better`)."""
        for name, way in which.items():
            if way not in ("lower", "higher"):
                raise ValueError(f"family {self.name}: {name}: better {way!r}")
            i = next((i for i, f in enumerate(self.formulas) if f.name == name and f.output),
                     None)
            if i is None:
                raise ValueError(f"family {self.name}: no output {name!r}")
            self.formulas[i] = dataclasses.replace(self.formulas[i], better=way)

    def intermediate(self, unit: str = "", long_name: str = "") -> Callable:
        """Decorator: the function computes an intermediate node (shared, never stored)."""
        return lambda fn: self._node(fn, False, unit, long_name, "")

    def helper(self, fn: Callable) -> Callable:
        """Decorator: a function the formulas call that is not a node of the graph."""
        self.helpers.append(fn)
        return fn

    @property
    def functions(self) -> list[Callable[..., float]]:
        """Every function the generated code calls: helpers, then formulas."""
        return [*self.helpers, *(f.fn for f in self.formulas)]


def define_functions(source: str, filename: str, namespace: dict) -> dict[str, Callable]:
    """The top-level functions of ``source`` (Python written by the code generators, never
    a sweep file's text), with ``namespace`` as their globals, by name. The source is only
    compiled: each function is built from its code object, and no statement runs (no
    ``exec``, no ``eval``)."""
    module = compile(source, filename, "exec", dont_inherit=True)
    out = {}
    for const in module.co_consts:
        if isinstance(const, types.CodeType):
            out[const.co_name] = types.FunctionType(const, namespace, const.co_name)
    return out
