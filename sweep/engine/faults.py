"""Fault injection for the durability tests; does nothing unless ``TOKEN_SWEEP_FAULT`` is set.

The tests kill runs and workers at chosen points to prove that a resumed or retried run
loses and corrupts nothing. Values (one at a time):

``kill-after:N``
    SIGKILL this process right after it has written its N-th chunk marker.
``kill-at:CHUNK``
    SIGKILL the process about to compute chunk ``CHUNK`` (e.g. ``0.1.0``), every time: a
    chunk that keeps killing workers.
``kill-once-at:CHUNK:FLAGFILE``
    Like ``kill-at``, but only while ``FLAGFILE`` does not exist (it is created first): one
    worker dies mid-run, the retry succeeds.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

ENV = "TOKEN_SWEEP_FAULT"
_written = 0
_lock = threading.Lock()


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def before_chunk(name: str) -> None:
    """Called by a chunk task before it computes chunk ``name``."""
    fault = os.environ.get(ENV)
    if not fault:
        return
    kind, _, arg = fault.partition(":")
    if kind == "kill-at" and arg == name:
        _kill()
    if kind == "kill-once-at":
        chunk, _, flag = arg.partition(":")
        if chunk == name and flag:
            try:
                Path(flag).touch(exist_ok=False)
            except FileExistsError:
                return
            _kill()


def after_marker(name: str) -> None:
    """Called by a chunk task after it wrote the marker of chunk ``name``."""
    global _written
    fault = os.environ.get(ENV)
    if not fault or not fault.startswith("kill-after:"):
        return
    with _lock:
        _written += 1
        if _written >= int(fault.partition(":")[2]):
            _kill()
