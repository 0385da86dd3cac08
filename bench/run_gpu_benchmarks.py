"""GPU benchmark for instructors (issue 8): what GPU does a class need?

One command, on one GPU, in under 8 minutes:

1. bandwidth: the device's copy bandwidth (``extras_and_licenses.decoding.copy_bandwidth``);
2. lessons: every lesson notebook (``notebooks/0*.ipynb``) run headless with nbclient and
   ``COURSE_STANDIN=random``, so each lesson model is its real architecture with random weights
   (the GPU machines cannot reach the hub). Wall time, the cells that raised, and peak GPU
   memory, printed by a cell appended to the in-memory copy of the notebook (the kernel is a
   separate process, so only it can read its own ``torch.cuda.max_memory_allocated``);
3. listener: the ForwardListener's overhead on t5-large's shape, by ``bench/bench_listener.py``
   itself (float32, then bfloat16);
4. decode: ms per generated token for the t5-base, t5-large and flan-t5-large shapes with no
   cache, the dynamic cache, and a static cache + torch.compile (lesson 03's settings), in
   bfloat16 and float32; batch 1, a 24-token source, 32 forced tokens, median of 5 runs
   (``extras_and_licenses.decoding.time_generate``); each also as a multiple of the bandwidth
   floor (decoder weight bytes / bandwidth);
5. ladder, only when asked (``--parts ladder``): issue 17's decode ladder, ``bench/decode_ladder.py``: no cache,
   dynamic, static, static + compile, the hand-written static step uncaptured, captured as a CUDA graph and
   compiled, CTranslate2 on the same weights, and the floor; token identity against ``generate()`` per row.
   Its own call: ``WHEEL_SET=ladder bash bench/fetch_gpu_wheels.sh`` here, then the device command
   ``bash bench/on_gpu_machine.sh --parts ladder --budget 420`` (carry [".whl"]).

Writes ``bench/results/<device-slug>.json`` and re-renders ``BENCHMARKS.md`` from every results
file (``bench/gpu_report.py``). Both are rewritten after every part, so a run that is stopped
keeps what it measured.

    python bench/run_gpu_benchmarks.py                     # on a GPU machine
    python bench/run_gpu_benchmarks.py --export "$OUT"     # ... and copy the results there too
    python bench/run_gpu_benchmarks.py --smoke             # CPU, tiny models, < 1 minute, temp folder
    python bench/run_gpu_benchmarks.py --render            # only re-render BENCHMARKS.md
    python bench/run_gpu_benchmarks.py --device cpu --parts lessons   # no GPU lent: see below

Off the GPU (``--device cpu``), the lessons run in bfloat16 (``--lesson-dtype``) and their memory is
the peak of live tensor bytes in the kernel (``bench/tensor_memory.py``), what
``torch.cuda.max_memory_allocated`` would count; the results are their own kind, ``bench/results/cpu.json``.
On a lent GPU machine, make the device call ``bash bench/on_gpu_machine.sh`` with the wheels from
``bash bench/fetch_gpu_wheels.sh`` carried (the image lacks the Jupyter kernel and has transformers 5.17).

Time: ``--budget`` seconds in all, counted from the start (default 420), shared by the parts
that run in proportion to ``SHARES`` (bandwidth 10, lessons 220, listener 45, decode 145);
time a part does not use passes to the next. Within a part, whatever would not fit is skipped
and the reason recorded (compiled decode rows go most-wanted first: t5-large in bfloat16); a
lesson cell still running at the lessons' deadline is interrupted. A watchdog ends the run 30 s
after the budget, keeping what was written. A partial run (``--parts``, ``--lessons`` or
``--decode-modes`` narrowed) starts from the device's earlier results file and replaces only what
it measures, so a second, shorter call can fill in what the first one skipped:

    python bench/run_gpu_benchmarks.py --parts decode --decode-modes compiled --budget 300
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

T0 = time.perf_counter()  # the budget counts from here, imports included

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(BENCH))  # the sibling benchmark scripts

import bench_listener  # noqa: E402
import decode_ladder  # noqa: E402
import gpu_report  # noqa: E402

from extras_and_licenses import standins  # noqa: E402
from extras_and_licenses.decoding import copy_bandwidth, decoder_weight_bytes, time_generate  # noqa: E402

SHARES = {"bandwidth": 10, "lessons": 220, "listener": 45, "decode": 145, "ladder": 400}  # seconds
DEFAULT_PARTS = ("bandwidth", "lessons", "listener", "decode")  # the ladder (issue 17) runs when asked: --parts ladder
# Each measured row's label (also the ``item`` of a skip record): a later row with the same label replaces it.
LABELS = {
    # a lesson also run in float32 (lesson 01, by on_gpu_machine.sh) is its own row beside the bfloat16 one
    "lessons": lambda row: (
        row["lesson"] if row.get("dtype", "bfloat16") == "bfloat16" else f"{row['lesson']} {row['dtype']}"
    ),
    "listener": lambda row: row["dtype"],
    "decode": lambda row: f"{row['model']} {row['dtype']} {row['mode']}",
    "ladder": lambda row: f"{row['model']} {row['dtype']} {row['rung']}",
}
DECODE_MODES = {"none": "no cache", "dynamic": "dynamic cache", "compiled": "static cache + compile"}
DEFAULT_BUDGET = sum(SHARES[part] for part in DEFAULT_PARTS)
GRACE_S = 30  # the watchdog's margin past the budget
NOTEBOOK_RESERVE_S = 20  # kept back for each lesson still to run
COMPILE_GUESS_S = 75  # a first compile of a T5 decoder step, until one has been measured
MEMORY_MARK = "COURSE_BENCH_MEMORY "
DECODE_MODELS = ("t5-large", "t5-base", "google/flan-t5-large")  # t5-large first: it carries a goal
SHORT = {"t5-base": "t5-base", "t5-large": "t5-large", "google/flan-t5-large": "flan-t5-large"}
SOURCE_TEXT = "translate English to German: The house is wonderful and the garden is big."

# Appended to each notebook's in-memory copy; runs in the lesson's kernel after its last cell.
MEMORY_CELL = f"""\
import json as _bench_json
import torch as _bench_torch

_bench = {{"cuda": _bench_torch.cuda.is_available()}}
if _bench["cuda"] and _bench_torch.cuda.is_initialized():
    _bench_free, _bench_total = _bench_torch.cuda.mem_get_info()
    _bench.update(
        max_allocated=_bench_torch.cuda.max_memory_allocated(),
        max_reserved=_bench_torch.cuda.max_memory_reserved(),
        allocated=_bench_torch.cuda.memory_allocated(),
        reserved=_bench_torch.cuda.memory_reserved(),
        device_used=_bench_total - _bench_free,
        device_total=_bench_total,
    )
if "_bench_tracker" in globals():  # a run off the GPU: live tensor bytes instead (bench/tensor_memory.py)
    _bench.update(tensor_peak=_bench_tracker.peak, tensor_now=_bench_tracker.current)
print({MEMORY_MARK!r} + _bench_json.dumps(_bench))
"""

# Run first, off the GPU, in the lesson's kernel: counts live tensor bytes from then on.
TRACKER_CELL = f"""import sys as _bench_sys

_bench_sys.path.insert(0, {str(BENCH)!r})
from tensor_memory import LiveTensorBytes as _BenchLiveTensorBytes

_bench_tracker = _BenchLiveTensorBytes()
_bench_tracker.__enter__()
"""

# What --smoke runs in place of the lessons: a tiny stand-in generates a few tokens in a kernel.
SMOKE_NOTEBOOK_CELLS = (
    "import os\n\nfrom extras_and_licenses import standins\n\n"
    "assert os.environ.get('COURSE_STANDIN') == 'random'\n"
    "model = standins.build_model(standins.tiny_config(standins.read_config('t5-base')))\n"
    "tokenizer = standins.build_tokenizer()",
    "inputs = tokenizer('translate English to French: The house is wonderful.', return_tensors='pt')\n"
    "out = model.generate(**inputs, min_new_tokens=4, max_new_tokens=4)\n"
    "assert out.shape == (1, 5), out.shape\n"
    "print(repr(tokenizer.decode(out[0])))",
)


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


# ------------------------------------------------------------------ time budget
class Budget:
    """The run's time: each part gets its share plus what earlier parts left unused."""

    def __init__(self, total_s: float, scale: float):
        self.total_s, self.scale, self.carry = total_s, scale, 0.0
        self.start = T0  # the budget counts from the start of the script, imports included

    def left(self) -> float:
        return self.total_s - (time.perf_counter() - self.start)

    @contextlib.contextmanager
    def part(self, name: str):
        allowed = max(0.0, min(SHARES[name] * self.scale + self.carry, self.left()))
        deadline = time.perf_counter() + allowed
        log(f"== {name}: {allowed:.0f} s allowed")
        began = time.perf_counter()
        try:
            yield deadline
        finally:
            used = time.perf_counter() - began
            self.carry = max(0.0, allowed - used)
            log(f"== {name} done in {used:.0f} s")


def seconds_left(deadline: float) -> float:
    return deadline - time.perf_counter()


# ------------------------------------------------------------------ results
class Run:
    """The results of one run, written to JSON and Markdown after every part."""

    def __init__(self, args, device: torch.device):
        self.args, self.device = args, device
        self.lock = threading.Lock()
        self.client = None  # the NotebookClient running now, if any
        self.data = {
            "schema": 1,
            "kind": "smoke" if args.smoke else ("gpu" if device.type == "cuda" else "cpu"),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python", "bench/run_gpu_benchmarks.py", *sys.argv[1:]]),
            "commit": git_commit(),
            "device": describe_device(device, args.smoke),
            "versions": versions(),
            "budget_s": args.budget,
            "elapsed_s": 0.0,
            "bandwidth": {},
            "lessons": [],
            "listener": [],
            "decode": [],
            "decode_setup": {},
            "ladder": [],
            "skipped": [],
            "earlier_runs": [],
        }
        self.carry_over()

    def partial(self) -> bool:
        args = self.args
        return (
            set(args.parts) != set(DEFAULT_PARTS) or bool(args.lessons) or set(args.decode_modes) != set(DECODE_MODES)
        )

    def carry_over(self) -> None:
        """A partial run (some parts, lessons or decode modes) starts from this device's earlier results:
        what it measures replaces the rows with the same label, the rest stays, marked as earlier."""
        if self.args.smoke or not self.json_path().exists():
            return
        previous = json.loads(self.json_path().read_text())
        if previous.get("kind") != self.data["kind"]:
            return
        if not self.partial():  # a full run replaces everything but the ladder, which it does not run
            self.data["ladder"] = [
                dict(row, earlier=row.get("earlier") or previous["date"]) for row in previous.get("ladder", [])
            ]
            return
        for key in LABELS:
            self.data[key] = [
                dict(row, earlier=row.get("earlier") or previous["date"]) for row in previous.get(key, [])
            ]
        for key in ("bandwidth", "decode_setup"):
            self.data[key] = previous.get(key, {})
        self.data["skipped"] = previous.get("skipped", [])
        self.data["earlier_runs"] = previous.get("earlier_runs", []) + [f"{previous['date']}: `{previous['command']}`"]

    def add(self, part: str, row: dict) -> None:
        """Record a measured row (replacing an earlier one with the same label) and save."""
        label = LABELS[part](row)
        with self.lock:
            self.data[part] = [r for r in self.data[part] if LABELS[part](r) != label] + [row]
            self.data["skipped"] = [s for s in self.data["skipped"] if (s["part"], s["item"]) != (part, label)]
        self.save()

    def skip(self, part: str, item: str, reason: str) -> None:
        """Record why ``item`` was not measured, unless an earlier run's measurement of it stands."""
        log(f"   skipped {part} / {item}: {reason}")
        with self.lock:
            if part in LABELS and any(LABELS[part](row) == item for row in self.data[part]):
                return
            self.data["skipped"] = [s for s in self.data["skipped"] if (s["part"], s["item"]) != (part, item)]
            self.data["skipped"].append({"part": part, "item": item, "reason": reason})

    def json_path(self) -> Path:
        return self.args.results_dir / f"{self.data['device']['slug']}.json"

    def save(self) -> None:
        with self.lock:
            self.data["elapsed_s"] = time.perf_counter() - T0
            text = json.dumps(self.data, indent=2, default=str)
        self.args.results_dir.mkdir(parents=True, exist_ok=True)
        self.json_path().write_text(text + "\n")
        if self.args.smoke:  # only this run's table; never the committed BENCHMARKS.md
            markdown = gpu_report.render([json.loads(text)], smoke=True)
        else:
            markdown = gpu_report.render(gpu_report.load_results(self.args.results_dir))
        self.args.markdown.write_text(markdown)
        if self.args.export:
            self.args.export.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.json_path(), self.args.export / self.json_path().name)
            shutil.copy(self.args.markdown, self.args.export / self.args.markdown.name)


def git_commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return (sha + (" + local changes" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict:
    import transformers

    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if torch.version.cuda:
        found["cuda"] = torch.version.cuda
    try:
        import nbclient

        found["nbclient"] = nbclient.__version__
    except ImportError:
        pass
    return found


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def describe_device(device: torch.device, smoke: bool) -> dict:
    if device.type != "cuda":
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        return {"name": name, "slug": "cpu-smoke" if smoke else "cpu", "bf16": True}
    props = torch.cuda.get_device_properties(device)
    detail = f"compute capability {props.major}.{props.minor}"
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if smi.returncode == 0 and smi.stdout.strip():
            detail += f", driver {smi.stdout.strip().splitlines()[0]}"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "name": props.name,
        "slug": slug(props.name),
        "total_memory": props.total_memory,
        "bf16": torch.cuda.is_bf16_supported(),
        "detail": detail,
    }


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_used_bytes(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return total - free


# ------------------------------------------------------------------ part 1: bandwidth
def run_bandwidth(run: Run, deadline: float) -> None:
    megabytes = 64 if run.args.smoke else None
    bandwidth = copy_bandwidth(run.device, megabytes=megabytes, repeats=3 if run.args.smoke else 5)
    run.data["bandwidth"] = {"bytes_per_s": bandwidth, "megabytes": megabytes or "default"}
    log(f"   copy bandwidth {bandwidth / 1e9:,.0f} GB/s")


# ------------------------------------------------------------------ part 2: lessons
def lesson_paths(args) -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("0*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.lessons)]
    return paths


def smoke_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Smoke notebook (a tiny random T5)")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in SMOKE_NOTEBOOK_CELLS]
    return nb


def lesson_dtype(run: Run) -> str:
    """The precision the lessons run in: --lesson-dtype, else the GPU's choice, else bfloat16 on the CPU
    (the goal is for bfloat16; the smoke notebook builds its own float32 model)."""
    if run.args.lesson_dtype != "auto":
        return run.args.lesson_dtype
    if run.device.type == "cuda":
        return "bfloat16" if run.data["device"]["bf16"] else "float32"
    return "float32" if run.args.smoke else "bfloat16"


def kernel_env(hub_cache: Path, dtype: str) -> dict:
    env = dict(os.environ)
    env.pop("COURSE_DEMO_MODE", None)
    # Behaviour claims in report mode: a miss is recorded in the lesson's tally, it never stops a lesson.
    env.pop("COURSE_STRICT_CLAIMS", None)
    env["COURSE_DTYPE"] = dtype  # extras_and_licenses.models.choose_device_and_dtype reads it
    env.update(
        COURSE_STANDIN="random",
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(hub_cache),  # empty: the lessons find no real models and download nothing
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def failing_line(traceback: list[str]) -> str:
    """The cell's own line that raised: IPython marks it with an arrow in the first traceback frame."""
    for frame in traceback:
        for line in re.sub(r"\x1b\[[0-9;]*m", "", frame).splitlines():
            if line.lstrip().startswith("---->"):
                return line.split("---->", 1)[1].strip().lstrip("0123456789 ")[:120]
    return ""


def run_notebook(run: Run, name: str, nb, workdir: Path, deadline: float, env: dict) -> dict:
    """Execute ``nb`` cell by cell until ``deadline``; then read the kernel's peak memory."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    lesson_cells = len(nb.cells)
    cuda = run.device.type == "cuda"
    tracker = None
    if not cuda:  # a cell of the notebook's own: nbclient stores each executed cell back at its index
        tracker = nbformat.v4.new_code_cell(TRACKER_CELL)
        nb.cells.append(tracker)
    nb.cells.append(nbformat.v4.new_code_cell(MEMORY_CELL))
    result = {
        "lesson": name,
        "dtype": env["COURSE_DTYPE"],
        "cells": sum(c.cell_type == "code" for c in nb.cells[:lesson_cells]),
        "cells_run": 0,
        "errors": [],
        "slowest": [],
        "memory": None,
        "status": "completed",
    }
    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "over the lessons' time budget", "traceback": []},
        resources={"metadata": {"path": str(workdir)}},
    )
    used_before = device_used_bytes(run.device)
    durations = []
    began = time.perf_counter()
    run.client = client  # for the watchdog
    try:
        with client.setup_kernel(env=env):
            result["kernel_start_s"] = time.perf_counter() - began
            client.reset_execution_trackers()
            if tracker is not None:
                client.timeout = 60
                client.execute_cell(tracker, lesson_cells)
                for output in tracker.get("outputs", []):
                    if output.get("output_type") == "error":  # recorded; the lesson runs untracked
                        result["errors"].append(
                            {"cell": "tensor tracker", "ename": output.get("ename", "?"), "evalue": "", "line": ""}
                        )
            lesson_start = time.perf_counter()
            for index, cell in enumerate(nb.cells[:lesson_cells]):
                if cell.cell_type != "code":
                    continue
                left = seconds_left(deadline)
                if left < 1:
                    result["status"] = f"stopped at cell {index}: over budget"
                    break
                client.timeout = int(left)
                started = time.perf_counter()
                client.execute_cell(cell, index)
                seconds = time.perf_counter() - started
                durations.append((seconds, index, cell.source.strip().splitlines()[0][:60] if cell.source else ""))
                result["cells_run"] += 1
                if seconds >= int(left):  # nbclient interrupted the cell
                    result["status"] = f"interrupted in cell {index}: over budget"
                    break
            result["wall_s"] = time.perf_counter() - lesson_start
            client.timeout = 60
            client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    except DeadKernelError as exc:
        result["status"] = f"kernel died ({exc})"
    except Exception as exc:  # noqa: BLE001 - e.g. no kernel could start; recorded, the next lesson runs
        result["status"] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        run.client = None
    result.setdefault("wall_s", time.perf_counter() - began)
    for index, cell in enumerate(nb.cells[:lesson_cells]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                evalue = str(output.get("evalue", "")).strip().splitlines()
                result["errors"].append(
                    {
                        "cell": index,
                        "ename": output.get("ename", "?"),
                        "evalue": (evalue[0] if evalue else "")[:160],
                        "line": failing_line(output.get("traceback", [])),
                    }
                )
    result["slowest"] = [
        {"cell": i, "seconds": round(s, 2), "source": src} for s, i, src in sorted(durations, reverse=True)[:3]
    ]
    for cell in nb.cells[:lesson_cells]:  # the lesson's own tally of its behaviour claims (extras_and_licenses.claims)
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            if isinstance(text, str) and text.startswith("Behaviour claims in this lesson:"):
                result["claims"] = text.strip()[:600]
    for output in nb.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if isinstance(text, str) and MEMORY_MARK in text:
            memory = json.loads(text.split(MEMORY_MARK, 1)[1].splitlines()[0])
            if memory.get("device_used") is not None and used_before is not None:
                # device-wide use at the end, less what was in use before the kernel started,
                # less what PyTorch still holds: the kernel's CUDA context and other memory
                outside = max(0, memory["device_used"] - used_before - memory["reserved"])
                memory["outside_pytorch"] = outside
                memory["process_peak_estimate"] = memory["max_reserved"] + outside
            result["memory"] = memory
    errors = len(result["errors"])
    if result["status"] == "completed":
        result["summary"] = f"ran all {result['cells']} cells" + (f"; {errors} raised" if errors else "")
    else:
        result["summary"] = (
            f"{result['status']} ({result['cells_run']} of {result['cells']} cells run, {errors} raised)"
        )
    return result


def lesson_version_problem(found: dict, requirements: Path = ROOT / "requirements.txt") -> str | None:
    """Why the lessons cannot run with these versions of torch and transformers, or None.

    The lessons use APIs of the range requirements.txt names (between transformers 5.17 and 5.24,
    T5's ``past_key_values`` argument became ``cache``, for one): run outside it, they raise on API changes, and the
    run would report those as the lessons' own errors.
    """
    from extras_and_licenses import environment

    wanted = {name: found[name] for name in ("torch", "transformers") if name in found}
    states = environment.survey(kernel_side=False, runtime=None, versions=wanted, path=requirements)
    problems = [f"{s.name} {s.found} is outside {s.requirement}" for s in states if s.name in wanted and not s.ok]
    if not problems:
        return None
    return (
        "; ".join(problems) + " (requirements.txt), so the lessons would fail on API changes, not on memory or time. "
        "On a GPU machine with no internet, carry the wheels from `bash bench/fetch_gpu_wheels.sh` "
        "(they include transformers 5.24.0) and install them as its header says"
    )


def run_lessons(run: Run, deadline: float) -> None:
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        run.skip("lessons", "all", f"{exc.name} is not installed (pip install -r requirements-dev.txt)")
        return
    problem = lesson_version_problem(run.data["versions"])
    if problem:
        run.skip("lessons", "all", problem)
        return
    if run.args.smoke:
        jobs = [("smoke notebook (injected)", smoke_notebook, ROOT / "notebooks")]
    else:
        import nbformat

        jobs = [(p.stem, lambda p=p: nbformat.read(p, as_version=4), p.parent) for p in lesson_paths(run.args)]
    hub_cache = Path(tempfile.mkdtemp(prefix="bench-hf-cache-"))
    env = kernel_env(hub_cache, lesson_dtype(run))
    try:
        for position, (name, read, workdir) in enumerate(jobs):
            run_one_notebook(run, name, read, workdir, deadline - NOTEBOOK_RESERVE_S * (len(jobs) - position - 1), env)
    finally:
        shutil.rmtree(hub_cache, ignore_errors=True)


def run_one_notebook(run: Run, name: str, read, workdir: Path, own_deadline: float, env: dict) -> None:
    if seconds_left(own_deadline) < 5:
        run.skip("lessons", name, f"only {max(0, seconds_left(own_deadline)):.0f} s left for it in the lessons' budget")
        return
    free_memory(run.device)
    log(f"   {name}: running (up to {seconds_left(own_deadline):.0f} s)")
    result = run_notebook(run, name, read(), workdir, own_deadline, env)
    memory = result.get("memory") or {}
    peak = memory.get("max_allocated")
    tensors = memory.get("tensor_peak")
    log(
        f"   {name}: {result['summary']}, {result.get('wall_s', 0):.1f} s, {result['dtype']}"
        + (f", peak {peak / 1e9:.2f} GB allocated" if peak is not None else "")
        + (f", peak {tensors / 1e9:.2f} GB of live tensors" if tensors is not None else "")
    )
    run.add("lessons", result)


# ------------------------------------------------------------------ part 3: listener overhead
class Tee(io.TextIOBase):
    """Collects what is printed and passes it on, so the log shows bench_listener's progress."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def parse_listener(text: str) -> dict:
    def number(pattern):
        found = re.search(pattern, text)
        return float(found.group(1)) if found else None

    checks = re.search(r"check: same tokens with listeners: (\w+); recorded cache lengths are [^:]+: (\w+)", text)
    return {
        "ratio": number(r"RATIO with/without = ([0-9.]+)"),
        "ms_per_token": number(r"without listeners:\s+median\s+[0-9.]+ ms \(([0-9.]+) ms/token\)"),
        "cost_us": number(r"measured alone: ([-0-9.]+) us per call"),
        "checks": f"tokens {checks.group(1)}, cache lengths {checks.group(2)}" if checks else "-",
    }


def dtypes_for(run: Run, part: str) -> list[str]:
    """bfloat16 and float32 on a GPU that has bf16; float32 alone in a smoke run (CPU bf16 is slow)."""
    if run.args.smoke:
        return ["float32"]
    if not run.data["device"]["bf16"]:
        run.skip(part, "bfloat16", "this GPU does not support bfloat16")
        return ["float32"]
    return ["bfloat16", "float32"]


def run_listener(run: Run, deadline: float) -> None:
    dtypes = sorted(dtypes_for(run, "listener"), reverse=True)  # float32 first: bench_listener's default
    last_cost = None
    for dtype in dtypes:
        if run.args.smoke:
            argv = ["--tiny", "--device", "cpu", "--dtype", dtype, "--repeats", "1", "--new-tokens", "4"]
        else:
            argv = ["--device", str(run.device), "--dtype", dtype]  # bench_listener's defaults: t5-large, 15 pairs
        needed = 1.2 * last_cost if last_cost else 5
        if seconds_left(deadline) < needed:
            run.skip("listener", dtype, f"{seconds_left(deadline):.0f} s left, about {needed:.0f} s needed")
            continue
        log(f"   bench_listener.py {' '.join(argv)}")
        tee = Tee(sys.stdout)
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(tee):
                code = bench_listener.main(argv)
        except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
            run.skip("listener", dtype, f"{type(exc).__name__}: {str(exc)[:200]}")
            continue
        finally:
            free_memory(run.device)
        last_cost = time.perf_counter() - started
        row = {"dtype": dtype, "command": "python bench/bench_listener.py " + " ".join(argv), "exit_code": code}
        row.update(parse_listener("".join(tee.parts)))
        row["seconds"] = round(last_cost, 1)
        run.add("listener", row)


# ------------------------------------------------------------------ part 4: decode speed
def decode_config(name: str, smoke: bool) -> dict:
    config = standins.read_config(name)
    return standins.tiny_config(config) if smoke else config


def run_decode(run: Run, deadline: float) -> None:
    smoke, device = run.args.smoke, run.device
    new_tokens = 4 if smoke else 32
    repeats = 1 if smoke else 5
    tokenizer = standins.build_tokenizer()
    inputs = tokenizer(SOURCE_TEXT, return_tensors="pt", truncation=True, max_length=24).to(device)
    source_tokens = inputs["input_ids"].shape[1]
    run.data["decode_setup"] = {
        "source_tokens": source_tokens,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "models": "tiny versions of each shape" if smoke else "real shapes, random weights",
    }
    bandwidth = run.data["bandwidth"].get("bytes_per_s")
    dtypes = dtypes_for(run, "decode")
    eager_modes = {"dynamic cache": {}, "no cache": {"use_cache": False}}
    eager_modes = {
        mode: kw for mode, kw in eager_modes.items() if mode in [DECODE_MODES[m] for m in run.args.decode_modes]
    }
    compiled = {"cache_implementation": "static", "max_cache_len": new_tokens + 1}  # lesson 03's settings

    def measure(name: str, dtype: str, mode: str, kwargs: dict, warmup: int, guess_s: float) -> float | None:
        label = f"{SHORT[name]} {dtype} {mode}"
        if seconds_left(deadline) < guess_s:
            run.skip(
                "decode",
                label,
                f"{seconds_left(deadline):.0f} s left in the decode budget, about {guess_s:.0f} s needed",
            )
            return None
        row = {"model": SHORT[name], "dtype": dtype, "mode": mode, "status": "failed"}
        model = None
        started = time.perf_counter()
        try:
            model = standins.build_model(decode_config(name, smoke), device, getattr(torch, dtype))
            row["decoder_bytes"] = decoder_weight_bytes(model)
            if bandwidth:
                row["floor_ms"] = row["decoder_bytes"] / bandwidth * 1e3
            built = time.perf_counter()
            timing = time_generate(model, inputs, new_tokens, repeats=repeats, warmup=warmup, **kwargs)
            total = time.perf_counter() - built
            row.update(
                status="ok",
                ms_per_token=timing.ms_per_token,
                runs_ms=[round(s * 1e3, 3) for s in timing.seconds],
                spread=round(max(timing.seconds) / min(timing.seconds) - 1, 4),
            )
            if row.get("floor_ms"):
                row["x_floor"] = timing.ms_per_token / row["floor_ms"]
            if "compile_config" in kwargs:
                row["compile_s"] = total - sum(timing.seconds)  # compilation and warm-up runs
                row["compiled"] = hasattr(model, "_compiled_call")
            log(
                f"   {label}: {timing.ms_per_token:.2f} ms/token"
                + (f" ({row['x_floor']:,.0f}x the floor)" if row.get("x_floor") else "")
                + (f", compile + warm-up {row['compile_s']:.0f} s" if "compile_s" in row else "")
            )
        except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
            row["status"] = (
                f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
            )
            run.skip("decode", label, row["status"])
        finally:
            del model
            free_memory(device)
        run.add("decode", row)
        return time.perf_counter() - started

    # Eager paths first, for every model: a complete table before any compile is tried.
    per_run = {}  # seconds per generate() run with the dynamic cache, once measured
    first_guess = 0.2 if smoke else 1.5
    for name in DECODE_MODELS:
        for dtype in dtypes:
            for mode, kwargs in eager_modes.items():
                guess = per_run.get((name, "dynamic cache"), first_guess) * (repeats + 1) * 1.5
                spent = measure(name, dtype, mode, kwargs, warmup=0 if smoke else 1, guess_s=guess)
                if spent is not None and mode == "dynamic cache":
                    per_run[(name, mode)] = spent / (repeats + 1)

    # Then static cache + torch.compile, most wanted first, while the budget lasts.
    if "compiled" not in run.args.decode_modes:
        return
    if device.type != "cuda":
        for name in DECODE_MODELS:
            for dtype in dtypes:
                run.skip(
                    "decode",
                    f"{SHORT[name]} {dtype} static cache + compile",
                    "needs a CUDA GPU (lesson 03 compiles only there: CUDA graphs)",
                )
        return
    from transformers import CompileConfig

    compile_guess = COMPILE_GUESS_S * (0.5 if smoke else 1.0)
    order = [(n, d) for n, d in (("t5-large", "bfloat16"), ("t5-large", "float32")) if d in dtypes]
    order += [(n, d) for d in dtypes for n in ("t5-base", "google/flan-t5-large")]
    for name, dtype in order:
        torch._dynamo.reset()  # each model and dtype compiles afresh, never hitting the recompile limit
        kwargs = dict(compiled, compile_config=CompileConfig())
        spent = measure(name, dtype, gpu_report.MODES[2], kwargs, warmup=2, guess_s=compile_guess)
        if spent is not None:
            compile_guess = max(compile_guess, spent * 1.1)
    torch._dynamo.reset()


# ------------------------------------------------------------------ part 5 (when asked): the decode ladder
def run_ladder(run: Run, deadline: float) -> None:
    """Issue 17's ladder (``bench/decode_ladder.py``): no cache to the captured step, CTranslate2, the floor."""
    smoke = run.args.smoke
    decode_ladder.ladder(
        run.args.ladder_models or (("t5-base", "flan-t5-large") if smoke else decode_ladder.MODELS),
        run.args.ladder_dtypes or dtypes_for(run, "ladder"),
        run.device,
        new_tokens=4 if smoke else 32,
        repeats=1 if smoke else 5,
        smoke=smoke,
        deadline=deadline,
        bandwidth=run.data["bandwidth"].get("bytes_per_s"),
        log=log,
        on_rows=lambda rows: [run.add("ladder", row) for row in rows],
    )


# ------------------------------------------------------------------ main
def watchdog(run: Run, limit_s: float) -> threading.Timer:
    def stop():
        log("WATCHDOG: the budget and its grace are spent; writing what was measured and stopping.")
        with run.lock:
            run.data["stopped"] = f"stopped by the watchdog {GRACE_S} s after the budget"
        try:
            run.save()
            kernel = getattr(getattr(getattr(run.client, "km", None), "provisioner", None), "process", None)
            if kernel is not None:
                kernel.kill()  # a lesson kernel would outlive us otherwise
        finally:
            os._exit(3)

    timer = threading.Timer(limit_s, stop)
    timer.daemon = True
    timer.start()
    return timer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny models, an injected notebook, temp output")
    parser.add_argument("--render", action="store_true", help="only re-render the Markdown from the results files")
    parser.add_argument("--device", default=None, help="cuda (default when there is one), cuda:1, cpu")
    parser.add_argument(
        "--budget", type=float, default=None, help=f"seconds in all (default {DEFAULT_BUDGET}; smoke 75)"
    )
    parser.add_argument(
        "--parts", nargs="+", choices=list(SHARES), default=list(DEFAULT_PARTS), help="which parts to run (ladder: ask)"
    )
    parser.add_argument("--lessons", nargs="+", default=None, help="lesson prefixes to run, e.g. 01 03")
    parser.add_argument(
        "--lesson-dtype",
        choices=["auto", "bfloat16", "float32"],
        default="auto",
        help="the lessons' precision (COURSE_DTYPE in their kernels); auto: the GPU's choice, bfloat16 on the CPU",
    )
    parser.add_argument(
        "--decode-modes", nargs="+", choices=list(DECODE_MODES), default=list(DECODE_MODES), help="decode rows to time"
    )
    parser.add_argument("--ladder-models", nargs="+", choices=decode_ladder.MODELS, help="ladder: these models only")
    parser.add_argument("--ladder-dtypes", nargs="+", choices=["bfloat16", "float32"], help="ladder: these dtypes only")
    parser.add_argument("--results-dir", type=Path, default=None, help="default bench/results (smoke: a temp folder)")
    parser.add_argument("--markdown", type=Path, default=None, help="default BENCHMARKS.md (smoke: a temp file)")
    parser.add_argument("--export", type=Path, default=None, help="also copy the JSON and Markdown here (e.g. $OUT)")
    args = parser.parse_args(argv)
    if args.smoke:
        scratch = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
        args.results_dir = args.results_dir or scratch
        args.markdown = args.markdown or scratch / "BENCHMARKS.md"
        args.budget = args.budget or 75.0
    args.results_dir = args.results_dir or ROOT / "bench" / "results"
    args.markdown = args.markdown or ROOT / "BENCHMARKS.md"
    args.budget = args.budget or float(DEFAULT_BUDGET)
    return args, parser


def main(argv=None) -> int:
    args, parser = parse_args(argv)
    if args.render:
        args.markdown.write_text(gpu_report.render(gpu_report.load_results(args.results_dir)))
        print(f"wrote {args.markdown}")
        return 0
    if args.smoke:
        device = torch.device(args.device or "cpu")
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    else:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type != "cuda" and args.device is None:
            parser.error(
                "no CUDA GPU here. `--smoke` checks the benchmark on the CPU with tiny models; "
                "`--device cpu` runs the full benchmark on the CPU (very slow)."
            )
    run = Run(args, device)
    log(
        f"benchmark on {run.data['device']['name']}; "
        + ", ".join(f"{k} {v}" for k, v in run.data["versions"].items())
        + f"; budget {args.budget:.0f} s; results -> {run.json_path()}, {args.markdown}"
    )
    timer = watchdog(run, args.budget + GRACE_S - (time.perf_counter() - T0))
    budget = Budget(args.budget, args.budget / sum(SHARES[part] for part in args.parts))
    parts = {"bandwidth": run_bandwidth, "lessons": run_lessons, "listener": run_listener, "decode": run_decode}
    parts["ladder"] = run_ladder
    try:
        for name, function in parts.items():
            if name not in args.parts:
                continue
            if name in ("decode", "ladder") and "bandwidth" not in args.parts:
                run_bandwidth(run, 0)  # the floor needs this device's bandwidth, measured now
            with budget.part(name) as deadline:
                try:
                    function(run, deadline)
                except Exception as exc:  # noqa: BLE001 - one broken part must not lose the others
                    run.skip(name, "all", f"{type(exc).__name__}: {str(exc)[:300]}")
            run.save()
    finally:
        timer.cancel()
    run.save()
    log(f"done: {run.json_path()} and {args.markdown}")
    for goal, figure, verdict in gpu_report.goal_rows(run.data):
        log(f"goal: {goal}: {figure}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
