"""One way to run tasks: executors by name, progress as callbacks, ``sweep.run(executor=)``."""

from __future__ import annotations

import dask
import numpy as np
import pytest

import sweep
from conftest import small_spec_dict
from sweep.executors import (
    Callback,
    ThreadsExecutor,
    Tracker,
    create_executor,
    progress_callbacks,
)
from sweep.planning.preflight import PlanError
from sweep.spec.config import spec_from_dict


class Counting(Callback):
    """Counts what a run reports."""

    def __init__(self):
        self.started: list[tuple[str, int]] = []
        self.done: list[str] = []
        self.points = 0
        self.ended = 0

    def start(self, label, sizes):
        self.started.append((label, len(sizes)))

    def task_done(self, key, points):
        self.done.append(key)
        self.points += points

    def end(self, seconds):
        assert seconds >= 0
        self.ended += 1


@pytest.mark.parametrize(("name", "kind"), [(None, ThreadsExecutor),
                                            ("threads", ThreadsExecutor)])
def test_the_local_executor_by_name(name, kind):
    ex = create_executor(name, workers=3)
    assert isinstance(ex, kind) and ex.workers == 3 and ex.client is None


@pytest.mark.parametrize(("name", "message"), [
    ("local:0", "expected local:N with N >= 1"),
    ("local:two", "expected local:N with N >= 1"),
    ("everywhere", "expected threads, local:N, local-cuda, a scheduler address"),
])
def test_names_that_are_no_executor_are_refused_in_one_line(name, message):
    with pytest.raises(PlanError, match=message):
        create_executor(name)


def test_a_missing_scheduler_file_is_refused_before_connecting(tmp_path):
    with pytest.raises(PlanError, match="no such file"):
        create_executor(str(tmp_path / "scheduler.json"))


def test_threads_compute_in_order_and_count_each_task_once():
    ex = ThreadsExecutor(2)
    tasks = [dask.delayed(lambda i: i * i, pure=False)(i, dask_key_name=f"t-{i}")
             for i in range(7)]
    counting = Counting()
    sizes = {f"t-{i}": 10 for i in range(7)}
    with Tracker("squares", sizes, [counting]) as track:
        assert ex.compute(tasks, track) == [i * i for i in range(7)]
        track.done("t-3")                       # a repeat is not counted twice
        track.done("elsewhere")                 # nor a key it was not told about
    assert counting.started == [("squares", 7)]
    assert sorted(counting.done) == sorted(sizes) and counting.points == 70
    assert counting.ended == 1


def test_no_progress_bar_unless_asked():
    assert progress_callbacks(False) == []
    assert len(progress_callbacks(True)) == 1


def test_every_mode_reports_its_tasks_to_callbacks(tmp_path):
    grid = spec_from_dict(small_spec_dict(store=str(tmp_path / "g.zarr")))
    counting = Counting()
    result = sweep.run(grid, executor="threads", callbacks=[counting], overwrite=True)
    assert counting.done and len(counting.done) == result.plan.n_chunks
    assert counting.points == result.plan.n_points

    d = small_spec_dict(store=str(tmp_path / "r.zarr"))
    d["reduce"] = {"over": [n for n in d["axes"] if n != "platform"]}
    counting = Counting()
    res = sweep.run(spec_from_dict(d), executor=ThreadsExecutor(1), callbacks=[counting])
    assert counting.points == res.plan.n_points and counting.ended == 1
    assert np.isfinite(res.dataset["usd_per_mtok_min"].values).all()


def test_a_cluster_executor_is_refused_for_a_small_result_before_it_starts(tmp_path):
    d = small_spec_dict(store=str(tmp_path / "r.zarr"))
    d["reduce"] = {"over": [n for n in d["axes"] if n != "platform"]}
    with pytest.raises(PlanError, match="executor 'local:1' applies to materialize runs, not "
                                        "to reduce"):
        sweep.run(spec_from_dict(d), executor="local:1")
    assert not (tmp_path / "r.zarr").exists()


def test_run_plan_stores_grids_only(tmp_path):
    d = small_spec_dict(store=str(tmp_path / "r.zarr"))
    d["reduce"] = {"over": [n for n in d["axes"] if n != "platform"]}
    spec = spec_from_dict(d)
    with pytest.raises(PlanError, match="reduce-mode file .* run it with sweep.run"):
        sweep.run_plan(sweep.plan(spec))
    assert not (tmp_path / "r.zarr").exists()


def test_a_cluster_executor_computes_in_order_and_counts_its_tasks():
    distributed = pytest.importorskip("distributed")
    from sweep.executors import DistributedExecutor

    cluster = distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0")
    client = distributed.Client(cluster)
    ex = DistributedExecutor(client, [client, cluster])
    try:
        tasks = [dask.delayed(lambda i: i + 1, pure=False)(i, dask_key_name=f"c-{i}")
                 for i in range(5)]
        counting = Counting()
        with Tracker("plus one", {f"c-{i}": 1 for i in range(5)}, [counting]) as track:
            assert ex.compute(tasks, track) == [1, 2, 3, 4, 5]
        assert sorted(counting.done) == [f"c-{i}" for i in range(5)]
    finally:
        ex.close()
