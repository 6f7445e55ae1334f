"""The on-disk kernel cache is keyed by the generated source, and serial/parallel never mix."""

from __future__ import annotations

from pathlib import Path

import numba

from sweep.kernels import cpu
from sweep.model import codegen, default_model


def test_each_specialization_has_its_own_cache_entry():
    # Numba's cache key ignores compiler flags and globals: serial and parallel builds, and
    # kernels built for other bindings or outputs, must be functions of their own names
    model = default_model()
    one = frozenset({"gpu_hour_usd"})
    none = frozenset()
    a = cpu.kernel_for(model, ("usd_per_mtok", "tokens_per_s_per_mw"), one, False, none)
    b = cpu.kernel_for(model, ("usd_per_mtok", "tokens_per_s_per_mw"), one, True, none)
    c = cpu.kernel_for(model, ("usd_per_mtok", "tokens_per_s_per_mw"),
                       frozenset({"utilization"}), False, none)
    d = cpu.kernel_for(model, ("tokens_per_s_per_mw",), one, False, none)
    # the same inner binding with another axis outside: other column nodes, another kernel
    e = cpu.kernel_for(model, ("usd_per_mtok", "tokens_per_s_per_mw"), one, False,
                       frozenset({"pue"}))
    names = {k.py_func.__qualname__ for k in (a, b, c, d, e)}
    assert len(names) == 5
    assert cpu.kernel_for(model, ("usd_per_mtok", "tokens_per_s_per_mw"), one, False,
                          none) is a


def test_the_kernel_name_follows_the_generated_source_and_the_formulas():
    import hashlib

    from sweep.model.user import user_model

    model = default_model()
    wanted = ("usd_per_mtok",)
    ev = codegen.evaluator(model, "row_extremes", wanted, frozenset(), cpu.JIT_INLINE,
                           cpu.TARGET, helpers={"_row_keys": cpu.row_keys},
                           outer=frozenset())
    assert ev.fingerprint == hashlib.sha256((model.fingerprint + ev.source).encode()).hexdigest()
    kernel = cpu.kernel_for(model, wanted, frozenset(), False, frozenset())
    fp = hashlib.sha256((ev.fingerprint + cpu._KERNEL_DIGEST).encode()).hexdigest()
    assert kernel.py_func.__qualname__.endswith(fp[:20])
    # a replaced formula leaves the generated row source the same shape but changes the
    # model's fingerprint, so the kernel gets another name (and another cache entry)
    other = user_model({}, {"usd_per_gpu_hour": {"expr": "usd_per_gpu_hour + 1",
                                                 "replace": True}})
    assert other.fingerprint != model.fingerprint
    k2 = cpu.kernel_for(other, wanted, frozenset(), False, frozenset())
    assert k2.py_func.__qualname__ != kernel.py_func.__qualname__


def _square(x):
    return x * x


def test_a_changed_fingerprint_flushes_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    fn = codegen.clone(_square, dict(_square.__globals__), "_square_for_cache_test")
    d = cpu._cached(numba.njit(fn), "one")
    assert d(3.0) == 9.0
    stamp = Path(d._cache._cache_path) / "cpu._square_for_cache_test.fingerprint"
    assert stamp.read_text() == "one"
    index = list(Path(d._cache._cache_path).glob("*_square_for_cache_test*.nbi"))
    assert index, "the compiled function was cached"
    fn2 = codegen.clone(_square, dict(_square.__globals__), "_square_for_cache_test")
    d2 = cpu._cached(numba.njit(fn2), "two")
    assert stamp.read_text() == "two"
    assert d2(4.0) == 16.0
