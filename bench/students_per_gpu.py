"""How many students one GPU holds: N kernels run lesson 01 at the same moment, each under the class cap.

    python -m bench.students_per_gpu                       # on a GPU machine: N = 1, 4, 8, 16
    python -m bench.students_per_gpu --students 1 4 --cap-gb 3.5 --budget 600
    python -m bench.students_per_gpu --smoke               # rehearsal on the CPU: N = 2, the demo model

(from the repository root). Each student is a process of its own (as under JupyterHub) that starts a
Jupyter kernel, waits until every student's kernel is up, then runs every cell of lesson 01 (nbclient)
with what a class hub sets: ``COURSE_GPU_MEMORY_GB`` (the per-kernel cap, ``--cap-gb``), and here also
``COURSE_STANDIN=random`` (each lesson model's real architecture with random weights, so no
download is needed) and ``COURSE_DTYPE=bfloat16``. Random weights rarely end a generation
early, so the times are upper bounds; the lesson's checks of answers fail where they do not
skip, and are counted, not hidden.

Measured, per N: each student's time for the lesson, PyTorch's peak (``max_memory_allocated``
and ``max_memory_reserved``, read in the kernel after its last cell), each kernel's peak GPU
memory as NVML sees it (``nvidia-smi --query-compute-apps``, sampled every 0.5 s: the CUDA
context included), the card's peak in use, and each kernel's peak host memory (RSS).
``--smoke`` runs the same code on the CPU with the demo model and N = 2; it shows the
machinery works, and its memory figures are a CPU's (RSS), not a GPU's.

Before the lessons, on a GPU, one process checks the cap itself: with a 0.2 GB cap, a t5-base-shaped
checkpoint must be refused with the course's message naming the cap, and after ``free_gpu_memory()``
the demo model must load and run in the same process.

Writes JSON (``--output``; default bench/results/students_per_gpu/<device>.json, a smoke run's
to a temp folder) and prints the round's Markdown table. Exits 0 when every student's lesson ran
to its end (errors in cells included) and the cap check passed, 1 otherwise.

    python -m bench.students_per_gpu --render

re-renders the sizing section from the committed results: bench/results/students_per_gpu.md
(which bench/gpu_report.py appends to BENCHMARKS.md) and the sizing table in docs/INSTRUCTORS.md.
Until a GPU run exists, both say so and size the class from the estimate in
``models.LESSON_GPU_GB`` and the CPU run's live-tensor peak, labelled as what they are.

The parts: bench/students_class.py (the class: workers, sampler, cap check), bench/students_worker.py
(one student), bench/student_kernel.py (what runs in the kernel), bench/students_cap_check.py,
bench/students_sizing.py (the arithmetic) and bench/students_markdown.py (the text).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import students_markdown, students_sizing
from bench.notebook_runs import slug
from bench.students_class import cap_check, device_info, log, run_class

ROOT = Path(__file__).resolve().parents[1]
SECTION = ROOT / "bench" / "results" / "students_per_gpu.md"  # appended to BENCHMARKS.md by bench/gpu_report.py
GUIDE = ROOT / "docs" / "INSTRUCTORS.md"


def write_sizing(results: Path = students_sizing.RESULTS) -> None:
    """Re-render bench/results/students_per_gpu.md and the sizing table in docs/INSTRUCTORS.md."""
    sizing = students_sizing.sizing(results)
    SECTION.write_text(students_markdown.sizing_section(students_sizing.gpu_results(results), sizing))
    try:
        guide = students_markdown.guide_with_table(GUIDE.read_text(), students_markdown.sizing_table(sizing))
    except ValueError as exc:
        raise SystemExit(f"{GUIDE}: {exc}") from exc
    GUIDE.write_text(guide)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.students_per_gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 4, 8, 16], help="class sizes to run, in order")
    parser.add_argument("--cap-gb", type=float, default=3.0, help="COURSE_GPU_MEMORY_GB for every student (default 3)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--budget", type=float, default=780, help="seconds for the whole run; later rounds are skipped")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per student (default 1)")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/students_per_gpu/<device>.json)")
    parser.add_argument("--render", action="store_true", help="only re-render the sizing section and the guide's table")
    parser.add_argument("--smoke", action="store_true", help="the CPU rehearsal: N = 2, the demo model")
    args = parser.parse_args(argv)
    if args.smoke:
        args.students = [2] if args.students == [1, 4, 8, 16] else args.students
    if any(n < 1 for n in args.students):
        parser.error("--students takes class sizes of 1 or more")
    if args.cap_gb <= 0:
        parser.error("--cap-gb must be a positive number of GB")
    return args


def run_rounds(args, data: dict, started: float) -> None:
    """Each class size in turn while the budget lasts; rounds and skipped sizes go into ``data``."""
    last_wall = None
    with tempfile.TemporaryDirectory(prefix="students-per-gpu-") as tmp:
        for n in args.students:
            left = args.budget - (time.monotonic() - started)
            guess = (last_wall or 0) * 1.5 + 30
            if left < guess:
                data["skipped"].append({"students": n, "why": f"{left:.0f} s left, about {guess:.0f} s needed"})
                log(f"N={n}: skipped ({left:.0f} s left of the budget)")
                continue
            log(f"N={n}: starting {n} kernels")
            try:
                round_ = run_class(args, n, Path(tmp), timeout=max(60.0, left))
            except TimeoutError as exc:
                data["skipped"].append({"students": n, "why": str(exc)})
                log(f"N={n}: {exc}")
                break
            data["rounds"].append(round_)
            last_wall = round_["wall_s"]
            log(f"N={n}: slowest lesson {round_['lesson_s_max']} s, all completed: {round_['all_completed']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        write_sizing()
        log(f"wrote {SECTION.relative_to(ROOT)} and the sizing table in {GUIDE.relative_to(ROOT)}")
        return 0
    started = time.monotonic()
    device = device_info(args.smoke)
    if device["kind"] != "cuda" and not args.smoke:
        log("no CUDA GPU here: use --smoke to rehearse on the CPU")
        return 2
    data = {
        "schema": 1,
        "what": "students running lesson 01 at once, each kernel under COURSE_GPU_MEMORY_GB",
        "command": " ".join([students_markdown.COMMAND, *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": device,
        "smoke": args.smoke,
        "model": "demo model (COURSE_DEMO_MODE=1)" if args.smoke else f"COURSE_STANDIN=random, {args.dtype}",
        "cap_gb": args.cap_gb,
        "rounds": [],
        "skipped": [],
    }
    log("checking the cap: 0.2 GB, a t5-base-shaped checkpoint must be refused, then the demo model must run")
    data["cap_check"] = cap_check(args.smoke)
    log(f"cap check: {'passed' if data['cap_check'].get('ok') else 'FAILED'} ({data['cap_check'].get('over_cap')})")
    run_rounds(args, data, started)
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    if args.output is None:
        folder = Path(tempfile.mkdtemp(prefix="students-per-gpu-smoke-")) if args.smoke else students_sizing.RESULTS
        args.output = folder / f"{slug(device['name'])}.json"
    output = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=1) + "\n")
    if os.environ.get("OUT") and Path(os.environ["OUT"]).resolve() != output.parent.resolve():
        shutil.copy(output, Path(os.environ["OUT"]) / output.name)
    print(students_markdown.round_table(data))
    log(f"wrote {output}")
    ok = bool(data["rounds"]) and all(r["all_completed"] for r in data["rounds"])
    return 0 if ok and data["cap_check"].get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
