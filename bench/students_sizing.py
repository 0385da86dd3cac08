"""How many students a card holds, from the results of bench/students_per_gpu.py (or, until then, the estimate).

:func:`sizing` reads the committed GPU runs in bench/results/students_per_gpu/ and returns the
figures behind docs/INSTRUCTORS.md's sizing table: the GB each student needs, the suggested cap,
and for each card size the number of students. Without a GPU run it falls back on the course's
estimate (``models.LESSON_GPU_GB``) and the CPU run's live-tensor peak, and says so.
bench/students_markdown.py turns the result into text.
"""

from __future__ import annotations

import json
from pathlib import Path

from extras_and_licenses.doctor import lesson_need_gb

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "students_per_gpu"  # one JSON per GPU (not globbed by gpu_report: a folder of its own)
CPU_RESULTS = BENCH / "results" / "cpu.json"
CARDS = ((16, "T4*, A4000, V100 16 GB*"), (24, "L4, A10, RTX 4090"), (48, "L40S, A6000"), (80, "A100 80 GB, H100"))
CARD_RESERVE_GB = 1.0  # kept free on the card for the driver and stragglers
CONTEXT_GB_ASSUMED = 0.5  # a kernel's CUDA context, outside PyTorch's allocator (an assumption until NVML measures it)


def gpu_results(directory: Path = RESULTS) -> list[dict]:
    """Committed GPU runs (smoke runs are never committed; a stray one is ignored)."""
    runs = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []
    return [r for r in runs if not r.get("smoke") and r.get("device", {}).get("kind") == "cuda"]


def per_student_gb(run: dict) -> tuple[float, float, int] | None:
    """From a GPU run's largest class that completed: (on-card GB per student, PyTorch peak reserved GB, N)."""
    done = [r for r in run["rounds"] if r["all_completed"]]
    if not done:
        return None
    biggest = max(done, key=lambda r: r["students"])
    per = biggest["per_student"]
    reserved = max(((s.get("kernel") or {}).get("max_reserved") or 0) for s in per) / 1e9
    on_card = max((s.get("gpu_process_peak") or 0) for s in per) / 1e9
    if not on_card:  # NVML could not see the kernels (a container): the card's peak shared out
        on_card = ((biggest.get("card_peak") or 0) - (biggest.get("card_before") or 0)) / 1e9 / biggest["students"]
    return on_card, reserved, biggest["students"]


def cpu_lesson_01(path: Path = CPU_RESULTS) -> dict | None:
    """Lesson 01's live-tensor peak from the project's CPU benchmark run, with when and how it was made."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    for lesson in data.get("lessons", []):
        if lesson["lesson"].startswith("01") and (lesson.get("memory") or {}).get("tensor_peak"):
            date, command = _made_by(data, lesson.get("earlier"))
            return {"peak_gb": lesson["memory"]["tensor_peak"] / 1e9, "date": date[:10], "command": command}
    return None


def _made_by(data: dict, earlier: str | None) -> tuple[str, str]:
    """When and by which command a row was measured: a row carried over from an earlier run names that run
    (``earlier_runs`` holds "<date>: `<command>`"), not the later run that only kept it."""
    for run in data.get("earlier_runs", []) if earlier else ():
        date, _, command = run.partition(": ")
        if date == earlier:
            return date, command.strip("`")
    return data["date"], data["command"]


def students_for(card_gb: float, per_student: float) -> int:
    return max(0, int((card_gb - CARD_RESERVE_GB) // per_student))


def suggested_cap_gb(reserved_gb: float) -> float:
    """The peak reserved plus 10%, rounded up to the next 0.5 GB (at least 0.5)."""
    return max(0.5, -(-reserved_gb * 1.1 // 0.5) * 0.5)


def sizing(results: Path = RESULTS, cpu_results: Path = CPU_RESULTS) -> dict:
    """The sizing table's figures: measured from the GPU run with the largest completed class, else estimated.

    Keys: ``measured`` (a GPU run's figures, or None), ``estimate`` (the course's figures, or None),
    ``cap_gb``, ``per_student_gb``, ``cards`` (rows of card GB, examples, students), ``fp32_gb`` and
    ``fp32_t4`` (float32 on a 16 GB card without bfloat16).
    """
    measured = [(run, per_student_gb(run)) for run in gpu_results(results)]
    measured = [(run, m) for run, m in measured if m]
    out = {"measured": None, "estimate": None}
    if measured:
        run, (on_card, reserved, n) = max(measured, key=lambda item: item[1][2])
        cap = suggested_cap_gb(reserved)
        per = max(on_card, cap + CONTEXT_GB_ASSUMED)
        out["measured"] = {"run": run, "on_card_gb": on_card, "reserved_gb": reserved, "students": n}
    else:
        cap = lesson_need_gb("01", "bfloat16")
        per = cap + CONTEXT_GB_ASSUMED
        out["estimate"] = {"cpu": cpu_lesson_01(cpu_results), "context_gb": CONTEXT_GB_ASSUMED}
    fp32 = lesson_need_gb("01", "float32") + CONTEXT_GB_ASSUMED
    out.update(
        cap_gb=cap,
        per_student_gb=per,
        reserve_gb=CARD_RESERVE_GB,
        cards=[(card_gb, examples, students_for(card_gb, per)) for card_gb, examples in CARDS],
        fp32_gb=fp32,
        fp32_t4=students_for(16, fp32),
    )
    return out
