"""What runs inside a student's lesson kernel during ``python -m bench.students_per_gpu``.

The student's worker (bench/students_worker.py) appends one cell to lesson 01,
``from bench import student_kernel; student_kernel.write_report()``, which runs after the lesson's
last cell and writes this kernel's figures as JSON to the file named in ``COURSE_BENCH_REPORT``, the
same way as the lessons part's kernels (``bench.in_kernel.write_report``). The worker reads that file
back; nothing is parsed from the cell's printed output.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import in_kernel

REPORT_ENV = in_kernel.REPORT_ENV  # set by the worker in the kernel's environment

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
    """Write :func:`kernel_figures` as JSON to ``path`` (default: ``$COURSE_BENCH_REPORT``); return the path."""
    return in_kernel.write_report(kernel_figures(), path)
