"""The Python API behind ``import sweep``: load, plan and run a sweep file in whatever mode
it asks for (one dispatch, through :mod:`sweep.modes`)."""

from __future__ import annotations

from pathlib import Path

from sweep.modes import RunOptions, for_spec
from sweep.modes.base import cluster_flag_refusal, preflight
from sweep.spec.config import SweepSpec


def run(
    spec: SweepSpec,
    *,
    store: str | Path | None = None,
    backend: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    num_workers: int | None = None,
    client=None,
    disk_budget: int | None = None,
    max_chunks: int | None = None,
    executor=None,
    callbacks: list | None = None,
):
    """Run ``spec`` in its mode (``spec.mode``): a grid or sample grid is materialized into
    its Zarr store (:class:`~sweep.engine.execute.RunResult`), a ``reduce`` file folded into
    statistics (:class:`~sweep.engine.reduce.ReduceResult`), a ``saltelli`` sample analysed for
    Sobol' indices (:class:`~sweep.engine.sensitivity.SensitivityResult`).

    ``store`` overrides the file's ``store``; ``backend`` its ``backend``. ``resume``,
    ``client``, ``disk_budget`` and ``max_chunks`` apply to materialize runs (see
    :func:`sweep.engine.execute.run_plan`); every pre-flight check runs once, before
    anything is written.

    ``executor``: where the tasks run, as ``--cluster``/``--scheduler`` say it on the
    command line: a name (``threads``, the default; ``local:N``, ``local-cuda``, a
    scheduler address or scheduler file: see :func:`sweep.executors.create_executor`),
    started for this run and closed after it, or an executor of your own. A cluster runs
    materialize runs only. ``callbacks``: progress callbacks
    (:class:`sweep.executors.Callback`: start, task done, end) instead of ``progress``.
    """
    mode = for_spec(spec)
    owned = isinstance(executor, str)
    if owned and executor != "threads":
        _refuse_cluster(mode, (f"executor {executor!r}",))
    if owned:
        from sweep.executors import create_executor

        executor = create_executor(executor, workers=num_workers)
    try:
        client = client if executor is None else executor.client
        opts = RunOptions(store=store, backend=backend, overwrite=overwrite, resume=resume,
                          progress=progress, workers=num_workers, client=client,
                          disk_budget=disk_budget, max_chunks=max_chunks, executor=executor,
                          callbacks=callbacks)
        given = (*(("resume",) if resume else ()),
                 *(("a cluster's client",) if client is not None else ()))
        if given:
            _refuse_cluster(mode, given)
        plan = mode.plan(spec, opts)
        preflight(mode, plan, opts)
        return mode.run(plan, opts)
    finally:
        if owned:
            executor.close()


def _refuse_cluster(mode, given: tuple[str, ...]) -> None:
    """Refuse what was ``given`` (resume, a cluster's client, a cluster executor) where
    ``mode`` takes none of them (:func:`~sweep.modes.base.cluster_flag_refusal`)."""
    refusal = cluster_flag_refusal(mode, given)
    if refusal:
        from sweep.planning.preflight import PlanError

        raise PlanError(refusal)
