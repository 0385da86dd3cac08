"""What runs inside a student's lesson kernel during ``python -m bench.students_per_gpu``.

The student's worker (bench/students_worker.py) appends one cell to lesson 01,
``from bench import student_kernel; student_kernel.write_report()``, which runs after the lesson's
last cell and writes this kernel's figures as JSON to the file named in ``BENCH_STUDENT_REPORT``.
The worker reads that file back; nothing is parsed from the cell's printed output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_ENV = "BENCH_STUDENT_REPORT"  # set by the worker in the kernel's environment
REPORT_CELL = "from bench import student_kernel\nstudent_kernel.write_report()"


def kernel_figures() -> dict:
    """This kernel's pid, the cap it was given and, on a GPU it used, PyTorch's peaks and the cap applied."""
    import torch

    from extras_and_licenses import gpu_cap

    figures = {"pid": os.getpid(), "cap_env": os.environ.get(gpu_cap.CAP_ENV), "cuda": torch.cuda.is_available()}
    if figures["cuda"] and torch.cuda.is_initialized():
        state = gpu_cap.current()
        figures.update(
            max_allocated=torch.cuda.max_memory_allocated(),
            max_reserved=torch.cuda.max_memory_reserved(),
            cap_fraction=state.fraction if state else None,
        )
    return figures


def write_report(path: str | os.PathLike | None = None) -> Path:
    """Write :func:`kernel_figures` as JSON to ``path`` (default: ``$BENCH_STUDENT_REPORT``); return the path."""
    if path is None:
        if not os.environ.get(REPORT_ENV):
            raise RuntimeError(f"{REPORT_ENV} is not set: the worker names the file this kernel reports to")
        path = os.environ[REPORT_ENV]
    path = Path(path)
    path.write_text(json.dumps(kernel_figures()))
    return path
