"""Repairing a store (``sweep repair``): verify it (:mod:`sweep.storage.verify`), recompute
exactly the chunks verify flagged by resuming its run, and verify again."""

from __future__ import annotations

from pathlib import Path

from sweep.engine.execute import run_plan
from sweep.storage import store as zstore
from sweep.storage.location import parse
from sweep.storage.verify import MISSING_ARRAY, VerifyReport, plan_of_store, verify_store


def repair_store(store: str | Path, *, backend: str | None = None,
                 progress: bool | None = None,
                 num_workers: int | None = None) -> tuple[VerifyReport, VerifyReport]:
    """Verify ``store``, recompute exactly the flagged chunks (and finish a run that did not
    finish), then verify again. Returns the reports before and after.

    The flagged chunks' markers are removed before they are rewritten, so an interrupted
    repair leaves them flagged. ``backend`` defaults to the one that wrote the store.
    """
    store = parse(store)
    before = verify_store(store, progress=progress, num_workers=num_workers)
    if before.ok and before.status == zstore.STATUS_COMPLETE:
        return before, before
    missing = [f.variable for f in before.structural if f.problem == MISSING_ARRAY]
    if missing:
        raise zstore.StoreError(f"{store}: array(s) {', '.join(map(str, missing))} are missing; "
                                "the store cannot be repaired: rerun the sweep with --overwrite")
    attrs = zstore.store_attrs(store)
    plan = plan_of_store(store, attrs)
    if before.structural:
        zstore.set_status(store, zstore.STATUS_RUNNING)
        zstore.write_coords(plan)
    run_plan(plan, backend=backend or "auto", resume=True,
             redo=frozenset(before.flagged), progress=progress, num_workers=num_workers)
    after = verify_store(store, progress=progress, num_workers=num_workers)
    return before, after
