#!/usr/bin/env bash
# The whole device call for the GPU benchmark, on a lent GPU machine with no internet:
#   here first:      bash bench/fetch_gpu_wheels.sh            # .whl/: Jupyter kernel + transformers 5.24.0
#   device command:  bash bench/on_gpu_machine.sh [run_gpu_benchmarks.py options]   (carry [".whl"])
# The decode ladder (issue 17) is its own call, with its own wheels (CTranslate2, no Jupyter):
#   here first:      WHEEL_SET=ladder bash bench/fetch_gpu_wheels.sh
#   device command:  bash bench/on_gpu_machine.sh --parts ladder --budget 420    (carry [".whl"], timeout_s 540)
# It installs the carried wheels into /tmp/site (never into the image's own Python), puts them first
# on PYTHONPATH, and runs the benchmark, copying BENCHMARKS.md and the results file to $OUT when set.
# Rehearse it here on the CPU, in a venv shaped like the GPU image (no Jupyter, transformers 5.17):
#   WHEEL_PYTHON=3.11 WHEEL_DIR=/tmp/whl311 bash bench/fetch_gpu_wheels.sh
#   PATH=/path/to/that/venv/bin:$PATH WHEEL_DIR=/tmp/whl311 BENCH_SITE=/tmp/site311 bash bench/on_gpu_machine.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${WHEEL_DIR:-.whl}"
if compgen -G "$wheels/*.whl" >/dev/null; then
  site="${BENCH_SITE:-/tmp/site}"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no .whl/ here: using this machine's own packages (run bash bench/fetch_gpu_wheels.sh first if it lacks them)" >&2
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
args=("$@")
if [ -n "${OUT:-}" ]; then args+=(--export "$OUT"); fi
exec python3 bench/run_gpu_benchmarks.py "${args[@]}"
