"""Where and in what precision the lessons run T5, and how much GPU memory each lesson needs.

- :func:`choose_device_and_dtype`: a CUDA GPU in bfloat16 when it has native bfloat16 (compute
  capability 8.0+), otherwise float32; the CPU in float32 with a visible note when there is no GPU.
  Never float16: T5 overflows in it. ``COURSE_DTYPE`` picks the precision when a call names none;
  :func:`dtype_setting` reads and checks it.
- ``LESSON_MEMORY``: each lesson's peak GPU memory in bfloat16 and float32 (estimates), and the one
  rule for whether a lesson fits a given amount of memory (:meth:`LessonMemory.fits`).
- :func:`model_memory_gb` and :func:`free_gpu_memory`: what a model holds, and handing memory back.

Used by ``models.load_model`` (every lesson), ``doctor``, lesson 00, ``bench/`` and README's memory
table; every lesson reaches it through ``models``, which re-exports these names.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from .catalog import CourseModelError

DTYPE_ENV = "COURSE_DTYPE"  # bfloat16 | float32 | auto: the precision when a call names none
NATIVE_BF16_CAPABILITY = (8, 0)  # Ampere and newer: A100, A10/A10G, L4, RTX 30xx/40xx, H100, H200
FIT_MARGIN = 1.1  # a lesson fits when its estimate plus 10% is within the memory it may use


@dataclass(frozen=True)
class LessonMemory:
    """Peak GPU memory one lesson needs, in GB, in each precision: ESTIMATES (see LESSON_MEMORY)."""

    bfloat16: float
    float32: float
    holds: str  # what the lesson holds at its peak

    def gb(self, dtype="bfloat16") -> float:
        """The figure for ``dtype``: ``"bfloat16"``/``"float32"`` or a torch dtype."""
        name = str(dtype).replace("torch.", "")
        if name not in ("bfloat16", "float32"):
            raise ValueError(f"The lessons run in bfloat16 or float32, not {name}.")
        return getattr(self, name)

    def fits(self, gpu_gb: float, dtype="float32") -> bool:
        """True when the lesson fits in ``gpu_gb`` GB (a whole GPU, or a kernel's cap) with a 10% margin."""
        return self.gb(dtype) * FIT_MARGIN <= gpu_gb


# Peak GPU memory each lesson needs, in GB: ESTIMATES, the one table README, doctor and lesson 00
# read. bfloat16: the project's CPU run of the lessons with real-shape models in bfloat16
# (python -m bench.run_gpu_benchmarks --device cpu, BENCHMARKS.md) peaked at these live tensor bytes:
# 00 0.59, 01 2.14, 02 0.59, 03 2.02, 04 1.78 GB; a GPU adds its CUDA context and allocator cache,
# and lesson 03 compiles static caches there only, hence the margins. float32 (T4, V100, P100 and
# older, which have no native bfloat16): the tensors double, the CUDA context (about 0.5 GB) does
# not, so float32 = 2 x (bfloat16 - 0.5) + 0.5. To be replaced by a GPU run's figures when one is made.
LESSON_MEMORY: dict[str, LessonMemory] = {
    "00": LessonMemory(1.0, 1.5, "t5-base, once, as a check"),
    "01": LessonMemory(3.0, 5.5, "t5-base and t5-large at once; Flan-T5 after t5-large is freed"),
    "02": LessonMemory(1.5, 2.5, "t5-base"),
    "03": LessonMemory(3.0, 5.5, "t5-large, static caches and compilation"),
    "04": LessonMemory(2.5, 4.5, "one large model at a time"),
}
# The bfloat16 column under its old name (bench/gpu_report.py reads it).
LESSON_GPU_GB = {lesson: need.bfloat16 for lesson, need in LESSON_MEMORY.items()}
T4_GB = 15.8  # a 16 GB Tesla T4 (Colab, Kaggle) as torch reports it: 15.8 GB (10^9 bytes)


@dataclass(frozen=True)
class Placement:
    device: str  # "cuda", "cuda:1", "cpu"
    dtype: object  # a torch.dtype
    note: str  # one line for the learner


def native_bf16(device="cuda") -> tuple[bool, str]:
    """Whether the CUDA ``device`` has native bfloat16, and its ``"compute capability X.Y"``.

    torch.cuda.is_bf16_supported() counts emulation: it says True on a T4, V100 or P100, where
    bfloat16 runs through slow emulated kernels. Native bfloat16 starts with compute capability 8.0."""
    import torch

    major, minor = torch.cuda.get_device_capability(torch.device(device))
    return (major, minor) >= NATIVE_BF16_CAPABILITY, f"compute capability {major}.{minor}"


def dtype_setting() -> str | None:
    """``COURSE_DTYPE`` as the lessons read it: ``"bfloat16"``, ``"float32"``, ``"auto"``, or None when unset.

    Raises ValueError, naming the setting and how to change it, for anything else (float16 included)."""
    value = os.environ.get(DTYPE_ENV, "").strip().lower()
    if not value:
        return None
    unset = f"unset it (`unset {DTYPE_ENV}`, or `del os.environ[{DTYPE_ENV!r}]` in a notebook)"
    if value == "float16":
        raise ValueError(
            f"{DTYPE_ENV}={os.environ[DTYPE_ENV]!r}: T5 must not run in float16 (its activations overflow and the "
            f"outputs become NaN). Set it to bfloat16, float32 or auto, or {unset}."
        )
    if value not in ("auto", "bfloat16", "float32"):
        raise ValueError(
            f"{DTYPE_ENV}={os.environ[DTYPE_ENV]!r} is not understood: use bfloat16, float32 or auto, or {unset}."
        )
    return value


def choose_device_and_dtype(device: str | None = None, dtype=None) -> Placement:
    """Pick where and in what precision to run T5.

    - No arguments: the GPU in bfloat16 if it has native bfloat16 (compute capability 8.0 or
      newer: A100, A10G, L4, RTX 30xx/40xx, H100), the GPU in float32 if not (T4, V100, P100 and
      older, where bfloat16 is only emulated), otherwise the CPU in float32. The note says why.
    - ``device`` / ``dtype`` override the choice; float16 is refused (T5 overflows in it).
    - With no ``dtype``, the environment variable ``COURSE_DTYPE`` (``bfloat16``, ``float32`` or
      ``auto``) picks it: float32 on a bf16 GPU to compare precisions, or bfloat16 on the CPU
      (what the benchmark's CPU run uses to size the lessons' bfloat16 memory). bfloat16 on a GPU
      without native support still runs, emulated, with a warning.
    """
    import torch

    from_env = ""
    if dtype is None and dtype_setting() is not None:
        dtype = dtype_setting()
        from_env = f" ({DTYPE_ENV}={dtype})" if dtype != "auto" else ""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) if dtype != "auto" else None
    if dtype is torch.float16:
        raise ValueError(
            "T5 must not run in float16: its activations overflow and the outputs become NaN. "
            "Use dtype=torch.bfloat16 on a recent GPU, or torch.float32."
        )
    if dtype is not None and dtype not in (torch.bfloat16, torch.float32):
        raise ValueError(f"Unsupported dtype {dtype}: use torch.bfloat16 or torch.float32.")

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CourseModelError(
            f"device={device!r} was asked for, but PyTorch sees no CUDA GPU. Leave device unset to run on "
            "the CPU, or check `nvidia-smi` and that your torch build has CUDA (`python -m extras_and_licenses doctor`)."
        )

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        native, capability = native_bf16(device)
        if dtype is None:
            dtype = torch.bfloat16 if native else torch.float32
            why = "" if native else f"; {name} has no native bfloat16 ({capability}, bfloat16 needs 8.0 or newer)"
        elif dtype is torch.bfloat16 and not native:
            if not torch.cuda.is_bf16_supported():
                raise ValueError(f"{name} ({capability}) cannot run bfloat16 at all: use dtype=torch.float32.")
            why = f"; emulated on {name} ({capability}): slow, float32 is faster there"
            warnings.warn(
                f"{name} has no native bfloat16 ({capability}): bfloat16 is emulated there and slow. "
                f"Unset {DTYPE_ENV} (or pass dtype=torch.float32) to run in float32.",
                stacklevel=2,
            )
        else:
            why = ""
        note = f"Running on {name} ({device}) in {str(dtype).replace('torch.', '')}{from_env}{why}."
    else:
        dtype = dtype or torch.float32
        note = (
            f"No GPU found: running on the CPU in {str(dtype).replace('torch.', '')}{from_env}. "
            "The demo model is quick here; the real lesson models are slow on a CPU."
        )
    return Placement(device, dtype, note)


def model_memory_gb(model) -> float:
    """Bytes held by a model's parameters and buffers, in GB (10^9 bytes)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    return total / 1e9


def free_gpu_memory() -> str:
    """Collect garbage and empty PyTorch's CUDA cache; return a one-line memory report."""
    import gc

    import torch

    gc.collect()
    if not torch.cuda.is_available():
        return "No GPU: nothing to free."
    torch.cuda.empty_cache()
    return f"GPU memory held by PyTorch: {torch.cuda.memory_allocated() / 1e9:.2f} GB allocated, {torch.cuda.memory_reserved() / 1e9:.2f} GB reserved."
