"""Reduce mode: statistics over folded dims (or samples), never a stored grid."""

from __future__ import annotations

from sweep.modes.base import RunOptions, target_check
from sweep.planning.preflight import Check, human_bytes


class Reduce:
    """``sweep run`` of a file with a ``reduce`` section."""

    name = "reduce"
    cluster_flags = False
    words = ("reduce mode", "a reduce run")

    def plan(self, spec, opts: RunOptions):
        from sweep.planning.reduce_plan import make_reduce_plan

        return make_reduce_plan(spec, opts.store)

    def describe(self, plan) -> str:
        from sweep.planning.reduce_plan import describe_plan

        return describe_plan(plan)

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        from sweep.backends import default_workers
        from sweep.planning.reduce_plan import check_reduce_memory, partial_bytes

        workers = opts.workers or default_workers()
        return [Check("memory", lambda: check_reduce_memory(plan, workers),
                      f"{workers} worker(s) at once, {human_bytes(partial_bytes(plan))} "
                      "of partials each"),
                target_check(plan.store, opts.overwrite)]

    def run(self, plan, opts: RunOptions):
        from sweep.engine.reduce import run_reduce_plan

        return run_reduce_plan(plan, overwrite=opts.overwrite, progress=opts.progress,
                               num_workers=opts.workers, backend=opts.backend,
                               executor=opts.executor, callbacks=opts.callbacks)

    def report(self, result, opts: RunOptions) -> str:
        from sweep.report.summary import describe_reduce

        return f"{describe_reduce(result.dataset)}\nwrote {result.store}"
