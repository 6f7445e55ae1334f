"""Numba CPU kernels: every requested output of one chunk in one fused pass.

The kernel receives the chunk as a table of per-axis input values (see
``sweep.planner.ChunkInputs``) and never forms full-size input arrays. It walks the chunk
row by row (a row = all positions of the innermost axis), decodes a row's outer indices
once per row (never an integer division per point), and loops the innermost axis
contiguously. The model formulas are the scalar functions of ``sweep.formulas``, compiled
here with ``numba.njit`` (LLVM inlines them); no ``fastmath`` (it may compile the NaN
checks away). One kernel is compiled per sweep shape (:func:`kernel_for`) and cached on
disk.
"""

from __future__ import annotations

import hashlib
import threading
import types
from pathlib import Path

import numba
import numpy as np

from sweep.formulas import IN, compile_formulas

_F = compile_formulas(numba.njit(error_model="numpy"))
capital_recovery_factor = _F.capital_recovery_factor
output_value = _F.output_value

_NIN = len(IN.__dict__)
_RATE = IN.COST_OF_CAPITAL
_LIFE = IN.LIFETIME_YEARS
_CRF = _NIN  # extra row of the work buffer holding the capital recovery factor
_CRF_BIT = 1 << _CRF


def _fill_block(work, table, bind, inner, last):
    # the rows of inputs bound to the innermost axis: the same for every row of the chunk
    for i in range(_NIN):
        if bind[i] == last:
            work[i, :inner] = table[i, :inner]


def _row_scalars(rv, work, table, bind, idx, inner, last, crf_inner):
    # the inputs that are constant along a row, and the capital recovery factor
    for i in range(_NIN):
        a = bind[i]
        if a < 0:
            rv[i] = table[i, 0]
        elif a != last:
            rv[i] = table[i, idx[a]]
    if crf_inner:
        for j in range(inner):
            rate = work[_RATE, j] if bind[_RATE] == last else rv[_RATE]
            life = work[_LIFE, j] if bind[_LIFE] == last else rv[_LIFE]
            work[_CRF, j] = capital_recovery_factor(rate, life)
    else:
        rv[_CRF] = capital_recovery_factor(rv[_RATE], rv[_LIFE])


def _row_loop(work, rv, code, inner, o, mask):
    # `mask` (a compile-time constant) has bit i set when input i varies along the row:
    # those come from the work buffer, every other input is a register-held scalar, and
    # the tests below fold away at compile time.
    s0, s1, s2, s3, s4, s5 = rv[0], rv[1], rv[_CRF], rv[4], rv[5], rv[6]
    s6, s7, s8, s9, s10 = rv[7], rv[8], rv[9], rv[10], rv[11]
    nan_count = 0
    for j in range(inner):
        v = output_value(
            code,
            work[0, j] if mask & 1 else s0,
            work[1, j] if mask & 2 else s1,
            work[_CRF, j] if mask & _CRF_BIT else s2,
            work[4, j] if mask & 16 else s3,
            work[5, j] if mask & 32 else s4,
            work[6, j] if mask & 64 else s5,
            work[7, j] if mask & 128 else s6,
            work[8, j] if mask & 256 else s7,
            work[9, j] if mask & 512 else s8,
            work[10, j] if mask & 1024 else s9,
            work[11, j] if mask & 2048 else s10,
        )
        o[j] = v
        nan_count += v != v
    return nan_count


_fill_block = numba.njit(inline="always", error_model="numpy")(_fill_block)
_row_scalars = numba.njit(inline="always", error_model="numpy")(_row_scalars)
_row_loop = numba.njit(inline="always", error_model="numpy")(_row_loop)


def _make_kernel(mask: int, codes: tuple[int, ...]):
    # Closure constants, plain ints and bools only (Numba pickles the closure into its
    # on-disk cache key; a function object there would never match): Numba compiles them
    # in, pruning the dead branches. MASK: which inputs vary along the innermost axis;
    # W<k>: whether output code k is wanted, so only the requested outputs are compiled.
    MASK = mask  # noqa: N806
    W0, W1, W2, W3, W4, W5, W6, W7, W8, W9, W10, W11, W12, W13 = (  # noqa: N806
        k in codes for k in range(14))

    def _materialize(table, bind, shape, codes, out, nan_counts, n_blocks):
        """Fill ``out[k].reshape(rows, inner)`` with output ``codes[k]`` for every chunk point.

        ``table``/``bind``/``shape`` as in ``ChunkInputs``; ``out`` is (n_outputs, rows, inner)
        of float32 or float64; ``nan_counts[k]`` receives the number of NaN values of output k.
        Rows are split into ``n_blocks`` blocks (the units of parallel work), each with its own
        scratch buffer: 1 for a serial call, a few per thread for a parallel one. ``MASK`` (a
        constant of the closure, see :func:`inner_mask`) says which inputs vary along the
        innermost axis: each input is read from the work buffer or held in a register.
        """
        ndim = shape.shape[0]
        last = ndim - 1
        inner = shape[last]
        rows = out.shape[1]
        n_out = codes.shape[0]
        crf_inner = bind[_RATE] == last or bind[_LIFE] == last
        n_blocks = max(1, min(rows, n_blocks))
        counts = np.zeros((n_blocks, n_out), dtype=np.int64)
        for b in numba.prange(n_blocks):
            r0 = b * rows // n_blocks
            r1 = (b + 1) * rows // n_blocks
            work = np.empty((_NIN + 1, inner), dtype=np.float64)
            rv = np.empty(_NIN + 1, dtype=np.float64)
            idx = np.zeros(ndim, dtype=np.int64)
            _fill_block(work, table, bind, inner, last)
            for r in range(r0, r1):
                rem = r  # decode the row's outer indices: once per row, not per point
                for d in range(last - 1, -1, -1):
                    idx[d] = rem % shape[d]
                    rem //= shape[d]
                _row_scalars(rv, work, table, bind, idx, inner, last, crf_inner)
                for k in range(n_out):
                    code = codes[k]
                    o = out[k, r]
                    # one loop per wanted output code, each with a literal code: the formula's
                    # dispatch on `code` folds away and the loop body is straight-line code
                    # that LLVM vectorizes (~3x faster than dispatching in the loop,
                    # measured while developing it; not a benchmark row)
                    if W0 and code == 0:
                        counts[b, k] += _row_loop(work, rv, 0, inner, o, MASK)
                    elif W1 and code == 1:
                        counts[b, k] += _row_loop(work, rv, 1, inner, o, MASK)
                    elif W2 and code == 2:
                        counts[b, k] += _row_loop(work, rv, 2, inner, o, MASK)
                    elif W3 and code == 3:
                        counts[b, k] += _row_loop(work, rv, 3, inner, o, MASK)
                    elif W4 and code == 4:
                        counts[b, k] += _row_loop(work, rv, 4, inner, o, MASK)
                    elif W5 and code == 5:
                        counts[b, k] += _row_loop(work, rv, 5, inner, o, MASK)
                    elif W6 and code == 6:
                        counts[b, k] += _row_loop(work, rv, 6, inner, o, MASK)
                    elif W7 and code == 7:
                        counts[b, k] += _row_loop(work, rv, 7, inner, o, MASK)
                    elif W8 and code == 8:
                        counts[b, k] += _row_loop(work, rv, 8, inner, o, MASK)
                    elif W9 and code == 9:
                        counts[b, k] += _row_loop(work, rv, 9, inner, o, MASK)
                    elif W10 and code == 10:
                        counts[b, k] += _row_loop(work, rv, 10, inner, o, MASK)
                    elif W11 and code == 11:
                        counts[b, k] += _row_loop(work, rv, 11, inner, o, MASK)
                    elif W12 and code == 12:
                        counts[b, k] += _row_loop(work, rv, 12, inner, o, MASK)
                    elif W13 and code == 13:
                        counts[b, k] += _row_loop(work, rv, 13, inner, o, MASK)
        for k in range(n_out):
            nan_counts[k] = counts[:, k].sum()

    return _materialize


def inner_mask(bind: np.ndarray, ndim: int) -> int:
    """Bit i set when input i is bound to the innermost axis (bit 12: the capital recovery
    factor, when its rate or lifetime is)."""
    last = ndim - 1
    mask = sum(1 << i for i in range(_NIN) if int(bind[i]) == last)
    if int(bind[_RATE]) == last or int(bind[_LIFE]) == last:
        mask |= _CRF_BIT
    return mask


def _source_fingerprint() -> str:
    """SHA-256 of this file and of ``sweep/formulas.py``: what the compiled kernel depends on."""
    from sweep import formulas

    digest = hashlib.sha256()
    for path in (__file__, formulas.__file__):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _cached(dispatcher, fingerprint: str):
    """Turn on Numba's on-disk cache for ``dispatcher``, flushed when ``fingerprint`` changes.

    Numba keys its cache on this file's timestamp and the kernel's own bytecode, not on the
    formulas it inlines from ``sweep/formulas.py``: without this check, an edited formula
    could run stale machine code. The fingerprint sits beside Numba's index; a mismatch
    empties the index before the first compile. (Uses Numba's cache object, ``_cache``; any
    failure leaves caching off, which is only slower.)
    """
    try:
        dispatcher.enable_caching()
        cache = dispatcher._cache
        stamp = Path(cache._cache_path) / f"cpu.{dispatcher.py_func.__qualname__}.fingerprint"
        if not stamp.is_file() or stamp.read_text() != fingerprint:
            cache.flush()
            stamp.write_text(fingerprint)
    except Exception:  # noqa: BLE001 - caching is an optimisation, never a failure
        from numba.core.caching import NullCache

        dispatcher._cache = NullCache()
    return dispatcher


def _renamed(fn, name: str):
    # Numba's cache key ignores compiler flags: each build (serial or parallel, per mask and
    # outputs) needs a function of its own name, or builds would load each other's code.
    clone = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__,
                               fn.__closure__)
    clone.__qualname__ = name
    return clone


_FINGERPRINT = _source_fingerprint()
_KERNELS: dict[tuple[int, tuple[int, ...], bool], object] = {}
_KERNELS_LOCK = threading.Lock()


def kernel_for(mask: int, codes: tuple[int, ...], parallel: bool):
    """The compiled kernel for one innermost-axis ``mask`` and set of output ``codes``:
    serial (one thread, GIL released, for Dask's threads) or parallel (Numba's threads, for
    in-memory use). Compiled on first use (a few seconds) and cached on disk; a sweep uses
    one mask and one set of outputs, so one compilation per kind of sweep."""
    key = (mask, tuple(sorted(set(codes))), parallel)
    with _KERNELS_LOCK:
        if key in _KERNELS:
            return _KERNELS[key]
        wanted = "_".join(map(str, key[1]))
        name = f"_materialize_{'parallel' if parallel else 'serial'}_m{mask}_c{wanted}"
        fn = _renamed(_make_kernel(mask, key[1]), name)
        jit = numba.njit(nogil=True, parallel=parallel, error_model="numpy")
        _KERNELS[key] = _cached(jit(fn), _FINGERPRINT)
        return _KERNELS[key]


def materialize(table: np.ndarray, bind: np.ndarray, shape: np.ndarray, codes: np.ndarray,
                out: np.ndarray, *, parallel: bool = False) -> np.ndarray:
    """Evaluate one chunk into ``out`` (n_outputs, rows, inner); return NaN counts per output."""
    nan_counts = np.zeros(codes.shape[0], dtype=np.int64)
    fn = kernel_for(inner_mask(bind, shape.shape[0]), tuple(int(c) for c in codes), parallel)
    n_blocks = 4 * numba.get_num_threads() if parallel else 1
    fn(table, bind, shape, codes, out, nan_counts, n_blocks)
    return nan_counts
