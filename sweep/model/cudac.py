"""CUDA C for the ``cupy`` backend, generated from the same formula source as the Numba
kernels: a small translator of the restricted scalar subset (see :mod:`sweep.model.family`)
and the kernel around it (a flat grid-stride loop over a chunk's points, indices decoded per
point, so that the two GPU backends stay independent in their loops).

Functions become ``__host__ __device__`` C++ functions of doubles, so that a host C++ build
checks them on a machine without a GPU (``tests/cuda_c_host.cpp``). A zero (or NaN)
denominator gives NaN, never inf, as the Python source says.
"""

from __future__ import annotations

import ast
import hashlib
import math
from collections.abc import Callable

from sweep.model import scalar
from sweep.model.graph import Model, function_source

_MATH = {"log1p", "expm1", "log", "log10", "exp", "sqrt", "fmod", "sin", "cos", "tan",
         "floor", "ceil", "pow", "fabs", "atan", "tanh", "asin", "acos"}
_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}

PRELUDE = """\
#ifndef TS_HD
#define TS_HD __host__ __device__
#endif

TS_HD inline double ts_nan() {
#ifdef __CUDA_ARCH__
    return __longlong_as_double(0x7ff8000000000000LL);
#else
    return __builtin_nan("");  // host builds (g++, clang, nvcc's host pass)
#endif
}

TS_HD inline double ts_inf() {
#ifdef __CUDA_ARCH__
    return __longlong_as_double(0x7ff0000000000000LL);
#else
    return __builtin_inf();
#endif
}

// Python's float modulo: the result has the divisor's sign
TS_HD inline double ts_pymod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0.0 && ((m < 0.0) != (b < 0.0))) m += b;
    return m;
}
"""


class TranslationError(ValueError):
    """A formula outside the subset the translator knows."""


def _literal(x: float) -> str:
    if math.isnan(x):
        return "ts_nan()"
    if math.isinf(x):
        return "ts_inf()" if x > 0 else "(-ts_inf())"   # NVRTC has no math.h HUGE_VAL
    text = repr(float(x))
    return text if any(c in text for c in ".en") else text + ".0"


class _Function:
    """One Python function translated to C."""

    def __init__(self, fn: Callable, source: str, cname: str, resolve: Callable[[str], str]):
        tree = ast.parse(source)
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise TranslationError(f"{cname}: not a function")
        self.fn, self.cname, self.resolve = fn, cname, resolve
        self.params = [a.arg for a in node.args.args]
        self.globals = fn.__globals__
        assigned: dict[str, None] = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign | ast.AugAssign):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                for t in targets:
                    if not isinstance(t, ast.Name):
                        raise TranslationError(f"{cname}: assignment to {ast.unparse(t)}")
                    if t.id not in self.params:
                        assigned.setdefault(t.id, None)
        self.locals = set(self.params) | set(assigned)
        body = [s for s in node.body if not _is_docstring(s)]
        decl = [f"    double {', '.join('v_' + n for n in assigned)};"] if assigned else []
        args = ", ".join(f"double v_{p}" for p in self.params)
        self.text = "\n".join([f"TS_HD inline double {cname}({args}) {{", *decl,
                               *self.block(body, 1), "}"]) + "\n"

    def block(self, stmts, depth: int) -> list[str]:
        pad = "    " * depth
        out: list[str] = []
        for s in stmts:
            if _is_docstring(s):
                continue
            if isinstance(s, ast.Return):
                out.append(f"{pad}return {self.expr(s.value)};")
            elif isinstance(s, ast.Assign):
                out.append(f"{pad}v_{s.targets[0].id} = {self.expr(s.value)};")
            elif isinstance(s, ast.AugAssign) and type(s.op) in _BIN:
                out.append(f"{pad}v_{s.target.id} {_BIN[type(s.op)]}= {self.expr(s.value)};")
            elif isinstance(s, ast.If):
                out.append(f"{pad}if ({self.expr(s.test)}) {{")
                out += self.block(s.body, depth + 1)
                if s.orelse:
                    out.append(f"{pad}}} else {{")
                    out += self.block(s.orelse, depth + 1)
                out.append(f"{pad}}}")
            else:
                raise TranslationError(f"{self.cname}: statement {ast.unparse(s)!r} is outside "
                                       "the subset (assignments, if/else, return)")
        return out

    def expr(self, e: ast.expr) -> str:
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool):
                return "1" if e.value else "0"
            if isinstance(e.value, int | float):
                return _literal(float(e.value))
        elif isinstance(e, ast.Name):
            if e.id in self.locals:
                return f"v_{e.id}"
            value = self.globals.get(e.id)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _literal(float(value))
        elif isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) \
                and e.value.id == "math" and e.attr in ("pi", "e", "inf", "nan"):
            return _literal(getattr(math, e.attr))
        elif isinstance(e, ast.BinOp):
            a, b = self.expr(e.left), self.expr(e.right)
            if isinstance(e.op, ast.Pow):
                return f"pow({a}, {b})"
            if isinstance(e.op, ast.Mod):
                return f"ts_pymod({a}, {b})"
            if type(e.op) in _BIN:
                return f"({a} {_BIN[type(e.op)]} {b})"
        elif isinstance(e, ast.UnaryOp):
            v = self.expr(e.operand)
            if isinstance(e.op, ast.USub):
                return f"(-{v})"
            if isinstance(e.op, ast.UAdd):
                return v
            if isinstance(e.op, ast.Not):
                return f"(!{v})"
        elif isinstance(e, ast.Compare) and all(type(o) in _CMP for o in e.ops):
            terms = [self.expr(e.left)] + [self.expr(c) for c in e.comparators]
            parts = [f"{terms[i]} {_CMP[type(op)]} {terms[i + 1]}" for i, op in enumerate(e.ops)]
            return "(" + " && ".join(parts) + ")"
        elif isinstance(e, ast.BoolOp):
            op = " && " if isinstance(e.op, ast.And) else " || "
            return "(" + op.join(self.expr(v) for v in e.values) + ")"
        elif isinstance(e, ast.IfExp):
            return f"({self.expr(e.test)} ? {self.expr(e.body)} : {self.expr(e.orelse)})"
        elif isinstance(e, ast.Call) and not e.keywords:
            args = ", ".join(self.expr(a) for a in e.args)
            f = e.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                    and f.value.id == "math" and f.attr in _MATH:
                return f"{f.attr}({args})"
            if isinstance(f, ast.Name):
                if f.id == "abs":
                    return f"fabs({args})"
                if f.id == "float":
                    return f"((double)({args}))"
                return f"{self.resolve(f.id)}({args})"
        raise TranslationError(f"{self.cname}: {ast.unparse(e)!r} is outside the subset "
                               "(arithmetic, comparisons, math functions, helpers)")


def _is_docstring(s: ast.stmt) -> bool:
    return isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) \
        and isinstance(s.value.value, str)


def functions_c(model: Model) -> tuple[str, dict[str, str]]:
    """C text of every function the model's formulas call, and the C name of each formula
    node's function."""
    texts: list[str] = []
    names: dict[int, str] = {}

    def emit(fns, tag: str, resolve):
        for fn in fns:
            cname = f"ts_{tag}_{fn.__name__.lstrip('_')}"
            names[id(fn)] = cname
        for fn in fns:
            texts.append(_Function(fn, function_source(fn), names[id(fn)], resolve).text)

    for fam in model.families:
        by_name = {fn.__name__: fn for fn in fam.functions}

        def resolve(name, by_name=by_name, fam=fam):
            if name not in by_name:
                raise TranslationError(f"family {fam.name}: call of {name!r}, which is not a "
                                       "helper or formula of the family")
            return names[id(by_name[name])]
        emit(fam.functions, fam.name, resolve)
    scalar_by_name = {fn.__name__: fn for fn in scalar.FUNCTIONS}

    def resolve_scalar(name):
        if name not in scalar_by_name:
            raise TranslationError(f"call of {name!r} in a derived formula")
        return names[id(scalar_by_name[name])]

    if model.derived:
        emit(scalar.FUNCTIONS, "s", resolve_scalar)
    node_c: dict[str, str] = {}
    for name, f in model.formulas.items():
        if id(f.fn) in names:
            node_c[name] = names[id(f.fn)]
        else:
            cname = f"ts_derived_{name}"
            texts.append(_Function(f.fn, f.source, cname, resolve_scalar).text)
            node_c[name] = cname
    return "\n".join(texts), node_c


def kernel_source(model: Model, wanted: tuple[str, ...]) -> str:
    """The whole CUDA C source of the cupy kernels for ``wanted`` outputs of ``model``:
    ``materialize_f32`` and ``materialize_f64`` (see :data:`KERNEL_ARGS`)."""
    funcs, node_c = functions_c(model)
    order = model.order(wanted)
    idx = {n: i for i, n in enumerate(model.leaves)}

    def var(n: str) -> str:
        return f"x[{idx[n]}]" if n in idx else f"n_{n}"

    body = []
    for n in order:
        args = ", ".join(var(p) for p in model.formulas[n].params)
        body.append(f"    const double n_{n} = {node_c[n]}({args});")
    for k, w in enumerate(wanted):
        body.append(f"    vals[{k}] = {var(w)};")
    digest = hashlib.sha256((model.fingerprint + repr(wanted)).encode()).hexdigest()[:16]
    return "\n".join([
        f"// token-sweep: generated CUDA C for outputs {', '.join(wanted)} (model {digest}).",
        "// Written by sweep/model/cudac.py from the formulas' Python source; do not edit.",
        PRELUDE,
        f"#define TS_NIN {max(1, len(model.leaves))}",
        f"#define TS_NOUT {len(wanted)}",
        "",
        funcs,
        "// the requested outputs at one point, from its leaves x[TS_NIN]",
        "TS_HD inline void ts_values(const double *x, double *vals) {",
        *body,
        "}",
        _KERNELS,
    ])


#: The kernels' arguments, in order: ``table`` (TS_NIN, width) row-major, ``width``,
#: ``bind`` (TS_NIN,), ``shape`` (ndim,), ``ndim``, ``out`` (TS_NOUT, n_points), ``n_points``.
KERNEL_ARGS = ("table", "width", "bind", "shape", "ndim", "out", "n_points")

_KERNELS = r"""
// every requested output of point p (flat, row-major over `shape`) into out[k * n_points + p]
template <typename T>
TS_HD inline void ts_point(long long p, const double *table, long long width,
                           const long long *bind, const long long *shape, int ndim, T *out,
                           long long n_points) {
    long long idx[TS_NIN];
    long long rem = p;
    for (int d = ndim - 1; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
    }
    double x[TS_NIN];
    for (int i = 0; i < TS_NIN; ++i) {
        long long axis = bind[i];
        x[i] = table[i * width + (axis < 0 ? 0 : idx[axis])];
    }
    double vals[TS_NOUT];
    ts_values(x, vals);
    for (int k = 0; k < TS_NOUT; ++k) {
        out[k * n_points + p] = (T)vals[k];
    }
}

#ifdef __CUDACC__
// one thread per point, grid-stride; consecutive threads take consecutive points of the
// innermost axis, so stores coalesce
template <typename T>
__device__ void ts_materialize(const double *table, long long width, const long long *bind,
                               const long long *shape, int ndim, T *out, long long n_points) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < n_points;
         p += stride) {
        ts_point<T>(p, table, width, bind, shape, ndim, out, n_points);
    }
}

extern "C" __global__ void materialize_f32(const double *table, long long width,
                                           const long long *bind, const long long *shape,
                                           int ndim, float *out, long long n_points) {
    ts_materialize<float>(table, width, bind, shape, ndim, out, n_points);
}

extern "C" __global__ void materialize_f64(const double *table, long long width,
                                           const long long *bind, const long long *shape,
                                           int ndim, double *out, long long n_points) {
    ts_materialize<double>(table, width, bind, shape, ndim, out, n_points);
}
#endif
"""
