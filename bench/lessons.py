"""The lessons part of the GPU benchmark: each lesson notebook run headless in a kernel of its own.

``run_notebook`` executes one notebook with nbclient, cell by cell until a deadline, and returns what
happened as a dict: wall time, the cells that raised (and the line), the slowest cells, the lesson's
own tally of its behaviour claims, and its peak memory. The memory comes from ``bench.in_kernel``: a
cell appended to the in-memory copy of the notebook writes it to a JSON file the runner names in the
kernel's environment (``in_kernel.REPORT_ENV``); off the GPU another appended cell, run first, counts
live tensor bytes. The kernels run with ``COURSE_STANDIN=random`` (``kernel_env``): every lesson
model is its real architecture with random weights (the GPU machines cannot reach the hub).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

from bench import in_kernel, machine
from bench.notebook_runs import cell_errors

ROOT = Path(__file__).resolve().parents[1]


def jobs(smoke: bool, prefixes=None) -> list[tuple]:
    """(name, read, workdir) per notebook to run: the lessons (those starting with ``prefixes``), or the smoke one."""
    if smoke:
        return [("smoke notebook (injected)", smoke_notebook, ROOT / "notebooks")]
    import nbformat

    paths = sorted((ROOT / "notebooks").glob("0*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in prefixes)]
    return [(p.stem, lambda p=p: nbformat.read(p, as_version=4), p.parent) for p in paths]


def smoke_notebook():
    """What a ``--smoke`` run runs in place of the lessons: a tiny stand-in generates a few tokens in a kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Smoke notebook (a tiny random T5)")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in in_kernel.SMOKE_CELLS]
    return nb


def kernel_env(hub_cache: Path, dtype: str) -> dict:
    """The lesson kernels' environment: random-weight stand-ins, an empty hub cache, claims in report mode."""
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
        # the repository first, so that the kernel imports extras_and_licenses and bench.in_kernel from it
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def lesson_dtype(choice: str, device: torch.device, bf16: bool, smoke: bool) -> str:
    """The precision the lessons run in: ``choice`` (--lesson-dtype) unless "auto", else the GPU's choice,
    else bfloat16 on the CPU (the goal is for bfloat16; the smoke notebook builds its own float32 model)."""
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bfloat16" if bf16 else "float32"
    return "float32" if smoke else "bfloat16"


def cannot_run(versions: dict) -> str | None:
    """Why no lesson can run here (a missing package, versions outside requirements.txt), or None."""
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -r requirements-dev.txt)"
    return lesson_version_problem(versions)


def describe(result: dict) -> str:
    """One line for the log: the lesson, how it ended, its time and peak memory."""
    memory = result.get("memory") or {}
    peak, tensors = memory.get("max_allocated"), memory.get("tensor_peak")
    return (
        f"{result['lesson']}: {result['summary']}, {result.get('wall_s', 0):.1f} s, {result['dtype']}"
        + (f", peak {peak / 1e9:.2f} GB allocated" if peak is not None else "")
        + (f", peak {tensors / 1e9:.2f} GB of live tensors" if tensors is not None else "")
    )


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


def kill_kernel(client) -> None:
    """Kill a running NotebookClient's kernel process (the watchdog's last act: it would outlive the run)."""
    kernel = getattr(getattr(getattr(client, "km", None), "provisioner", None), "process", None)
    if kernel is not None:
        kernel.kill()


def run_notebook(nb, name: str, workdir: Path, deadline: float, env: dict, device: torch.device, watch=None) -> dict:
    """Execute ``nb`` cell by cell until ``deadline`` (a ``time.perf_counter()`` value); return what happened.

    ``watch(client)`` is called with the NotebookClient before it starts and with None once it is done
    (the runner's watchdog kills a kernel still running when the run's time is up)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    lesson_cells = len(nb.cells)
    tracker = None
    if device.type != "cuda":  # a cell of the notebook's own: nbclient stores each executed cell back at its index
        tracker = nbformat.v4.new_code_cell(in_kernel.TRACKER_CELL)
        nb.cells.append(tracker)
    nb.cells.append(nbformat.v4.new_code_cell(in_kernel.REPORT_CELL))
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
    used_before = machine.device_used_bytes(device)
    durations = []
    began = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="bench-kernel-")
    report = Path(scratch.name) / "memory.json"
    if watch is not None:
        watch(client)
    try:
        with client.setup_kernel(env={**env, in_kernel.REPORT_ENV: str(report)}):
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
                left = deadline - time.perf_counter()
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
        if watch is not None:
            watch(None)
        reported = json.loads(report.read_text()) if report.exists() else None
        scratch.cleanup()
    result.setdefault("wall_s", time.perf_counter() - began)
    result["errors"] += cell_errors(nb.cells[:lesson_cells])
    result["slowest"] = [
        {"cell": i, "seconds": round(s, 2), "source": src} for s, i, src in sorted(durations, reverse=True)[:3]
    ]
    for cell in nb.cells[:lesson_cells]:  # the lesson's own tally of its behaviour claims (extras_and_licenses.claims)
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            if isinstance(text, str) and text.startswith("Behaviour claims in this lesson:"):
                result["claims"] = text.strip()[:600]
    if reported is not None:
        result["memory"] = with_process_estimate(reported, used_before)
    errors = len(result["errors"])
    if result["status"] == "completed":
        result["summary"] = f"ran all {result['cells']} cells" + (f"; {errors} raised" if errors else "")
    else:
        result["summary"] = (
            f"{result['status']} ({result['cells_run']} of {result['cells']} cells run, {errors} raised)"
        )
    return result


def with_process_estimate(memory: dict, used_before: int | None) -> dict:
    """Add the memory outside PyTorch's allocator and the process's estimated peak, on a GPU."""
    if memory.get("device_used") is not None and used_before is not None:
        # device-wide use at the end, less what was in use before the kernel started,
        # less what PyTorch still holds: the kernel's CUDA context and other memory
        outside = max(0, memory["device_used"] - used_before - memory["reserved"])
        memory["outside_pytorch"] = outside
        memory["process_peak_estimate"] = memory["max_reserved"] + outside
    return memory
