"""The GPU backends: Numba CUDA kernels (in the CUDA simulator without a GPU), the CuPy
backend's CUDA C kernel (compiled for sm_90, and run on the host), device selection and the
errors without a GPU.

On a GPU machine ``make gpu-check`` runs the ``gpu``-marked tests on the real device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    build_cuda_c_for_host,
    gpu_backend_problem,
    run_cuda_c_on_host,
    small_spec_dict,
)
from sweep.backends import BackendUnavailable, get_backend, gpu
from sweep.model import Model, cost
from sweep.planning.planner import ChunkInputs
from sweep.spec.config import spec_from_dict

# the cost family alone: throughput given (the throughput family has its own
# backend tests, tests/test_throughput.py)
COST_MODEL = Model([cost.FAMILY])
INPUTS, OUTPUTS = COST_MODEL.leaves, COST_MODEL.outputs

ROOT = Path(__file__).resolve().parents[1]
NIN = len(INPUTS)
ALL_CODES = np.arange(len(OUTPUTS), dtype=np.int64)
RTOL = {np.float64: 1e-12, np.float32: 1e-6}
REAL_GPU = gpu.cuda_problem(allow_simulator=False) is None


def needs(name: str) -> None:
    problem = gpu_backend_problem(name)
    if problem:
        pytest.skip(f"backend {name}: {problem}")


def random_chunk(shape, bind, seed=0, zeros=True) -> ChunkInputs:
    """Inputs of plausible magnitude on ``shape``; with ``zeros``, some zero throughputs,
    utilizations and prices (NaN outputs) and a zero rate (the CRF's special case)."""
    rng = np.random.default_rng(seed)
    width = max(shape)
    table = np.empty((NIN, width))
    scale = {"gpu_hour_usd": 5, "capex_usd_per_gpu": 5e4, "lifetime_years": 8,
             "cost_of_capital": 0.2, "opex_usd_per_gpu_hour": 0.5, "kw_per_gpu": 2,
             "pue": 1.5, "electricity_usd_per_kwh": 0.2, "tokens_per_s_per_gpu": 5000,
             "utilization": 1, "price_usd_per_mtok": 3, "peak_pflops": 5}
    for i, name in enumerate(INPUTS):
        table[i] = rng.uniform(0.05, 1.0, width) * scale[name]
    if zeros:
        for name in ("tokens_per_s_per_gpu", "utilization", "price_usd_per_mtok",
                     "cost_of_capital"):
            table[INPUTS.index(name), ::5] = 0.0
    return ChunkInputs(table=table, bind=np.asarray(bind, dtype=np.int64), shape=tuple(shape),
                       model=COST_MODEL)


def assert_close_to_reference(got, ref, dtype):
    """Identical NaN masks; values within rtol (1e-12 float64, 1e-6 float32), with an
    absolute slack of rtol x the output's magnitude for values that cancel to near zero
    (margins), where a fused multiply-add on the device moves the last bits."""
    got_nan, ref_nan = np.isnan(got), np.isnan(ref)
    np.testing.assert_array_equal(got_nan, ref_nan)
    rtol = RTOL[dtype]
    for k in range(len(ref)):
        g, r = got[k][~got_nan[k]], ref[k][~ref_nan[k]].astype(dtype)
        if r.size:
            scale = float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0))
            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale)


def assert_stats_describe(values, stats):
    flat = values.reshape(len(values), -1).astype(np.float64)
    np.testing.assert_array_equal(stats.nan_counts, np.isnan(flat).sum(axis=1))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(stats.minima, np.fmin.reduce(flat, axis=1))
        np.testing.assert_array_equal(stats.maxima, np.fmax.reduce(flat, axis=1))


# Bindings that cover the kernel's paths: the rate and lifetime (CRF) along the innermost
# axis, along outer axes, constant; a one-axis chunk; an innermost axis longer than a block.
# Each case asks for a few outputs (together: all 14; the simulator's cost grows with them).
CASES = {
    "crf-outer": ((3, 4, 37), [0, -1, 1, 1, -1, 2, -1, 0, 2, 2, -1, -1], [1, 11, 9, 0]),
    "crf-inner": ((2, 5, 33), [0, 1, 2, 2, -1, -1, 1, -1, 2, 0, 1, -1], [6, 4, 7]),
    "constants": ((4, 70), [1, -1, -1, -1, -1, -1, -1, 0, 1, 1, -1, -1], [5, 13, 12]),
    "one-axis": ((150,), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 3, 8, 10]),
    "long-inner": ((2, 300), [0, -1, -1, 0, -1, 1, -1, -1, 1, 1, -1, -1], [1, 7]),
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_matches_numpy_reference(case, dtype):
    needs("cuda")
    shape, bind, codes = CASES[case]
    codes = np.asarray(codes, dtype=np.int64)
    inputs = random_chunk(shape, bind, seed=len(case))
    ref, _ = get_backend("numpy").compute(inputs, codes, np.dtype(np.float64))
    got, stats = get_backend("cuda").compute(inputs, codes, np.dtype(dtype))
    assert got.dtype == dtype and got.shape == ref.shape == (len(codes), *shape)
    assert_close_to_reference(got, ref, dtype)
    assert_stats_describe(got, stats)
    assert stats.nan_counts.sum() > 0  # the zeros gave NaN


def test_the_cases_cover_every_output():
    assert {c for _, _, codes in CASES.values() for c in codes} == set(range(len(OUTPUTS)))


@pytest.mark.gpu
def test_cuda_production_block_shape_and_a_subset_of_outputs():
    # 128-thread blocks as on a GPU (the simulator defaults to 32), outputs out of order
    needs("cuda")
    from sweep.backends.gpu import CudaBackend

    inputs = random_chunk((3, 7, 45), [0, -1, 1, 1, -1, 2, -1, 0, 2, 2, -1, -1], seed=3)
    codes = np.array([OUTPUTS.index("gross_margin"), OUTPUTS.index("usd_per_gpu_hour")])
    ref, _ = get_backend("numpy").compute(inputs, codes, np.dtype(np.float64))
    got, stats = CudaBackend(block_threads=128).compute(inputs, codes, np.dtype(np.float64))
    assert_close_to_reference(got, ref, np.float64)
    assert_stats_describe(got, stats)


@pytest.mark.gpu
def test_cuda_writes_into_the_given_host_buffer_and_all_nan_chunks_have_nan_extremes():
    needs("cuda")
    be = get_backend("cuda")
    inputs = random_chunk((4, 9), [0] * NIN, zeros=False)
    inputs.table[INPUTS.index("utilization")] = 0.0        # every usd_per_mtok is NaN
    buf = be.host_buffer(100, np.dtype(np.float32))
    buf[:] = -7.0
    codes = np.array([OUTPUTS.index("usd_per_mtok"), OUTPUTS.index("joules_per_token")])
    values, stats = be.compute(inputs, codes, np.dtype(np.float32), buf)
    assert np.shares_memory(values, buf) and values.shape == (2, 4, 9)
    assert (buf[72:] == -7.0).all()
    assert stats.nan_counts[0] == 36 and np.isnan(stats.minima[0]) and np.isnan(stats.maxima[0])
    assert stats.nan_counts[1] == 0 and stats.minima[1] <= stats.maxima[1]


@pytest.mark.gpu
def test_cuda_run_through_the_engine_equals_numba(tmp_path):
    needs("cuda")
    from sweep import open_result, run

    d = small_spec_dict(outputs=["usd_per_mtok", "gross_margin", "joules_per_token"],
                        chunks={"utilization": 2, "electricity_usd_per_kwh": 3})
    d["constants"].update(price_usd_per_mtok=2.0)
    spec = spec_from_dict(d)
    res = run(spec, store=tmp_path / "cuda.zarr", backend="cuda", progress=False)
    run(spec, store=tmp_path / "numba.zarr", backend="numba", progress=False)
    a, b = open_result(tmp_path / "cuda.zarr"), open_result(tmp_path / "numba.zarr")
    assert a.attrs["sweep_backend"] == "cuda" and a.attrs["sweep_status"] == "complete"
    assert ("simulator" in a.attrs["sweep_device"]) != REAL_GPU
    assert res.plan.n_chunks > 1
    for name in spec.outputs:
        assert_close_to_reference(a[name].values[None], b[name].values[None], np.float32)


def _cli(*args, env=None):
    # -P: never import the source tree's sweep/ from the working directory (it lacks
    # sweep.kernels, which only an install maps from kernels/)
    return subprocess.run([sys.executable, "-P", "-m", "sweep", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.gpu
def test_cli_run_with_backend_cuda_equals_backend_numba(tmp_path, write_file):
    needs("cuda")
    import yaml

    path = write_file("s.yaml", yaml.safe_dump(small_spec_dict(dtype="float64")))
    for backend in ("cuda", "numba"):
        proc = _cli("run", str(path), "--backend", backend, "--store",
                    str(tmp_path / f"{backend}.zarr"), "--no-progress")
        assert proc.returncode == 0, proc.stderr
    from sweep import open_result

    a, b = open_result(tmp_path / "cuda.zarr"), open_result(tmp_path / "numba.zarr")
    assert a.attrs["sweep_backend"] == "cuda"
    for name in ("usd_per_mtok", "tokens_per_s_per_mw"):
        assert_close_to_reference(a[name].values[None], b[name].values[None], np.float64)


def test_cli_backend_cupy_without_a_gpu_exits_2_with_one_line(tmp_path, write_file):
    if gpu.cupy_problem() is None:
        pytest.skip("cupy can run here")
    import yaml

    path = write_file("s.yaml", yaml.safe_dump(small_spec_dict()))
    proc = _cli("run", str(path), "--backend", "cupy", "--store", str(tmp_path / "x.zarr"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cupy" in lines[0], proc.stderr
    assert not (tmp_path / "x.zarr").exists()


def test_cli_backend_cuda_without_gpu_or_simulator_exits_2_with_one_line(tmp_path,
                                                                         write_file):
    if REAL_GPU:
        pytest.skip("a real GPU is usable here")
    import yaml

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    path = write_file("s.yaml", yaml.safe_dump(small_spec_dict()))
    proc = _cli("run", str(path), "--backend", "cuda", "--store", str(tmp_path / "x.zarr"),
                env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cuda" in lines[0], proc.stderr
    assert "driver" in lines[0] or "device" in lines[0] or "numba-cuda" in lines[0]
    assert not (tmp_path / "x.zarr").exists()


def test_auto_never_picks_the_simulator(caplog):
    if REAL_GPU:
        pytest.skip("a real GPU is usable here")
    import logging

    with caplog.at_level(logging.INFO, logger="sweep.backends"):
        assert get_backend("auto").name == "numba"
    assert "backend auto -> numba" in caplog.text and "cuda" in caplog.text
    if gpu.simulated():
        assert "simulator" in gpu.cuda_problem(allow_simulator=False)


def test_unavailable_cupy_is_a_clear_error():
    problem = gpu.cupy_problem()
    if problem is None:
        pytest.skip("cupy can run here")
    with pytest.raises(BackendUnavailable, match=r"backend 'cupy' is not available: "):
        get_backend("cupy")


def test_worker_threads_are_dealt_over_every_device():
    slots = gpu._SlotsPerThread(3, make_stream=object)
    seen = []
    lock = threading.Lock()

    def work():
        dev = slots.device_for_thread()
        assert slots.device_for_thread() == dev == slots.get().device  # stable per thread
        with lock:
            seen.append(dev)

    threads = [threading.Thread(target=work) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [0, 0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("rows,inner,block", [(1, 1, 128), (7, 5, 128), (1000, 33, 128),
                                               (3, 1000, 128), (10**7, 3, 128),
                                               (40, 70, 32), (9, 2, 8)])
def test_launch_config_covers_the_chunk_within_cuda_limits(rows, inner, block):
    pytest.importorskip("numba.cuda")
    from sweep.kernels.cuda import launch_config

    (gx, gy), (tx, ty), per_thread = launch_config(rows, inner, block)
    assert tx * ty == block and tx >= min(32, block)
    assert gx * tx >= inner and (gx - 1) * tx < inner          # every column, no spare block
    assert gy * ty * per_thread >= rows and gy <= 65535
    assert (gy - 1) * ty * per_thread < rows
    with pytest.raises(ValueError, match="power of two"):
        launch_config(rows, inner, 96)


# --------------------------------------------------------------------------- compile checks


def _ptxas_check(ptx: Path) -> None:
    """Assemble ``ptx`` for sm_90 with ptxas, where it is on PATH; fail on register spills."""
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        return
    proc = subprocess.run([ptxas, "-arch=sm_90", "-v", str(ptx), "-o", os.devnull],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = proc.stdout + proc.stderr
    assert "Compiling entry function" in report
    assert " 0 bytes spill stores, 0 bytes spill loads" in report
    assert "bytes spill" not in report.replace(" 0 bytes spill", "")


def test_numba_cuda_kernels_compile_for_sm90(tmp_path):
    """Every Numba CUDA kernel compiles to PTX for compute capability 9.0, without a GPU
    (in a subprocess: this session runs the simulator, which has no compiler)."""
    pytest.importorskip("numba.cuda")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-P", "-m", "sweep.kernels.ptx", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("*.ptx"))
    assert [f.name for f in files] == ["materialize_float32.ptx", "materialize_float64.ptx",
                                       "reduce_float64.ptx"]
    for f in files:
        text = f.read_text()
        assert ".target sm_90" in text
        # PTX ISA 9.0 is what a CUDA 13.0 driver (the GPU machines') accepts
        assert ".version 9.0" in text, text[:400]
        _ptxas_check(f)


def _nvrtc_ptx(source: str) -> str | None:
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        return None
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), b"generated.cu", 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    opts = [b"--gpu-architecture=compute_90", b"--std=c++17"]
    (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    # NVRTC writes into the buffer: a bytearray, never a bytes object (``b" " * 1`` is
    # CPython's shared one-byte b" ", and writing into it turns every b" " of the process
    # into b"\0": HTTP status lines, among others)
    log = bytearray(size)
    nvrtc.nvrtcGetProgramLog(prog, log)
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace")
    _, size = nvrtc.nvrtcGetPTXSize(prog)
    ptx = bytearray(size)
    nvrtc.nvrtcGetPTX(prog, ptx)
    return bytes(ptx).rstrip(b"\0 ").decode()


def test_cupy_cuda_c_kernel_compiles_for_sm90(tmp_path):
    """The cupy backend's CUDA C source compiles for sm_90 with NVRTC (the compiler CuPy
    uses), else nvcc; skipped only when neither is present."""
    source = gpu.cuda_c_source()
    ptx = _nvrtc_ptx(source)
    if ptx is None:
        nvcc = shutil.which("nvcc")
        if nvcc is None:
            pytest.skip("neither NVRTC (cuda-bindings) nor nvcc is available")
        out = tmp_path / "materialize.ptx"
        (tmp_path / "generated.cu").write_text(source)
        proc = subprocess.run([nvcc, "-arch=sm_90", "--ptx", "-std=c++17", "-o", str(out),
                               str(tmp_path / "generated.cu")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        ptx = out.read_text()
    assert ".target sm_90" in ptx
    for entry in ("materialize_f32", "materialize_f64"):
        assert f".entry {entry}" in ptx
    (tmp_path / "m.ptx").write_text(ptx)
    _ptxas_check(tmp_path / "m.ptx")


def test_cupy_kernel_source_matches_reference_when_built_for_the_host(tmp_path):
    """The CUDA C per-point code (index decoding, inputs, every formula) built as host C++
    and run over whole chunks, against the NumPy reference, in float64 and float32."""
    exe = build_cuda_c_for_host(tmp_path, gpu.cuda_c_source(COST_MODEL))
    for case, (shape, bind, _) in sorted(CASES.items()):
        inputs = random_chunk(shape, bind, seed=len(case) + 11)
        got64, got32 = run_cuda_c_on_host(exe, tmp_path, inputs, len(ALL_CODES))
        ref, _ = get_backend("numpy").compute(inputs, ALL_CODES, np.dtype(np.float64))
        assert_close_to_reference(got64, ref, np.float64)
        assert_close_to_reference(got32, ref, np.float32)


# --------------------------------------------------------------------------- real GPU only


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cuda", "cupy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_backends_on_a_larger_chunk(name, dtype):
    """About 10^6 points on a real device (too slow for the simulator)."""
    if not REAL_GPU:
        pytest.skip("needs a real GPU")
    needs(name)
    inputs = random_chunk((4, 5, 250, 200), [0, 1, 1, 2, -1, 2, -1, 0, 3, 3, 1, -1], seed=5)
    ref, _ = get_backend("numpy").compute(inputs, ALL_CODES, np.dtype(np.float64))
    got, stats = get_backend(name).compute(inputs, ALL_CODES, np.dtype(dtype))
    assert_close_to_reference(got, ref, dtype)
    assert_stats_describe(got, stats)


def test_the_simulators_shared_arrays_are_shared_by_threads_that_race_for_them():
    """The simulator creates a block's shared array on first use without a lock; the
    backends install a locked lookup (``gpu.lock_simulator_shared_arrays``), so that threads
    arriving together all get the one array."""
    if not gpu.simulated():
        pytest.skip("only Numba's CUDA simulator allocates shared arrays this way")
    from numba.cuda.simulator import kernelapi

    gpu.lock_simulator_shared_arrays()
    for _ in range(20):
        shared = kernelapi.FakeCUDAShared(0)
        got = []
        start = threading.Barrier(16)

        def grab(shared=shared, got=got, start=start):
            start.wait()
            got.append(shared.array(8, np.float64))

        threads = [threading.Thread(target=grab) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(a) for a in got}) == 1
