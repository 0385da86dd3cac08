# Two commands do all set-up (see README.md):
#   make lab    create the environment if needed, then open the lessons in JupyterLab
#   make test   create the test environments if needed, then run the whole test suite
#   make test-fast  the edit-test loop: ruff and the tests on transformers 5, without lessons or browser
PYTHON ?= python3
VENV ?= .venv
VENV_TF4 ?= .venv-tf4
# A Colab-like kernel (transformers 5.15.0, ipywidgets 7.7.1; torch borrowed from $(VENV)) for tests/test_colab_like.py.
VENV_COLAB ?= build/venv-colab
PORT ?= 8888
# What ruff checks (make test, make test-fast) and fixes (make lint): one list.
LINT_PATHS := extras_and_licenses tests tools bench notebooks scripts deploy
# Tests that also run on transformers 4.57 (the parity tests live there).
TF4_TESTS ?= tests/test_pipelines.py tests/test_forward_listener.py tests/test_demo_model.py

.PHONY: lab test test-fast env env-tf4 env-colab lint chp

# --- class hub (issue 14): configurable-http-proxy for tests/test_jupyterhub.py, from npm into a local
# prefix kept between runs (never global). Without npm the test skips, or fails under COURSE_REQUIRE_BROWSER=1.
COURSE_NODE_PREFIX ?= $(HOME)/.cache/course-ci/node
export COURSE_NODE_PREFIX
chp:
	@if [ -x "$(COURSE_NODE_PREFIX)/node_modules/.bin/configurable-http-proxy" ]; then :; \
	elif command -v npm >/dev/null; then npm install --no-audit --no-fund --prefix "$(COURSE_NODE_PREFIX)" configurable-http-proxy@4; \
	else echo "npm not found: tests/test_jupyterhub.py cannot start a hub (install Node.js and npm)"; fi

env:
	@PYTHON=$(PYTHON) scripts/ensure_env.sh $(VENV) requirements-dev.txt

env-tf4:
	@PYTHON=$(PYTHON) scripts/ensure_env.sh $(VENV_TF4) requirements-tf4.txt

env-colab: env
	@$(VENV)/bin/python scripts/colab_like_env.py $(VENV_COLAB)

lab: env
	@# Listens on this machine only, with a fresh login token (printed in the URL below).
	@# Serves the repository (the lessons show figures from imgs/) and opens at notebooks/.
	@# Many cloud GPU containers run as root, where Lab refuses to start without --allow-root.
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: env env-tf4 env-colab chp
	$(VENV)/bin/ruff check $(LINT_PATHS)
	VENV_COLAB=$(VENV_COLAB) $(VENV)/bin/python -m pytest -q
	$(VENV_TF4)/bin/python -m pytest -q $(TF4_TESTS)

# No lesson notebooks, no Chromium, no transformers 4.57 run: what `make test` adds to this.
test-fast: env
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/python -m pytest -q -m "not notebook and not browser"

lint: env
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)
