#!/usr/bin/env bash
# GPU check of the serving paths: raw Triton with and without dynamic batching (c = 1, 16, 64),
# one hybrid point (c = 64) and the 10,000-series bulk runs, then the Triton config sweep
# (instances 1, 2, 4 x queue delay 0 / 500 us, no preferred sizes, c = 16, 64), in under
# 8 minutes on a GPU machine.
#
# The pip tritonserver has only the Python backend (no pytorch_libtorch), so the model still runs
# in local_stack/python_model.py, moved to CUDA (`device: cuda` in the benchmark's derived config)
# when the venv's torch sees a GPU. Without one (or with a CPU-only torch) it runs, slowly, on CPU.
#
# Usage: benchmarks/gpu_check.sh [extra `hybrid-inference bench` options, for the first part]
#   env: VENV (default .venv), OUT (default benchmarks/results/gpu; the sweep writes to $OUT/sweep),
#        DEVICE (cuda|cpu, auto by default)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
OUT=${OUT:-benchmarks/results/gpu}
if [ -z "${DEVICE:-}" ]; then
  if "$VENV/bin/python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    DEVICE=cuda
  else
    DEVICE=cpu
    echo "gpu_check: torch sees no GPU here; running on CPU (slow, for checking the script)" >&2
  fi
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >&2 || true

# 270 s for the serving paths and 180 s for the sweep leave time to spare under 8 minutes,
# start and stop included.
timeout 270 "$VENV/bin/hybrid-inference" bench \
  --device "$DEVICE" \
  --configs triton,triton-nobatch,hybrid@64 \
  --concurrency 1,16,64 \
  --duration-s 10 --warmup-s 2 \
  --bulk-series 10000 \
  --out "$OUT" "$@"

# 6 points, each on a fresh tritonserver (~10-15 s to start) with 2 loads of 1.5 + 3.5 s; the
# sweep rewrites its outputs after each point, so a timeout still leaves the points measured.
exec timeout 180 "$VENV/bin/hybrid-inference" bench --sweep \
  --device "$DEVICE" \
  --sweep-instances 1,2,4 \
  --sweep-preferred none \
  --sweep-delays-us 0,500 \
  --concurrency 16,64 \
  --duration-s 3.5 --warmup-s 1.5 \
  --out "$OUT/sweep"
