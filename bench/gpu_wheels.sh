#!/usr/bin/env bash
# Fetch, into .whl/, the wheels the one-shot GPU check needs on a GPU machine without network:
# token-sweep itself (built here) and the runtime dependencies that machine lacks (its image
# has Python 3.12 with numpy, scipy, pandas, matplotlib, numba, numba-cuda, cupy-cuda13x,
# xarray, pyyaml, rich, pytest and hypothesis; see bench/README.md). Versions are those of
# this checkout's .venv, so the GPU machine runs what the tests here ran. Run from the
# repository root after `make test`.
set -euo pipefail
PY=.venv/bin/python
[ -x "$PY" ] || { echo "gpu_wheels.sh: run 'make test' first (needs .venv)" >&2; exit 2; }
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl

# the runtime closure of token-sweep that the GPU image does not have, and the small pure
# Python dependencies it should have but that cost nothing to carry
NAMES="pydantic pydantic-core annotated-types typing-inspection dask distributed zict tornado
tblib locket partd importlib-metadata lazy-importer numcodecs zarr google-crc32c donfig tzdata
typing-extensions toolz cloudpickle fsspec click zipp SALib multiprocess dill"
SPECS=""
for n in $NAMES; do
    v=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$n")
    SPECS="$SPECS $n==$v"
done
# shellcheck disable=SC2086
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl $SPECS
"$PY" -m pip wheel --quiet --no-deps -w .whl .
# the multi-GPU step (`--cluster local-cuda`): dask-cuda and what it imports, without its
# rapids-dask-dependency pin (it would replace this tree's dask); not in .venv, so pinned
# here; never fatal: gpu_check.sh skips the step, saying why, when they are missing
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "dask-cuda==26.10.*" "nvidia-ml-py>=12" \
    "cuda-core>=0.5.1,<2" \
    || echo "gpu_wheels.sh: dask-cuda not carried (the multi-GPU step will be skipped)" >&2
ls .whl
du -sh .whl
