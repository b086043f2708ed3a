#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and this repo's .venv (or a python3 that has the
# package, its test extras, and optionally torch / cupy).  Installs nothing.
#   bench/gpu_check.sh RESULTS_DIR
# 1. runs every CUDA-backend test on the real device (each compares against the reference),
# 2. times the cuda backend against cpu, the reference and the peers (torch / CuPy on the GPU),
# 3. writes everything to RESULTS_DIR and prints a short table last.
set -uo pipefail
OUT=${1:?usage: bench/gpu_check.sh RESULTS_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
unset NUMBA_ENABLE_CUDASIM
export BAGU_BENCH_GPU=1

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >> "$OUT/nvidia-smi.txt"
# Every family's CUDA tests, not stopping at the first failure (one run must show them all); a
# test module whose imports are missing on the device image (e.g. scikit-learn) is reported, not fatal.
timeout 270 "$PY" -m pytest tests -q -k "cuda" -p no:cacheprovider --continue-on-collection-errors \
    --junitxml="$OUT/tests.xml" > "$OUT/tests.txt" 2>&1
tests_rc=$?
timeout 240 "$PY" -m bench --gpu --quick --backend cuda --backend cpu --tag gpu > "$OUT/bench.txt" 2>&1
bench_rc=$?
cp bench/results/gpu.* "$OUT/" 2>/dev/null

echo "== CUDA tests on the device (rc=$tests_rc): $(tail -n 1 "$OUT/tests.txt")"
grep -E "^(FAILED|ERROR)" "$OUT/tests.txt" | head -n 20
echo "== bench (rc=$bench_rc), full table in $OUT/gpu.md"
cat "$OUT/gpu.md" 2>/dev/null || tail -n 20 "$OUT/bench.txt"
