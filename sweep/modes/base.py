"""What a mode is: one small protocol (plan, describe, pre-flight checks, run, report) that
the CLI and :func:`sweep.run` dispatch to once, by :attr:`SweepSpec.mode`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sweep.planning.preflight import Check


@dataclass
class RunOptions:
    """How to run, whatever the mode (each mode uses what applies to it)."""

    store: str | Path | None = None
    backend: str | None = None
    overwrite: bool = False
    resume: bool = False
    progress: bool | None = None
    workers: int | None = None
    client: Any = None
    #: the executor the tasks run on (:mod:`sweep.executors`; None: local threads)
    executor: Any = None
    #: progress callbacks (:class:`sweep.executors.Callback`) instead of ``progress``
    callbacks: Any = None
    disk_budget: int | None = None
    max_chunks: int | None = None
    #: sensitivity: where the charts go (default: beside the store)
    charts: Path | None = None
    #: screening: Morris trajectories
    trajectories: int = 20


class Mode(Protocol):
    """One way of evaluating a sweep file."""

    #: the mode's name (``SweepSpec.mode``)
    name: str
    #: whether ``--resume``, ``--scheduler`` and ``--cluster`` apply (materialize runs; see
    #: :func:`cluster_flag_refusal`)
    cluster_flags: bool
    #: how a refusal of those flags names this mode and its run, e.g. ("reduce mode",
    #: "a reduce run"); unused where they apply
    words: tuple[str, str]

    def plan(self, spec, opts: RunOptions) -> Any:
        """The plan: computes nothing, writes nothing."""
        ...

    def describe(self, plan) -> str:
        """The plan in words, for ``sweep plan`` and ``--dry-run``."""
        ...

    def checks(self, plan, opts: RunOptions) -> list[Check]:
        """Every pre-flight check, in the order a run makes them."""
        ...

    def run(self, plan, opts: RunOptions) -> Any:
        """Run the plan; the mode's result."""
        ...

    def report(self, result, opts: RunOptions) -> str:
        """What the CLI prints after a run."""
        ...


def target_check(store, overwrite: bool) -> Check:
    """The check that ``store`` may be written (absent, or a token-sweep store to replace);
    the store's libraries are imported only when it runs."""

    def check() -> None:
        from sweep.storage import store as zstore

        zstore.check_target(store, overwrite)

    return Check("target", check, str(store))


def preflight(mode: Mode, plan, opts: RunOptions, *, skip: tuple[str, ...] = (),
              only: tuple[str, ...] | None = None) -> None:
    """Run ``mode``'s pre-flight checks of ``plan`` (all, or those named in ``only``, less
    those in ``skip``), in order: the first refusal raises, before anything is written.
    The one caller of the checks before a run (``sweep run`` and :func:`sweep.run`); the
    engines do not check again."""
    for check in mode.checks(plan, opts):
        if check.name in skip or (only is not None and check.name not in only):
            continue
        check.run()


def cluster_flag_refusal(mode: Mode, flags: Sequence[str]) -> str | None:
    """The one rule of resuming and of clusters: they apply to materialize runs only.

    The refusal of ``flags`` (the options given, as the caller names them: ``["--resume"]``
    on the command line, ``["resume", "client"]`` in :func:`sweep.run`) in ``mode``, one
    line; None where ``mode`` takes them (:attr:`Mode.cluster_flags`) or none is given."""
    if mode.cluster_flags or not flags:
        return None
    what, run = mode.words
    verb = "applies" if len(flags) == 1 else "apply"
    return (f"{' and '.join(flags)} {verb} to materialize runs, not to {what} ({run} writes "
            "only its small result)")
