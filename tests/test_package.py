"""The package's front door: the top-level names a new user guesses first, and a list of every module."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import extras_and_licenses

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "extras_and_licenses").glob("*.py") if not p.stem.startswith("_"))


def test_the_first_guess_imports_work_and_are_the_modules_own_objects():
    from extras_and_licenses import ForwardListener, load_model, pipeline
    from extras_and_licenses.forward_listener import ForwardListener as listener_class
    from extras_and_licenses.models import load_model as load_function
    from extras_and_licenses.pipelines import pipeline as pipeline_function

    assert (pipeline, ForwardListener, load_model) == (pipeline_function, listener_class, load_function)
    assert {"pipeline", "ForwardListener", "load_model"} <= set(dir(extras_and_licenses))


@pytest.mark.parametrize("module", ["extras_and_licenses", "extras_and_licenses.models", "doctor", "prefetch"])
def test_importing_the_package_loads_neither_torch_nor_transformers(module):
    # The doctor and prefetch commands (and models, which both import) stay quick on a machine where torch is
    # slow to import: they read files and ask the hub, and import torch only when they need it.
    if module in ("doctor", "prefetch"):
        module = f"extras_and_licenses.{module}"
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]  # nothing heavy until a top-level name is used (the test above)


def test_an_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        extras_and_licenses.no_such_name  # noqa: B018


def test_every_module_is_named_in_the_package_docstring_and_the_readme():
    listed = set(re.findall(r"^- ``(\w+)``", extras_and_licenses.__doc__, flags=re.M))
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What is in the repository", 1)[1].split("\n## ", 1)[0]
    assert [m for m in MODULES if m not in listed] == [], "add them to extras_and_licenses/__init__.py"
    assert [m for m in MODULES if f"`{m}`" not in section] == [], "add them to README's 'What is in the repository'"
