#!/usr/bin/env bash
# Fetch, here, the wheels the lesson part of bench/run_gpu_benchmarks.py needs on the lent GPU
# machine, whose image (Python 3.12) has torch and transformers but no Jupyter kernel machinery.
#   bash bench/fetch_gpu_wheels.sh          # writes .whl/ (git-ignored, about 17 MB)
# Then, in the device call: carry [".whl"] and start the command with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site || exit; python3 bench/run_gpu_benchmarks.py --parts lessons listener --export "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \
  nbclient nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py \
  jupyter_client jupyter_core platformdirs traitlets pyzmq tornado \
  ipykernel ipython ipython-pygments-lexers comm debugpy matplotlib-inline nest-asyncio2 \
  jedi parso prompt_toolkit wcwidth pexpect ptyprocess stack_data executing asttokens pure_eval decorator \
  ipywidgets widgetsnbextension jupyterlab_widgets
echo "$(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/"
