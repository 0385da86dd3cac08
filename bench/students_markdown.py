"""The Markdown of python -m bench.students_per_gpu: a run's table, the BENCHMARKS.md section, the guide's sizing table.

:func:`round_table` renders one run (printed after a run); :func:`sizing_table` renders the figures
of bench/students_sizing.py; :func:`sizing_section` is bench/results/students_per_gpu.md, which
bench/gpu_report.py appends to BENCHMARKS.md; :func:`guide_with_table` puts the sizing table
between its markers in docs/INSTRUCTORS.md. Each returns text; the CLI writes the files.
"""

from __future__ import annotations

from bench.report_text import spelled_today

COMMAND = "python -m bench.students_per_gpu"
GUIDE_START = f"<!-- sizing table: {COMMAND} --render -->"
GUIDE_END = "<!-- end of sizing table -->"


def gb(value) -> str:
    return f"{value / 1e9:.2f} GB" if value else "-"


def round_table(data: dict) -> str:
    """One run's rounds: the lesson's time and each memory peak, the worst student's, per class size."""
    smoke = data["smoke"]
    head = "| students at once | lesson 01, slowest student | median | "
    if smoke:
        head += "host memory per student (RSS, peak) |\n|---|---|---|---|"
    else:
        head += "PyTorch peak reserved per student | GPU per kernel (NVML, peak) | card in use (peak) | host RSS per student |\n"
        head += "|---|---|---|---|---|---|---|"
    rows = [head]
    for r in data["rounds"]:
        per = r["per_student"]

        def worst(key, sub=None, per=per):
            return max((((s.get(sub) or {}).get(key) if sub else s.get(key)) or 0) for s in per)

        line = f"| {r['students']} | {r['lesson_s_max'] or '-'} s | {r['lesson_s_median'] or '-'} s | "
        if smoke:
            line += f"{gb(worst('host_rss_peak'))} |"
        else:
            line += f"{gb(worst('max_reserved', 'kernel'))} | {gb(worst('gpu_process_peak'))} | "
            line += f"{gb(r['card_peak'])} | {gb(worst('host_rss_peak'))} |"
        rows.append(line)
    return "\n".join(rows)


def sizing_table(sizing: dict) -> str:
    """The guide's sizing table, with where its figures come from (``sizing``: students_sizing.sizing())."""
    cap, per = sizing["cap_gb"], sizing["per_student_gb"]
    lines = []
    if sizing["measured"]:
        m = sizing["measured"]
        run = m["run"]
        lines += [
            f"Measured on {run['device']['name']} ({run['date'][:10]}, `{spelled_today(run['command'])}`): with {m['students']} "
            f"students running lesson 01 at once in {run['model'].split(', ')[-1]}, each kernel peaked at "
            f"{m['reserved_gb']:.2f} GB reserved by PyTorch and {m['on_card_gb']:.2f} GB on the card (NVML, CUDA "
            f"context included). Suggested cap: `COURSE_GPU_MEMORY_GB={cap:g}`; each student then needs "
            f"{per:.2f} GB of the card.",
        ]
    else:
        cpu, context = sizing["estimate"]["cpu"], sizing["estimate"]["context_gb"]
        basis = (
            f"The project's CPU run of lesson 01 with the real model shapes in bfloat16 ({cpu['date']}, "
            f"`{spelled_today(cpu['command'])}`) peaked at {cpu['peak_gb']:.2f} GB of live tensors: what "
            "`torch.cuda.max_memory_allocated` would count, without the allocator's cache and the CUDA context. "
            if cpu
            else ""
        )
        lines += [
            f"**Estimate: no GPU run of `{COMMAND}` has been made yet.** "
            + basis
            + f"The course's estimate for lesson 01 in bfloat16 is {cap:g} GB (`models.LESSON_GPU_GB`), so the table "
            f"assumes a cap of `COURSE_GPU_MEMORY_GB={cap:g}` plus {context:g} GB of CUDA context per "
            f"kernel: {per:g} GB of the card per student. Replace it with a measurement "
            f"(`{COMMAND}` on the GPU, then `--render`) before you rely on it.",
        ]
    lines += [
        "",
        f"| GPU memory | for example | students at once (bfloat16, {per:.2f} GB each, "
        f"{sizing['reserve_gb']:g} GB kept free) |",
        "|---|---|---|",
    ]
    lines += [f"| {card_gb} GB | {examples} | {students} |" for card_gb, examples, students in sizing["cards"]]
    lines += [
        "",
        rf"\* No native bfloat16 (T4, V100): the lessons run in float32 there, about {sizing['fp32_gb']:g} GB per "
        f"student, so a 16 GB T4 holds {sizing['fp32_t4']}.",
    ]
    return "\n".join(lines) + "\n"


def sizing_section(runs: list[dict], sizing: dict) -> str:
    """bench/results/students_per_gpu.md: each GPU run's table, then the sizing table."""
    body = ["## Students per GPU (lesson 01, several kernels at once)", ""]
    body += [
        f"`{COMMAND}` on a GPU machine: N lesson-01 kernels at once (N = 1, 4, 8, 16 as the",
        "budget allows), each under the class cap, random weights in the real shapes (`COURSE_STANDIN=random`),",
        "bfloat16. `--smoke` rehearses it on the CPU with the demo model (CI runs that). Results:",
        "`bench/results/students_per_gpu/<device>.json`; `--render` rewrites this section and the guide's table.",
        "",
    ]
    for run in runs:
        body += [
            f"### {run['device']['name']} ({run['date'][:10]})",
            "",
            f"- command: `{spelled_today(run['command'])}`",
        ]
        passed = "passed" if (run.get("cap_check") or {}).get("ok") else "FAILED"
        body += [f"- cap check (0.2 GB cap, a t5-base-sized load refused, then the demo model runs): {passed}", ""]
        body += [round_table(run), ""]
    if not runs:
        body += ["No GPU run yet. The sizing table in `docs/INSTRUCTORS.md` is an estimate until there is one:", ""]
    else:
        body += ["The sizing table in `docs/INSTRUCTORS.md`, from these figures:", ""]
    return "\n".join(body) + "\n" + sizing_table(sizing)


def guide_with_table(text: str, table: str) -> str:
    """``text`` (docs/INSTRUCTORS.md) with ``table`` between the sizing table's markers."""
    head, start, rest = text.partition(GUIDE_START)
    _, end, tail = rest.partition(GUIDE_END)
    if not start or not end:
        raise ValueError(f"the guide lacks the markers {GUIDE_START!r} ... {GUIDE_END!r}")
    return head + start + "\n" + table + end + tail
