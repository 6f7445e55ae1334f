"""Small files written whole or not at all (frontiers, fitted calibrations, CSV slices
of a store, charts)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0o22)   # reading it means setting it: once, at import, not per write
    os.umask(mask)
    return mask


#: The process's umask, read at import (setting it per write would race other threads).
_UMASK = _read_umask()


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (its folder created if needed) through a temporary file
    in the same folder, flushed to disk and renamed over it: a reader sees the old file or
    the new one, never a part."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)   # as an ordinary file (mkstemp makes it 0600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(target: Path, text: str) -> None:
    """:func:`write_bytes_atomic` of ``text`` in UTF-8."""
    write_bytes_atomic(target, text.encode("utf-8"))
