#!/usr/bin/env bash
# The whole device call for the GPU benchmark, on a lent GPU machine with no internet:
#   here first:      bash bench/fetch_gpu_wheels.sh            # .whl/: Jupyter kernel + transformers 5.24.0
#   device command:  bash bench/on_gpu_machine.sh [bench.run_gpu_benchmarks options]   (carry [".whl"])
# The decode ladder (issue 17) is its own call, with its own wheels (CTranslate2, no Jupyter):
#   here first:      WHEEL_SET=ladder bash bench/fetch_gpu_wheels.sh
#   device command:  bash bench/on_gpu_machine.sh --parts ladder --budget 420    (carry [".whl"], timeout_s 540)
# It installs the carried wheels into /tmp/site (never into the image's own Python), puts them first
# on PYTHONPATH, and runs the benchmark, copying BENCHMARKS.md and the results file to $OUT when set.
# Then, unless options were given or LESSON01_FP32=0, a second, partial run adds lesson 01 in float32
# (its own row beside the bfloat16 one). The lessons' behaviour claims run in report mode (a miss is
# recorded in each lesson's tally, never raised). Time: BENCH_BUDGET (default 360 s) + FP32_BUDGET
# (default 120 s) + the install, about 8.5 minutes: under the 10-minute call limit, and a shorter
# partial rerun (--parts/--lessons) fills in what a first call skipped. Rehearse both calls on a CPU:
#   BENCH_SMOKE=1 bash bench/on_gpu_machine.sh       # the first call, smoke mode (the second is skipped)
#   python -m bench.run_gpu_benchmarks --device cpu --parts lessons --lessons 01 --lesson-dtype float32 \
#     --budget 90 --results-dir /tmp/r --markdown /tmp/r/B.md   # the second call, cut short by its budget
# Rehearse it here on the CPU, in a venv shaped like the GPU image (no Jupyter, transformers 5.17):
#   WHEEL_PYTHON=3.11 WHEEL_DIR=/tmp/whl311 bash bench/fetch_gpu_wheels.sh
#   PATH=/path/to/that/venv/bin:$PATH WHEEL_DIR=/tmp/whl311 BENCH_SITE=/tmp/site311 bash bench/on_gpu_machine.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/carried_wheels.sh
unset COURSE_STRICT_CLAIMS
out_args=()
if [ -n "${OUT:-}" ]; then out_args=(--export "$OUT"); fi
if [ "$#" -gt 0 ]; then
  exec python3 -m bench.run_gpu_benchmarks "$@" ${out_args[@]+"${out_args[@]}"}
fi
smoke=()
if [ "${BENCH_SMOKE:-0}" = 1 ]; then smoke=(--smoke); fi
if [ -n "${BENCH_DEVICE:-}" ]; then out_args+=(--device "$BENCH_DEVICE"); fi  # e.g. cpu, to rehearse
python3 -m bench.run_gpu_benchmarks ${smoke[@]+"${smoke[@]}"} --budget "${BENCH_BUDGET:-360}" ${out_args[@]+"${out_args[@]}"}
if [ "${LESSON01_FP32:-1}" = 1 ] && [ "${BENCH_SMOKE:-0}" != 1 ]; then
  python3 -m bench.run_gpu_benchmarks --parts lessons --lessons 01 --lesson-dtype float32 \
    --budget "${FP32_BUDGET:-120}" ${out_args[@]+"${out_args[@]}"}
fi
