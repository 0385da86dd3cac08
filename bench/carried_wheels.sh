# Sourced by the device-machine scripts (on_gpu_machine.sh, students_on_gpu_machine.sh): install the
# wheels carried in $WHEEL_DIR (default .whl) into $BENCH_SITE (default /tmp/site), never into the image's
# own Python, and put them first on PYTHONPATH. Without wheels, the machine's own packages are used.
wheels="${WHEEL_DIR:-.whl}"
if compgen -G "$wheels/*.whl" >/dev/null; then
  site="${BENCH_SITE:-/tmp/site}"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no $wheels/ here: using this machine's own packages (run bash bench/fetch_gpu_wheels.sh first if it lacks them)" >&2
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
