"""python -m bench.students_per_gpu's CPU rehearsal: two students run lesson 01 at once, each in a kernel of its own.

On a GPU machine the same script measures students per GPU (docs/INSTRUCTORS.md's sizing
table); here ``--smoke`` runs it on the CPU with the demo model, so the machinery (workers, the
start barrier, the memory sampler, the cap check, the kernel's JSON report, the run's JSON and the
table) is known to work before GPU time is spent on it. The figures are a CPU's and are not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench import notebook_runs, student_kernel, students_markdown, students_per_gpu, students_sizing

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_run_two_students_at_once(tmp_path):
    output = tmp_path / "smoke.json"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.students_per_gpu", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(output.read_text())
    assert data["smoke"] is True and data["device"]["kind"] == "cpu"
    assert data["cap_check"]["ok"] is True, data["cap_check"]
    (round_,) = data["rounds"]
    assert round_["students"] == 2 and round_["all_completed"] is True
    students = round_["per_student"]
    assert len({s["kernel"]["pid"] for s in students}) == 2, "the two students shared a kernel"
    for student in students:
        assert student["status"] == "completed" and student["errors"] == [], student
        assert student["cells_run"] == student["cells"] > 20
        assert student["kernel"]["cap_env"] == str(data["cap_gb"])  # each kernel ran under the class cap
        assert student["wall_s"] > 0 and student["host_rss_peak"] > 0
    assert "| 2 |" in proc.stdout  # the Markdown table for BENCHMARKS.md
    print("\n" + proc.stdout.strip().splitlines()[-3] + "\n" + proc.stdout.strip().splitlines()[-2])
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not left, f"the benchmark left processes running: {left}"


RENDER = "run: python -m bench.students_per_gpu --render"


def test_sizing_section_and_guide_table_are_rendered_from_the_results():
    sizing = students_sizing.sizing()
    section = students_markdown.sizing_section(students_sizing.gpu_results(), sizing)
    assert students_per_gpu.SECTION.read_text() == section, RENDER
    guide = students_per_gpu.GUIDE.read_text()
    assert students_markdown.guide_with_table(guide, students_markdown.sizing_table(sizing)) == guide, RENDER
    assert "Where the figures come from" in guide


def test_sizing_without_a_gpu_run_says_it_is_an_estimate_and_does_the_arithmetic(tmp_path):
    table = students_markdown.sizing_table(students_sizing.sizing(tmp_path))  # no GPU results there
    assert "**Estimate: no GPU run" in table and "live tensors" in table
    assert "| 80 GB | A100 80 GB, H100 | 22 |" in table  # (80 - 1) // (3 + 0.5)


def test_sizing_from_a_gpu_run_uses_the_measured_peaks(tmp_path):
    student = {"status": "completed", "kernel": {"max_reserved": 2.6e9}, "gpu_process_peak": 3.4e9}
    run = {
        "smoke": False,
        "device": {"kind": "cuda", "name": "NVIDIA H100 80GB HBM3"},
        "date": "2026-12-02T10:00:00+0000",
        "command": "python -m bench.students_per_gpu",
        "model": "COURSE_STANDIN=random, bfloat16",
        "rounds": [
            {"students": 4, "all_completed": True, "per_student": [student] * 4, "card_peak": 14e9, "card_before": 0},
            {"students": 8, "all_completed": False, "per_student": [student] * 8, "card_peak": 80e9, "card_before": 0},
        ],
        "cap_check": {"ok": True},
    }
    for round_, seconds in zip(run["rounds"], (41.0, 77.5)):
        round_.update(lesson_s_max=seconds, lesson_s_median=seconds - 1)
    (tmp_path / "h100.json").write_text(json.dumps(run))
    (tmp_path / "smoke.json").write_text(json.dumps({**run, "smoke": True}))  # never counted
    sizing = students_sizing.sizing(tmp_path)
    table = students_markdown.sizing_table(sizing)
    assert "Measured on NVIDIA H100 80GB HBM3" in table and "with 4 students" in table
    assert "`COURSE_GPU_MEMORY_GB=3`" in table  # 2.6 GB reserved + 10%, up to the next 0.5 GB
    assert "| 80 GB | A100 80 GB, H100 | 22 |" in table  # (80 - 1) // max(3.4, 3 + 0.5)
    section = students_markdown.sizing_section(students_sizing.gpu_results(tmp_path), sizing)
    assert "### NVIDIA H100 80GB HBM3 (2026-12-02)" in section and "cap check" in section and "passed" in section
    assert "| 4 | 41.0 s | 40.0 s | 2.60 GB | 3.40 GB | 14.00 GB | - |" in section


def test_the_kernel_report_is_json_in_the_file_the_environment_names(tmp_path, monkeypatch):
    report = tmp_path / "kernel.json"
    monkeypatch.setenv(student_kernel.REPORT_ENV, str(report))
    monkeypatch.setenv("COURSE_GPU_MEMORY_GB", "2.5")
    assert student_kernel.write_report() == report
    figures = json.loads(report.read_text())
    assert figures["pid"] == os.getpid() and figures["cap_env"] == "2.5"
    monkeypatch.delenv(student_kernel.REPORT_ENV)
    with pytest.raises(RuntimeError, match=student_kernel.REPORT_ENV):
        student_kernel.write_report()


def test_device_names_become_file_names():
    assert notebook_runs.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert notebook_runs.slug("CPU (x86_64, 2 cores)") == "cpu-x86-64-2-cores"
    assert notebook_runs.slug("???") == "device"


def test_the_estimate_names_the_run_that_measured_lesson_01(tmp_path):
    """A lesson row carried over from an earlier run is credited to that run's date and command, not to the
    later, partial run that only kept it."""
    row = {"lesson": "01_encoder_decoders", "memory": {"tensor_peak": 2.0e9}, "earlier": "2026-11-28T04:31:22+00:00"}
    data = {
        "date": "2026-12-01T09:00:00+00:00",
        "command": "python -m bench.run_gpu_benchmarks --parts ladder",
        "lessons": [row],
        "earlier_runs": ["2026-11-28T04:31:22+00:00: `python -m bench.run_gpu_benchmarks --parts lessons`"],
    }
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(data))
    got = students_sizing.cpu_lesson_01(path)
    assert got == {
        "peak_gb": 2.0,
        "date": "2026-11-28",
        "command": "python -m bench.run_gpu_benchmarks --parts lessons",
    }
    del row["earlier"]  # measured by the run itself
    path.write_text(json.dumps(data))
    assert students_sizing.cpu_lesson_01(path)["command"] == data["command"]
