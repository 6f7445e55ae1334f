"""What a benchmark's numbers depend on: CPU, cores, memory, GPU, driver, package versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

#: Packages whose versions a report records (those installed).
PACKAGES = ("token-sweep", "numpy", "numba", "numba-cuda", "cupy-cuda13x", "cupy-cuda12x",
            "dask", "distributed", "xarray", "zarr", "numcodecs", "scipy", "SALib",
            "matplotlib", "numexpr")


def _first_line_value(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    return (_first_line_value("/proc/cpuinfo", "model name") or platform.processor()
            or platform.machine())


def memory_gib() -> float | None:
    """Total memory in GiB (Linux), else None."""
    value = _first_line_value("/proc/meminfo", "MemTotal")
    return round(int(value.split()[0]) / 2**20, 1) if value else None


def packages() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES`."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def gpu() -> dict | None:
    """The first visible GPU through Numba CUDA (name, compute capability, memory, driver and
    runtime CUDA versions), or None where there is none (the simulator never counts)."""
    from sweep.backends.gpu import cuda_problem

    if cuda_problem(allow_simulator=False) is not None:
        return None
    from numba import cuda

    dev = cuda.get_current_device()
    ctx = cuda.current_context()
    free, total = ctx.get_memory_info()
    info = {"name": dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name),
            "compute_capability": ".".join(map(str, dev.compute_capability)),
            "memory_gib": round(total / 2**30, 1), "count": len(cuda.gpus)}
    try:
        info["driver_cuda"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
        info["runtime_cuda"] = ".".join(map(str, cuda.runtime.get_version()))
    except Exception as exc:  # versions are nice to have; a report is still valid without
        info["versions_error"] = str(exc)
    return info


def describe() -> dict:
    """CPU, cores (and those this process may use), memory, load average, platform, Python,
    GPU and package versions."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else os.cpu_count()),
        "memory_gib": memory_gib(),
        "loadavg": ([round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
                    else None),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpu": gpu(),
        "packages": packages(),
    }


def one_line(m: dict) -> str:
    """The machine in one line, for reports."""
    g = m.get("gpu")
    gpu_text = (f"{g['name']} (cc {g['compute_capability']}, {g['memory_gib']} GiB, "
                f"driver CUDA {g.get('driver_cuda', '?')})" if g else "no GPU")
    return (f"{m['cpu']}, {m['usable_cores']} of {m['cores']} cores usable, "
            f"{m['memory_gib']} GiB; {gpu_text}; {m['platform']}; Python {m['python']}")
