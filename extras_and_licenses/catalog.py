"""The lesson models: their ids, pinned hub revisions and sizes, and the demo model that stands in for them.

- ``LESSON_MODELS``: ``t5-base``, ``t5-large`` and ``google/flan-t5-large``, each pinned to one hub
  revision (a commit hash), with its parameter count and download size.
- :func:`resolve` turns a name or alias a learner types into its :class:`ModelSpec`, or says which
  names exist (and which one was probably meant).
- Demo mode: ``COURSE_DEMO_MODE=1`` asks for the bundled demo model (``DEMO_MODEL_DIR``, a tiny T5
  trained by ``tools/build_demo_model.py``) in place of every lesson model.

Imports nothing heavy (no torch): ``doctor``, ``prefetch`` and ``standins`` read it as well as ``models``.
Every lesson reaches it through ``models``, which re-exports its names.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

DEMO_ENV = "COURSE_DEMO_MODE"
DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo_model"


@dataclass(frozen=True)
class ModelSpec:
    """One lesson model: where it lives on the hub and what it costs."""

    name: str  # the short name lessons use
    repo_id: str  # canonical hub repository
    revision: str  # pinned commit
    parameters: int
    download_bytes: int  # approximate size of the files in hub_cache.HUB_FILES
    aliases: tuple[str, ...] = ()

    def gigabytes(self, dtype_bytes: int) -> float:
        """Weights only, in GB (10^9 bytes), for a dtype of ``dtype_bytes`` bytes per parameter."""
        return self.parameters * dtype_bytes / 1e9

    def ids(self) -> tuple[str, ...]:
        """Every id that names this model: its short name, its hub repository and its aliases."""
        return tuple(dict.fromkeys((self.name, self.repo_id, *self.aliases)))


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


class CourseModelError(RuntimeError):
    """A model could not be loaded; the message says what to do next."""


class UnknownModelError(CourseModelError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def resolve(model_id: str) -> ModelSpec:
    """The :class:`ModelSpec` for a lesson model id or alias; a helpful error otherwise."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise UnknownModelError(f"A model id must be a non-empty string, got {model_id!r}. Try 't5-base'.")
    key = model_id.strip()
    for spec in LESSON_MODELS.values():
        if key in spec.ids():
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
