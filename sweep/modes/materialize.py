"""Materialize mode: every output over the grid (or a sample grid) into a Zarr store."""

from __future__ import annotations

from pathlib import Path

from sweep.modes.base import RunOptions, target_check
from sweep.planning.preflight import Check, human_bytes


class Materialize:
    """``sweep run`` of a grid file, and of a sample file with ``mc``/``lhs``/``sobol``."""

    cluster_flags = True
    words = ("materialize mode", "a materialize run")

    def __init__(self, name: str = "materialize"):
        self.name = name

    def plan(self, spec, opts: RunOptions):
        from sweep.planning.planner import make_plan

        return make_plan(spec, opts.store)

    def describe(self, plan) -> str:
        return plan.describe()

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        from sweep.backends import default_workers

        workers = opts.workers or default_workers()
        out = [
            Check("chunks", lambda: plan.check_chunk_count(opts.max_chunks),
                  f"{plan.n_chunks:,} chunk(s)"),
            Check("disk", lambda: plan.check_disk(opts.disk_budget,
                                                  points=remaining_points(plan, opts.resume)),
                  f"{human_bytes(plan.bytes_total + plan.coordinate_bytes)} uncompressed at "
                  "most" + ("; an object store: no free space to check, only --disk-budget"
                            if not isinstance(plan.store, Path) else "")),
            _memory_check(plan, opts, workers),
        ]
        if opts.resume and _is_store(plan.store):
            from sweep.engine.execute import check_same_config
            from sweep.storage import store as zstore

            out.append(Check("resume", lambda: check_same_config(
                plan, zstore.store_attrs(plan.store)), f"{plan.store} has the same config"))
        elif opts.resume:
            from sweep.engine.execute import check_resumable

            out.append(Check("resume", lambda: check_resumable(plan),
                             f"nothing at {plan.store} yet: a fresh run"))
        else:
            out.append(target_check(plan.store, opts.overwrite))
        return out

    def run(self, plan, opts: RunOptions):
        from sweep.engine.execute import run_plan

        return run_plan(plan, backend=opts.backend or plan.spec.backend,
                        overwrite=opts.overwrite, resume=opts.resume, progress=opts.progress,
                        num_workers=opts.workers, client=opts.client,
                        disk_budget=opts.disk_budget, max_chunks=opts.max_chunks,
                        executor=opts.executor, callbacks=opts.callbacks, checked=True)

    def report(self, result, opts: RunOptions) -> str:
        from sweep.report.summary import describe
        from sweep.storage.store import open_result

        lines = [describe(open_result(result.store))]
        if opts.resume:
            lines.append(f"resumed: computed {result.n_computed} of {result.plan.n_chunks} "
                         f"chunk(s), {result.n_skipped} were already complete")
        lines.append(f"wrote {result.store}")
        return "\n".join(lines)


def _memory_check(plan, opts: RunOptions, workers: int) -> Check:
    """Memory per task: against this machine's memory for local threads, against each
    worker's memory limit on a cluster (``opts.client``)."""
    if opts.client is not None:
        from sweep.engine.execute import check_cluster_memory

        return Check("memory", lambda: check_cluster_memory(plan, opts.client),
                     f"tasks of {human_bytes(plan.bytes_per_task())} per worker thread")
    return Check("memory", lambda: plan.check_memory(workers),
                 f"{workers} task(s) of {human_bytes(plan.bytes_per_task())} at once")


def _is_store(path) -> bool:
    from sweep.storage.layout import is_store

    return is_store(path)


def remaining_points(plan, resume: bool) -> int:
    """Points a run would compute: all, or on a resume those of chunks without a marker."""
    if not (resume and _is_store(plan.store)):
        return plan.n_points
    from sweep.storage import store as zstore

    return sum(k.size for k in zstore.todo(plan))
