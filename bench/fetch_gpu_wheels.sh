#!/usr/bin/env bash
# Fetch, here, the wheels the lesson part of python -m bench.run_gpu_benchmarks needs on the lent GPU
# machine, whose image (Python 3.12) has torch and transformers 5.17 but no Jupyter kernel machinery.
# The lessons need transformers >= 5.24 (requirements.txt; between 5.17 and 5.24 T5's `past_key_values`
# became `cache`), so the wheels include the version CI tests, 5.24.0, and a regex new enough for it;
# its other needs (huggingface_hub 1.33, tokenizers 0.23, safetensors 0.8, typer) are in the image.
#   bash bench/fetch_gpu_wheels.sh          # writes .whl/ (git-ignored, about 31 MB)
# Then the device call: carry [".whl"] and run `bash bench/on_gpu_machine.sh [options]`, which installs
# them into /tmp/site with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
# puts that first on PYTHONPATH and runs python3 -m bench.run_gpu_benchmarks (with --export "$OUT").
# To rehearse that install here (Python 3.11): WHEEL_PYTHON=3.11 WHEEL_DIR=/tmp/whl311 bash bench/fetch_gpu_wheels.sh
# The decode ladder (issue 17, python -m bench.decode_ladder) needs no Jupyter but CTranslate2 (a 43 MB wheel; both
# sets together pass the 64 MiB a device call carries): WHEEL_SET=ladder bash bench/fetch_gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${WHEEL_DIR:-.whl}"
rm -rf "$dest" && mkdir -p "$dest"
packages=(
  nbclient nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py
  jupyter_client jupyter_core platformdirs traitlets pyzmq tornado
  ipykernel ipython ipython-pygments-lexers comm debugpy matplotlib-inline nest-asyncio2
  jedi parso prompt_toolkit wcwidth pexpect ptyprocess stack_data executing asttokens pure_eval decorator
  ipywidgets widgetsnbextension jupyterlab_widgets
  transformers==5.24.0 regex
)
if [ "${WHEEL_SET:-lessons}" = ladder ]; then packages=(transformers==5.24.0 regex ctranslate2==4.8.5); fi
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "${WHEEL_PYTHON:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$dest" "${packages[@]}"
echo "$(ls "$dest" | wc -l) wheels, $(du -sh "$dest" | cut -f1) in $dest/"
