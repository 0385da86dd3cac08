"""A Colab-like kernel: transformers 5.15.0 and ipywidgets 7.7.1, as a Colab GPU runtime ships them.

The environment is build/venv-colab (``make env-colab``: scripts/colab_like_env.py, torch borrowed
from .venv, nothing downloaded for it). There every lesson's environment check names the fix and
stops the notebook cleanly, at that cell; and the lesson 02 explorer builds, redraws and displays
on the kernel side under ipywidgets 7.7.1.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import explorer_checks

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / os.environ.get("VENV_COLAB", "build/venv-colab")  # the Makefile passes a path relative to the root
PYTHON = VENV / "bin" / "python"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

if not PYTHON.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{VENV} is missing: CI must build it (`make env-colab`, part of `make test`).")
    pytest.skip(
        f"{VENV} is missing: build it with `make env-colab` (about 600 MB, a few minutes)", allow_module_level=True
    )


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env.update(PYTHONPATH=str(ROOT), COURSE_DEMO_MODE="1", HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    return env


@pytest.fixture(scope="module")
def colab_kernel(tmp_path_factory):
    """A kernelspec that starts build/venv-colab's Python (found through JUPYTER_PATH)."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / "colab-like"
    spec.mkdir(parents=True)
    argv = [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Colab-like", "language": "python"}))
    return str(share)


def _run(nb, colab_kernel, monkeypatch):
    from nbclient import NotebookClient

    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JUPYTER_PATH", colab_kernel)
    client = NotebookClient(nb, timeout=300, kernel_name="colab-like", resources={"metadata": {"path": str(ROOT)}})
    return client


def test_the_environment_is_colab_like():
    code = "import transformers, ipywidgets, torch; print(transformers.__version__, ipywidgets.__version__, torch.__file__)"
    out = subprocess.run(
        [str(PYTHON), "-c", code], capture_output=True, text=True, check=True, env=_env()
    ).stdout.split()
    assert out[:2] == ["5.15.0", "7.7.1"]
    assert out[2].startswith(str(VENV)), "torch must be linked into the environment, not seen through the main one"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_lesson_names_the_fix_and_stops_at_its_check(path, colab_kernel, monkeypatch):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    ids = [c.get("id") for c in nb.cells]
    assert ids[1:3] == ["env-setup", "env-check"], f"{path.name} must start with the setup and check cells"
    with pytest.raises(CellExecutionError):
        _run(nb, colab_kernel, monkeypatch).execute()

    setup, check = nb.cells[1], nb.cells[2]
    assert "Not on Colab or Kaggle: nothing to set up" in "".join(o.get("text", "") for o in setup.outputs)
    errors = [o for o in check.outputs if o.output_type == "error"]
    assert len(errors) == 1, check.outputs
    shown = "\n".join(errors[0].traceback)
    assert errors[0].ename == "EnvironmentMismatch"
    assert "transformers: 5.15.0 installed; the lessons need transformers>=5.24,<6" in shown
    assert "ipywidgets: 7.7.1 installed; the lessons need ipywidgets>=8.1,<9" in shown
    assert '%pip install -U "transformers>=5.24,<6" "ipywidgets>=8.1,<9"' in shown
    assert "restart the kernel" in shown
    assert "Traceback" not in shown and "environment.py" not in shown and len(errors[0].traceback) <= 8
    later = [c for c in nb.cells[3:] if c.cell_type == "code"]
    assert all(c.get("execution_count") is None and not c.outputs for c in later), "cells after the check ran"


@pytest.mark.notebook
def test_the_explorer_builds_redraws_and_displays_under_ipywidgets_7(colab_kernel, monkeypatch):
    import nbformat

    checks = subprocess.run(
        [str(PYTHON), str(ROOT / "tests" / "explorer_checks.py")], capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    assert checks.returncode == 0, checks.stdout + checks.stderr
    assert checks.stdout.startswith("ipywidgets 7.7.1\n") and checks.stdout.count("\nok: ") == len(
        explorer_checks.CHECKS
    )

    code = (
        "from IPython.display import display\n"
        "from tests.explorer_checks import synthetic_capture\n"
        "from extras_and_licenses.attention_explorer import AttentionExplorer\n"
        "explorer = AttentionExplorer(synthetic_capture())\n"
        "display(explorer)\n"
        "explorer.set_step(3)\n"
        "print(explorer.step, len(explorer.png))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    _run(nb, colab_kernel, monkeypatch).execute()
    outputs = nb.cells[0].outputs
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0].data
    assert "cannot show interactive widgets" in shown[0].data["text/html"] and shown[0].data["image/png"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream").split()
    assert printed[0] == "3" and int(printed[1]) > 1000
