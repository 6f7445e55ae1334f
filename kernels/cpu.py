"""Numba CPU kernels: every requested output of one chunk in one fused pass.

The kernel receives the chunk as a table of per-axis leaf values (see
``sweep.planning.planner.ChunkInputs``) and never forms full-size input arrays. It walks the chunk
row by row (a row = all positions of the innermost axis), decodes a row's outer indices
once per row (never an integer division per point), and hands the row to a row evaluator
generated from the model's graph (:mod:`sweep.model.codegen`): every needed node computed
once per point, everything constant along the row hoisted out of the inner loop, the
outputs' NaN counts folded in. This module holds only the loop structure. No ``fastmath``
(it may compile the NaN checks away). One kernel is compiled per kind of sweep (model,
outputs, which leaves vary along the innermost axis) and cached on disk.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from sweep.model import codegen
from sweep.model.graph import Model

#: how the model's functions are compiled for these kernels
JIT_INLINE = numba.njit(inline="always", error_model="numpy")
TARGET = "cpu"


def _fill_block(work, table, bind, inner, last):
    # the rows of leaves bound to the innermost axis: the same for every row of the chunk
    for i in range(table.shape[0]):
        if bind[i] == last:
            work[i, :inner] = table[i, :inner]


def _row_scalars(rv, table, bind, idx, last):
    # the leaves that are constant along a row
    for i in range(table.shape[0]):
        a = bind[i]
        if a < 0:
            rv[i] = table[i, 0]
        elif a != last:
            rv[i] = table[i, idx[a]]


def _decode_row(idx, r, shape, last):
    # the row's outer indices: once per row, not per point
    rem = r
    for d in range(last - 1, -1, -1):
        idx[d] = rem % shape[d]
        rem //= shape[d]


# --------------------------------------------------------------------------- extremes
# The extremes of a stored row, as integer keys: the bits of a float, with the magnitude bits
# of negative values flipped, order like the floats (for every non-NaN value; -0.0 just
# below +0.0). Integer min/max reductions vectorize without fast-math, where float ones do
# not; so the extremes of a row cost about nothing while it is still in cache, instead of a
# second pass over the whole chunk. Rows with a NaN take a NaN-skipping scalar loop.
KEY_NONE_MIN = np.iinfo(np.int64).max
KEY_NONE_MAX = np.iinfo(np.int64).min


def row_keys(o, has_nan):
    """``(min key, max key)`` of the non-NaN values of the 1-D float array ``o`` (the
    sentinels ``KEY_NONE_MIN``/``KEY_NONE_MAX`` when there are none); ``has_nan``: whether
    ``o`` holds a NaN. Compiled code only (an overload per float dtype)."""
    raise NotImplementedError("row_keys is compiled by Numba only")


@overload(row_keys)
def _row_keys(o, has_nan):
    if o.dtype == types.float32:
        ity, mask, shift = np.int32, np.int32(0x7FFFFFFF), np.int32(31)
    elif o.dtype == types.float64:
        ity, mask, shift = np.int64, np.int64(0x7FFFFFFFFFFFFFFF), np.int64(63)
    else:
        return None
    top, bottom = np.iinfo(ity).max, np.iinfo(ity).min

    def impl(o, has_nan):
        b = o.view(ity)
        lo = KEY_NONE_MIN
        hi = KEY_NONE_MAX
        if has_nan:
            for j in range(b.size):
                if o[j] == o[j]:
                    x = b[j]
                    key = np.int64(x ^ ((x >> shift) & mask))
                    lo = min(lo, key)
                    hi = max(hi, key)
        elif b.size > 0:
            klo = ity(top)
            khi = ity(bottom)
            for j in range(b.size):
                x = b[j]
                key = x ^ ((x >> shift) & mask)
                klo = min(klo, key)
                khi = max(khi, key)
            lo = np.int64(klo)
            hi = np.int64(khi)
        return lo, hi
    return impl


def keys_to_values(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float64 values of extremes kept as keys (see :func:`row_keys`); NaN for the
    sentinels (no value)."""
    dtype = np.dtype(dtype)
    none = (keys == KEY_NONE_MIN) | (keys == KEY_NONE_MAX)
    if dtype == np.float32:
        k = np.where(none, 0, keys).astype(np.int32)
        bits = k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))
        values = bits.view(np.float32).astype(np.float64)
    else:
        k = np.where(none, 0, keys).astype(np.int64)
        bits = k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))
        values = bits.view(np.float64).copy()
    values[none] = np.nan
    return values


fill_block = numba.njit(inline="always", error_model="numpy")(_fill_block)
row_scalars = numba.njit(inline="always", error_model="numpy")(_row_scalars)
decode_row = numba.njit(inline="always", error_model="numpy")(_decode_row)

# The row evaluator of a kernel, its column evaluator and the rows the latter adds to the
# scratch table: each compiled kernel gets its own (see kernel_for), in a copy of these
# globals.
_row_eval = None
_column_eval = None
N_COLUMNS = 0


def _materialize(table, bind, shape, out, nan_counts, key_lo, key_hi, n_blocks):
    """Fill ``out[k].reshape(rows, inner)`` with requested output k at every chunk point.

    ``table``/``bind``/``shape`` as in ``ChunkInputs``; ``out`` is (n_outputs, rows, inner)
    of float32 or float64; ``nan_counts[k]`` receives the number of NaN values of output k,
    ``key_lo[k]``/``key_hi[k]`` the extremes of its stored values as keys (see
    :func:`row_keys`).
    Rows are split into ``n_blocks`` blocks (the units of parallel work), each with its own
    scratch buffer: 1 for a serial call, a few per thread for a parallel one.
    """
    ndim = shape.shape[0]
    last = ndim - 1
    inner = shape[last]
    rows = out.shape[1]
    n_out = out.shape[0]
    n_leaves = table.shape[0]
    n_blocks = max(1, min(rows, n_blocks))
    counts = np.zeros((n_blocks, n_out), dtype=np.int64)
    klo = np.full((n_blocks, n_out), KEY_NONE_MIN, dtype=np.int64)
    khi = np.full((n_blocks, n_out), KEY_NONE_MAX, dtype=np.int64)
    for b in numba.prange(n_blocks):
        r0 = b * rows // n_blocks
        r1 = (b + 1) * rows // n_blocks
        work = np.empty((n_leaves + N_COLUMNS, inner), dtype=np.float64)
        rv = np.empty(n_leaves, dtype=np.float64)
        idx = np.zeros(ndim, dtype=np.int64)
        cnt = counts[b]
        lo_b = klo[b]
        hi_b = khi[b]
        fill_block(work, table, bind, inner, last)
        # nodes of the innermost axis and constants only: once per block, not per row
        row_scalars(rv, table, bind, idx, last)
        _column_eval(work, rv, inner)
        for r in range(r0, r1):
            decode_row(idx, r, shape, last)
            row_scalars(rv, table, bind, idx, last)
            _row_eval(work, rv, out, r, cnt, lo_b, hi_b)
    for k in range(n_out):
        nan_counts[k] = counts[:, k].sum()
        key_lo[k] = klo[:, k].min()
        key_hi[k] = khi[:, k].max()


def inner_leaves(model: Model, bind: np.ndarray, ndim: int) -> frozenset[str]:
    """The leaves bound to the innermost axis (those that vary along a row)."""
    last = ndim - 1
    return frozenset(n for n, a in zip(model.leaves, bind, strict=True) if int(a) == last)


def outer_leaves(model: Model, bind: np.ndarray, ndim: int) -> frozenset[str]:
    """The leaves bound to the other axes (those that vary from row to row)."""
    last = ndim - 1
    return frozenset(n for n, a in zip(model.leaves, bind, strict=True)
                     if 0 <= int(a) != last)


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_KERNEL_DIGEST = _file_digest(__file__)
_KERNELS: dict[tuple, object] = {}
_KERNELS_LOCK = threading.Lock()


def _cached(dispatcher, fingerprint: str):
    """Turn on Numba's on-disk cache for ``dispatcher``, flushed when ``fingerprint`` changes.

    Numba keys its cache on the template's file and bytecode, not on the generated row
    evaluator it inlines: every kernel is therefore named after the fingerprint of its
    evaluator (see :func:`specialize`), and a stamp beside Numba's index flushes an entry
    whose fingerprint differs. (Uses Numba's cache object, ``_cache``; any failure leaves
    caching off, which is only slower.)
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


def specialize(template, kind: str, ev: codegen.Evaluator, template_digest: str, *,
               parallel: bool = False, **globals_):
    """``template`` compiled with the generated functions of ``ev`` as its globals, named
    after the evaluator's fingerprint (Numba's cache key ignores globals and compiler
    flags: each specialization needs a function of its own name), cached on disk."""
    fingerprint = hashlib.sha256((ev.fingerprint + template_digest).encode()).hexdigest()
    name = f"_{kind}_{'parallel' if parallel else 'serial'}_{fingerprint[:20]}"
    glob = dict(template.__globals__)
    glob.update(globals_)
    fn = codegen.clone(template, glob, name)
    jit = numba.njit(nogil=True, parallel=parallel, error_model="numpy")
    return _cached(jit(fn), fingerprint)


def kernel_for(model: Model, outputs: tuple[str, ...], inner: frozenset[str],
               parallel: bool, outer: frozenset[str]):
    """The compiled materialize kernel for ``outputs`` of ``model`` with the leaves
    ``inner`` varying along the innermost axis and ``outer`` along the others: serial (one
    thread, GIL released, for Dask's threads) or parallel (Numba's threads, for in-memory
    use). ``outer`` must name every leaf bound to another axis: the nodes that read none
    of them are computed once per chunk. Compiled on first use and cached on disk; a sweep
    uses one binding and one set of outputs, so one compilation per kind of sweep."""
    key = (model.fingerprint, outputs, inner, parallel,
           codegen.column_nodes(model, outputs, inner, outer))
    with _KERNELS_LOCK:
        if key in _KERNELS:
            return _KERNELS[key]
    ev = codegen.evaluator(model, "row_extremes", outputs, inner, JIT_INLINE, TARGET,
                           helpers={"_row_keys": row_keys}, outer=outer)
    kernel = specialize(_materialize, "materialize", ev, _KERNEL_DIGEST, parallel=parallel,
                        **row_globals(ev))
    with _KERNELS_LOCK:
        return _KERNELS.setdefault(key, kernel)


def row_globals(ev: codegen.Evaluator) -> dict:
    """What a row kernel template reads of its evaluator: ``_row_eval``, ``_column_eval``
    and ``N_COLUMNS``."""
    return {"_row_eval": ev.function("_row_eval"),
            "_column_eval": ev.function("_column_eval"),
            "N_COLUMNS": ev.namespace["N_COLUMNS"]}


def materialize(model: Model, table: np.ndarray, bind: np.ndarray, shape: np.ndarray,
                codes: np.ndarray, out: np.ndarray, *, parallel: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate one chunk into ``out`` (n_outputs, rows, inner); return per output the NaN
    count and the minimum and maximum of its stored non-NaN values (float64; NaN when every
    value is NaN). ``codes`` index ``model.outputs``."""
    n = codes.shape[0]
    nan_counts = np.zeros(n, dtype=np.int64)
    key_lo = np.empty(n, dtype=np.int64)
    key_hi = np.empty(n, dtype=np.int64)
    outputs = tuple(model.outputs[int(c)] for c in codes)
    ndim = shape.shape[0]
    fn = kernel_for(model, outputs, inner_leaves(model, bind, ndim), parallel,
                    outer_leaves(model, bind, ndim))
    n_blocks = 4 * numba.get_num_threads() if parallel else 1
    fn(table, bind, shape, out, nan_counts, key_lo, key_hi, n_blocks)
    return nan_counts, keys_to_values(key_lo, out.dtype), keys_to_values(key_hi, out.dtype)
