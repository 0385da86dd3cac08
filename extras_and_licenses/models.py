"""Model access for the lessons: which models, which revision, which device, which dtype.

Every lesson loads its models through :func:`load_model`, so the rules live in one place:

- The lesson models are ``t5-base``, ``t5-large`` and ``google/flan-t5-large``, each pinned
  to one hub revision (a commit hash), loaded from safetensors only, never with remote code.
- Device and dtype: a CUDA GPU in bfloat16 when it has native bfloat16 (compute capability 8.0+),
  otherwise float32; the CPU in float32 with a visible note when there is no GPU. Never
  float16: T5 overflows in it.
- Demo mode: when a lesson model is neither in the local cache nor downloadable, or when
  ``COURSE_DEMO_MODE=1`` is set, the lessons get the bundled demo model (a tiny T5 trained
  by ``tools/build_demo_model.py``) with a banner naming the model it stands in for.
- Errors say what to do: unknown ids, a full disk, no network, a GPU out of memory.

Used by every lesson (00-04), by ``pipelines``, ``prefetch`` and ``doctor``.
"""

from __future__ import annotations

import difflib
import errno
import os
import sys
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEMO_ENV = "COURSE_DEMO_MODE"
DTYPE_ENV = "COURSE_DTYPE"  # bfloat16 | float32 | auto: the precision when a call names none
NATIVE_BF16_CAPABILITY = (8, 0)  # Ampere and newer: A100, A10/A10G, L4, RTX 30xx/40xx, H100, H200
DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo_model"

# Files the lessons need from each hub repository (safetensors only).
HUB_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "spiece.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
REQUIRED_FILES = ("config.json", "model.safetensors", "spiece.model")


@dataclass(frozen=True)
class ModelSpec:
    """One lesson model: where it lives on the hub and what it costs."""

    name: str  # the short name lessons use
    repo_id: str  # canonical hub repository
    revision: str  # pinned commit
    parameters: int
    download_bytes: int  # approximate size of the files in HUB_FILES
    aliases: tuple[str, ...] = ()

    def gigabytes(self, dtype_bytes: int) -> float:
        """Weights only, in GB (10^9 bytes), for a dtype of ``dtype_bytes`` bytes per parameter."""
        return self.parameters * dtype_bytes / 1e9


LESSON_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "t5-base",
            "google-t5/t5-base",
            "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1",
            222_903_552,
            894_000_000,
            aliases=("google-t5/t5-base",),
        ),
        ModelSpec(
            "t5-large",
            "google-t5/t5-large",
            "150ebc2c4b72291e770f58e6057481c8d2ed331a",
            737_668_096,
            2_953_000_000,
            aliases=("google-t5/t5-large",),
        ),
        ModelSpec(
            "google/flan-t5-large",
            "google/flan-t5-large",
            "0613663d0d48ea86ba8cb3d7a44f0f65dc596a2a",
            783_150_080,
            3_135_000_000,
            aliases=("flan-t5-large",),
        ),
    )
}


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
        """True when the lesson fits a GPU of ``gpu_gb`` GB with a 10% margin."""
        return self.gb(dtype) * 1.1 <= gpu_gb


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
# The bfloat16 column under its old name (bench/gpu_report.py, doctor's GPU-cap rows read it).
LESSON_GPU_GB = {lesson: need.bfloat16 for lesson, need in LESSON_MEMORY.items()}
T4_GB = 15.8  # a 16 GB Tesla T4 (Colab, Kaggle) as torch reports it: 15.8 GB (10^9 bytes)


class CourseModelError(RuntimeError):
    """A model could not be loaded; the message says what to do next."""


class UnknownModelError(CourseModelError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class NotEnoughGPUMemoryError(CourseModelError):
    pass


class DiskFullError(CourseModelError):
    pass


# ------------------------------------------------------------------ ids
def resolve(model_id: str) -> ModelSpec:
    """The :class:`ModelSpec` for a lesson model id or alias; a helpful error otherwise."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise UnknownModelError(f"A model id must be a non-empty string, got {model_id!r}. Try 't5-base'.")
    key = model_id.strip()
    for spec in LESSON_MODELS.values():
        if key == spec.name or key in spec.aliases or key == spec.repo_id:
            return spec
    known = [s.name for s in LESSON_MODELS.values()]
    every_name = known + [a for s in LESSON_MODELS.values() for a in s.aliases]
    close = difflib.get_close_matches(key, every_name, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(
        f"{model_id!r} is not one of the course models ({', '.join(known)}).{hint} "
        "The course pins a reviewed revision of each model it loads. To use another model, load it "
        "yourself with from_pretrained(..., revision=<commit>, use_safetensors=True) and pass the model "
        "object, or pass a local directory path."
    )


def demo_requested() -> bool:
    """True when the user asked for demo mode with COURSE_DEMO_MODE=1 (or true/yes/on)."""
    return os.environ.get(DEMO_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Hugging Face hub cache in force now (HF_HUB_CACHE, then HF_HOME/hub, then the default)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(home) / "hub"


SHARED_CACHE_ENV = "COURSE_SHARED_CACHE"  # set to 1 by a class hub: the cache is the instructor's, read-only


def shared_cache(cache_dir=None) -> Path | None:
    """The cache in force when it is a class's shared one (``COURSE_SHARED_CACHE=1``, or one this user
    cannot write); None otherwise. Nothing is ever downloaded into it from a student's kernel."""
    cache = hub_cache_dir(cache_dir)
    if os.environ.get(SHARED_CACHE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return cache
    if cache.is_dir() and not os.access(cache, os.W_OK):
        return cache
    return None


def _shared_cache_reason(spec: ModelSpec, cache: Path) -> str:
    if not os.access(cache, os.R_OK | os.X_OK):
        return f"this kernel cannot see the class's shared model cache at {cache}."
    return f"{spec.name} is not in the class's shared model cache ({cache})."


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def snapshot_dir(spec: ModelSpec, cache_dir=None) -> Path:
    """Where the pinned revision of ``spec`` lives in the hub cache (it may not exist yet)."""
    folder = "models--" + spec.repo_id.replace("/", "--")
    return hub_cache_dir(cache_dir) / folder / "snapshots" / spec.revision


def cached_files(spec: ModelSpec, cache_dir=None) -> dict[str, int]:
    """Files of the pinned revision present in the cache, with their sizes in bytes."""
    snap = snapshot_dir(spec, cache_dir)
    found = {}
    for name in HUB_FILES:
        path = snap / name
        if path.exists():  # follows the symlink into blobs/
            found[name] = path.stat().st_size
    return found


# "Complete" means complete: each required file must be there with a plausible size. The pinned
# revisions store the weights in float32, so model.safetensors holds 4 bytes per parameter (t5-base's is
# about 892 MB); the floor allows 2% for counting slack. T5's spiece.model is about 792 kB at every pinned
# revision, its config.json about 1.2 kB. A 6 MB file standing in for t5-base is not t5-base.
SIZE_CHECK_OFF_ENV = "COURSE_TEST_ONLY_ACCEPT_SMALL_FILES"  # tests only: their fake caches hold tiny models


def min_file_bytes(spec: ModelSpec, name: str) -> int:
    """The smallest plausible size, in bytes, of the required file ``name`` of ``spec``'s pinned revision."""
    if os.environ.get(SIZE_CHECK_OFF_ENV, "").strip() == "1":
        return 1  # test-only: the suite's fake caches hold the tiny demo model under the real names
    return {"model.safetensors": int(spec.parameters * 4 * 0.98), "spiece.model": 500_000, "config.json": 400}.get(
        name, 1
    )


def cache_problems(spec: ModelSpec, cache_dir=None, files: dict[str, int] | None = None) -> list[str]:
    """What keeps the pinned revision of ``spec`` from being complete in the cache ([] when it is complete).

    ``files``: :func:`cached_files`'s answer when the caller has it already."""
    files = cached_files(spec, cache_dir) if files is None else files
    problems = []
    for name in REQUIRED_FILES:
        floor = min_file_bytes(spec, name)
        if name not in files:
            problems.append(f"{name} missing")
        elif files[name] < floor:
            problems.append(f"{name} is {files[name] / 1e6:.1f} MB, at least {floor / 1e6:.1f} MB expected")
    return problems


def cache_incomplete(spec: ModelSpec, cache_dir=None) -> bool:
    """True when some of the pinned files are there but not all of them, or not at plausible sizes."""
    files = cached_files(spec, cache_dir)
    return bool(files) and bool(cache_problems(spec, cache_dir, files))


def is_cached(spec: ModelSpec, cache_dir=None) -> bool:
    """True when the pinned revision's required files are all in the cache, each with a plausible size."""
    return not cache_problems(spec, cache_dir)


def partial_download(spec: ModelSpec, cache_dir=None) -> bool:
    """True when an interrupted download left ``.incomplete`` blobs for this model."""
    blobs = hub_cache_dir(cache_dir) / ("models--" + spec.repo_id.replace("/", "--")) / "blobs"
    return blobs.is_dir() and any(p.suffix == ".incomplete" for p in blobs.iterdir())


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Can we reach the hub's API? (HF_ENDPOINT respected; a quick HEAD request.)"""
    if hub_offline():
        return False, "HF_HUB_OFFLINE=1 is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/models/{LESSON_MODELS['t5-base'].repo_id}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
        return True, endpoint
    except urllib.error.HTTPError as exc:  # the server answered
        return exc.code < 500, f"{endpoint} answered HTTP {exc.code}"
    except Exception as exc:  # noqa: BLE001
        return False, f"{endpoint}: {getattr(exc, 'reason', exc)}"


# ------------------------------------------------------------------ device and dtype
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
    if dtype is None and os.environ.get(DTYPE_ENV, "").strip():
        dtype = os.environ[DTYPE_ENV].strip().lower()
        if dtype not in ("auto", "bfloat16", "float32", "float16"):
            raise ValueError(
                f"{DTYPE_ENV}={os.environ[DTYPE_ENV]!r} is not understood: use bfloat16, float32 or auto, "
                f"or unset it (`unset {DTYPE_ENV}`, or `del os.environ[{DTYPE_ENV!r}]` in a notebook)."
            )
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


# ------------------------------------------------------------------ banners
_BANNERS_SHOWN: set[str] = set()  # kinds of banner already shown in full in this kernel (process)


def banner_box(lines: list[str]) -> str:
    """``lines`` framed in ``#``: the stand-in banners are meant to be impossible to miss."""
    width = max(len(line) for line in lines) + 4
    bar = "#" * width
    return "\n".join([bar] + [f"# {line.ljust(width - 4)} #" for line in lines] + [bar])


def forget_banners() -> None:
    """Show every banner in full again at its next load, as in a fresh kernel (used by the tests)."""
    _BANNERS_SHOWN.clear()


def _in_jupyter_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_banner(text: str, css_class: str, reminder: str | None = None, note: str | None = None) -> str:
    """Show a stand-in banner: in full the first time in this kernel, as one ``reminder`` line after that.

    In full: inside Jupyter a red box (its plain-text form, for text-only front ends, is the
    ``#`` box); elsewhere the ``#`` box. ``note`` (the device line) follows the full banner.
    Without a ``reminder`` the banner is shown in full every time. Returns what was shown, as text."""
    first = css_class not in _BANNERS_SHOWN
    _BANNERS_SHOWN.add(css_class)
    if not first and reminder:
        print(reminder, file=sys.stdout, flush=True)
        return reminder
    if _in_jupyter_kernel():
        import html

        from IPython.display import display

        body = "<br>".join(html.escape(line[2:-2].rstrip()) for line in text.splitlines()[1:-1])
        box = (
            '<div style="border:4px solid #c00;background:#fee;color:#600;padding:8px 12px;'
            f'font-weight:bold;font-family:monospace" class="{css_class}">{body}</div>'
        )
        sys.stdout.flush()  # so that earlier prints stay above the box
        display({"text/html": box, "text/plain": text}, raw=True)
    else:
        print(text, file=sys.stdout, flush=True)
    if note:
        print(note, file=sys.stdout, flush=True)
    return text + (f"\n{note}" if note else "")


def demo_banner_text(stands_in_for: str, reason: str) -> str:
    if demo_requested():
        leave = f"To use the real model: unset {DEMO_ENV} (and fetch it: python -m extras_and_licenses prefetch)."
    elif shared_cache() is not None:
        leave = f"Fix: ask your instructor to run prefetch (python -m extras_and_licenses prefetch --cache-dir {shared_cache()})."
    else:
        leave = "To use the real model: fetch it with network access: python -m extras_and_licenses prefetch"
    return banner_box(
        [
            "DEMO MODEL - NOT THE REAL ONE",
            f"Standing in for: {stands_in_for}",
            f"Why: {reason}",
            "This is a tiny toy T5 trained on templated English->French/German sentences.",
            "Its outputs are a toy's: they show the mechanics, not the quality of the real model.",
            leave,
        ]
    )


def _placement_words(placement) -> str:
    where = "the CPU" if placement.device == "cpu" else placement.device
    return f"running on {where} in {str(placement.dtype).replace('torch.', '')}."


def show_demo_banner(stands_in_for: str, reason: str, placement: Placement | None = None) -> str:
    """The demo banner: in full once per kernel (a red box in Jupyter), then a one-line reminder.

    With ``placement``, its device line follows the full banner and is folded into the reminder.
    Returns what was shown, as text."""
    reminder = f"DEMO MODEL again: the toy T5 stands in for {stands_in_for} (see this kernel's first banner)"
    reminder += "." if placement is None else f", {_placement_words(placement)}"
    note = None if placement is None else placement.note
    return show_banner(demo_banner_text(stands_in_for, reason), "course-demo-banner", reminder, note)


# ------------------------------------------------------------------ attention implementation
def switch_attention(module, implementation: str) -> list:
    """Put ``module`` (a model or a part of one) on attention ``implementation``; return what to restore.

    Hugging Face models read the implementation from their config at run time, and T5's encoder
    and decoder keep copies of the config, which releases of transformers 5 before 5.24 leave
    alone in ``set_attn_implementation``. So every distinct config inside ``module`` is switched.
    Give the returned list to :func:`restore_attention` to put everything back.
    """
    configs = {}
    for sub in module.modules():
        config = getattr(sub, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            configs.setdefault(id(config), config)
    saved = [(config, config._attn_implementation) for config in configs.values()]
    top = getattr(module, "config", None)
    if top is not None and top._attn_implementation != implementation and hasattr(module, "set_attn_implementation"):
        module.set_attn_implementation(implementation)
    for config, _ in saved:
        config._attn_implementation = implementation
    return saved


def restore_attention(module, saved: list) -> None:
    """Undo :func:`switch_attention`: every config back to the implementation it had."""
    top = getattr(module, "config", None)
    for config, implementation in saved:
        if (
            config is top
            and config._attn_implementation != implementation
            and hasattr(module, "set_attn_implementation")
        ):
            module.set_attn_implementation(implementation)
    for config, implementation in saved:
        config._attn_implementation = implementation


# ------------------------------------------------------------------ loading
@dataclass
class LoadedModel:
    """What :func:`load_model` returns; unpacks as ``model, tokenizer = load_model(...)``."""

    model: object
    tokenizer: object
    name: str  # what was asked for
    source: str  # "cache", "download", "demo" or "local"
    placement: Placement
    demo_reason: str | None = None

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"  # the bundled toy; lessons ask models.is_demo_model(model)

    def __iter__(self):
        yield self.model
        yield self.tokenizer


def is_network_error(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it came from) means the hub could not be reached."""
    names = {type(e).__name__ for e in _chain(exc)}
    markers = {
        "ConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "Timeout",
        "LocalEntryNotFoundError",
        "OfflineModeIsEnabled",
        "ConnectError",
        "NewConnectionError",
        "MaxRetryError",
    }
    if names & markers:
        return True
    text = " ".join(str(e) for e in _chain(exc)).lower()
    return any(s in text for s in ("connection", "offline", "resolve", "network is unreachable", "couldn't connect"))


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it came from) is a full disk (ENOSPC)."""
    return any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(exc))


def _transformers_major() -> int:
    try:
        from importlib.metadata import version

        return int(version("transformers").split(".")[0])
    except Exception:  # noqa: BLE001
        return 5


_TRANSFORMERS_MAJOR = _transformers_major()


def _from_pretrained(path_or_id: str, revision: str | None, cache_dir, local_only: bool, attn_implementation, dtype):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    # The cache is passed explicitly: huggingface_hub reads HF_HUB_CACHE only once, at import.
    kw = dict(revision=revision, cache_dir=str(hub_cache_dir(cache_dir)), local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(path_or_id, **kw)
    model_kw = dict(kw, use_safetensors=True)
    if attn_implementation:
        model_kw["attn_implementation"] = attn_implementation
    # transformers 5 names the argument ``dtype``; 4.x calls it ``torch_dtype``.
    model_kw["dtype" if _TRANSFORMERS_MAJOR >= 5 else "torch_dtype"] = dtype
    with _quiet_untied_head_warning():
        model = AutoModelForSeq2SeqLM.from_pretrained(path_or_id, **model_kw)
    return model, tokenizer


class _UntiedHeadFilter:
    """Drops transformers' "... both are present in the checkpoints with different values, so we will NOT tie them"."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("lm_head" in message and "will NOT tie them" in message)


@contextmanager
def _quiet_untied_head_warning():
    """Quiet one load message while the course loads a model, and only while it does.

    Flan-T5 stores its own output layer (``lm_head``), as T5 v1.1 does. transformers 5's T5 config
    always asks to tie the head to the embedding, finds both in the checkpoint with different values,
    keeps them separate (which is right: PR #43681 made it also skip T5 v1.0's output rescaling for
    such checkpoints) and says so in a warning that reads like a fault. tests/test_models.py checks
    the untied load itself.
    """
    import logging

    logger, quiet = logging.getLogger("transformers.modeling_utils"), _UntiedHeadFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _to_device(model, placement: Placement, label: str):
    import torch

    from . import gpu_cap

    try:
        return model.to(placement.device)
    except torch.cuda.OutOfMemoryError as exc:
        try:
            free, total = torch.cuda.mem_get_info()
            state = f"{free / 1e9:.1f} of {total / 1e9:.1f} GB free"
        except Exception:  # noqa: BLE001 - the report is a courtesy
            state = "free memory unknown"
        # The message names the class hub's per-kernel cap (COURSE_GPU_MEMORY_GB) when one holds.
        raise NotEnoughGPUMemoryError(gpu_cap.oom_message(f"loading {label} ({state} on the card)")) from exc


def _load_standin(model_id: str, placement: Placement, attn_implementation, verbose: bool) -> LoadedModel:
    """What :func:`load_model` returns under ``COURSE_STANDIN=random``: the lesson model's real architecture
    with random weights (``standins``), marked like a demo model. The banner always prints."""
    import torch

    from . import standins

    spec = resolve(model_id)
    reminder = (
        f"RANDOM WEIGHTS again: the benchmark stand-in for {spec.name}; outputs are noise "
        f"(see the first banner; unset {standins.STANDIN_ENV} for the real model)."
    )
    show_banner(banner_box(standins.banner_lines(spec.name, spec.parameters)), "course-standin-banner", reminder)
    config = standins.read_config(spec.name)
    try:
        model = standins.build_model(config, placement.device, placement.dtype, attn_implementation=attn_implementation)
    except torch.cuda.OutOfMemoryError as exc:
        raise NotEnoughGPUMemoryError(
            f"The GPU ran out of memory building the {spec.name} stand-in. Free earlier models (`del model` then "
            "`extras_and_licenses.models.free_gpu_memory()`), restart the kernel, or use a GPU with more memory."
        ) from exc
    if model.num_parameters() != spec.parameters:
        raise RuntimeError(
            f"the {spec.name} stand-in has {model.num_parameters():,} parameters, not {spec.parameters:,}: "
            f"check {standins.config_file(spec.name)}"
        )
    model.config.course_demo_stands_in_for = spec.name  # quality checks in the lessons skip, as for the demo
    model.config.course_standin = "random"
    if verbose:
        print(placement.note)
    reason = (
        f"{standins.STANDIN_ENV}=random is set: {spec.name}'s architecture with random weights (benchmark stand-in)."
    )
    return LoadedModel(model, standins.build_tokenizer(), spec.name, "standin", placement, demo_reason=reason)


def load_model(
    model_id: str = "t5-base",
    *,
    device: str | None = None,
    dtype=None,
    attn_implementation: str | None = None,
    cache_dir=None,
    demo: bool | None = None,
    verbose: bool = True,
) -> LoadedModel:
    """Load a lesson model and its tokenizer, placed on the best device, in eval mode.

    ``model_id`` is a lesson model (``t5-base``, ``t5-large``, ``google/flan-t5-large``), a local
    directory, or ``"demo"``. The pinned revision comes from the cache when it is there, else
    from the hub. When neither works (or ``demo=True``, or ``COURSE_DEMO_MODE=1``), the demo
    model stands in, with a banner. ``verbose=False`` silences the one-line placement note but
    never the demo banner.
    """
    placement = choose_device_and_dtype(device, dtype)
    say = print if verbose else (lambda *a, **k: None)
    from . import gpu_cap

    gpu_cap.apply(placement.device)  # a class hub's per-kernel cap (COURSE_GPU_MEMORY_GB), before any weights move

    from . import standins  # one way only: standins imports nothing from this module

    if standins.standin_requested(model_id, demo):  # COURSE_STANDIN=random: random weights, for bench/
        return _load_standin(model_id, placement, attn_implementation, verbose)

    if isinstance(model_id, str) and model_id != "demo" and Path(model_id).expanduser().is_dir():
        model, tok = _from_pretrained(
            str(Path(model_id).expanduser()), None, None, True, attn_implementation, placement.dtype
        )
        model = _to_device(model, placement, model_id).eval()
        say(placement.note)
        return LoadedModel(model, tok, model_id, "local", placement)

    if model_id == "demo":
        spec_name, reason = "a lesson model (asked for 'demo')", "model_id='demo' was requested."
    else:
        spec = resolve(model_id)
        spec_name = spec.name
        reason = None
        if demo or (demo is None and demo_requested()):
            reason = f"demo mode was requested ({DEMO_ENV}=1)." if demo is None else "demo=True was passed."
        else:
            try:
                source = "cache" if is_cached(spec, cache_dir) else "download"
                if source == "download" and (shared_cache(cache_dir) is not None or not hub_reachable()[0]):
                    raise CourseModelError("offline")  # a class's shared cache is never written from here
                if source == "download":
                    say(f"Downloading {spec.name} ({spec.download_bytes / 1e9:.1f} GB) from the hub ...")
                model, tok = _from_pretrained(
                    spec.repo_id, spec.revision, cache_dir, source == "cache", attn_implementation, placement.dtype
                )
            except CourseModelError:
                why = "HF_HUB_OFFLINE=1 forbids downloading it" if hub_offline() else "the model hub cannot be reached"
                reason = f"{spec.name} is not in the local cache and {why}."
                shared = shared_cache(cache_dir)
                incomplete = cache_incomplete(spec, cache_dir)
                if incomplete:
                    where = "the class's shared model cache" if shared is not None else "the local cache"
                    reason = (
                        f"{spec.name}'s files in {where} are incomplete or wrong "
                        f"({'; '.join(cache_problems(spec, cache_dir))}): rerun prefetch. Meanwhile {why}."
                    )
                elif shared is not None:
                    reason = _shared_cache_reason(spec, shared)
            except Exception as exc:  # noqa: BLE001 - classified below; anything else re-raised
                if is_disk_full(exc):
                    raise DiskFullError(
                        f"The disk filled up while downloading {spec.name} ({spec.download_bytes / 1e9:.1f} GB). "
                        f"Free space under {hub_cache_dir(cache_dir)}, or point HF_HUB_CACHE at a bigger disk, "
                        "then run `python -m extras_and_licenses prefetch` to resume."
                    ) from exc
                if not is_network_error(exc):
                    raise
                reason = f"{spec.name} is not in the local cache and the model hub cannot be reached."
            else:
                model = _to_device(model, placement, spec.name).eval()
                say(placement.note)
                return LoadedModel(model, tok, spec.name, source, placement)

    show_demo_banner(spec_name, reason, placement if verbose else None)  # says the placement too
    model, tok = _from_pretrained(str(DEMO_MODEL_DIR), None, None, True, attn_implementation, placement.dtype)
    model = _to_device(model, placement, "the demo model").eval()
    model.config.course_demo_stands_in_for = spec_name
    return LoadedModel(model, tok, spec_name, "demo", placement, demo_reason=reason)


def is_demo_model(model) -> bool:
    """Is this the demo model? True for a model that :func:`load_model` loaded as a stand-in.

    The one way the lessons ask it (a ``LoadedModel``, a pipeline's model, a bare model).
    """
    return getattr(getattr(model, "config", None), "course_demo_stands_in_for", None) is not None


_SHAPE_KEYS = ("vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "num_layers", "num_decoder_layers")


def has_pinned_shape(model, model_id: str) -> bool:
    """True when ``model`` has the architecture of the lesson model ``model_id`` (widths, layers, heads, vocabulary).

    A real checkpoint (or the benchmark's random stand-in of it) has; the demo model, or a test's
    differently shaped T5 stored under a lesson model's name, has not. The lessons check a named
    checkpoint's parameter count only when this holds.
    """
    from .standins import read_config  # standins imports torch: load it only when asked

    want, have = read_config(model_id), getattr(model, "config", None)
    return have is not None and all(getattr(have, k, None) == want[k] for k in _SHAPE_KEYS if k in want)


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
