"""The Hugging Face cache and hub, as the lessons see them: where each pinned model lives, whether it is
complete, whether the hub can be reached, and what a failed download means.

- :func:`hub_cache_dir` is the cache in force (``HF_HUB_CACHE``, then ``HF_HOME/hub``, then the default);
  :func:`shared_cache` says when it is a class's read-only shared one (``COURSE_SHARED_CACHE=1``).
- "Complete" means every required file of the pinned revision is there at a plausible size
  (:func:`cache_problems`, :func:`is_cached`); :func:`cache_incomplete` tells a broken copy from none.
- :func:`hub_reachable`, :func:`is_network_error` and :func:`is_disk_full` turn network trouble
  into something a message can name.

Imports nothing heavy (no torch). Used by ``models.load_model``, ``prefetch``, ``doctor`` and lesson 00
(through ``models``, which re-exports these names).
"""

from __future__ import annotations

import errno
import os
import urllib.error
import urllib.request
from pathlib import Path

from .catalog import LESSON_MODELS, ModelSpec

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


def shared_cache_reason(spec: ModelSpec, cache: Path) -> str:
    """Why ``spec`` cannot come from the class's shared ``cache``: the kernel cannot see it, or it lacks the model."""
    if not os.access(cache, os.R_OK | os.X_OK):
        return f"this kernel cannot see the class's shared model cache at {cache}."
    return f"{spec.name} is not in the class's shared model cache ({cache})."


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE=1 (or true/yes/on) forbids downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def nearest_existing(path: Path) -> Path:
    """``path`` itself when it exists, else its nearest existing parent (where a new cache would be made)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def can_add_to(cache: Path) -> bool:
    """Can this user add to ``cache`` (or create it, when it does not exist yet)?"""
    return os.access(nearest_existing(cache), os.W_OK | os.X_OK)


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
