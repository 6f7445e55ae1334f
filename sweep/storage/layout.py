"""What a store is, without importing Zarr, xarray or Dask: its error and warning, and how
one is recognized on disk. The command line and the modes' pre-flight checks name these
without loading the store's libraries (:mod:`sweep.storage.store` re-exports them)."""

from __future__ import annotations

from pathlib import Path


class StoreError(RuntimeError):
    """A store that cannot be written or trusted."""


class IncompleteStoreWarning(UserWarning):
    """Opened a store whose run did not finish: some chunks may read as fill values."""


def is_store(path: Path) -> bool:
    """Whether ``path`` holds a Zarr v3 group (a ``zarr.json`` at its root)."""
    return (Path(path) / "zarr.json").is_file()
