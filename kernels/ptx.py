"""Compile every CUDA kernel to PTX without a GPU: ``python -m sweep.kernels.ptx OUTDIR``.

Needs the CUDA toolkit's NVVM (the ``numba-cuda[cu13]`` and ``cuda-toolkit`` wheels), no GPU
and no driver; not available under the CUDA simulator. The tests assemble the PTX with
``ptxas -arch=sm_90`` where it is on PATH.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sweep.kernels import cuda, cuda_reduce


def compile_all(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """PTX of the materialize and reduce kernels for compute capability ``cc``, by name."""
    return {**cuda.compile_ptx_all(cc), **cuda_reduce.compile_ptx_all(cc)}


def main(argv: list[str] | None = None) -> int:
    """``python -m sweep.kernels.ptx OUTDIR [--cc 9.0]``: write each kernel's PTX there."""
    parser = argparse.ArgumentParser(prog="python -m sweep.kernels.ptx",
                                     description=main.__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--cc", default="9.0", help="compute capability (default 9.0)")
    args = parser.parse_args(argv)
    major, minor = (int(x) for x in args.cc.split("."))
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, text in compile_all((major, minor)).items():
        (args.outdir / f"{name}.ptx").write_text(text)
        print(args.outdir / f"{name}.ptx")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
