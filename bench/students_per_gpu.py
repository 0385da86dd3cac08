"""How many students one GPU holds: N kernels run lesson 01 at the same moment, each under the class cap.

    python bench/students_per_gpu.py                       # on a GPU machine: N = 1, 4, 8, 16
    python bench/students_per_gpu.py --students 1 4 --cap-gb 3.5 --budget 600
    python bench/students_per_gpu.py --smoke               # rehearsal on the CPU: N = 2, the demo model

Each student is a process of its own (as under JupyterHub) that starts a Jupyter kernel, waits
until every student's kernel is up, then runs every cell of lesson 01 (nbclient) with what a
class hub sets: ``COURSE_GPU_MEMORY_GB`` (the per-kernel cap, ``--cap-gb``), and here also
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

Before the lessons, on a GPU, one process checks the cap itself: with a 1 GB cap, loading
t5-large must fail with the course's message naming the cap, and after ``free_gpu_memory()``
t5-base must load in the same process.

Writes JSON (``--output``; default bench/results/students_per_gpu/<device>.json, a smoke run's
to a temp folder) and prints the round's Markdown table. Exits 0 when every student's lesson ran
to its end (errors in cells included) and the cap check passed, 1 otherwise.

    python bench/students_per_gpu.py --render

re-renders the sizing section from the committed results: bench/results/students_per_gpu.md
(which bench/gpu_report.py appends to BENCHMARKS.md) and the sizing table in docs/INSTRUCTORS.md.
Until a GPU run exists, both say so and size the class from the estimate in
``models.LESSON_GPU_GB`` and the CPU run's live-tensor peak, labelled as what they are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "students_per_gpu"  # one JSON per GPU (not globbed by gpu_report: a folder of its own)
SECTION = BENCH / "results" / "students_per_gpu.md"  # appended to BENCHMARKS.md by bench/gpu_report.py
GUIDE = ROOT / "docs" / "INSTRUCTORS.md"
CARDS = ((16, "T4*, A4000, V100 16 GB*"), (24, "L4, A10, RTX 4090"), (48, "L40S, A6000"), (80, "A100 80 GB, H100"))
CARD_RESERVE_GB = 1.0  # kept free on the card for the driver and stragglers
CONTEXT_GB_ASSUMED = 0.5  # a kernel's CUDA context, outside PyTorch's allocator (an assumption until NVML measures it)
LESSON = ROOT / "notebooks" / "01_encoder_decoders.ipynb"
MARK = "COURSE_STUDENT_MEMORY "
MEMORY_CELL = f"""\
import json as _s_json, os as _s_os
import torch as _s_torch
_s = {{"pid": _s_os.getpid(), "cap_env": _s_os.environ.get("COURSE_GPU_MEMORY_GB"), "cuda": _s_torch.cuda.is_available()}}
if _s["cuda"] and _s_torch.cuda.is_initialized():
    from extras_and_licenses import gpu_cap as _s_cap
    _s_state = _s_cap.current()
    _s.update(max_allocated=_s_torch.cuda.max_memory_allocated(), max_reserved=_s_torch.cuda.max_memory_reserved(),
              cap_fraction=_s_state.fraction if _s_state else None)
print({MARK!r} + _s_json.dumps(_s))
"""
PID_CELL = "import os as _s_os\nprint('COURSE_STUDENT_PID', _s_os.getpid())"

CAP_CHECK = """
import json, os, sys, tempfile
import torch
device = sys.argv[1]
os.environ["COURSE_GPU_MEMORY_GB"] = "0.2"
from extras_and_licenses import models, standins
out = {"device": device, "cap_gb": 0.2}
folder = tempfile.mkdtemp()
# t5-base's shape with random weights, saved as a local checkpoint: about 0.45 GB in bfloat16, over the cap,
# loaded the way a lesson loads a cached model (from_pretrained on the CPU, then moved to the GPU).
config = standins.read_config("t5-base")
config = config if device.startswith("cuda") else standins.tiny_config(config)  # the CPU rehearsal: a tiny shape
standins.build_model(config, dtype=torch.bfloat16).save_pretrained(folder)
standins.build_tokenizer().save_pretrained(folder)
try:
    models.load_model(folder, device=device, dtype=torch.bfloat16, verbose=False)
    out["over_cap"] = "loaded"
except models.NotEnoughGPUMemoryError as exc:
    out["over_cap"] = "refused"
    out["message"] = str(exc)
out["names_cap"] = "COURSE_GPU_MEMORY_GB=0.2" in out.get("message", "")
out["after_free"] = models.free_gpu_memory()
try:
    model, tokenizer = models.load_model("demo", device=device, dtype=torch.bfloat16, verbose=False)
    ids = model.generate(**tokenizer("translate English to French: Hello.", return_tensors="pt").to(device), max_new_tokens=5)
    out["reload"] = f"demo model loaded and generated {ids.shape[1]} tokens"
except Exception as exc:
    out["reload"] = f"failed: {type(exc).__name__}: {exc}"
refused = out["over_cap"] == "refused" and out["names_cap"]
out["ok"] = (refused if device.startswith("cuda") else out["over_cap"] == "loaded") and out["reload"].startswith("demo")
print("COURSE_CAP_CHECK " + json.dumps(out))
"""


def log(message: str) -> None:
    print(f"[students_per_gpu {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- one student (a worker process)


def worker(args) -> int:
    """Start a kernel, say ready, wait for the go signal, run lesson 01, write the result."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(LESSON, as_version=4)
    lesson_cells = len(nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PID_CELL))
    nb.cells.append(nbformat.v4.new_code_cell(MEMORY_CELL))
    result = {"student": args.name, "cells": sum(c.cell_type == "code" for c in nb.cells[1 : lesson_cells + 1])}
    result.update(cells_run=0, errors=[], status="completed")
    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        timeout=args.cell_timeout,
        resources={"metadata": {"path": str(LESSON.parent)}},
    )
    ready, go = Path(args.ready), Path(args.go)
    try:
        with client.setup_kernel(env=dict(os.environ)):
            client.reset_execution_trackers()
            client.execute_cell(nb.cells[0], 0)
            ready.write_text("ready")
            waited = time.monotonic() + args.cell_timeout
            while not go.exists() and time.monotonic() < waited:
                time.sleep(0.1)
            began = time.perf_counter()
            for index, cell in enumerate(nb.cells[1 : lesson_cells + 1], start=1):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
                    result["cells_run"] += 1
            result["wall_s"] = round(time.perf_counter() - began, 2)
            client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    except DeadKernelError as exc:
        result["status"] = f"kernel died: {exc}"
    except Exception as exc:  # noqa: BLE001 - recorded; the parent reports it
        result["status"] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        ready.write_text("ready")  # never leave the parent waiting
    for index, cell in enumerate(nb.cells[1 : lesson_cells + 1], start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = (str(output.get("evalue", "")).strip().splitlines() or [""])[0][:160]
                result["errors"].append({"cell": index - 1, "ename": output.get("ename", "?"), "evalue": first})
    for output in nb.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if isinstance(text, str) and MARK in text:
            result["kernel"] = json.loads(text.split(MARK, 1)[1].splitlines()[0])
    Path(args.result).write_text(json.dumps(result, indent=1))
    return 0


# --------------------------------------------------------------------------- the class (the parent process)


class Sampler(threading.Thread):
    """Every 0.5 s: host RSS of each student's processes; per-process and card-wide GPU memory (nvidia-smi)."""

    def __init__(self, workers: dict[str, subprocess.Popen], gpu: bool):
        super().__init__(daemon=True)
        self.workers = workers
        self.gpu = gpu and shutil.which("nvidia-smi") is not None
        self.rss_peak: dict[str, int] = {}
        self.pid_owner: dict[int, str] = {}
        self.gpu_pid_peak: dict[int, int] = {}  # pid -> bytes
        self.card_peak = 0
        self.card_start: int | None = None
        self.seen: dict[int, object] = {}  # pid -> psutil.Process, every process of every student
        self.stop = threading.Event()

    def kill_leftovers(self) -> list[int]:
        """Kill (by pid, checked against its start time) any student process still running; return their pids."""
        left = []
        for proc in self.seen.values():
            try:
                if proc.is_running():
                    proc.kill()
                    left.append(proc.pid)
            except Exception:  # noqa: BLE001 - gone in between
                pass
        return left

    def _nvidia_smi(self, *query: str) -> list[list[str]]:
        out = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True, text=True)
        return [[part.strip() for part in line.split(",")] for line in out.stdout.strip().splitlines() if line.strip()]

    def run(self) -> None:
        try:
            import psutil
        except ImportError:  # an image without psutil: GPU figures only, no host memory
            psutil = None
        while not self.stop.is_set():
            for name, proc in self.workers.items() if psutil is not None else ():
                try:
                    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                except psutil.Error:
                    continue
                total = 0
                for member in family:
                    self.pid_owner[member.pid] = name
                    self.seen.setdefault(member.pid, member)
                    try:
                        total += member.memory_info().rss
                    except psutil.Error:
                        pass
                self.rss_peak[name] = max(total, self.rss_peak.get(name, 0))
            if self.gpu:
                try:
                    used = int(self._nvidia_smi("--query-gpu=memory.used")[0][0]) * 2**20
                    self.card_start = used if self.card_start is None else self.card_start
                    self.card_peak = max(self.card_peak, used)
                    for pid, mib in self._nvidia_smi("--query-compute-apps=pid,used_memory"):
                        if pid.isdigit() and mib.isdigit():
                            self.gpu_pid_peak[int(pid)] = max(int(mib) * 2**20, self.gpu_pid_peak.get(int(pid), 0))
                except (OSError, ValueError, IndexError):
                    pass
            self.stop.wait(0.5)


def student_env(args, hub_cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env.update(
        COURSE_GPU_MEMORY_GB=str(args.cap_gb),
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(hub_cache),  # empty: no real model is found, nothing is downloaded
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=str(args.threads),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if args.smoke:
        env["COURSE_DEMO_MODE"] = "1"
    else:
        env.update(COURSE_STANDIN="random", COURSE_DTYPE=args.dtype)
    return env


def run_class(args, n: int, workdir: Path, timeout: float) -> dict:
    """N students at once; returns the round's figures."""
    hub_cache = workdir / "empty-hf-cache"
    hub_cache.mkdir(exist_ok=True)
    env = student_env(args, hub_cache)
    go = workdir / f"go-{n}"
    workers, files = {}, {}
    for i in range(n):
        name = f"student{i + 1:02d}"
        files[name] = (workdir / f"{n}-{name}.ready", workdir / f"{n}-{name}.json")
        cmd = [sys.executable, __file__, "--worker", "--name", name, "--ready", str(files[name][0])]
        cmd += ["--go", str(go), "--result", str(files[name][1]), "--cell-timeout", str(int(timeout))]
        workers[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    sampler = Sampler(workers, gpu=not args.smoke)
    sampler.start()
    deadline = time.monotonic() + timeout
    try:
        while not all(ready.exists() for ready, _ in files.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("the kernels did not all start in time")
            time.sleep(0.2)
        log(f"N={n}: every kernel is up; all start lesson 01 now")
        began = time.perf_counter()
        go.write_text("go")
        for proc in workers.values():
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        wall = time.perf_counter() - began
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        sampler.stop.set()
        sampler.join(timeout=5)
        sampler.kill_leftovers()
    students = []
    for name, (_, result_file) in files.items():
        result = (
            json.loads(result_file.read_text()) if result_file.exists() else {"student": name, "status": "no result"}
        )
        kernel_pid = (result.get("kernel") or {}).get("pid")
        result["host_rss_peak"] = sampler.rss_peak.get(name)
        result["gpu_process_peak"] = sampler.gpu_pid_peak.get(kernel_pid) if kernel_pid else None
        students.append(result)
    walls = [s["wall_s"] for s in students if "wall_s" in s]
    return {
        "students": n,
        "wall_s": round(wall, 2),
        "lesson_s_max": max(walls) if walls else None,
        "lesson_s_median": statistics.median(walls) if walls else None,
        "card_peak": sampler.card_peak or None,
        "card_before": sampler.card_start,
        "all_completed": all(s.get("status") == "completed" for s in students),
        "per_student": students,
    }


def cap_check(args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    device = "cpu" if args.smoke else "cuda"
    out = subprocess.run(
        [sys.executable, "-c", CAP_CHECK, device], env=env, capture_output=True, text=True, timeout=600
    )
    for line in out.stdout.splitlines():
        if line.startswith("COURSE_CAP_CHECK "):
            return json.loads(line.split(" ", 1)[1])
    return {"ok": False, "error": (out.stderr or out.stdout)[-2000:]}


def device_info(smoke: bool) -> dict:
    import torch

    if not smoke and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"kind": "cuda", "name": props.name, "total_gb": round(props.total_memory / 1e9, 1)}
    return {"kind": "cpu", "name": f"CPU ({platform.machine()}, {os.cpu_count()} cores)", "total_gb": None}


def gb(value) -> str:
    return f"{value / 1e9:.2f} GB" if value else "-"


def markdown(data: dict) -> str:
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


# --------------------------------------------------------------------------- the sizing table


def gpu_results(directory: Path | None = None) -> list[dict]:
    """Committed GPU runs (smoke runs are never committed; a stray one is ignored)."""
    directory = directory or RESULTS
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


def cpu_lesson_01() -> dict | None:
    path = BENCH / "results" / "cpu.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    for lesson in data.get("lessons", []):
        if lesson["lesson"].startswith("01") and (lesson.get("memory") or {}).get("tensor_peak"):
            return {
                "peak_gb": lesson["memory"]["tensor_peak"] / 1e9,
                "date": data["date"][:10],
                "command": data["command"],
            }
    return None


def students_for(card_gb: float, per_student: float) -> int:
    return max(0, int((card_gb - CARD_RESERVE_GB) // per_student))


def sizing_table() -> str:
    """The guide's sizing table, with where its figures come from."""
    sys.path.insert(0, str(ROOT))
    from extras_and_licenses.doctor import lesson_need_gb

    runs = gpu_results()
    measured = [(run, per_student_gb(run)) for run in runs]
    measured = [(run, m) for run, m in measured if m]
    lines = []
    if measured:
        run, (on_card, reserved, n) = max(measured, key=lambda item: item[1][2])
        cap = max(0.5, -(-reserved * 1.1 // 0.5) * 0.5)  # the peak reserved plus 10%, up to the next 0.5 GB
        per = max(on_card, cap + CONTEXT_GB_ASSUMED)
        lines += [
            f"Measured on {run['device']['name']} ({run['date'][:10]}, `{run['command']}`): with {n} students running "
            f"lesson 01 at once in {run['model'].split(', ')[-1]}, each kernel peaked at {reserved:.2f} GB reserved by "
            f"PyTorch and {on_card:.2f} GB on the card (NVML, CUDA context included). Suggested cap: "
            f"`COURSE_GPU_MEMORY_GB={cap:g}`; each student then needs {per:.2f} GB of the card.",
        ]
    else:
        cap = lesson_need_gb("01", "bfloat16")
        per = cap + CONTEXT_GB_ASSUMED
        cpu = cpu_lesson_01()
        basis = (
            f"The project's CPU run of lesson 01 with the real model shapes in bfloat16 ({cpu['date']}, "
            f"`{cpu['command']}`) peaked at {cpu['peak_gb']:.2f} GB of live tensors: what "
            "`torch.cuda.max_memory_allocated` would count, without the allocator's cache and the CUDA context. "
            if cpu
            else ""
        )
        lines += [
            "**Estimate: no GPU run of `bench/students_per_gpu.py` has been made yet.** "
            + basis
            + f"The course's estimate for lesson 01 in bfloat16 is {cap:g} GB (`models.LESSON_GPU_GB`), so the table "
            f"assumes a cap of `COURSE_GPU_MEMORY_GB={cap:g}` plus {CONTEXT_GB_ASSUMED:g} GB of CUDA context per "
            f"kernel: {per:g} GB of the card per student. Replace it with a measurement "
            "(`python bench/students_per_gpu.py` on the GPU, then `--render`) before you rely on it.",
        ]
    lines += [
        "",
        f"| GPU memory | for example | students at once (bfloat16, {per:.2f} GB each, {CARD_RESERVE_GB:g} GB kept free) |",
        "|---|---|---|",
    ]
    lines += [f"| {gb_} GB | {cards} | {students_for(gb_, per)} |" for gb_, cards in CARDS]
    fp32 = lesson_need_gb("01", "float32") + CONTEXT_GB_ASSUMED
    lines += [
        "",
        rf"\* No native bfloat16 (T4, V100): the lessons run in float32 there, about {fp32:g} GB per student, "
        f"so a 16 GB T4 holds {students_for(16, fp32)}.",
    ]
    return "\n".join(lines) + "\n"


def sizing_section() -> str:
    runs = gpu_results()
    body = ["## Students per GPU (lesson 01, several kernels at once)", ""]
    body += [
        "`python bench/students_per_gpu.py` on a GPU machine: N lesson-01 kernels at once (N = 1, 4, 8, 16 as the",
        "budget allows), each under the class cap, random weights in the real shapes (`COURSE_STANDIN=random`),",
        "bfloat16. `--smoke` rehearses it on the CPU with the demo model (CI runs that). Results:",
        "`bench/results/students_per_gpu/<device>.json`; `--render` rewrites this section and the guide's table.",
        "",
    ]
    for run in runs:
        body += [f"### {run['device']['name']} ({run['date'][:10]})", "", f"- command: `{run['command']}`"]
        check = run.get("cap_check") or {}
        body += [
            f"- cap check (0.2 GB cap, a t5-base-sized load refused, then the demo model runs): {'passed' if check.get('ok') else 'FAILED'}",
            "",
        ]
        body += [markdown(run), ""]
    if not runs:
        body += ["No GPU run yet. The sizing table in `docs/INSTRUCTORS.md` is an estimate until there is one:", ""]
    else:
        body += ["The sizing table in `docs/INSTRUCTORS.md`, from these figures:", ""]
    return "\n".join(body) + "\n" + sizing_table()


GUIDE_START, GUIDE_END = "<!-- sizing table: bench/students_per_gpu.py --render -->", "<!-- end of sizing table -->"


def guide_with_table(text: str) -> str:
    head, start, rest = text.partition(GUIDE_START)
    _, end, tail = rest.partition(GUIDE_END)
    if not start or not end:
        raise SystemExit(f"{GUIDE} lacks the markers {GUIDE_START!r} ... {GUIDE_END!r}")
    return head + start + "\n" + sizing_table() + end + tail


def write_sizing() -> None:
    SECTION.write_text(sizing_section())
    GUIDE.write_text(guide_with_table(GUIDE.read_text()))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 4, 8, 16], help="class sizes to run, in order")
    parser.add_argument("--cap-gb", type=float, default=3.0, help="COURSE_GPU_MEMORY_GB for every student (default 3)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--budget", type=float, default=780, help="seconds for the whole run; later rounds are skipped")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per student (default 1)")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/students_per_gpu/<device>.json)")
    parser.add_argument("--render", action="store_true", help="only re-render the sizing section and the guide's table")
    parser.add_argument("--smoke", action="store_true", help="the CPU rehearsal: N = 2, the demo model")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--name", "--ready", "--go", "--result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--cell-timeout", type=int, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.students = [2] if args.students == [1, 4, 8, 16] else args.students
    if any(n < 1 for n in args.students):
        parser.error("--students takes class sizes of 1 or more")
    if args.cap_gb <= 0:
        parser.error("--cap-gb must be a positive number of GB")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
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
        "command": " ".join(["python", "bench/students_per_gpu.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": device,
        "smoke": args.smoke,
        "model": "demo model (COURSE_DEMO_MODE=1)" if args.smoke else f"COURSE_STANDIN=random, {args.dtype}",
        "cap_gb": args.cap_gb,
        "rounds": [],
        "skipped": [],
    }
    # On the GPU: a 0.2 GB cap must refuse t5-base's shape with the course's message, and the same process
    # must load and run the demo model after free_gpu_memory(). On the CPU (--smoke) no cap applies: the
    # same script runs, so the rehearsal shows it works, and the load is expected to succeed.
    log("checking the cap: 0.2 GB, a t5-base-shaped checkpoint must be refused, then the demo model must run")
    data["cap_check"] = cap_check(args)
    log(f"cap check: {'passed' if data['cap_check'].get('ok') else 'FAILED'} ({data['cap_check'].get('over_cap')})")
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
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    slug = re.sub(r"[^a-z0-9]+", "-", device["name"].lower()).strip("-")
    if args.output is None:
        folder = Path(tempfile.mkdtemp(prefix="students-per-gpu-smoke-")) if args.smoke else RESULTS
        args.output = folder / f"{slug}.json"
    output = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=1) + "\n")
    if os.environ.get("OUT") and Path(os.environ["OUT"]).resolve() != output.parent.resolve():
        shutil.copy(output, Path(os.environ["OUT"]) / output.name)
    print(markdown(data))
    log(f"wrote {output}")
    ok = bool(data["rounds"]) and all(r["all_completed"] for r in data["rounds"])
    return 0 if ok and data.get("cap_check", {"ok": True}).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
