"""GPU backends: ``cuda`` (Numba CUDA kernels) and ``cupy`` (CuPy with a CUDA C kernel).

Both compute a chunk on a device and copy it back into pinned host memory, from which the
engine writes it by region. Each Dask worker thread gets a slot of its own: a device
(threads are spread round-robin over every visible device, ``CUDA_VISIBLE_DEVICES``
respected), a non-default CUDA stream, a device output buffer and a pinned host buffer.
So while one thread's chunk is copied back and written to Zarr, another thread's chunk is
computing: the copy-back of one chunk overlaps the compute of the next.

Nothing here is imported by the base install: ``numba-cuda`` and ``cupy`` are the optional
``gpu`` extras, imported only when a GPU backend is asked for.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import math
import sys
import threading

import numpy as np

from sweep.backends.base import BackendUnavailable, ChunkStats, _output_array
from sweep.chunks import ChunkInputs
from sweep.quiet import quiet

log = logging.getLogger(__name__)

GPU_EXTRA = "pip install 'token-sweep[gpu]'"

# --------------------------------------------------------------------------- availability


def simulated() -> bool:
    """Whether Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1`` before import)."""
    try:
        from numba import cuda
    except ImportError:
        return False
    return bool(cuda.config.ENABLE_CUDASIM)


def cuda_problem(*, allow_simulator: bool = True) -> str | None:
    """``None`` when the ``cuda`` backend can run here, else one line saying what is missing.

    The simulator counts as usable only with ``allow_simulator`` (``numba.cuda.is_available()``
    is True under the simulator, so it is checked first).
    """
    try:
        from numba import cuda
    except ImportError:
        return f"numba-cuda is not installed ({GPU_EXTRA})"
    if cuda.config.ENABLE_CUDASIM:
        return None if allow_simulator else "only Numba's CUDA simulator is on (no real GPU)"
    try:
        if cuda.is_available():
            return None if len(cuda.gpus) > 0 else "no CUDA device is visible"
        error = cuda.cuda_error()
    except Exception as exc:  # noqa: BLE001 - any driver failure is "not usable", said plainly
        error = str(exc)
    if error:
        return "no CUDA driver: " + " ".join(str(error).split())
    return "no CUDA device is visible"


def cupy_problem() -> str | None:
    """``None`` when the ``cupy`` backend can run here, else one line saying what is missing.

    Importing CuPy succeeds without a GPU; the device count asks the driver.
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return f"cupy is not installed ({GPU_EXTRA})"
    except Exception as exc:  # noqa: BLE001 - a broken CuPy install
        return f"cupy cannot be imported: {type(exc).__name__}: {exc}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - no driver, or a driver too old for this CuPy
        return "no CUDA driver for cupy: " + " ".join(str(exc).split())
    return None if n > 0 else "no CUDA device is visible"


def usable_gpu_backend() -> tuple[str | None, str]:
    """The GPU backend ``auto`` should take (``cuda``, else ``cupy``, else ``None``) and why.

    The CUDA simulator never counts here: it runs about 10^5 times slower than the CPU.
    """
    problem = cuda_problem(allow_simulator=False)
    if problem is None:
        return "cuda", "a CUDA device is usable through Numba"
    cupy_issue = cupy_problem()
    if cupy_issue is None:
        return "cupy", f"cuda backend unusable ({problem}); cupy is"
    return None, f"no usable GPU: cuda: {problem}; cupy: {cupy_issue}"


# --------------------------------------------------------------------------- shared parts

#: Numba's CUDA simulator cannot run two launches at once: every launch of every kernel
#: (materialize, reduce) takes this lock there.
SIMULATOR_LOCK = threading.Lock()


_SHARED_LOCK = threading.Lock()


def lock_simulator_shared_arrays() -> None:
    """Make the CUDA simulator's shared-array allocation safe between its threads.

    The simulator runs a block's threads as Python threads, and ``cuda.shared.array``
    looks up the block's array for that source line and creates it when missing, without a
    lock: two threads that get there first can each create one, and then do not share it
    (a block reduction then loses what the other half of the block computed). Seen here as
    rare failures of the GPU tests; the same lookup, under a lock. Idempotent; only for the
    simulator."""
    import sys as _sys
    import traceback

    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    cls = kernelapi.FakeCUDAShared
    if getattr(cls, "_token_sweep_locked", False):
        return
    original = cls.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:   # dynamic shared memory, or a refusal
            return original(self, shape, dtype, alignment)
        caller = traceback.extract_stack(_sys._getframe())[-2][0:2]
        with _SHARED_LOCK:
            res = self._allocations.get(caller)
            if res is None:
                if isinstance(dtype, types.Type):
                    dtype = numpy_support.as_dtype(dtype)
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res

    cls.array = array
    cls._token_sweep_locked = True


def launch(kernel, args, *, simulated: bool, small: bool = False) -> None:
    """Launch ``kernel(*args)`` (a configured Numba CUDA kernel), the one way every backend
    launches: one at a time under the simulator; with ``small``, Numba's low-occupancy
    warning silenced for this launch (the launch is small on purpose)."""
    if small:
        with quiet("Grid size .* under-utilization"):
            launch(kernel, args, simulated=simulated)
        return
    if simulated:
        with SIMULATOR_LOCK:
            kernel(*args)
    else:
        kernel(*args)


class _Slot:
    """One worker thread's device, stream and buffers."""

    def __init__(self, device: int, stream):
        self.device = device
        self.stream = stream
        self.buffers: dict[str, object] = {}


class _SlotsPerThread:
    """A :class:`_Slot` per calling thread, devices dealt round-robin."""

    def __init__(self, n_devices: int, make_stream):
        self._n = max(1, n_devices)
        self._make_stream = make_stream
        self._next = itertools.count()
        self._local = threading.local()
        self._lock = threading.Lock()

    def device_for_thread(self) -> int:
        """The device the calling thread uses (assigned on its first call)."""
        dev = getattr(self._local, "device", None)
        if dev is None:
            with self._lock:
                dev = self._local.device = next(self._next) % self._n
        return dev

    def get(self) -> _Slot:
        """The calling thread's slot; call with its device current."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = _Slot(self.device_for_thread(), self._make_stream())
        return slot


def _chunk_geometry(inputs: ChunkInputs, codes: np.ndarray) -> tuple[int, int, int]:
    shape = inputs.shape
    rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    return len(codes), rows, int(shape[-1])


def _round_extremes(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # rounding to the storage dtype is monotonic: the extremes of the stored values are the
    # rounded float64 extremes
    with np.errstate(over="ignore"):
        return values.astype(dtype).astype(np.float64)


# --------------------------------------------------------------------------- cuda


class CudaBackend:
    """Numba CUDA kernels (``sweep.kernels.cuda``), one thread per point.

    Under ``NUMBA_ENABLE_CUDASIM=1`` the same code path runs in Numba's CUDA simulator (for
    tests: about 10^5 times slower than the CPU). ``block_threads`` and ``rows_per_thread``
    shape the launch (defaults: 128 and 4 on a GPU; 32 and 16 in the simulator, whose cost
    grows with the number of blocks and their size). The simulator cannot run two launches
    at once, so there they are serialized.
    """

    name = "cuda"

    def __init__(self, block_threads: int | None = None, rows_per_thread: int | None = None):
        problem = cuda_problem()
        if problem is not None:
            raise BackendUnavailable(f"backend 'cuda' is not available: {problem}")
        from numba import cuda

        from sweep.kernels import cuda as kernels

        self._cuda = cuda
        self._k = kernels
        self.simulated = bool(cuda.config.ENABLE_CUDASIM)
        if self.simulated:
            # the simulator runs each block as Python threads and polls them at barriers;
            # the default 5 ms thread switch interval makes each barrier cost milliseconds
            sys.setswitchinterval(min(sys.getswitchinterval(), 1e-4))
            lock_simulator_shared_arrays()
            log.warning("backend cuda runs in Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1):"
                        " correct but very slow, for tests only")
        self.block_threads = block_threads or (32 if self.simulated else kernels.BLOCK_THREADS)
        self.rows_per_thread = rows_per_thread or (16 if self.simulated
                                                   else kernels.ROWS_PER_THREAD)
        self.n_devices = len(cuda.gpus)
        self.device = self._describe()
        self._slots = _SlotsPerThread(self.n_devices, cuda.stream)

    def _describe(self) -> str:
        if self.simulated:
            return "cuda-simulator"
        names = []
        for i in range(self.n_devices):
            gpu = self._cuda.gpus[i]
            name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
            cc = ".".join(map(str, gpu.compute_capability))
            names.append(f"cuda:{i} {name} (cc {cc})")
        return ", ".join(names)

    def check_memory(self, plan, workers: int, fraction: float = 0.8) -> None:
        """Refuse (before anything is written) chunks whose device buffers, one per worker
        thread sharing a device, would pass ``fraction`` of that device's free memory."""
        if self.simulated:
            return
        from sweep.planning.preflight import PlanError, human_bytes

        per_thread = len(plan.outputs) * math.prod(plan.chunk_shape) * plan.dtype.itemsize
        threads = -(-workers // max(1, self.n_devices))
        for i in range(self.n_devices):
            with self._cuda.gpus[i]:
                free, _total = self._cuda.current_context().get_memory_info()
            if per_thread * threads > fraction * free:
                raise PlanError(
                    f"chunks of {plan.chunk_shape} need {human_bytes(per_thread)} of device "
                    f"memory per worker thread, {human_bytes(per_thread * threads)} for the "
                    f"{threads} thread(s) on cuda:{i}, over {fraction:.0%} of its "
                    f"{human_bytes(free)} free; use smaller `chunks` or fewer --workers")

    def host_buffer(self, size: int, dtype: np.dtype) -> np.ndarray:
        """A pinned (page-locked) host buffer, allocated in the calling thread's device
        context, so that copies into it run asynchronously at full speed."""
        with self._cuda.gpus[self._slots.device_for_thread()]:
            return self._cuda.pinned_array(size, dtype=dtype)

    def _device_buffer(self, slot: _Slot, size: int, dtype: np.dtype):
        key = f"out-{np.dtype(dtype).str}"
        buf = slot.buffers.get(key)
        if buf is None or buf.size < size:
            buf = slot.buffers[key] = self._cuda.device_array(size, dtype=dtype)
        return buf

    def _small_buffers(self, slot: _Slot, n_in: int, width: int, n_out: int):
        """The slot's device copies of a chunk's table, bindings, shape and statistics, and
        pinned host staging for them: allocated once per slot (reallocated only for a larger
        table or more outputs), because an allocation on the device synchronizes every
        stream."""
        bufs = slot.buffers.get("small")
        if bufs is None or bufs["table"].shape[1] < width or bufs["n_in"] != n_in \
                or bufs["n_out"] < n_out:
            cuda = self._cuda
            n_out = max(n_out, bufs["n_out"] if bufs else 0)
            max_dims = n_in    # every axis binds at least one leaf
            host = {"table": cuda.pinned_array((n_in, width), np.float64),
                    "ints": cuda.pinned_array(n_in + max_dims, np.int64),
                    "count": cuda.pinned_array(n_out, np.int64),
                    "lo": cuda.pinned_array(n_out, np.float64),
                    "hi": cuda.pinned_array(n_out, np.float64)}
            bufs = slot.buffers["small"] = {
                "host": host, "n_in": n_in, "n_out": n_out,
                "table": cuda.device_array((n_in, width), np.float64),
                "bind": cuda.device_array(n_in, np.int64),
                "shape": {d: cuda.device_array(d, np.int64) for d in range(1, max_dims + 1)},
                "count": cuda.device_array(n_out, np.int64),
                "lo": cuda.device_array(n_out, np.float64),
                "hi": cuda.device_array(n_out, np.float64),
            }
        return bufs

    def compute(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype,
                out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        cuda = self._cuda
        dtype = np.dtype(dtype)
        n_out, rows, inner = _chunk_geometry(inputs, codes)
        n = n_out * rows * inner
        ndim = len(inputs.shape)
        with cuda.gpus[self._slots.device_for_thread()]:
            slot = self._slots.get()
            s = slot.stream
            d_out = self._device_buffer(slot, n, dtype)[:n].reshape((n_out, rows, inner))
            n_in = inputs.table.shape[0]
            b = self._small_buffers(slot, n_in, inputs.table.shape[1], n_out)
            h = b["host"]
            # the table is padded to the slot's width: the kernel reads only valid positions
            h["table"][:, : inputs.table.shape[1]] = inputs.table
            h["ints"][:n_in] = inputs.bind
            h["ints"][n_in:n_in + ndim] = inputs.shape
            h["count"][:] = 0
            h["lo"][:] = np.nan
            h["hi"][:] = np.nan
            d_shape = b["shape"][ndim]
            b["table"].copy_to_device(h["table"], stream=s)
            b["bind"].copy_to_device(h["ints"][:n_in], stream=s)
            d_shape.copy_to_device(h["ints"][n_in:n_in + ndim], stream=s)
            for name in ("count", "lo", "hi"):
                b[name][:n_out].copy_to_device(h[name][:n_out], stream=s)
            d_count, d_lo, d_hi = b["count"][:n_out], b["lo"][:n_out], b["hi"][:n_out]
            grid, block, per_thread = self._k.launch_config(rows, inner, self.block_threads,
                                                            self.rows_per_thread)
            outputs = tuple(inputs.model.outputs[int(c)] for c in codes)
            kernel = self._k.kernel_for(inputs.model, outputs,
                                        self._k.outer_leaves(inputs.model, inputs.bind, ndim))
            args = (b["table"], b["bind"], d_shape, d_out, d_count, d_lo, d_hi, per_thread)
            launch(kernel[grid, block, s], args, simulated=self.simulated,
                   small=rows * inner == 1)
            host = _output_array(out, (n_out, rows, inner), dtype)
            d_out.copy_to_host(host, stream=s)
            d_count.copy_to_host(h["count"][:n_out], stream=s)
            d_lo.copy_to_host(h["lo"][:n_out], stream=s)
            d_hi.copy_to_host(h["hi"][:n_out], stream=s)
            s.synchronize()
            counts = h["count"][:n_out].copy()
            lo, hi = h["lo"][:n_out].copy(), h["hi"][:n_out].copy()
        stats = ChunkStats(counts, _round_extremes(lo, dtype), _round_extremes(hi, dtype))
        return host.reshape((n_out, *inputs.shape)), stats

    def warm_up(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype) -> None:
        # one compilation per kind of sweep and output dtype; the one-point launch is small
        # on purpose, and launch() silences Numba's low-occupancy warning for it
        self.compute(inputs.one_point(), codes, np.dtype(dtype))

    def launch(self, configured, args, *, small: bool = False) -> None:
        """Launch ``configured`` (a kernel with its grid, block and stream) on ``args``
        (see :func:`launch`: serialized in the simulator)."""
        launch(configured, args, simulated=self.simulated, small=small)

    def fold(self, inputs: ChunkInputs, start: tuple[int, ...], folding):
        """The reduce partials of one block, on the GPU (:func:`sweep.backends.gpu_reduce.fold`)."""
        from sweep.backends import gpu_reduce

        return gpu_reduce.fold(self, inputs, start, folding)

    def ratio(self, inputs_a: ChunkInputs, inputs_b: ChunkInputs, weights: np.ndarray,
              code: int, bins):
        """A comparison's partials over one block: on the CPU, by the numba engine (the
        comparisons are a second, small pass)."""
        from sweep.backends.cpu import NumbaBackend

        return NumbaBackend().ratio(inputs_a, inputs_b, weights, code, bins)


# --------------------------------------------------------------------------- cupy

def cuda_c_source(model=None, outputs: tuple[str, ...] | None = None) -> str:
    """The cupy backend's CUDA C kernels for ``outputs`` of ``model`` (default: every output
    of the registered families), generated from the formulas' source
    (:func:`sweep.model.cudac.kernel_source`)."""
    from sweep.model import cudac, default_model

    model = model or default_model()
    return cudac.kernel_source(model, tuple(outputs or model.outputs))


class CupyBackend:
    """CuPy device arrays and CUDA C kernels generated from the model's formulas
    (:func:`cuda_c_source`, compiled by CuPy's NVRTC, one module per kind of sweep), with a
    loop structure of their own (a flat grid-stride loop, indices decoded per point): a
    second GPU implementation to hold the Numba one against. NaN counts and extremes come
    from CuPy reductions on the device."""

    name = "cupy"
    THREADS = 256

    def __init__(self):
        problem = cupy_problem()
        if problem is not None:
            raise BackendUnavailable(f"backend 'cupy' is not available: {problem}")
        import cupy

        self._cp = cupy
        self._modules: dict[str, object] = {}
        self._lock = threading.Lock()
        self.n_devices = cupy.cuda.runtime.getDeviceCount()
        names = []
        for i in range(self.n_devices):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            names.append(f"cuda:{i} {name} (cc {props['major']}.{props['minor']})")
        self.device = ", ".join(names)
        self._slots = _SlotsPerThread(self.n_devices,
                                      lambda: cupy.cuda.Stream(non_blocking=True))

    def host_buffer(self, size: int, dtype: np.dtype) -> np.ndarray:
        """A pinned host buffer (CuPy's pinned memory pool) for asynchronous copies."""
        import cupyx

        with self._cp.cuda.Device(self._slots.device_for_thread()):
            return cupyx.empty_pinned((size,), dtype=dtype)

    def compute(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype,
                out: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        cp = self._cp
        dtype = np.dtype(dtype)
        n_out, rows, inner = _chunk_geometry(inputs, codes)
        n_points = rows * inner
        with cp.cuda.Device(self._slots.device_for_thread()):
            slot = self._slots.get()
            outputs = tuple(inputs.model.outputs[int(c)] for c in codes)
            source = cuda_c_source(inputs.model, outputs)
            with self._lock:
                module = self._modules.get(source)
                if module is None:
                    module = self._modules[source] = self._cp.RawModule(
                        code=source, options=("--std=c++17",))
            name = f"kernel-{dtype.str}-{hash(source)}"
            kernel = slot.buffers.get(name)
            if kernel is None:   # loads the module on this device: once per thread and dtype
                kernel = slot.buffers[name] = module.get_function(
                    "materialize_f32" if dtype == np.float32 else "materialize_f64")
            with slot.stream:
                key = f"out-{dtype.str}"
                buf = slot.buffers.get(key)
                if buf is None or buf.size < n_out * n_points:
                    buf = slot.buffers[key] = cp.empty(n_out * n_points, dtype=dtype)
                d_out = buf[: n_out * n_points].reshape((n_out, rows, inner))
                table = np.ascontiguousarray(inputs.table)
                d_table = cp.asarray(table)
                d_bind = cp.asarray(np.asarray(inputs.bind, dtype=np.int64))
                d_shape = cp.asarray(np.asarray(inputs.shape, dtype=np.int64))
                blocks = int(min(-(-n_points // self.THREADS), 65535 * 16))
                kernel((blocks,), (self.THREADS,), (
                    d_table, np.int64(table.shape[1]), d_bind, d_shape,
                    np.int32(len(inputs.shape)), d_out, np.int64(n_points)))
                flat = d_out.reshape(n_out, n_points)
                nan = cp.isnan(flat)
                counts = nan.sum(axis=1)
                lo = cp.where(nan, cp.inf, flat).min(axis=1)
                hi = cp.where(nan, -cp.inf, flat).max(axis=1)
                host = _output_array(out, (n_out, rows, inner), dtype)
                d_out.get(stream=slot.stream, out=host)
                counts, lo, hi = counts.get(), lo.get(), hi.get()
                slot.stream.synchronize()
        counts = counts.astype(np.int64)
        all_nan = counts == n_points
        lo = np.where(all_nan, np.nan, lo.astype(np.float64))
        hi = np.where(all_nan, np.nan, hi.astype(np.float64))
        return host.reshape((n_out, *inputs.shape)), ChunkStats(counts, lo, hi)

    def warm_up(self, inputs: ChunkInputs, codes: np.ndarray, dtype: np.dtype) -> None:
        tiny = inputs.one_point()
        self.compute(tiny, codes, np.dtype(dtype))


