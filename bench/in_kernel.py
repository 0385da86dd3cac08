"""What the lessons part runs inside a lesson's kernel: it hands its figures back in a JSON file.

The kernel is a process of its own, so only it can read its own ``torch.cuda.max_memory_allocated``.
``bench.lessons`` appends one-line cells to the in-memory copy of each notebook that call these
functions, and names the file in the kernel's environment (``REPORT_ENV``); it reads the file once
the kernel is done. Nothing is printed for the runner to parse.

- ``start_tracking()``: run first, off the GPU: counts live tensor bytes from then on (``bench.tensor_memory``);
- ``report_memory()``: run last: writes the peak (and current) memory, on the GPU and/or in live tensors;
- ``smoke_model()`` and ``smoke_generate()``: the two cells of the notebook a ``--smoke`` run runs instead
  of the lessons: a tiny stand-in T5 generates four tokens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from bench.tensor_memory import LiveTensorBytes

REPORT_ENV = "COURSE_BENCH_REPORT"  # the path report_memory() writes its JSON to
TRACKER_CELL = "from bench import in_kernel as _bench_in_kernel\n\n_bench_in_kernel.start_tracking()"
REPORT_CELL = "from bench import in_kernel as _bench_in_kernel\n\n_bench_in_kernel.report_memory()"
SMOKE_CELLS = (
    "from bench import in_kernel\n\nmodel, tokenizer = in_kernel.smoke_model()",
    "print(repr(in_kernel.smoke_generate(model, tokenizer)))",
)

_tracker: LiveTensorBytes | None = None  # entered by start_tracking(), for the rest of the kernel's life


def start_tracking() -> LiveTensorBytes:
    """Count live tensor bytes in this thread from now on (the CPU's stand-in for the CUDA allocator's peak)."""
    global _tracker
    if _tracker is None:  # run twice, the cell keeps the one tracker
        _tracker = LiveTensorBytes()
        _tracker.__enter__()
    return _tracker


def memory() -> dict:
    """This process's memory figures: the CUDA allocator's, when CUDA was used; the live tensors', when tracked."""
    found = {"cuda": torch.cuda.is_available()}
    if found["cuda"] and torch.cuda.is_initialized():
        free, total = torch.cuda.mem_get_info()
        found.update(
            max_allocated=torch.cuda.max_memory_allocated(),
            max_reserved=torch.cuda.max_memory_reserved(),
            allocated=torch.cuda.memory_allocated(),
            reserved=torch.cuda.memory_reserved(),
            device_used=total - free,
            device_total=total,
        )
    if _tracker is not None:
        found.update(tensor_peak=_tracker.peak, tensor_now=_tracker.current)
    return found


def write_report(figures: dict, path: str | os.PathLike | None = None) -> Path:
    """Write ``figures`` as JSON to ``path`` (default: the file named by ``$COURSE_BENCH_REPORT``); return the path.

    The one way a kernel hands figures back, here and in ``bench.student_kernel``. With no file named it
    raises: a kernel that reports nowhere would leave its runner with a silent gap."""
    if path is None:
        if not os.environ.get(REPORT_ENV):
            raise RuntimeError(f"{REPORT_ENV} is not set: the runner names the file this kernel reports to")
        path = os.environ[REPORT_ENV]
    path = Path(path)
    path.write_text(json.dumps(figures))
    return path


def report_memory(path: str | os.PathLike | None = None) -> dict:
    """Write ``memory()`` to the kernel's report file (:func:`write_report`); return it."""
    found = memory()
    write_report(found, path)
    return found


def smoke_model():
    """The smoke notebook's first cell: a tiny random T5 of t5-base's kind, and the demo tokenizer."""
    from extras_and_licenses import standins

    if os.environ.get(standins.STANDIN_ENV) != "random":
        raise RuntimeError(f"the smoke notebook runs with {standins.STANDIN_ENV}=random, as the lessons do here")
    model = standins.build_model(standins.tiny_config(standins.read_config("t5-base")))
    return model, standins.build_tokenizer()


def smoke_generate(model, tokenizer) -> str:
    """The smoke notebook's second cell: four forced tokens from a translation prompt, decoded."""
    inputs = tokenizer("translate English to French: The house is wonderful.", return_tensors="pt")
    out = model.generate(**inputs, min_new_tokens=4, max_new_tokens=4)
    if out.shape != (1, 5):
        raise RuntimeError(f"expected one sequence of 5 token ids, got the shape {tuple(out.shape)}")
    return tokenizer.decode(out[0])
