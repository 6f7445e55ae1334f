"""Sensitivity mode (Sobol' indices of a ``saltelli`` sample) and screening (Morris)."""

from __future__ import annotations

from pathlib import Path

from sweep.modes.base import RunOptions, target_check
from sweep.planning.preflight import Check
from sweep.storage.provenance import defaults_line


class Sensitivity:
    """``sweep sensitivity FILE`` and ``sweep run`` of a ``saltelli`` sample file."""

    name = "sensitivity"
    cluster_flags = False
    words = ("sample mode", "a sensitivity run")

    def plan(self, spec, opts: RunOptions):
        from sweep.engine.sensitivity import make_sensitivity_plan

        return make_sensitivity_plan(spec, opts.store)

    def describe(self, plan) -> str:
        from sweep.engine.sensitivity import describe_plan

        return describe_plan(plan)

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        return [target_check(plan.store, opts.overwrite)]

    def run(self, plan, opts: RunOptions):
        from sweep.engine.sensitivity import run_sensitivity

        return run_sensitivity(plan.spec, store=plan.store, overwrite=opts.overwrite,
                               backend=opts.backend, num_workers=opts.workers,
                               progress=opts.progress)

    def report(self, result, opts: RunOptions) -> str:
        from sweep.report.sensitivity_report import charts, describe
        from sweep.storage.location import beside

        folder = Path(opts.charts) if opts.charts else beside(result.store)
        pngs = charts(result.dataset, folder, prefix=result.store.name.removesuffix(".zarr"))
        return (f"{describe(result.dataset)}\n"
                f"wrote {result.store} and {', '.join(str(p) for p in pngs)}")


class Screening:
    """``sweep sensitivity FILE --morris R``: Morris elementary effects, a small store."""

    name = "screening"
    cluster_flags = False
    words = ("sample mode", "a screening run")

    def plan(self, spec, opts: RunOptions):
        from sweep.engine.sensitivity import make_sensitivity_plan
        from sweep.planning.planner import PlanError

        if spec.sample is None:
            raise PlanError("`sweep sensitivity --morris` needs a sweep file with "
                            "`distributions` and a `sample` section")
        if opts.trajectories < 2:
            raise PlanError(f"--morris: {opts.trajectories}; expected at least 2 trajectories")
        return MorrisPlan(make_sensitivity_plan(spec, opts.store, require_saltelli=False),
                          opts.trajectories)

    def describe(self, plan) -> str:
        d, r = len(plan.names), plan.trajectories
        return (f"{plan.spec.name}: Morris screening of {d} input(s): {r} trajectories, "
                f"{r * (d + 1):,} evaluations per label"
                + (f"\n  {line}" if (line := defaults_line(plan.defaults)) else ""))

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        return [target_check(plan.store, opts.overwrite)]

    def run(self, plan, opts: RunOptions):
        from sweep.engine.screening import morris
        from sweep.storage import store as zstore

        zstore.check_target(plan.store, opts.overwrite)
        ds = morris(plan.spec, plan.trajectories, backend=opts.backend)
        zstore.write_small(plan.store, ds, opts.overwrite)
        return _Written(ds, plan.store)

    def report(self, result, opts: RunOptions) -> str:
        from sweep.engine.screening import describe

        return f"{describe(result.dataset)}\nwrote {result.store}"


class MorrisPlan:
    """A screening plan: the sample-mode plan and the number of trajectories."""

    def __init__(self, plan, trajectories: int):
        self.spec, self.store, self.names = plan.spec, plan.store, plan.names
        self.defaults = plan.defaults
        self.trajectories = trajectories


class _Written:
    def __init__(self, dataset, store):
        self.dataset, self.store = dataset, store
