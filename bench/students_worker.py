"""One student of python -m bench.students_per_gpu's class: a process that runs lesson 01 in a kernel of its own.

    python -m bench.students_worker --name student01 --ready R --go G --result result.json

started by bench/students_class.py, one per student, as JupyterHub would start each student's server.
It starts a Jupyter kernel, writes the ``--ready`` file once the kernel has run a first cell, waits for
the ``--go`` file (every student then starts at the same moment), runs every code cell of lesson 01
(nbclient, errors in cells recorded and not stopping the run), and last a cell that makes the kernel
write its memory figures (bench/student_kernel.py) to a file beside ``--result``. The result, the
kernel's figures included, is written as JSON to ``--result``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench.notebook_runs import cell_errors
from bench.student_kernel import REPORT_CELL, REPORT_ENV

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_encoder_decoders.ipynb"
FIRST_CELL = "from bench import student_kernel"  # starts the kernel, and shows it can import the reporter


def run_student(name: str, ready: Path, go: Path, result_file: Path, cell_timeout: int) -> dict:
    """Start a kernel, say ready, wait for the go signal, run lesson 01; return the student's result."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(LESSON, as_version=4)
    lesson = nb.cells
    first, last = nbformat.v4.new_code_cell(FIRST_CELL), nbformat.v4.new_code_cell(REPORT_CELL)
    nb.cells = [first, *lesson, last]
    result = {"student": name, "cells": sum(c.cell_type == "code" for c in lesson)}
    result.update(cells_run=0, errors=[], status="completed")
    kernel_report = result_file.with_suffix(".kernel.json")
    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        timeout=cell_timeout,
        resources={"metadata": {"path": str(LESSON.parent)}},
    )
    try:
        with client.setup_kernel(env={**os.environ, REPORT_ENV: str(kernel_report)}):
            client.reset_execution_trackers()
            client.execute_cell(first, 0)
            ready.write_text("ready")
            waited = time.monotonic() + cell_timeout
            while not go.exists() and time.monotonic() < waited:
                time.sleep(0.1)
            began = time.perf_counter()
            for index, cell in enumerate(lesson, start=1):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
                    result["cells_run"] += 1
            result["wall_s"] = round(time.perf_counter() - began, 2)
            client.execute_cell(last, len(nb.cells) - 1)
    except DeadKernelError as exc:
        result["status"] = f"kernel died: {exc}"
    except Exception as exc:  # noqa: BLE001 - recorded; the parent reports it
        result["status"] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        ready.write_text("ready")  # never leave the parent waiting
    result["errors"] = cell_errors(lesson)
    if kernel_report.exists():
        result["kernel"] = json.loads(kernel_report.read_text())
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.students_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the student's name in the results")
    parser.add_argument("--ready", type=Path, required=True, help="written once the kernel is up")
    parser.add_argument("--go", type=Path, required=True, help="the lesson starts when this file appears")
    parser.add_argument("--result", type=Path, required=True, help="where the student's JSON result is written")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell, and for the go signal")
    args = parser.parse_args(argv)
    result = run_student(args.name, args.ready, args.go, args.result, args.cell_timeout)
    args.result.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
