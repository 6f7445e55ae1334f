"""The store's error and warning, importing nothing: the command line, the location layer
and the object-store client raise and name them without loading any store library
(:mod:`sweep.storage.layout` and :mod:`sweep.storage.store` re-export them)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store that cannot be written or trusted."""


class IncompleteStoreWarning(UserWarning):
    """Opened a store whose run did not finish: some chunks may read as fill values."""
