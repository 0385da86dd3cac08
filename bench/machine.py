"""What a benchmark run ran on, and the first part it measures: the device's copy bandwidth.

``describe_device``, ``versions`` and ``git_commit`` fill the head of a results file
(``bench.bookkeeping.Run``); ``bandwidth`` is the "bandwidth" part of ``python -m bench.run_gpu_benchmarks``,
the figure the decode parts divide the decoder's weight bytes by to get their floor. Each returns data.
"""

from __future__ import annotations

import gc
import platform
import subprocess
from pathlib import Path

import torch

from bench.notebook_runs import slug
from extras_and_licenses.decoding import copy_bandwidth

ROOT = Path(__file__).resolve().parents[1]


def bandwidth(device: torch.device, smoke: bool) -> dict:
    """The "bandwidth" part: bytes per second of one large copy (a 64 MiB one in a smoke run)."""
    megabytes = 64 if smoke else None
    measured = copy_bandwidth(device, megabytes=megabytes, repeats=3 if smoke else 5)
    return {"bytes_per_s": measured, "megabytes": megabytes or "default"}


def git_commit() -> str:
    """The checkout's short commit, with " + local changes" when tracked files differ from it."""
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
    """Python, torch, transformers (and CUDA, nbclient where present) as version strings."""
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


def describe_device(device: torch.device, smoke: bool) -> dict:
    """Name, results-file slug, bfloat16 support; on a GPU also its memory and driver."""
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
    """Collect garbage and, on a GPU, hand the allocator's cached blocks back: between measurements."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_used_bytes(device: torch.device) -> int | None:
    """Device-wide bytes in use now (every process), on a GPU; None elsewhere."""
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return total - free
