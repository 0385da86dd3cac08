"""environment: requirements.txt's ranges as the one source of truth, and the lessons' first-cell check.

The ranges are read from requirements.txt in a checkout and from the package metadata in an
installed copy (as on Colab); doctor and the benchmark judge versions with the same code; the
check names the exact fix and stops a notebook with that message only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from extras_and_licenses import doctor, environment, models

ROOT = Path(__file__).resolve().parents[1]
COLAB = {"torch": "2.11.0+cu128", "transformers": "5.15.0", "ipywidgets": "7.7.1"}  # Colab's GPU image, 2026


def _all_in_range(**changes) -> dict:
    """A full set of versions inside requirements.txt's ranges, with ``changes`` applied (None = missing)."""
    versions = {"jupyterlab": "4.6.6"}
    for r in environment.requirements():
        versions[r.name] = next(str(s.version) for s in r.specifier if s.operator == ">=")
    versions.update(changes)
    return {k: v for k, v in versions.items() if v is not None}


# ------------------------------------------------------------------ the ranges
def test_the_ranges_are_requirements_txt():
    text = (ROOT / "requirements.txt").read_text()
    lines = [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]
    assert [str(r) for r in environment.requirements()] == [str(environment.Requirement(x)) for x in lines]
    assert str(environment.requirement_for("transformers").specifier) == "<6,>=5.24"
    assert not hasattr(doctor, "TESTED"), "doctor must not keep a table of its own"


def test_an_installed_copy_reads_the_same_ranges_from_its_metadata(tmp_path):
    """As on Colab: `pip install .` from a clone (not editable), imported from elsewhere."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            target,
            ROOT,
        ],
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert not (target / "requirements.txt").exists()
    code = (
        "from extras_and_licenses import environment as e; "
        "assert e.checkout_root() is None, e.checkout_root(); "
        "print('\\n'.join(str(r) for r in e.requirements()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(r) for r in environment.requirements()]


def test_a_copy_without_ranges_says_how_to_reinstall(monkeypatch):
    monkeypatch.setattr(environment, "checkout_root", lambda: None)
    monkeypatch.setattr(environment.metadata, "requires", lambda name: None)
    with pytest.raises(environment.RequirementsNotFound, match="Reinstall it from the course repository"):
        environment.requirements()


def test_editing_requirements_txt_changes_every_verdict(tmp_path):
    edited = tmp_path / "requirements.txt"
    edited.write_text((ROOT / "requirements.txt").read_text().replace("transformers>=5.24,<6", "transformers>=5.15,<6"))
    states = environment.survey(versions=_all_in_range(transformers="5.15.0"), runtime=None, path=edited)
    assert all(s.ok for s in states)
    from bench.lessons import lesson_version_problem

    assert lesson_version_problem({"torch": "2.13.0", "transformers": "5.15.0"}, requirements=edited) is None
    assert "transformers 5.15.0 is outside" in lesson_version_problem({"torch": "2.13.0", "transformers": "5.15.0"})


# ------------------------------------------------------------------ judging versions
@pytest.mark.parametrize(
    "changes, bad",
    [
        ({}, []),
        ({"torch": "2.13.0+cpu"}, []),  # a local build tag is the same release
        ({"torch": "2.11.0+cu128"}, []),
        ({"transformers": "5.15.0"}, ["transformers"]),  # Colab's
        ({"transformers": "5.17.0"}, ["transformers"]),  # doctor used to call this OK
        ({"transformers": "6.0.0"}, ["transformers"]),
        ({"sentencepiece": None}, ["sentencepiece"]),  # missing
        ({"ipywidgets": "7.7.1"}, ["ipywidgets"]),  # JupyterLab 4 needs ipywidgets 8
        ({"torch": "2.15.0"}, ["torch"]),
    ],
)
def test_survey_flags_what_is_outside_the_ranges(changes, bad):
    states = environment.survey(versions=_all_in_range(**changes), runtime=None)
    assert [s.name for s in states if not s.ok] == bad


def test_the_lessons_check_leaves_out_what_only_the_front_end_needs():
    versions = _all_in_range(jupyterlab=None)
    assert all(s.ok for s in environment.survey(versions=versions, runtime=None))
    doctor_view = environment.survey(versions=versions, runtime=None, kernel_side=False)
    assert [s.name for s in doctor_view if not s.ok] == ["jupyterlab"]


def test_colab_keeps_its_ipywidgets_7_and_nothing_else():
    states = environment.survey(versions=_all_in_range(**COLAB), runtime="colab")
    assert [s.name for s in states if not s.ok] == ["transformers"]
    widgets = next(s for s in states if s.name == "ipywidgets")
    assert widgets.ok and widgets.note == "Colab's own widget front end"
    too_old = environment.survey(versions=_all_in_range(ipywidgets="7.6.5"), runtime="colab")
    assert [s.name for s in too_old if not s.ok] == ["ipywidgets"]


# ------------------------------------------------------------------ the check in the first cell
def test_check_prints_one_line_when_all_is_well(capsys):
    environment.check_environment(versions=_all_in_range(), runtime=None)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("Environment OK: Python ")
    assert "transformers 5.24" in out and "requirements.txt" in out


def test_check_on_colab_versions_names_the_exact_fix_and_stops():
    with pytest.raises(environment.EnvironmentMismatch) as info:
        environment.check_environment(versions=_all_in_range(**COLAB), runtime="colab")
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert '  %pip install -U "transformers>=5.24,<6"' in lines
    assert "transformers: 5.15.0 installed; the lessons need transformers>=5.24,<6" in text
    assert "Runtime > Restart session" in text
    assert "ipywidgets" not in text and "torch" not in text
    assert len(lines) <= 6 and "Traceback" not in text


def test_check_elsewhere_asks_for_ipywidgets_8_and_a_missing_package_too():
    versions = _all_in_range(transformers="5.15.0", ipywidgets="7.7.1", pandas=None)
    with pytest.raises(environment.EnvironmentMismatch) as info:
        environment.check_environment(versions=versions, runtime=None)
    text = str(info.value)
    assert '%pip install -U "transformers>=5.24,<6" "ipywidgets>=8.1,<9" "pandas>=2.1,<4"' in text
    assert "pandas: not installed" in text and "Kernel > Restart Kernel" in text


def test_a_module_loaded_before_an_upgrade_asks_for_a_restart(monkeypatch):
    class Stale:
        __version__ = "5.15.0"

    monkeypatch.setitem(sys.modules, "transformers", Stale())
    states = environment.survey(runtime=None)
    stale = next(s for s in states if s.name == "transformers")
    assert not stale.ok and "5.15.0 is still loaded in this kernel although" in stale.note
    with pytest.raises(environment.EnvironmentMismatch) as info:
        environment.check_environment(runtime=None)
    assert "%pip" not in str(info.value) and "Restart the kernel" in str(info.value)


def test_the_mismatch_renders_without_a_traceback_in_a_kernel():
    """IPython uses _render_traceback_: the error shown is the message, not frames of this package."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    code = (
        "from extras_and_licenses import environment\n"
        f"environment.check_environment(versions={_all_in_range(transformers='5.15.0')!r}, runtime=None)\n"
    )
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = shell.run_cell(code)
    assert isinstance(result.error_in_exec, environment.EnvironmentMismatch)
    shown = buffer.getvalue()
    assert '%pip install -U "transformers>=5.24,<6"' in shown
    assert "Traceback" not in shown and "environment.py" not in shown


# ------------------------------------------------------------------ Colab and Kaggle
def test_hosted_runtime_detection(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(environment, "COLAB_DIR", tmp_path / "content")
    monkeypatch.setattr(environment, "KAGGLE_DIR", tmp_path / "kaggle")
    monkeypatch.setattr(environment, "_colab_importable", lambda: True)
    assert environment.hosted_runtime() is None  # no /content
    (tmp_path / "content").mkdir()
    assert environment.hosted_runtime() == "colab"
    monkeypatch.setattr(environment, "_colab_importable", lambda: False)
    assert environment.hosted_runtime() is None  # /content alone is not Colab
    (tmp_path / "kaggle").mkdir()
    assert environment.hosted_runtime() == "kaggle"


def test_the_hosted_install_upgrades_transformers_only_and_says_so(capsys):
    args = environment.install_for_hosted_runtime(runtime="colab", dry_run=True, versions=_all_in_range(**COLAB))
    assert args == ["transformers>=5.24,<6"]
    out = capsys.readouterr().out
    assert "Installing transformers>=5.24,<6 (the platform has 5.15.0" in out
    assert "pip install --quiet -U 'transformers>=5.24,<6'" in out


def test_the_hosted_install_keeps_the_platform_torch(capsys):
    versions = _all_in_range(torch="2.16.0+cu130")
    assert environment.install_for_hosted_runtime(runtime="kaggle", dry_run=True, versions=versions) == []
    assert "torch 2.16.0+cu130 is outside torch>=2.4,<2.15; it is kept" in capsys.readouterr().out


def test_the_hosted_install_does_nothing_off_colab_and_kaggle(capsys):
    assert environment.install_for_hosted_runtime(runtime=None) == []
    assert "Not on Colab or Kaggle: nothing installed" in capsys.readouterr().out


def test_figures_come_from_the_course_imgs_folder():
    image = environment.figure("t5_architecture.png")
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileNotFoundError, match="The figures there are: .*t5_architecture.png"):
        environment.figure("no_such_figure.png")


def test_hosted_figures_show_only_on_colab_and_kaggle(monkeypatch):
    monkeypatch.setattr(environment, "hosted_runtime", lambda: None)
    assert environment.hosted_figure("text_to_text.png") is None  # JupyterLab: the text cell shows it
    monkeypatch.setattr(environment, "hosted_runtime", lambda: "colab")
    assert environment.hosted_figure("text_to_text.png").data[:4] == b"\x89PNG"


def test_an_installed_copy_finds_the_figures_through_course_root(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "checkout_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert environment.course_root() is None
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))  # what the setup cell sets on Colab and Kaggle
    assert environment.course_root() == ROOT
    assert environment.figure("t5_architecture.png").data[:4] == b"\x89PNG"


# ------------------------------------------------------------------ doctor reads the same ranges
def _doctor_rows(**kw):
    return {r.check: r for r in doctor.check(probe_hub=lambda: (False, "test"), **kw).rows}


def test_doctor_fails_transformers_5_17_with_the_command(hf_cache, monkeypatch):
    real = environment._installed_version
    monkeypatch.setattr(environment, "_installed_version", lambda n: "5.17.0" if n == "transformers" else real(n))
    row = _doctor_rows()["transformers"]
    assert row.status == doctor.FAIL
    assert "5.17.0 is outside transformers>=5.24,<6" in row.detail
    assert 'python -m pip install -U "transformers>=5.24,<6"' in row.detail


def test_doctor_memory_rows_on_a_t4_are_float32_and_fit(hf_cache, monkeypatch):
    class T4:
        name, total_memory = "Tesla T4", 15_828_320_256

    monkeypatch.delenv("COURSE_DTYPE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *a, **k: T4())
    rows = _doctor_rows()
    assert rows["bfloat16"].status == doctor.WARN and "compute capability 7.5" in rows["bfloat16"].detail
    for lesson, need in models.LESSON_MEMORY.items():
        row = rows[f"lesson {lesson} memory"]
        assert row.status == doctor.OK
        assert f"needs about {need.float32:.1f} GB in float32 of 15.8 GB" in row.detail
        assert "fits a 16 GB T4 in float32" in row.detail


def test_doctor_without_a_gpu_still_states_both_precisions(hf_cache, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    row = _doctor_rows()["lesson memory"]
    need = models.LESSON_MEMORY["01"]
    assert f"01 {need.bfloat16:g}/{need.float32:g}" in row.detail and "fits a 16 GB T4" in row.detail


# ------------------------------------------------------------------ README states the same table
def test_readme_memory_table_is_models_lesson_memory():
    text = (ROOT / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] in models.LESSON_MEMORY:
            rows[cells[0]] = cells
    assert set(rows) == set(models.LESSON_MEMORY), "README's memory table lists every lesson"
    for lesson, need in models.LESSON_MEMORY.items():
        assert f"{need.bfloat16:g} GB" in rows[lesson][1] and f"{need.float32:g} GB" in rows[lesson][2], lesson
        assert rows[lesson][3] == ("yes" if need.fits(models.T4_GB, "float32") else "no"), lesson
