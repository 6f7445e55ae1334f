"""The Python API behind ``import sweep``: load, plan and run a sweep file in whatever mode
it asks for (one dispatch, through :mod:`sweep.modes`)."""

from __future__ import annotations

from pathlib import Path

from sweep.modes import RunOptions, for_spec
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
):
    """Run ``spec`` in its mode (``spec.mode``): a grid or sample grid is materialized into
    its Zarr store (:class:`~sweep.engine.execute.RunResult`), a ``reduce`` file folded into
    statistics (:class:`~sweep.engine.reduce.ReduceResult`), a ``saltelli`` sample analysed for
    Sobol' indices (:class:`~sweep.engine.sensitivity.SensitivityResult`).

    ``store`` overrides the file's ``store``; ``backend`` its ``backend``. ``resume``,
    ``client``, ``disk_budget`` and ``max_chunks`` apply to materialize runs (see
    :func:`sweep.engine.execute.run_plan`); every pre-flight check runs before anything is written.
    """
    mode = for_spec(spec)
    opts = RunOptions(store=store, backend=backend, overwrite=overwrite, resume=resume,
                      progress=progress, workers=num_workers, client=client,
                      disk_budget=disk_budget, max_chunks=max_chunks)
    if not mode.cluster_flags and (resume or client is not None):
        from sweep.planning.preflight import PlanError

        raise PlanError(f"resume and client apply to materialize runs, not to {mode.name} "
                        "mode (it writes only its small result)")
    return mode.run(mode.plan(spec, opts), opts)
