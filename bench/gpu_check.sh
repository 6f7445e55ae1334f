#!/usr/bin/env bash
# One-shot GPU check, for a GPU machine without network (see bench/README.md):
#   1. installs the wheels carried in .whl/ (made here by bench/gpu_wheels.sh) to /tmp/site;
#   2. runs the gpu-marked tests on the real device (cuda and cupy against the NumPy
#      reference, float32 and float64, NaN masks, the engine and the CLI);
#   3. runs the GPU benchmark (bench/bench_gpu.py);
#   4. runs `sweep bench` with every backend (the product's own report, GPU rows included);
#   5. times the Sobol' analysis of the 12-input study on the device (N = 2^26);
#   6. the multi-GPU path: `sweep run --cluster local-cuda` of a 10^8-point grid and
#      `sweep verify` (skipped, saying why, without dask-cuda).
# Results go to $OUT (the device tool's folder) or bench/out/gpu: nvidia-smi.txt,
# gpu-tests.log, gpu-tests.xml, results.json, results.md, sweep-bench/bench.{json,md,png}.
# Exits non-zero if a step failed.
#
# Rehearsal without a GPU (same steps, in Numba's CUDA simulator, tiny benchmark):
#   GPU_CHECK_SIMULATE=1 PYTHON=.venv/bin/python WHEELS= bash bench/gpu_check.sh
set -u -o pipefail
OUT=${OUT:-bench/out/gpu}
PY=${PYTHON:-python3}
WHEELS=${WHEELS-.whl}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ "${GPU_CHECK_SIMULATE:-0}" = 1 ]; then
    export NUMBA_ENABLE_CUDASIM=1 TOKEN_SWEEP_REAL_GPU=0
    BENCH_ARGS=${BENCH_ARGS:---points 2e3 --e2e-points 2e3 --reduce-points 2e3 --repeat 1}
    SWEEP_BENCH_ARGS=${SWEEP_BENCH_ARGS:---sizes 64 --modes kernel --repeat 1 --no-scaling}
    SENS_ARGS=${SENS_ARGS:---n 64}
else
    export TOKEN_SWEEP_REAL_GPU=1
    unset NUMBA_ENABLE_CUDASIM
fi
# tiny test grids launch few blocks: Numba's low-occupancy warning is expected there, and
# the suite turns warnings into errors
export NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0

if [ -n "$WHEELS" ] && [ -d "$WHEELS" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 3
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    # the wheel must hold this tree's code (make gpu-wheels rebuilds it)
    "$PY" -P - <<'PY' || exit 6
import hashlib, pathlib, sys, sweep
site = pathlib.Path(sweep.__file__).parent
pairs = [(site / p.relative_to("sweep"), p) for p in pathlib.Path("sweep").glob("**/*.py")]
pairs += [(site / "kernels" / p.name, p) for p in pathlib.Path("kernels").glob("*.*")]
stale = [str(t) for s, t in pairs if not s.is_file()
         or hashlib.sha256(s.read_bytes()).digest() != hashlib.sha256(t.read_bytes()).digest()]
if stale:
    sys.exit(f"gpu_check: the token-sweep wheel in .whl is stale ({', '.join(stale[:5])}); "
             "run `make gpu-wheels` here and carry .whl again")
PY
fi
# -P everywhere: import the installed sweep (with sweep.kernels), never ./sweep
"$PY" -P -c "import sweep, sweep.backends.gpu as g; print('token-sweep', sweep.__version__, \
'| cuda:', g.cuda_problem(allow_simulator=False) or 'ok', '| cupy:', g.cupy_problem() or 'ok')" \
    || exit 4
if [ "${GPU_CHECK_SIMULATE:-0}" != 1 ]; then
    "$PY" -P -c "import sys, sweep.backends.gpu as g; p = g.cuda_problem(allow_simulator=False); \
sys.exit(f'gpu_check: no usable GPU: {p}' if p else 0)" || exit 5
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

status=0
# -W: the GPU image's newer NumPy deprecates what numba-cuda does at import; that is not
# this project's to fix, and the suite otherwise turns every warning into an error
timeout 180 "$PY" -P -m pytest -m gpu -q -p no:cacheprovider -o addopts="-ra" \
    -W "ignore::DeprecationWarning" --junitxml="$OUT/gpu-tests.xml" tests 2>&1 \
    | tee "$OUT/gpu-tests.log" || status=1
# shellcheck disable=SC2086
timeout 130 "$PY" -P bench/bench_gpu.py --out "$OUT" ${BENCH_ARGS:-} 2>&1 \
    | tee "$OUT/bench.log" || status=1
# shellcheck disable=SC2086
timeout 100 "$PY" -P -m sweep.cli bench --backends numpy,numba,cuda,cupy --no-progress \
    --out "$OUT/sweep-bench" ${SWEEP_BENCH_ARGS:---sizes 1e7,1e8 --repeat 3 --no-scaling} 2>&1 \
    | tee "$OUT/sweep-bench.log" || status=1
# Sobol' indices of the 12-input study on the device (issue 7's target: N = 2^26 < 1 min)
# shellcheck disable=SC2086
timeout 80 "$PY" -P bench/bench_sensitivity.py --skip-salib --backend cuda --repeat 1 \
    --out "$OUT/sensitivity" ${SENS_ARGS:---n 67108864} 2>&1 | tee "$OUT/sensitivity.log" \
    || status=1
# the multi-GPU path (issue 16): one dask-cuda worker per visible GPU, a 10^8-point grid
# through `sweep run --cluster local-cuda`, then `sweep verify`; skipped, saying why, where
# dask-cuda is not importable (gpu_wheels.sh carries it when it can)
if "$PY" -P -c "import dask_cuda" > "$OUT/multi-gpu.log" 2>&1; then
    "$PY" -P -c "import sys, yaml; from sweep.benchmark.grid import grid_spec; \
d = grid_spec(1e8); d['store'] = sys.argv[1] + '/multi-gpu.zarr'; \
open(sys.argv[1] + '/multi-gpu.yaml', 'w').write(yaml.safe_dump(d))" "$OUT" \
        && timeout 60 "$PY" -P -m sweep.cli run "$OUT/multi-gpu.yaml" --cluster local-cuda \
            --backend cuda --overwrite --no-progress 2>&1 | tee -a "$OUT/multi-gpu.log" \
        && timeout 30 "$PY" -P -m sweep.cli verify "$OUT/multi-gpu.zarr" --no-progress 2>&1 \
            | tee -a "$OUT/multi-gpu.log" || status=1
    rm -rf "$OUT/multi-gpu.zarr"
else
    echo "multi-GPU step skipped: dask-cuda cannot be imported here ($(tail -1 \
"$OUT/multi-gpu.log"))" | tee -a "$OUT/multi-gpu.log"
fi
echo "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
