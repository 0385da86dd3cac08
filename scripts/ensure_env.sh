#!/usr/bin/env bash
# Create or update a virtual environment for the course, then install a requirements file.
#   scripts/ensure_env.sh VENV_DIR REQUIREMENTS_FILE
#   scripts/ensure_env.sh --plan VENV_DIR REQUIREMENTS_FILE   # say what it would do; change nothing
# How torch gets there is decided by scripts/env_plan.py (read its header):
# - TORCH_SPEC (e.g. torch==2.13.0, as CI sets) installs exactly that torch first.
# - A torch the base Python already has is reused (the venv then sees the system packages), on a
#   GPU machine only if it really has CUDA and sees the GPU.
# - Linux without an NVIDIA GPU: torch from PyTorch's CPU wheel index, not the 3 GB CUDA build.
# - Does nothing when the requirements have not changed since the last install.
set -euo pipefail
plan_only=0
if [ "${1:-}" = "--plan" ]; then
  plan_only=1
  shift
fi
venv=$1
req=$2
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)

if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "The course needs Python 3.10 or newer; '$py' is $("$py" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

stamp="$venv/.installed-$(cat "$req" requirements*.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
if [ "$plan_only" = 1 ]; then
  if [ -x "$venv/bin/python" ]; then
    if [ -f "$stamp" ]; then echo "$venv is ready: nothing to do."; exit 0; fi
    echo "$venv exists: its torch stays; pip updates the packages from $req."
    exit 0
  fi
  "$py" "$here/env_plan.py" "$req" --python "$py" --explain
  exit 0
fi

if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

torch_args=()
if [ ! -x "$venv/bin/python" ]; then
  eval "$("$py" "$here/env_plan.py" "$req" --python "$py")"
  echo "$PLAN_MESSAGE"
  if [ -n "$PLAN_TORCH_ARGS" ]; then eval "torch_args=($PLAN_TORCH_ARGS)"; fi
  echo "[1/4] Creating $venv with $("$py" --version 2>&1)$([ "$PLAN_SYSTEM_SITE" = 1 ] && echo ", seeing the base Python's packages (its torch)") ..."
  if [ "$PLAN_SYSTEM_SITE" = 1 ]; then
    "$py" -m venv --system-site-packages "$venv"
  else
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --upgrade pip
else
  echo "[1/4] Updating $venv ($req changed since its last install) ..."
  if [ -n "${TORCH_SPEC:-}" ]; then torch_args=("$TORCH_SPEC" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}); fi
fi

# pip prints one line per package it fetches (with a progress bar on a terminal).
pip=("$venv/bin/python" -m pip install --progress-bar on --no-warn-script-location)
if [ "${#torch_args[@]}" -gt 0 ]; then
  echo "[2/4] Installing torch: pip install ${torch_args[*]}"
  "${pip[@]}" "${torch_args[@]}"
else
  echo "[2/4] torch: keeping $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo "what $req asks for")"
fi
echo "[3/4] Installing $req (a first install downloads about 1 GB and takes a few minutes) ..."
"${pip[@]}" -r "$req"
echo "[4/4] Installing the course's helper package (editable) ..."
"$venv/bin/python" -m pip install --quiet --no-deps -e .
rm -f "$venv"/.installed-*
touch "$stamp"
echo "$venv is ready: $("$venv/bin/python" -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')."
