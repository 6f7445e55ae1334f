"""What a store is, without importing Zarr, xarray or Dask: its error and warning, and how
one is recognized. The command line and the modes' pre-flight checks name these without
loading the store's libraries (:mod:`sweep.storage.store` re-exports them)."""

from __future__ import annotations

from sweep.storage.errors import IncompleteStoreWarning, StoreError  # noqa: F401


def is_store(path) -> bool:
    """Whether ``path`` (a local path, a store URL or its text) holds a Zarr v3 group: a
    ``zarr.json`` at its root. A URL asks its object store (its library loaded then)."""
    from sweep.storage.location import StoreURL, parse

    where = parse(path)
    if isinstance(where, StoreURL):
        from sweep.storage import objects

        return objects.has(where, "zarr.json")
    return (where / "zarr.json").is_file()
