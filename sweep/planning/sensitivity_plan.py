"""The plan of a Sobol' sensitivity run (``sample: {method: saltelli}``) and of a Morris
screening: the sampled inputs, the categorical groups, the chunks of base rows and the
batches the confidence intervals resample, resolved before anything runs. The run is
:mod:`sweep.engine.sensitivity` (and :mod:`sweep.engine.screening`)."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweep.chunks import ChunkInputs, fill_inputs
from sweep.model import model_for
from sweep.planning.planner import (
    PlanError,
    constants_for,
    defaults_line,
    defaults_used,
)
from sweep.storage.location import StoreURL

#: At least this many batches of base rows keep their sums apart (for the bootstrap)...
BATCHES = 64
#: ...of at most this many base rows each (a function of N only, never of the chunking).
BATCH_ROWS_MAX = 4096
#: Target bytes of one chunk's working memory (inputs, samples, outputs; float64).
CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class SensitivityPlan:
    """A sample-mode sweep planned for sensitivity analysis: computes nothing."""

    spec: object
    axes: tuple            # the categorical axes (sweep.spec.config.Axis), file order
    names: tuple[str, ...]  # the sampled inputs, in the order of `distributions`
    constants: dict[str, float]
    rows_per_chunk: int
    batch_rows: int
    store: Path | StoreURL

    @property
    def n(self) -> int:
        return self.spec.sample.n

    @property
    def defaults(self) -> dict[str, dict]:
        """The inputs left at their defaults (see :func:`sweep.planning.planner.defaults_used`)."""
        return defaults_used(self.spec, self.constants, self.model)

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.spec.outputs)

    @functools.cached_property
    def model(self):
        """The model the file evaluates (see :func:`sweep.model.model_for`)."""
        return model_for(self.spec)

    @property
    def codes(self) -> np.ndarray:
        return np.array([self.model.code(o) for o in self.outputs], dtype=np.int64)

    @property
    def group_shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def n_batches(self) -> int:
        return self.n // self.batch_rows

    @property
    def n_evaluations(self) -> int:
        return self.n * (self.d + 2) * math.prod(self.group_shape)

    def chunks(self) -> list[tuple[int, int]]:
        """Base-row ranges ``[start, stop)``, each a whole number of batches."""
        step = self.rows_per_chunk
        return [(s, min(s + step, self.n)) for s in range(0, self.n, step)]

    @functools.cached_property
    def by_label(self) -> tuple[int, ...]:
        """The categorical dims (numbers) some distribution depends on (given per label,
        or relative to each label's value): those groups are evaluated one label at a
        time."""
        from sweep.planning.sampling import dependence

        names = {d for deps in dependence(self.spec, self.axes).values() for d in deps}
        return tuple(i for i, a in enumerate(self.axes) if a.name in names)

    def label_groups(self) -> list[dict[int, int]]:
        """Each combination of labels of :attr:`by_label` (``{dim: index}``); one empty
        combination where no distribution depends on the labels."""
        return [dict(zip(self.by_label, combo, strict=True)) for combo in
                itertools.product(*(range(self.group_shape[d]) for d in self.by_label))]

    def labels_of(self, at: dict[int, int]) -> dict[str, int]:
        """``{dim number: index}`` as the samplers take it: ``{axis name: index}``."""
        return {self.axes[d].name: i for d, i in at.items()}

    def inputs(self, samples: np.ndarray, at: dict[int, int] | None = None) -> ChunkInputs:
        """Kernel inputs for ``samples`` (rows: points, columns: :attr:`names`) along the
        last dim, after the categorical axes (the dims of ``at`` held at one label)."""
        at = at or {}
        k = samples.shape[0]
        along = [(d, {n: v[at[d]:at[d] + 1] for n, v in axis.binds.items()} if d in at
                  else axis.binds) for d, axis in enumerate(self.axes)]
        along.append((len(self.axes), {name: samples[:, j] for j, name in enumerate(self.names)}))
        shape = tuple(1 if d in at else n for d, n in enumerate(self.group_shape))
        return fill_inputs(self.constants, along, (*shape, k), self.model)

    def evaluate(self, backend, make) -> np.ndarray:
        """The outputs (float64) at the samples ``make(labels)`` returns (rows: points,
        columns: :attr:`names`; ``labels``: ``{axis name: index}`` of the dims the
        distributions depend on): shape ``(n_outputs, *groups, points)``; one kernel call,
        or one per label where the samples depend on the labels."""
        groups = self.label_groups()
        if not self.by_label:
            values, _ = backend.compute(self.inputs(make({})), self.codes,
                                        np.dtype(np.float64))
            return values
        out = None
        for at in groups:
            v, _ = backend.compute(self.inputs(make(self.labels_of(at)), at), self.codes,
                                   np.dtype(np.float64))
            if out is None:
                out = np.empty((v.shape[0], *self.group_shape, v.shape[-1]))
            index = tuple(slice(at[d], at[d] + 1) if d in at else slice(None)
                          for d in range(len(self.group_shape)))
            out[(slice(None), *index)] = v
        return out


def make_sensitivity_plan(spec, store: str | Path | None = None,
                          require_saltelli: bool = True) -> SensitivityPlan:
    """Plan a sample-mode sweep for :func:`run_sensitivity` (Sobol' indices need
    ``sample.method: saltelli``; ``require_saltelli=False`` for other uses of the
    evaluator, such as Morris screening)."""

    if spec.sample is None:
        raise PlanError("`sweep sensitivity` needs a sweep file with `distributions` and a "
                        "`sample` section (see the README's sample mode)")
    if require_saltelli and spec.sample.method != "saltelli":
        raise PlanError(f"sample.method: {spec.sample.method!r}; Sobol' indices need "
                        "`method: saltelli` (A, B and one mixed matrix per input)")
    from sweep.planning.axes import resolved_axes

    axes = tuple(resolved_axes(spec))
    from sweep.planning.sampling import relative_problems

    problems = relative_problems(spec, axes)
    if problems:
        raise PlanError("\n".join(problems))
    constants = constants_for(spec, axes)
    n, d = spec.sample.n, len(spec.distributions)
    per_batch = max(1, min(n // BATCHES, BATCH_ROWS_MAX))
    # per base row: D + 2 points, each with the kernel's input table, the stacked samples
    # and the outputs with their shifted copies and differences
    groups = math.prod(len(a) for a in axes)
    per_row = (d + 2) * (2 * len(model_for(spec).leaves) + 4 * len(spec.outputs) * groups) * 8
    rows = spec.sample.chunk or max(1, CHUNK_BYTES // per_row)
    rows = max(per_batch, rows // per_batch * per_batch)
    path = spec.store_path(store)
    return SensitivityPlan(spec=spec, axes=axes, names=tuple(spec.distributions),
                           constants=constants, rows_per_chunk=min(rows, n), batch_rows=per_batch,
                           store=path)


def describe_plan(plan: SensitivityPlan) -> str:
    """What a sensitivity run will do, in a few lines."""
    s = plan.spec.sample
    groups = " x ".join(f"{a.name} ({len(a)})" for a in plan.axes) or "none"
    return "\n".join([
        f"{plan.spec.name}: sensitivity of {', '.join(plan.outputs)} to {plan.d} sampled "
        f"input(s): {', '.join(plan.names)}",
        f"  design    {s.method}, N = {plan.n:,} base samples, seed {s.seed}: "
        f"{plan.n_evaluations:,} evaluations (categorical dims: {groups})",
        f"  chunks    {len(plan.chunks())} of {plan.rows_per_chunk:,} base rows; "
        f"{plan.n_batches} batch(es) of {plan.batch_rows:,} for the intervals",
        f"  target    {plan.store}",
        *([f"  {line}"] if (line := defaults_line(plan.defaults)) else []),
    ])




@dataclass(frozen=True)
class MorrisPlan:
    """A screening plan: the sample-mode plan whose evaluator it uses, the number of
    trajectories and of levels (checked here, once)."""

    base: SensitivityPlan
    trajectories: int
    levels: int = 4

    @property
    def spec(self):
        return self.base.spec

    @property
    def store(self) -> Path | StoreURL:
        return self.base.store

    @property
    def names(self) -> tuple[str, ...]:
        return self.base.names

    @property
    def defaults(self) -> dict[str, dict]:
        return self.base.defaults


def make_morris_plan(spec, trajectories: int, store: str | Path | None = None,
                     levels: int = 4) -> MorrisPlan:
    """The plan of a Morris screening of ``spec``'s sampled inputs: ``trajectories``
    trajectories on a grid of ``levels`` levels (``trajectories * (D + 1)`` evaluations
    per label of the categorical axes)."""
    if spec.sample is None:
        raise PlanError("`sweep sensitivity --morris` needs a sweep file with "
                        "`distributions` and a `sample` section")
    if trajectories < 2:
        raise PlanError(f"--morris: {trajectories}; expected at least 2 trajectories")
    if levels < 2:
        raise PlanError(f"levels: {levels}; expected at least 2")
    return MorrisPlan(make_sensitivity_plan(spec, store, require_saltelli=False),
                      trajectories, levels)
