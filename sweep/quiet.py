"""A warning silenced for a moment, safely from any thread.

Python's warning filters are process-wide and ``warnings.catch_warnings`` is not
thread-safe: two overlapping uses restore each other's filter lists and can drop or keep a
filter for good. Every temporary silencing in token-sweep (Numba's low-occupancy hint for
small launches, SciPy's Sobol' balance note for chunks) goes through :func:`quiet`, which
holds one lock for the duration.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

LOCK = threading.RLock()


@contextlib.contextmanager
def quiet(message: str, category: type[Warning] = Warning) -> Iterator[None]:
    """Within the block, ignore warnings of ``category`` whose message matches ``message``
    (a regular expression, as for ``warnings.filterwarnings``); one block at a time."""
    with LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield
