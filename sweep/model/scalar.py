"""The scalar functions a ``derived:`` expression compiles to, with the engine's NaN policy:
a zero or negative denominator, ``log`` of a non-positive value, ``sqrt`` of a negative value
and a negative base to a non-integer power give NaN, never an exception; NaN in gives NaN
out (``min``/``max`` included). Compiled with Numba for the CPU and CUDA and translated to
CUDA C like the families' formulas (so they keep to the same subset).
"""

from __future__ import annotations

import math

NAN = math.nan


def _div(a, b):
    if not b > 0.0:
        return NAN
    return a / b


def _pow(a, b):
    if a < 0.0 and _floor(b) != b:
        return NAN
    if a == 0.0 and b < 0.0:
        return NAN
    return a ** b


def _log(a):
    if not a > 0.0:
        return NAN
    return math.log(a)


def _log10(a):
    if not a > 0.0:
        return NAN
    return math.log10(a)


def _sqrt(a):
    if not a >= 0.0:
        return NAN
    return math.sqrt(a)


def _exp(a):
    return math.exp(a)


def _sin(a):
    return math.sin(a)


def _cos(a):
    return math.cos(a)


def _tan(a):
    return math.tan(a)


def _abs(a):
    if a < 0.0:
        return -a
    return a


def _floor(a):
    # float in, float out (math.floor would give an integer); Python's float modulo has the
    # divisor's sign, so a - a % 1 rounds towards minus infinity
    return a - a % 1.0


def _ceil(a):
    return -_floor(-a)


def _min(a, b):
    if a != a or b != b:
        return NAN
    if b < a:
        return b
    return a


def _max(a, b):
    if a != a or b != b:
        return NAN
    if b > a:
        return b
    return a


def _where(c, a, b):
    if c != c:
        return NAN
    if c != 0.0:
        return a
    return b


#: Every helper, in an order where callees come first (for the code generators).
FUNCTIONS = (_div, _floor, _pow, _log, _log10, _sqrt, _exp, _sin, _cos, _tan, _abs, _ceil,
             _min, _max, _where)
