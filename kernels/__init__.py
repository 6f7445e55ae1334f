"""Compute kernels only: Numba CPU (``cpu``, ``reduce_cpu``) and Numba CUDA (``cuda``,
``cuda_reduce``), with the PTX checks of the CUDA ones (``ptx``); the CuPy backend's CUDA C is
generated in :mod:`sweep.model.cudac`. No I/O, no config, no Dask."""
