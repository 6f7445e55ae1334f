"""A reduce sweep's plan: the grid in large blocks (kept dims whole, at most
:data:`MAX_TASKS`), the partials' size and the memory check, and the plan in words. It
imports no Dask, xarray or Zarr, so that ``sweep plan`` stays light; the run is
:mod:`sweep.engine.reduce`."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from sweep.planning.folding import folded
from sweep.planning.planner import Plan, auto_chunks, defaults_line, human_bytes, make_plan
from sweep.spec.config import SweepSpec

#: Target points per reduce task, and the most tasks a reduce plan may have.
BLOCK_POINTS = 2**26
MAX_TASKS = 10_000
#: Most samples one reduce block of a sample-mode sweep draws (its inputs: 12 x 8 B each).
SAMPLE_BLOCK = 2**20
#: Fan-in of the tree reduction.
FAN_IN = 8
#: The most memory one task's partial statistics may take.
PARTIAL_BYTES_MAX = 64 * 2**20


def make_reduce_plan(spec: SweepSpec, store: str | Path | None = None,
                     block_points: int = BLOCK_POINTS) -> Plan:
    """The plan of a reduce sweep, resolved: the grid in blocks of about ``block_points``
    points, kept dims whole, at most :data:`MAX_TASKS` blocks, and its folding (strides,
    weights, thresholds, histogram edges: :func:`sweep.planning.folding.resolve_folding`,
    whose first pass over a subsampled grid runs here, on the NumPy backend). Writes
    nothing."""
    if spec.reduce is None:
        raise ValueError("the sweep has no reduce section")
    base = make_plan(spec, store)
    kept = [d for d, name in enumerate(base.dims) if name not in spec.reduce.over]
    fixed = {d: base.shape[d] for d in kept}
    fixed.update({d: 1 for d in base.by_label})   # one label per block
    if base.sampled:
        # a block's samples are drawn whole (an input table row per sampled input):
        # `sample.chunk`, or at most SAMPLE_BLOCK samples, per block; at most 1000 blocks
        n = base.shape[-1]
        length = max(spec.sample.chunk or SAMPLE_BLOCK, -(-n // 1000))
        fixed[len(base.shape) - 1] = min(n, length)
    target = block_points
    while True:
        block = auto_chunks(base.shape, 1, fixed, target)
        n_blocks = math.prod(-(-n // c) for n, c in zip(base.shape, block, strict=True))
        if n_blocks <= MAX_TASKS:
            break
        target *= 2
    plan = dataclasses.replace(base, chunk_shape=block)   # a SamplePlan stays one
    from sweep.planning.planner import PlanError

    for a in base.axes:
        w = spec.reduce.weights.get(a.name)
        if w is not None and len(w) != len(a):
            raise PlanError(f"reduce.weights.{a.name}: {len(w)} weight(s) for an axis of "
                            f"{len(a)} values; give one weight per value")
    partial = partial_bytes(plan)
    n_groups = math.prod(base.shape[d] for d in kept)
    bins = spec.reduce.histogram.bins + 2 if spec.reduce.histogram else 1
    if partial > PARTIAL_BYTES_MAX:
        raise PlanError(
            f"reduce partials of {human_bytes(partial)} per task ({n_groups:,} kept "
            f"coordinate(s) x {len(spec.outputs)} output(s) x {bins} histogram bins), over "
            f"{human_bytes(PARTIAL_BYTES_MAX)}; fold more dims (reduce.over) or use fewer bins")
    from sweep.planning.folding import resolve_folding

    return dataclasses.replace(plan, folding=resolve_folding(plan))


def partial_bytes(plan: Plan) -> int:
    """Bytes of one task's partial statistics."""
    red = plan.spec.reduce
    kept = [d for d, name in enumerate(plan.dims) if name not in red.over]
    n_groups = math.prod(plan.shape[d] for d in kept)
    bins = red.histogram.bins + 2 if red.histogram else 1
    thresholds = max((len(v) for v in (*red.below.values(), *red.above.values())), default=0)
    return n_groups * len(folded(plan)) * (8 * 9 + 16 * bins + 16 * thresholds)


def check_reduce_memory(plan: Plan, workers: int, fraction: float = 0.5) -> None:
    """Refuse (before computing) partials that, held by ``workers`` tasks and the merges of
    the tree at once, would pass ``fraction`` of this machine's memory."""
    from sweep.planning import preflight

    preflight.task_memory(partial_bytes(plan) * (FAN_IN + 2), workers,
                          f"reduce partials of {human_bytes(partial_bytes(plan))} per task "
                          "(with the merge tree)",
                          "fold more dims (reduce.over), use fewer histogram bins, or fewer "
                          "--workers", fraction)



def input_unit(plan: Plan, name: str) -> str:
    specs = plan.model.bindable_specs
    return specs[name].unit if name in specs else ""


def describe_plan(plan: Plan) -> str:
    """A reduce plan in words, for ``sweep plan``."""
    red = plan.spec.reduce
    kept = [n for n in plan.dims if n not in red.over]
    lines = [
        f"sweep {plan.spec.name!r} (reduce mode)",
        *plan.grid_lines(),
        f"  outputs     {', '.join(plan.outputs)}",
        f"  folded      {', '.join(red.over)}; kept: {', '.join(kept) or '(none)'}",
        f"  blocks      {plan.chunk_shape} -> {plan.n_chunks:,} task(s) of <= "
        f"{math.prod(plan.chunk_shape):,} points",
        f"  engine      {_engine_line(plan)}",
        f"  result      {plan.store} (a small Dataset; the grid's "
        f"{human_bytes(plan.bytes_total)} are never stored)",
    ]
    lines += _histogram_lines(plan) + _question_lines(plan)
    if red.question:
        lines.insert(1, f"  question    {red.question}")
    defaults = defaults_line(plan.defaults)
    if defaults:
        lines.append(f"  {defaults}")
    return "\n".join(lines)


def _histogram_lines(plan: Plan) -> list[str]:
    """The resolved histogram edges, one line per output."""
    hist = plan.spec.reduce.histogram
    f = plan.folding
    if not hist or f is None:
        return []
    lines = []
    for k, name in enumerate(plan.outputs):
        edges = f.edges[k]
        how = "given" if name in hist.range else "first pass"
        scale = "log" if f.log_scale[k] else "linear"
        lines.append(f"  {'histogram' if not lines else '':<11} {name}: {hist.bins} {scale} "
                     f"bins over [{edges[0]:.4g}, {edges[-1]:.4g}] ({how})")
    return lines


def _engine_line(plan: Plan) -> str:
    """The reduce engine the file's ``backend`` gives this plan, and why (without probing
    for a GPU: planning loads no compiler)."""
    from sweep.backends import AUTO_NUMPY_REDUCE_POINTS, REDUCE_ENGINES

    name = plan.spec.backend
    if name != "auto":
        return name if name in REDUCE_ENGINES else f"{name}: no reduce engine (numpy, numba " \
                                                    "or cuda)"
    if plan.n_points <= AUTO_NUMPY_REDUCE_POINTS:
        return (f"numpy (backend auto: at most {AUTO_NUMPY_REDUCE_POINTS:,} points, no "
                "compiler wait; --backend to choose)")
    return (f"cuda where a GPU is usable, else numba (backend auto: over "
            f"{AUTO_NUMPY_REDUCE_POINTS:,} points; --backend to choose)")


def _question_lines(plan: Plan) -> list[str]:
    """``best:``, ``compare:`` and the thresholds, as the run will answer them."""
    red = plan.spec.reduce
    lines = []
    if red.best is not None:
        b = red.best
        bounds = constraints_text(b)
        lines.append(f"  best        {b.sense}imum of {b.objective} over "
                     f"{', '.join(red.over)}, subject to {bounds}")
    if red.compare is not None:
        c = red.compare
        pairs = ", ".join(f"{a} vs {b}" for a, b in c.pairs)
        lines.append(f"  compare     {pairs} ({c.output or plan.outputs[0]}, along {c.axis})")
    for section, given in (("below", red.below), ("above", red.above)):
        for name, values in given.items():
            lines.append(f"  {section:<11} {name}: " + ", ".join(f"{v:g}" for v in values))
    if red.quantiles:
        lines.append("  quantiles   " + ", ".join(f"{q:g}" for q in red.quantiles))
    return lines


def constraints_text(best) -> str:
    """``best:``'s ``subject_to`` in words: ``tokens_per_s_per_user >= 50; ...`` (``none``
    where there is no bound)."""
    return "; ".join(
        " and ".join(f"{n} {op} {v:g}" for op, v in ((">=", lim.min), ("<=", lim.max))
                     if v is not None)
        for n, lim in best.subject_to.items()) or "none"
