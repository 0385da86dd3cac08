"""Loading a lesson model: the one function every lesson calls, :func:`load_model`, and what it returns.

The rules live in one place, spread over a few modules that this one gathers (and re-exports, so that
``from extras_and_licenses import models`` gives a lesson every name it uses):

- ``catalog``: the lesson models ``t5-base``, ``t5-large`` and ``google/flan-t5-large``, each pinned to one
  hub revision (a commit hash), loaded from safetensors only, never with remote code; demo mode.
- ``placement``: device and dtype. A CUDA GPU in bfloat16 when it has native bfloat16 (compute capability
  8.0+), otherwise float32; the CPU in float32 with a visible note when there is no GPU. Never float16:
  T5 overflows in it. Also each lesson's GPU memory need (``LESSON_MEMORY``).
- ``hub_cache``: whether the pinned files are complete in the cache, and whether the hub can be reached.
- ``attention_switch``: :func:`switch_attention` and :func:`restore_attention`, for the tools that show attention.
- ``banners``: when a lesson model is neither in the local cache nor downloadable, or when
  ``COURSE_DEMO_MODE=1`` is set, the lessons get the bundled demo model (a tiny T5 trained by
  ``tools/build_demo_model.py``) with a banner naming the model it stands in for.

Here: :func:`load_model` and :class:`LoadedModel`; errors that say what to do (unknown ids, a full disk,
no network, a GPU out of memory); :func:`is_demo_model` and :func:`has_pinned_shape` for the lessons' checks.

Used by every lesson (00-04), by ``pipelines``, ``prefetch`` and ``doctor``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .attention_switch import restore_attention, switch_attention
from .banners import banner_box, demo_banner_text, forget_banners, show_banner, show_demo_banner
from .catalog import (
    DEMO_ENV,
    DEMO_MODEL_DIR,
    LESSON_MODELS,
    CourseModelError,
    ModelSpec,
    UnknownModelError,
    demo_requested,
    resolve,
)
from .hub_cache import (
    HUB_FILES,
    REQUIRED_FILES,
    SHARED_CACHE_ENV,
    SIZE_CHECK_OFF_ENV,
    cache_incomplete,
    cache_problems,
    cached_files,
    hub_cache_dir,
    hub_offline,
    hub_reachable,
    is_cached,
    is_disk_full,
    is_network_error,
    min_file_bytes,
    partial_download,
    shared_cache,
    shared_cache_reason,
    snapshot_dir,
)
from .placement import (
    DTYPE_ENV,
    LESSON_GPU_GB,
    LESSON_MEMORY,
    NATIVE_BF16_CAPABILITY,
    T4_GB,
    LessonMemory,
    Placement,
    choose_device_and_dtype,
    dtype_setting,
    free_gpu_memory,
    model_memory_gb,
    native_bf16,
)

__all__ = [  # this module's own names, then those it re-exports from its siblings
    "DiskFullError",
    "LoadedModel",
    "NotEnoughGPUMemoryError",
    "has_pinned_shape",
    "is_demo_model",
    "load_model",
    # catalog
    "DEMO_ENV",
    "DEMO_MODEL_DIR",
    "LESSON_MODELS",
    "CourseModelError",
    "ModelSpec",
    "UnknownModelError",
    "demo_requested",
    "resolve",
    # hub_cache
    "HUB_FILES",
    "REQUIRED_FILES",
    "SHARED_CACHE_ENV",
    "SIZE_CHECK_OFF_ENV",
    "cache_incomplete",
    "cache_problems",
    "cached_files",
    "hub_cache_dir",
    "hub_offline",
    "hub_reachable",
    "is_cached",
    "is_disk_full",
    "is_network_error",
    "min_file_bytes",
    "partial_download",
    "shared_cache",
    "shared_cache_reason",
    "snapshot_dir",
    # placement
    "DTYPE_ENV",
    "LESSON_GPU_GB",
    "LESSON_MEMORY",
    "NATIVE_BF16_CAPABILITY",
    "T4_GB",
    "LessonMemory",
    "Placement",
    "choose_device_and_dtype",
    "dtype_setting",
    "free_gpu_memory",
    "model_memory_gb",
    "native_bf16",
    # attention_switch
    "restore_attention",
    "switch_attention",
    # banners
    "banner_box",
    "demo_banner_text",
    "forget_banners",
    "show_banner",
    "show_demo_banner",
]


class NotEnoughGPUMemoryError(CourseModelError):
    pass


class DiskFullError(CourseModelError):
    pass


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
                    reason = shared_cache_reason(spec, shared)
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
