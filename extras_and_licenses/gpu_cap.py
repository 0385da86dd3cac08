"""The per-kernel GPU memory cap for a class that shares one GPU.

A class hub sets ``COURSE_GPU_MEMORY_GB`` (for example ``3.5``) in every student's environment.
The first time a lesson loads a model onto a GPU, :func:`apply` turns it into
``torch.cuda.set_per_process_memory_fraction(cap / total)``: PyTorch's allocator in that kernel
then refuses to hold more than the cap, so one runaway cell fills its own share of the card,
not everyone's. What the cap does not cover: the CUDA context of the kernel (a few hundred MB,
outside PyTorch's allocator) and memory taken by other libraries. It guards against accidents;
it is no security boundary (a student who unsets it in their own kernel lifts it).

When the allocator refuses, :func:`oom_message` says which cap was hit and what to do; after
``del model`` and ``models.free_gpu_memory()`` the same kernel can load and run again. A load
raises that message itself; for an out-of-memory error in any other cell (a generate call, say),
:func:`apply` also asks IPython to print it under the traceback (``set_custom_exc``, only in a
capped Jupyter kernel that has no custom exception handler of its own; :func:`remove_oom_hint`
takes it away).
:func:`other_processes_gb` reports what the rest of the card holds (NVML when the
``nvidia-ml-py`` package is there, otherwise ``torch.cuda.mem_get_info``).

Used by ``models.load_model`` (at the first load onto a GPU) and ``doctor`` (the cap rows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .banners import jupyter_shell

CAP_ENV = "COURSE_GPU_MEMORY_GB"

_applied: dict[int, CapState] = {}  # device index -> the cap in force in this process


@dataclass(frozen=True)
class CapState:
    """The cap in force on one GPU of this process."""

    cap_gb: float  # what COURSE_GPU_MEMORY_GB asked for
    total_gb: float  # the GPU's memory
    fraction: float  # what was given to set_per_process_memory_fraction (1.0: no cap applied)
    device: int

    @property
    def effective_gb(self) -> float:
        return self.fraction * self.total_gb

    def describe(self) -> str:
        if self.fraction >= 1.0:
            return f"{CAP_ENV}={self.cap_gb:g} is at least the GPU's {self.total_gb:.1f} GB: this kernel may use the whole GPU"
        return f"{self.cap_gb:g} GB of the GPU's {self.total_gb:.1f} GB ({CAP_ENV}={self.cap_gb:g})"


class CapSettingError(ValueError):
    """COURSE_GPU_MEMORY_GB holds something that is not a positive number of GB."""


def requested_cap_gb(environ=None) -> float | None:
    """The cap asked for in ``COURSE_GPU_MEMORY_GB``, in GB; None when it is unset or empty."""
    environ = os.environ if environ is None else environ
    raw = environ.get(CAP_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw.upper().removesuffix("GB").strip())
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise CapSettingError(
            f"{CAP_ENV}={environ[CAP_ENV]!r} is not a positive number of GB. It sets how much GPU memory this "
            f"kernel may use: set it to a number such as 3.5 (the class hub's configuration sets it for each student), "
            f"or unset it for no cap (`del os.environ[{CAP_ENV!r}]` in a notebook, then restart the kernel)."
        )
    return value


def _device_index(device) -> int:
    import torch

    dev = torch.device(device)
    return dev.index if dev.index is not None else torch.cuda.current_device()


def apply(device="cuda", environ=None) -> CapState | None:
    """Apply the cap to ``device`` for this process when ``COURSE_GPU_MEMORY_GB`` is set.

    Called by ``models.load_model`` before any model reaches the GPU. Does nothing (returns None)
    for a CPU device, without a GPU, or without the setting. Applying the same cap again is a
    no-op; a changed setting is applied afresh. Raises :class:`CapSettingError` for a bad value.
    """
    if not str(device).startswith("cuda"):
        return None
    cap = requested_cap_gb(environ)
    if cap is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    index = _device_index(device)
    previous = _applied.get(index)
    if previous is not None and previous.cap_gb == cap:
        return previous
    total = torch.cuda.get_device_properties(index).total_memory
    fraction = min(1.0, cap * 1e9 / total)
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    state = CapState(cap, total / 1e9, fraction, index)
    _applied[index] = state
    if fraction < 1.0:
        install_oom_hint()
    return state


def _oom_hint(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the usual traceback, then what the cap means and the fix."""
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    print("\n" + oom_message("running this cell"))


def install_oom_hint(shell=None) -> bool:
    """In a Jupyter kernel, print :func:`oom_message` under every CUDA out-of-memory traceback.

    Leaves a shell that already has custom exception handlers alone. Returns whether it installed.
    """
    shell = jupyter_shell(shell)
    if shell is None:
        return False
    import torch

    if tuple(getattr(shell, "custom_exceptions", ())) == (torch.cuda.OutOfMemoryError,):
        return True  # ours, from an earlier cap
    if getattr(shell, "custom_exceptions", ()):
        return False
    shell.set_custom_exc((torch.cuda.OutOfMemoryError,), _oom_hint)
    return True


def remove_oom_hint(shell=None) -> None:
    """Undo :func:`install_oom_hint` (IPython's own handling of every exception again)."""
    shell = jupyter_shell(shell)
    import torch

    if shell is not None and tuple(getattr(shell, "custom_exceptions", ())) == (torch.cuda.OutOfMemoryError,):
        shell.set_custom_exc((), None)


def current(device=None) -> CapState | None:
    """The cap this process applied to ``device`` (the current GPU by default), or None."""
    if not _applied:
        return None
    if device is None:
        try:
            index = _device_index("cuda")
        except Exception:  # noqa: BLE001 - no GPU: report the first cap applied
            index = next(iter(_applied))
    else:
        index = _device_index(device)
    return _applied.get(index)


def oom_message(label: str, state: CapState | None = None) -> str:
    """What to tell a learner whose GPU allocation failed while ``label`` ran, naming the cap if one holds."""
    state = state or current()
    free_fix = (
        "Free what you no longer need (`del model`, then `extras_and_licenses.models.free_gpu_memory()`) "
        "and run the cell again, or restart the kernel"
    )
    if state is None or state.fraction >= 1.0:
        return (
            f"The GPU ran out of memory while {label}. {free_fix}; "
            "or use a GPU with more memory (see `python -m extras_and_licenses doctor`)."
        )
    return (
        f"This kernel reached its GPU memory cap while {label}: {state.describe()}, set by your class hub "
        f"so that every student gets a share of the card. {free_fix}. If a lesson needs more than the cap "
        f"(`python -m extras_and_licenses doctor` lists what each lesson needs), ask your instructor to raise {CAP_ENV}."
    )


def other_processes_gb(device=0) -> tuple[float | None, str]:
    """GPU memory held by processes other than this one, in GB, and how it was measured.

    NVML (the ``pynvml`` module of ``nvidia-ml-py``) lists each process's memory; where it is
    missing, ``torch.cuda.mem_get_info`` gives the card's used memory, from which what this
    process's allocator reserves is subtracted (this kernel's own CUDA context still counts in).
    Returns (None, why) when neither works.
    """
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        pynvml = None
    if pynvml is not None:
        try:
            pynvml.nvmlInit()
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(device))
                procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
                mine = os.getpid()
                used = sum((p.usedGpuMemory or 0) for p in procs if p.pid != mine)
                return used / 1e9, f"NVML, {sum(1 for p in procs if p.pid != mine)} other processes"
            finally:
                pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - NVML present but unusable (e.g. in a container): fall back
            pass
    try:
        import torch

        if not torch.cuda.is_available():
            return None, "no GPU"
        free, total = torch.cuda.mem_get_info(int(device))
        others = max(0, total - free - torch.cuda.memory_reserved(int(device)))
        return others / 1e9, "torch.cuda.mem_get_info (this kernel's CUDA context included)"
    except Exception as exc:  # noqa: BLE001 - a report, never an error
        return None, f"unknown ({type(exc).__name__}: {exc})"


def _reset_for_tests() -> None:
    """Forget the caps applied (the allocator keeps its setting; tests use a fake torch.cuda)."""
    _applied.clear()
