"""The Zarr stores: writing, markers and the completion ledger (store), verify and repair
(verify), and the provenance every result carries (provenance)."""
