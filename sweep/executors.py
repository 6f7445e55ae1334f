"""One way to run tasks: an executor by name (:func:`create_executor`), and progress as
callbacks.

Every mode, ``verify``/``repair`` and the Sobol' analysis hand their tasks (Dask delayed
objects) to an executor's :meth:`~ThreadsExecutor.compute`:

``threads`` (the default)
    Dask's threaded scheduler in this process, ``workers`` threads (one per core).
``local:N``
    a ``distributed.LocalCluster`` of N worker processes on this machine.
``local-cuda``
    dask-cuda's ``LocalCUDACluster``: one worker process per visible GPU.
a scheduler address (``tcp://host:8786``, any ``scheme://``) or a scheduler file
    a running Dask cluster (``dask scheduler --scheduler-file FILE``).

Progress and timing are :class:`Callback` objects (start, task done, end), fed by a
:class:`Tracker`: the rich progress bar (:class:`RichProgress`) is one, tests count with
another. Dask, distributed and rich are imported only when an executor or a bar needs
them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from sweep.backends import default_workers
from sweep.planning.preflight import PlanError

#: ``--cluster`` / ``executor`` name of dask-cuda's one-worker-per-GPU local cluster.
LOCAL_CUDA = "local-cuda"


# --------------------------------------------------------------------------- progress


class Callback:
    """What a run tells whoever watches it: its start (a label and the points of each task
    it will count), each task done, and its end. The base class ignores all three."""

    def start(self, label: str, sizes: dict[str, int]) -> None:
        """The run starts: ``sizes`` maps each counted task's key to its points."""

    def task_done(self, key: str, points: int) -> None:
        """Task ``key`` (of ``points`` points) finished."""

    def end(self, seconds: float) -> None:
        """The run ended (finished or failed) after ``seconds``."""


class Tracker:
    """Feeds :class:`Callback` objects for one run: a context manager (start and end) whose
    :meth:`done` counts each task of ``sizes`` once, from any thread."""

    def __init__(self, label: str, sizes: dict[str, int], callbacks: list[Callback]):
        self.label = label
        self.sizes = sizes
        self.callbacks = list(callbacks)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._t0 = 0.0

    def __enter__(self) -> Tracker:
        self._t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.start(self.label, self.sizes)
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self._t0
        for cb in self.callbacks:
            cb.end(seconds)

    def done(self, key: str) -> None:
        """Count task ``key`` as finished (keys not in ``sizes``, and repeats, are not)."""
        with self._lock:
            if key not in self.sizes or key in self._seen:
                return
            self._seen.add(key)
        for cb in self.callbacks:
            cb.task_done(key, self.sizes[key])


class RichProgress(Callback):
    """A progress bar on the terminal (tasks done, points/s, ETA), on stderr."""

    def __init__(self):
        self._progress = None
        self._task = None
        self._points = 0

    def start(self, label: str, sizes: dict[str, int]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("chunks"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True),
            transient=False)
        self._progress.start()
        self._task = self._progress.add_task(label, total=len(sizes), rate="")

    def task_done(self, key: str, points: int) -> None:
        if self._progress is None:
            return
        self._points += points
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = self._points / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, advance=1, rate=f"{rate / 1e6:,.1f} Mpoints/s")

    def end(self, seconds: float) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_callbacks(progress: bool | None) -> list[Callback]:
    """The callbacks ``--progress``/``--no-progress`` ask for: a :class:`RichProgress` bar
    when ``progress`` is true, or (None) when stderr is a terminal; else none."""
    show = sys.stderr.isatty() if progress is None else progress
    return [RichProgress()] if show else []


def tracker(label: str, sizes: dict[str, int], progress: bool | None = None,
            callbacks: list[Callback] | None = None) -> Tracker:
    """A :class:`Tracker` for ``callbacks``, else for what ``progress`` asks for."""
    return Tracker(label, sizes, progress_callbacks(progress) if callbacks is None
                   else callbacks)


# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Runs a list of Dask delayed tasks and returns their results, in order."""

    name: str
    #: the ``distributed.Client`` of a cluster executor (None: local threads)
    client: Any

    def compute(self, tasks: list, track: Tracker | None = None) -> list:
        """Every task's result, in order; each finished task's key goes to ``track``."""
        ...

    def close(self) -> None:
        """Release what the executor started (a cluster, a client)."""
        ...


class ThreadsExecutor:
    """Dask's threaded scheduler in this process: ``workers`` threads."""

    name = "threads"
    client = None

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()

    def compute(self, tasks: list, track: Tracker | None = None) -> list:
        import dask
        import dask.threaded
        from dask.callbacks import Callback as DaskCallback

        class _Done(DaskCallback):
            def _posttask(self, key, result, dsk, state, worker_id) -> None:
                if track is not None:
                    track.done(key if isinstance(key, str) else str(key))

        with _Done():
            return list(dask.compute(*tasks, scheduler=dask.threaded.get,
                                     num_workers=self.workers))

    def close(self) -> None:
        pass


class DistributedExecutor:
    """A ``distributed.Client``'s cluster: tasks as futures, counted as they finish."""

    def __init__(self, client, to_close: list | None = None, name: str = "distributed"):
        self.client = client
        self.name = name
        self._to_close = list(to_close or [])

    def compute(self, tasks: list, track: Tracker | None = None) -> list:
        from distributed import as_completed

        futures = self.client.compute(tasks)
        keys = {id(f): t.key for f, t in zip(futures, tasks, strict=True)}
        for f in as_completed(futures):
            if f.status == "finished" and track is not None:
                track.done(str(keys[id(f)]))
        return [f.result() for f in futures]

    def close(self) -> None:
        for thing in self._to_close:
            thing.close()
        self._to_close = []


def create_executor(name: str | None = None, *, workers: int | None = None,
                    scheduler_file: str | Path | None = None) -> Executor:
    """The executor called ``name`` (see the module docstring; None: ``threads``), or the
    cluster whose scheduler wrote ``scheduler_file``. ``workers``: threads of ``threads``.

    Raises
    ------
    PlanError
        one line, for a name that is none of these, a cluster that cannot be reached or
        started, or a scheduler file that does not exist.
    """
    if scheduler_file is not None:
        return _scheduler(None, scheduler_file)
    if name in (None, "threads"):
        return ThreadsExecutor(workers)
    if name == LOCAL_CUDA:
        return _local_cuda()
    if name.startswith("local:"):
        n = name.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise PlanError(f"executor {name!r}: expected local:N with N >= 1 worker "
                            "processes")
        return _local(int(n))
    if "://" in name:
        return _scheduler(name, None)
    if Path(name).suffix == ".json" or Path(name).is_file():
        return _scheduler(None, name)
    raise PlanError(f"executor {name!r}: expected threads, local:N, {LOCAL_CUDA}, a "
                    "scheduler address (tcp://HOST:PORT) or a scheduler file")


def _local(n: int) -> DistributedExecutor:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, processes=True, dashboard_address=":0",
                           threads_per_worker=max(1, (os.cpu_count() or 1) // n))
    client = Client(cluster)
    return DistributedExecutor(client, [client, cluster], f"local:{n}")


def _scheduler(address: str | None, scheduler_file: str | Path | None) -> DistributedExecutor:
    import dask
    from distributed import Client

    where = address or f"the address in {scheduler_file}"
    if scheduler_file and not Path(scheduler_file).is_file():
        raise PlanError(f"--scheduler-file {scheduler_file}: no such file (start the "
                        "scheduler with `dask scheduler --scheduler-file FILE`)")
    try:
        # Dask's connect timeout (30 s by default; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT);
        # TLS and other security settings come from Dask's configuration
        # (distributed.comm.tls.*, e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE)
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        client = (Client(scheduler_file=str(scheduler_file), timeout=timeout)
                  if scheduler_file else Client(address, timeout=timeout))
    except (OSError, TimeoutError, ValueError) as exc:
        raise PlanError(f"cannot reach the Dask scheduler at {where}: {exc}; check "
                        "the address, or use --cluster local:N") from exc
    return DistributedExecutor(client, [client], "scheduler")


def _local_cuda() -> DistributedExecutor:
    """dask-cuda's LocalCUDACluster, one worker process per visible GPU (each sees its own
    device as device 0), or a one-line refusal where dask-cuda or a real GPU is missing."""
    from distributed import Client

    from sweep.backends.gpu import cuda_problem

    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise PlanError(f"--cluster {LOCAL_CUDA} needs dask-cuda beside token-sweep[gpu]: "
                        "pip install dask-cuda, on a machine with NVIDIA GPUs") from None
    problem = cuda_problem(allow_simulator=False)
    if problem:
        raise PlanError(f"--cluster {LOCAL_CUDA}: no usable GPU here: {problem}")
    cluster = LocalCUDACluster(dashboard_address=":0")
    client = Client(cluster)
    return DistributedExecutor(client, [client, cluster], LOCAL_CUDA)
