"""``derived:`` expressions of a sweep file: parsed into an AST, checked against a whitelist,
and turned into a scalar formula (compiled into the kernels like the families' own) and a
NumPy evaluation (the oracle). Text from a sweep file is data: it is never passed to
``eval`` or ``exec``: only source that this module writes from a checked tree is compiled,
and its function is built from the code object without running anything.

Allowed: numbers, ``pi``, names of the model's nodes (inputs, outputs, intermediates, the
file's own inputs and derived outputs), ``+ - * / **``, unary minus and plus, parentheses,
comparisons (1.0 when true, 0.0 when false; chains allowed), and the functions
``min max abs sqrt exp log log10 sin cos tan floor ceil where(cond, a, b)``.
"""

from __future__ import annotations

import ast
import keyword
import math
import threading
from collections.abc import Iterable

import numpy as np

from sweep.model import scalar
from sweep.model.family import Formula, define_functions

#: Longest accepted expression, in characters, and deepest nesting of its syntax tree.
MAX_EXPR_CHARS = 2000
MAX_DEPTH = 64
#: Functions an expression may call, with their number of arguments (None: two or more).
FUNCTIONS: dict[str, int | None] = {
    "min": None, "max": None, "abs": 1, "sqrt": 1, "exp": 1, "log": 1, "log10": 1,
    "sin": 1, "cos": 1, "tan": 1, "floor": 1, "ceil": 1, "where": 3,
}
CONSTANTS = {"pi": math.pi}
ALLOWED = ("numbers, pi, names of inputs, outputs and derived outputs, + - * / **, unary "
           "minus, parentheses, comparisons, and " + " ".join(FUNCTIONS))
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!="}


class ExprError(ValueError):
    """A refused expression: ``token`` is the offending part, ``expected`` what is allowed."""

    def __init__(self, token: str, expected: str):
        self.token, self.expected = token, expected
        super().__init__(f"{expected} (got {token!r})")


def reserved(name: str) -> bool:
    """Names a file's input or derived output may not take: keywords, the expression
    language's own names, and names starting with ``_``."""
    return (keyword.iskeyword(name) or name in FUNCTIONS or name in CONSTANTS
            or name.startswith("_"))


def parse(text: str, names: Iterable[str], max_chars: int = MAX_EXPR_CHARS
          ) -> tuple[ast.expr, tuple[str, ...]]:
    """Parse and check ``text``; return its tree and the node names it reads, in order of
    first appearance. ``names``: every name it may read; ``max_chars``: the longest text
    accepted (the engine's own expressions may be longer than a file's). Raises
    :class:`ExprError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError(str(text), "a non-empty expression")
    if len(text) > max_chars:
        raise ExprError(text[:40] + "...", f"an expression of at most {max_chars} "
                        f"characters ({len(text):,} given)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExprError(text, f"a valid expression ({type(exc).__name__}: "
                        f"{getattr(exc, 'msg', exc)})") from None
    known = names if isinstance(names, set) else set(names)
    used: dict[str, None] = {}
    _check(tree.body, known, used)
    return tree.body, tuple(used)


def _check(node: ast.AST, known: set[str], used: dict[str, None], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ExprError(_token(node)[:40] + "...", f"an expression nested at most {MAX_DEPTH} "
                        "deep (split it into several derived outputs)")
    depth += 1
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExprError(repr(node.value), "numbers only (no strings, booleans or None); "
                            "allowed: " + ALLOWED)
        if not (abs(node.value) < 1.8e308):     # 1e999 parses as inf; huge ints overflow
            raise ExprError(str(node.value)[:40], "a finite number")
        return
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return
        if node.id not in known:
            from difflib import get_close_matches

            close = get_close_matches(node.id, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExprError(node.id, "a name of an input, an output or a derived output"
                            + hint)
        used.setdefault(node.id, None)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, known, used, depth)
        _check(node.right, known, used, depth)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, known, used, depth)
        return
    if isinstance(node, ast.Compare) and all(type(o) in _CMPOPS for o in node.ops):
        _check(node.left, known, used, depth)
        for c in node.comparators:
            _check(c, known, used, depth)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExprError(ast.unparse(node.func), "a call of one of " + " ".join(FUNCTIONS))
        if node.keywords:
            raise ExprError(ast.unparse(node), "positional arguments only")
        arity = FUNCTIONS[node.func.id]
        n = len(node.args)
        if (arity is None and n < 2) or (arity is not None and n != arity) or any(
                isinstance(a, ast.Starred) for a in node.args):
            want = "two or more" if arity is None else str(arity)
            raise ExprError(ast.unparse(node), f"{node.func.id}() with {want} argument(s)")
        for a in node.args:
            _check(a, known, used, depth)
        return
    raise ExprError(_token(node), "only " + ALLOWED)


def _token(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the message
        return type(node).__name__


# --------------------------------------------------------------------------- scalar source


def _py(node: ast.expr, arg: dict[str, str]) -> str:
    """Python source of a checked tree, as calls of :mod:`sweep.model.scalar`."""
    if isinstance(node, ast.Constant):
        return repr(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return repr(CONSTANTS[node.id])
        return arg[node.id]
    if isinstance(node, ast.BinOp):
        a, b = _py(node.left, arg), _py(node.right, arg)
        op = _BINOPS[type(node.op)]
        if op == "/":
            return f"_div({a}, {b})"
        if op == "**":
            return f"_pow({a}, {b})"
        return f"({a} {op} {b})"
    if isinstance(node, ast.UnaryOp):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_py(node.operand, arg)})"
    if isinstance(node, ast.Compare):
        terms = [_py(node.left, arg)] + [_py(c, arg) for c in node.comparators]
        parts = [f"{terms[i]} {_CMPOPS[type(op)]} {terms[i + 1]}"
                 for i, op in enumerate(node.ops)]
        return f"(1.0 if {' and '.join(parts)} else 0.0)"
    assert isinstance(node, ast.Call)
    name = node.func.id
    args = [_py(a, arg) for a in node.args]
    if name in ("min", "max"):
        out = args[0]
        for a in args[1:]:
            out = f"_{name}({out}, {a})"
        return out
    return f"_{name}({', '.join(args)})"


def formula(name: str, text: str, names: Iterable[str], unit: str = "",
            long_name: str = "", max_chars: int = MAX_EXPR_CHARS) -> Formula:
    """The derived output ``name`` computed by ``text``, as a :class:`Formula` whose function
    is Python source written here from the checked tree (parameters ``a0, a1, ...``, one per
    name read). Raises :class:`ExprError`."""
    tree, used = parse(text, names, max_chars)
    arg = {n: f"a{i}" for i, n in enumerate(used)}
    body = _py(tree, arg)
    fname = f"derived_{name}"
    source = f"def {fname}({', '.join(arg.values())}):\n    return {body}\n"
    namespace = {f.__name__: f for f in scalar.FUNCTIONS}
    namespace["NAN"] = math.nan
    fn = define_functions(source, f"<derived {name}>", namespace)[fname]
    return Formula(name, fn, used, True, unit, long_name or name, text.strip(), source)


# --------------------------------------------------------------------------- NumPy


#: Parsed derived formulas, by text: parsed once per process, under a lock (the NumPy
#: engines evaluate chunks on several threads, and CPython's parser is not thread-safe).
_PARSED: dict[str, tuple[ast.expr, tuple[str, ...]]] = {}
_PARSE_LOCK = threading.Lock()


def _parsed(text: str) -> tuple[ast.expr, tuple[str, ...]]:
    with _PARSE_LOCK:
        hit = _PARSED.get(text)
        if hit is None:
            hit = _PARSED[text] = parse(text, _AnyName(), max_chars=len(text) + 1)
        return hit


def numpy_function(f: Formula):
    """A NumPy evaluation of derived formula ``f`` (its ``formula`` text), taking the names
    it reads positionally, in ``f.params`` order: an interpreter of the checked tree,
    independent of the scalar source."""
    tree, used = _parsed(f.formula)
    arg = dict(zip(used, range(len(used)), strict=True))

    def fn(*values):
        with np.errstate(all="ignore"):
            return np.asarray(_np(tree, values, arg), dtype=np.float64)
    return fn


class _AnyName(set):
    def __contains__(self, item) -> bool:
        return True


def _np(node: ast.expr, values, arg):
    if isinstance(node, ast.Constant):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return np.float64(CONSTANTS[node.id])
        return values[arg[node.id]]
    if isinstance(node, ast.BinOp):
        a, b = _np(node.left, values, arg), _np(node.right, values, arg)
        op = _BINOPS[type(node.op)]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
        bad = ((a < 0) & (np.floor(b) != b)) | ((a == 0) & (b < 0))
        return np.where(bad, np.nan, np.power(np.where(bad, 1.0, a), b))
    if isinstance(node, ast.UnaryOp):
        v = _np(node.operand, values, arg)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        terms = [_np(node.left, values, arg)] + [_np(c, values, arg) for c in node.comparators]
        ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}
        ok = np.ones((), bool)
        for i, op in enumerate(node.ops):
            ok = ok & ops[_CMPOPS[type(op)]](terms[i], terms[i + 1])
        return ok.astype(np.float64)
    name = node.func.id
    a = [_np(x, values, arg) for x in node.args]
    if name in ("min", "max"):
        out = a[0]
        for b in a[1:]:
            pick = np.minimum if name == "min" else np.maximum   # both propagate NaN
            out = pick(out, b)
        return out
    if name == "where":
        c = a[0]
        return np.where(np.isnan(c), np.nan, np.where(c != 0, a[1], a[2]))
    x = a[0]
    if name in ("log", "log10"):
        f = np.log if name == "log" else np.log10
        return np.where(x > 0, f(np.where(x > 0, x, 1.0)), np.nan)
    if name == "sqrt":
        return np.where(x >= 0, np.sqrt(np.where(x >= 0, x, 0.0)), np.nan)
    return {"abs": np.abs, "exp": np.exp, "sin": np.sin, "cos": np.cos, "tan": np.tan,
            "floor": np.floor, "ceil": np.ceil}[name](x)
