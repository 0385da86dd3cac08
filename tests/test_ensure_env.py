"""How scripts/ensure_env.sh gets torch, decided without downloading anything.

scripts/env_plan.py makes the decision from facts (the OS, an NVIDIA GPU or not, the base
Python's torch); the tests give it machines, then run `ensure_env.sh --plan` end to end with a
fake `nvidia-smi` and a fake torch on a scratch Python, which changes nothing on disk.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("env_plan", ROOT / "scripts" / "env_plan.py")
env_plan = importlib.util.module_from_spec(spec)
sys.modules["env_plan"] = env_plan  # dataclasses look their module up there
spec.loader.exec_module(env_plan)

RANGE = env_plan.torch_range(ROOT / "requirements-dev.txt")
CUDA_TORCH = {"version": "2.11.0+cu128", "cuda": "12.8", "cuda_available": True}
CPU_TORCH = {"version": "2.13.0+cpu", "cuda": None, "cuda_available": False}


def test_the_torch_range_comes_from_requirements_txt_through_dash_r():
    assert RANGE == "torch>=2.4,<2.15"
    assert env_plan.torch_range(ROOT / "requirements-tf4.txt") == "torch>=2.4,<2.15"


@pytest.mark.parametrize(
    "version, ok", [("2.13.0+cpu", True), ("2.4.0", True), ("2.14.1", True), ("2.15.0", False), ("2.3.1", False)]
)
def test_in_range(version, ok):
    assert env_plan.in_range(version, RANGE) is ok


def test_linux_without_an_nvidia_gpu_gets_the_cpu_wheel_index():
    p = env_plan.plan(system="Linux", nvidia=False, torch=None, requirement=RANGE)
    assert p.torch_args == [RANGE, "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert not p.system_site
    assert "no NVIDIA GPU here, so installing the CPU build" in p.message


def test_an_existing_cuda_torch_on_a_gpu_machine_is_reused():
    p = env_plan.plan(system="Linux", nvidia=True, torch=CUDA_TORCH, requirement=RANGE)
    assert p.system_site and p.torch_args == []
    assert "reusing the base Python's torch 2.11.0+cu128 (CUDA 12.8, sees the GPU)" in p.message


@pytest.mark.parametrize(
    "torch, why",
    [(CPU_TORCH, "a CPU-only build"), ({**CUDA_TORCH, "cuda_available": False}, "built for CUDA 12.8 but sees no GPU")],
)
def test_a_torch_without_working_cuda_is_not_reused_on_a_gpu_machine(torch, why):
    p = env_plan.plan(system="Linux", nvidia=True, torch=torch, requirement=RANGE)
    assert not p.system_site and p.torch_args == [RANGE]  # the CUDA build from PyPI
    assert why in p.message


def test_a_cpu_torch_is_reused_where_there_is_no_gpu():
    p = env_plan.plan(system="Linux", nvidia=False, torch=CPU_TORCH, requirement=RANGE)
    assert p.system_site and p.torch_args == []


def test_a_torch_outside_the_range_is_replaced():
    p = env_plan.plan(system="Linux", nvidia=False, torch={**CPU_TORCH, "version": "2.16.0"}, requirement=RANGE)
    assert p.torch_args[-2:] == ["--index-url", env_plan.CPU_INDEX]
    assert "2.16.0 is outside torch>=2.4,<2.15" in p.message


def test_torch_spec_is_used_as_given_whatever_the_machine():
    """CI's path: TORCH_SPEC=torch==2.13.0, the wheel on disk; no index is added."""
    for nvidia in (False, True):
        p = env_plan.plan(
            system="Linux", nvidia=nvidia, torch=CUDA_TORCH, requirement=RANGE, torch_spec="torch==2.13.0"
        )
        assert p.torch_args == ["torch==2.13.0"] and not p.system_site
    p = env_plan.plan(
        system="Linux",
        nvidia=False,
        torch=None,
        requirement=RANGE,
        torch_spec="torch==2.13.0",
        index_url="https://x/cpu",
    )
    assert p.torch_args == ["torch==2.13.0", "--index-url", "https://x/cpu"]


def test_macos_gets_pypi():
    p = env_plan.plan(system="Darwin", nvidia=False, torch=None, requirement=RANGE)
    assert p.torch_args == [RANGE] and "PyPI" in p.message


def test_the_shell_lines_round_trip_through_bash():
    p = env_plan.plan(system="Linux", nvidia=False, torch=None, requirement=RANGE)
    script = (
        p.shell() + '\neval "args=($PLAN_TORCH_ARGS)"\nprintf "%s\\n" "$PLAN_SYSTEM_SITE" "${args[@]}" "$PLAN_MESSAGE"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["0", *p.torch_args, p.message]


# ------------------------------------------------------------------ the script end to end, downloading nothing
@pytest.fixture()
def fake_machine(tmp_path):
    """A PATH with a fake `nvidia-smi` (when asked), a base Python that sees no installed packages, and
    a PYTHONPATH with a fake torch (when given)."""

    def make(gpu: bool, torch: dict | None):
        bin_dir, site = tmp_path / "bin", tmp_path / "site"
        bin_dir.mkdir(exist_ok=True)
        site.mkdir(exist_ok=True)
        smi = bin_dir / "nvidia-smi"
        if gpu:
            smi.write_text("#!/bin/sh\necho 'GPU 0: Tesla T4 (UUID: GPU-fake)'\n")
            smi.chmod(0o755)
        if torch:
            pkg = site / "torch"
            pkg.mkdir(exist_ok=True)
            (pkg / "__init__.py").write_text(
                f"__version__ = {torch['version']!r}\n"
                f"class version:\n    cuda = {torch['cuda']!r}\n"
                f"class cuda:\n    is_available = staticmethod(lambda: {torch['cuda_available']!r})\n"
            )
        python = bin_dir / "python-without-site"  # this Python, blind to its own site-packages (its torch)
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
        python.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k not in ("TORCH_SPEC", "TORCH_INDEX_URL")}
        env.update(PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONPATH=str(site), PYTHON=str(python))
        return env

    return make


def _plan(env, tmp_path) -> str:
    venv = tmp_path / "new-venv"
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_env.sh"), "--plan", str(venv), "requirements-dev.txt"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert not venv.exists(), "--plan must not create anything"
    return out.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU wheel index rule is for Linux")
def test_plan_on_a_cpu_only_linux_machine_names_the_cpu_index(fake_machine, tmp_path):
    if Path("/proc/driver/nvidia/gpus").is_dir():
        pytest.skip("this machine has an NVIDIA driver loaded: it is not a CPU-only machine")
    out = _plan(fake_machine(gpu=False, torch=None), tmp_path)
    assert "no NVIDIA GPU here, so installing the CPU build from https://download.pytorch.org/whl/cpu" in out
    assert "--index-url https://download.pytorch.org/whl/cpu" in out


def test_plan_reuses_a_cuda_torch_when_a_gpu_answers(fake_machine, tmp_path):
    out = _plan(fake_machine(gpu=True, torch=CUDA_TORCH), tmp_path)
    assert "reusing the base Python's torch 2.11.0+cu128 (CUDA 12.8, sees the GPU)" in out
    assert "sees the base Python's packages" in out


def test_plan_refuses_a_cpu_torch_when_a_gpu_answers(fake_machine, tmp_path):
    out = _plan(fake_machine(gpu=True, torch=CPU_TORCH), tmp_path)
    assert "not reusing the base Python's torch 2.13.0+cpu (a CPU-only build)" in out


def test_plan_with_torch_spec_keeps_cis_path(fake_machine, tmp_path):
    env = fake_machine(gpu=False, torch=None)
    out = _plan({**env, "TORCH_SPEC": "torch==2.13.0"}, tmp_path)
    assert "torch: installing TORCH_SPEC=torch==2.13.0, as asked." in out
    assert "index-url" not in out
