#!/usr/bin/env bash
# One-shot GPU check, for a GPU machine without network (see bench/README.md):
#   1. installs the wheels carried in .whl/ (made here by bench/gpu_wheels.sh) to /tmp/site;
#   2. runs the gpu-marked tests on the real device (cuda and cupy against the NumPy
#      reference, float32 and float64, NaN masks, the engine and the CLI);
#   3. runs the GPU benchmark (bench/bench_gpu.py).
# Results go to $OUT (the device tool's folder) or bench/out/gpu: nvidia-smi.txt,
# gpu-tests.log, gpu-tests.xml, results.json, results.md. Exits non-zero if a step failed.
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
    BENCH_ARGS=${BENCH_ARGS:---points 2e3 --e2e-points 2e3 --repeat 1}
else
    export TOKEN_SWEEP_REAL_GPU=1
    unset NUMBA_ENABLE_CUDASIM
fi

if [ -n "$WHEELS" ] && [ -d "$WHEELS" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 3
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# -P everywhere: import the installed sweep (with sweep.kernels), never ./sweep
"$PY" -P -c "import sweep, sweep.gpu as g; print('token-sweep', sweep.__version__, \
'| cuda:', g.cuda_problem(allow_simulator=False) or 'ok', '| cupy:', g.cupy_problem() or 'ok')" \
    || exit 4
if [ "${GPU_CHECK_SIMULATE:-0}" != 1 ]; then
    "$PY" -P -c "import sys, sweep.gpu as g; p = g.cuda_problem(allow_simulator=False); \
sys.exit(f'gpu_check: no usable GPU: {p}' if p else 0)" || exit 5
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

status=0
timeout 300 "$PY" -P -m pytest -m gpu -q -p no:cacheprovider -o addopts="-ra" \
    --junitxml="$OUT/gpu-tests.xml" tests 2>&1 | tee "$OUT/gpu-tests.log" || status=1
timeout 240 "$PY" -P bench/bench_gpu.py --out "$OUT" ${BENCH_ARGS:-} 2>&1 \
    | tee "$OUT/bench.log" || status=1
echo "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
