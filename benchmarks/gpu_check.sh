#!/usr/bin/env bash
# The whole GPU check in one call (H100/H200, about 6 minutes at most): the GPU tests, `python -m matdiff check
# --device gpu`, tutorial 09, the batched-QR kernel against cuSOLVER, and the GPU benchmarks -- then one summary.
# Run it from the repository root on the GPU machine:  bash benchmarks/gpu_check.sh
# It needs CuPy, and pytest + hypothesis for the tests (PyTorch and JAX for the peer columns of the benchmark).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
summary=()
step() {   # step NAME SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    echo "=== $name"
    if timeout "$limit" "$@"; then summary+=("ok      $name"); else summary+=("FAILED  $name (exit $?)"); fi
}
python - <<'PY'
import cupy, numpy, sys
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__,
      "device", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
PY
step "pytest -m gpu"                     150 python -m pytest -q -m gpu -p no:cacheprovider tests/backend/test_gpu.py
step "python -m matdiff check --device gpu" 90 python -m matdiff check --device gpu
step "tutorial 09"                        40 python tutorials/09_gpu.py
step "batched QR kernel vs cuSOLVER"      60 env MATDIFF_CUDA_QR=kernel python -m pytest -q -m gpu -p no:cacheprovider \
                                              tests/backend/test_gpu.py -k batched_qr_paths
step "GPU benchmarks"                    150 python benchmarks/gpu_bench.py
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
