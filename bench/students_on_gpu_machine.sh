#!/usr/bin/env bash
# The device call for python -m bench.students_per_gpu on a lent GPU machine with no internet
# (docs/INSTRUCTORS.md's sizing table, BENCHMARKS.md "Students per GPU"):
#   here first:      bash bench/fetch_gpu_wheels.sh                 # .whl/: Jupyter kernel + transformers 5.24.0
#   device command:  bash bench/students_on_gpu_machine.sh [students_per_gpu options]   (carry [".whl"])
#   back here:       copy the JSON from $OUT to bench/results/students_per_gpu/, then
#                    python -m bench.students_per_gpu --render && python -m bench.run_gpu_benchmarks --render
# It installs the carried wheels into /tmp/site (never into the image's own Python), puts them first on
# PYTHONPATH, and runs the benchmark (default budget 780 s: N = 1, 4, 8, 16 as far as it goes), writing
# its JSON to $OUT when set. Rehearsed on the CPU: bash bench/students_on_gpu_machine.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/carried_wheels.sh
exec "${PYTHON:-python3}" -m bench.students_per_gpu "$@"   # with $OUT set, it copies its JSON there
