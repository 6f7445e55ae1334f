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
        from sweep.planning.sensitivity_plan import make_sensitivity_plan

        return make_sensitivity_plan(spec, opts.store)

    def describe(self, plan) -> str:
        from sweep.planning.sensitivity_plan import describe_plan

        return describe_plan(plan)

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        return [target_check(plan.store, opts.overwrite)]

    def run(self, plan, opts: RunOptions):
        from sweep.engine.sensitivity import run_sensitivity_plan

        return run_sensitivity_plan(plan, overwrite=opts.overwrite, backend=opts.backend,
                                    num_workers=opts.workers, progress=opts.progress,
                                    executor=opts.executor, callbacks=opts.callbacks)

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
        from sweep.planning.sensitivity_plan import make_morris_plan

        return make_morris_plan(spec, opts.trajectories, opts.store)

    def describe(self, plan) -> str:
        d, r = len(plan.names), plan.trajectories
        return (f"{plan.spec.name}: Morris screening of {d} input(s): {r} trajectories, "
                f"{r * (d + 1):,} evaluations per label"
                + (f"\n  {line}" if (line := defaults_line(plan.defaults)) else ""))

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        return [target_check(plan.store, opts.overwrite)]

    def run(self, plan, opts: RunOptions):
        from sweep.engine.screening import screen
        from sweep.storage import store as zstore

        ds = screen(plan, backend=opts.backend)
        zstore.write_small(plan.store, ds, opts.overwrite)
        return _Written(ds, plan.store)

    def report(self, result, opts: RunOptions) -> str:
        from sweep.engine.screening import describe

        return f"{describe(result.dataset)}\nwrote {result.store}"


class _Written:
    def __init__(self, dataset, store):
        self.dataset, self.store = dataset, store
