"""The Zarr stores: writing, markers and the completion ledger (store), verify (verify; the
repair that recomputes is :mod:`sweep.engine.repair`), and the provenance every result
carries (provenance)."""
