"""Compute kernels only (Numba CPU now; CUDA and CuPy later): no I/O, no config, no Dask."""
