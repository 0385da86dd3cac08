#!/usr/bin/env bash
# Create or update a virtual environment for the course, then install a requirements file.
#   scripts/ensure_env.sh VENV_DIR REQUIREMENTS_FILE
# - Reuses a working torch that the base Python already has (a CUDA build on a GPU image):
#   the venv then sees the system packages, and pip leaves torch alone when it is in range.
# - TORCH_SPEC (e.g. torch==2.13.0, as CI sets) installs that torch first.
# - Does nothing when the requirements have not changed since the last install.
set -euo pipefail
venv=$1
req=$2
py=${PYTHON:-python3}

if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "The course needs Python 3.10 or newer; '$py' is $("$py" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  if [ -z "${TORCH_SPEC:-}" ] && "$py" -c 'import torch' 2>/dev/null; then
    echo "Creating $venv, reusing the torch already installed: $("$py" -c 'import torch; print(torch.__version__)')"
    "$py" -m venv --system-site-packages "$venv"
  else
    echo "Creating $venv"
    "$py" -m venv "$venv"
  fi
fi

stamp="$venv/.installed-$(cat "$req" requirements*.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [ -n "${TORCH_SPEC:-}" ]; then
  "$venv/bin/python" -m pip install --quiet "$TORCH_SPEC"
fi
"$venv/bin/python" -m pip install --quiet -r "$req"
"$venv/bin/python" -m pip install --quiet --no-deps -e .
rm -f "$venv"/.installed-*
touch "$stamp"
echo "$venv is ready."
