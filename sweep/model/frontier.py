"""The model nodes that read a measured frontier (see :mod:`sweep.frontiers.interp` for the
interpolation rule and the tables these nodes read).

With a frontier axis, ``tokens_per_s_per_gpu`` and ``output_tokens_per_s_per_gpu`` are
read from each label's measured frontier at the target interactivity
``tokens_per_s_per_user`` (a leaf then: the file binds it), instead of the roofline's
formulas; every other node follows as usual. The frontier's interpolation tables are
inputs of the model that the frontier axis sets per label (names starting with ``_``, the
engine's own): per point its log breakpoint, per series and segment the four coefficients
of a cubic in the log distance from the breakpoint, and the measured range.
"""

from __future__ import annotations

#: Prefix of the frontier's inputs and nodes (names starting with ``_`` are the engine's).
PREFIX = "_frontier"
#: The nodes a frontier gives, and the series of the interpolation tables each reads
#: (``t``: total tokens/s per GPU, ``o``: output tokens/s per GPU).
READS = {"tokens_per_s_per_gpu": "t", "output_tokens_per_s_per_gpu": "o"}
#: The target interactivity a frontier is read at (tokens/s per user).
AT = "tokens_per_s_per_user"


def name(kind: str, i: int | None = None, series: str = "", j: int | None = None) -> str:
    """The name of a table input: ``low``/``high`` (measured range), ``x`` i (breakpoint),
    ``c`` i series j (coefficient j of segment i)."""
    tail = "" if i is None else f"{i}"
    return f"{PREFIX}_{kind}{series}{tail}" + ("" if j is None else "abcd"[j])


def input_names(n: int) -> list[str]:
    """The table inputs of frontiers of at most ``n`` points, in a fixed order."""
    names = [name("low"), name("high")]
    names += [name("x", i) for i in range(n)]
    for s in READS.values():
        names += [name("c", i, s, j) for i in range(n) for j in range(4)]
    return names


def _tree(lo: int, hi: int, s: str, out: dict[str, str]) -> str:
    """Add to ``out`` the nodes that pick among segments ``lo..hi-1`` of series ``s`` (a
    balanced search on the breakpoints, each node small: a generated call takes few
    arguments) and return the name of the top one."""
    if hi - lo == 1:
        node = f"{PREFIX}_p{s}{lo}"
        u = f"({PREFIX}_lu - {name('x', lo)})"
        a, b, c, d = (name("c", lo, s, j) for j in range(4))
        out[node] = f"{a} + {u} * ({b} + {u} * ({c} + {u} * {d}))"
        return node
    mid = (lo + hi) // 2
    left, right = _tree(lo, mid, s, out), _tree(mid, hi, s, out)
    node = f"{PREFIX}_n{s}{lo}_{hi}"
    out[node] = f"where({PREFIX}_lu < {name('x', mid)}, {left}, {right})"
    return node


def formulas(n: int) -> dict[str, str]:
    """The nodes that read frontiers of at most ``n`` points at :data:`AT`, in an order
    where each reads only those before it: the log target, per series the segment cubics and
    the search among them, then each node of :data:`READS` (replacing the throughput
    family's), NaN outside the label's measured range."""
    inside = f"({AT} >= {name('low')}) * ({AT} <= {name('high')})"
    out = {f"{PREFIX}_lu": f"log({AT})"}
    for node, s in READS.items():
        top = _tree(0, n, s, out)
        out[node] = f"where({inside}, exp({top}), 0.0 / 0.0)"
    return out
