"""The on-disk kernel cache is keyed by the formulas' source, and serial/parallel never mix."""

from __future__ import annotations

from pathlib import Path

import numba

from sweep.kernels import cpu


def test_fingerprint_is_the_hash_of_the_kernel_and_the_formulas_source():
    import hashlib

    from sweep import formulas

    expected = hashlib.sha256(Path(cpu.__file__).read_bytes()
                              + Path(formulas.__file__).read_bytes()).hexdigest()
    assert cpu._FINGERPRINT == cpu._source_fingerprint() == expected


def test_each_specialization_has_its_own_cache_entry():
    # Numba's cache key ignores compiler flags: serial and parallel builds, and kernels
    # built for other masks or outputs, must be functions of their own names
    a = cpu.kernel_for(1, (1, 2), parallel=False)
    b = cpu.kernel_for(1, (1, 2), parallel=True)
    c = cpu.kernel_for(3, (1, 2), parallel=False)
    d = cpu.kernel_for(1, (2,), parallel=False)
    names = {k.py_func.__qualname__ for k in (a, b, c, d)}
    assert len(names) == 4
    assert cpu.kernel_for(1, (2, 1, 2), parallel=False) is a   # the set of codes matters


def _square(x):
    return x * x


def test_a_changed_fingerprint_flushes_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    fn = cpu._renamed(_square, "_square_for_cache_test")
    d = cpu._cached(numba.njit(fn), "one")
    assert d(3.0) == 9.0
    stamp = Path(d._cache._cache_path) / "cpu._square_for_cache_test.fingerprint"
    assert stamp.read_text() == "one"
    index = list(Path(d._cache._cache_path).glob("*_square_for_cache_test*.nbi"))
    assert index, "the compiled function was cached"
    d2 = cpu._cached(numba.njit(cpu._renamed(_square, "_square_for_cache_test")), "two")
    assert stamp.read_text() == "two"
    assert d2(4.0) == 16.0
