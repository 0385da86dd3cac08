# Two commands do all set-up (see README.md):
#   make lab    create the environment if needed, then open the lessons in JupyterLab
#   make test   create the test environments if needed, then run the whole test suite
#   make test-fast  the edit-test loop: ruff and the tests on transformers 5, without lessons or browser
PYTHON ?= python3
VENV ?= .venv
VENV_TF4 ?= .venv-tf4
PORT ?= 8888
# Tests that also run on transformers 4.57 (the parity tests live there).
TF4_TESTS ?= tests/test_pipelines.py tests/test_forward_listener.py tests/test_demo_model.py

.PHONY: lab test test-fast env env-tf4 lint

env:
	@PYTHON=$(PYTHON) scripts/ensure_env.sh $(VENV) requirements-dev.txt

env-tf4:
	@PYTHON=$(PYTHON) scripts/ensure_env.sh $(VENV_TF4) requirements-tf4.txt

lab: env
	@# Listens on this machine only, with a fresh login token (printed in the URL below).
	@# Serves the repository (the lessons show figures from imgs/) and opens at notebooks/.
	@# Many cloud GPU containers run as root, where Lab refuses to start without --allow-root.
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: env env-tf4
	$(VENV)/bin/ruff check extras_and_licenses tests tools bench notebooks
	$(VENV)/bin/python -m pytest -q
	$(VENV_TF4)/bin/python -m pytest -q $(TF4_TESTS)

# No lesson notebooks, no Chromium, no transformers 4.57 run: what `make test` adds to this.
test-fast: env
	$(VENV)/bin/ruff check extras_and_licenses tests tools bench notebooks
	$(VENV)/bin/python -m pytest -q -m "not notebook and not browser"

lint: env
	$(VENV)/bin/ruff check --fix extras_and_licenses tests tools bench notebooks
	$(VENV)/bin/ruff format extras_and_licenses tests tools bench notebooks
