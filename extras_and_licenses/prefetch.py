"""Download the lesson models ahead of class, into the standard Hugging Face cache.

    python -m extras_and_licenses prefetch                 # all lesson models
    python -m extras_and_licenses prefetch t5-base         # just one
    python -m extras_and_licenses prefetch --check         # report only, download nothing

From a notebook (lesson 00): ``from extras_and_licenses.prefetch import prefetch; prefetch()``.

What it does for each model: skip it when the pinned revision is already complete in the
cache; otherwise download only the files the lessons need (safetensors weights, config,
tokenizer) with progress bars, resuming any download that broke off; then print the size.
It never raises for a network problem: it reports it and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import models
from .hub_cache import can_add_to


@dataclass
class PrefetchResult:
    name: str
    status: str  # "cached", "downloaded", "missing", "incomplete", "failed"
    bytes: int
    message: str = ""

    def line(self) -> str:
        size = f"{self.bytes / 1e9:5.2f} GB" if self.bytes else "    -   "
        return f"  {self.name:<22} {self.status:<10} {size}  {self.message}".rstrip()


def _download(spec: models.ModelSpec, cache_dir) -> None:
    from huggingface_hub import snapshot_download

    # snapshot_download resumes .incomplete blobs and shows a tqdm bar per file.
    snapshot_download(
        repo_id=spec.repo_id,
        revision=spec.revision,
        allow_patterns=list(models.HUB_FILES),
        cache_dir=str(models.hub_cache_dir(cache_dir)),  # explicit: HF_HUB_CACHE is read at import
    )


def prefetch(
    names=None, *, cache_dir=None, check_only: bool = False, download=_download, probe_hub=None
) -> list[PrefetchResult]:
    """Fetch the lesson models (all by default) and print one line per model.

    ``check_only=True`` downloads nothing. Returns the results, for a notebook to inspect.
    """
    specs = [models.resolve(n) for n in names] if names else list(models.LESSON_MODELS.values())
    cache = models.hub_cache_dir(cache_dir)
    probe_hub = probe_hub or models.hub_reachable
    print(f"Hugging Face cache: {cache}")
    results = []
    cached = {spec.name: models.is_cached(spec, cache_dir) for spec in specs}  # looked at once per model
    pending = [s for s in specs if not cached[s.name]]
    hub = probe_hub() if (pending and not check_only) else (True, "")
    for spec in specs:
        if cached[spec.name]:
            size = sum(models.cached_files(spec, cache_dir).values())
            results.append(PrefetchResult(spec.name, "cached", size, "already complete, skipped"))
        elif check_only and models.cache_incomplete(spec, cache_dir):
            problems = "; ".join(models.cache_problems(spec, cache_dir))
            results.append(
                PrefetchResult(spec.name, "incomplete", 0, f"incomplete or wrong files: rerun prefetch ({problems})")
            )
        elif check_only:
            partial = (
                " (a partial download is there; prefetch resumes it)"
                if models.partial_download(spec, cache_dir)
                else ""
            )
            results.append(
                PrefetchResult(spec.name, "missing", 0, f"needs {spec.download_bytes / 1e9:.1f} GB{partial}")
            )
        elif not can_add_to(cache):
            why = (
                "this cache is read-only for you (a class's shared cache?): the instructor fills it with "
                f"`python -m extras_and_licenses prefetch --cache-dir {cache}`"
            )
            results.append(PrefetchResult(spec.name, "failed", 0, why))
        elif not hub[0]:
            why = (
                "unset HF_HUB_OFFLINE to download" if models.hub_offline() else "check the network or proxy, then rerun"
            )
            results.append(PrefetchResult(spec.name, "failed", 0, f"hub unreachable ({hub[1]}): {why}"))
        else:
            print(f"Fetching {spec.name} (revision {spec.revision[:10]}, about {spec.download_bytes / 1e9:.1f} GB) ...")
            try:
                download(spec, cache_dir)
            except Exception as exc:  # noqa: BLE001 - reported, never raised
                if models.is_disk_full(exc):
                    why = f"disk full: free space under {cache} or set HF_HUB_CACHE to a bigger disk, then rerun"
                elif models.is_network_error(exc):
                    why = "the hub cannot be reached: check the network (or a proxy), then rerun to resume"
                else:
                    why = f"{type(exc).__name__}: {exc}"
                results.append(PrefetchResult(spec.name, "failed", 0, why))
                print(results[-1].line(), flush=True)
                continue
            size = sum(models.cached_files(spec, cache_dir).values())
            ok = models.is_cached(spec, cache_dir)
            results.append(
                PrefetchResult(
                    spec.name,
                    "downloaded" if ok else "failed",
                    size,
                    "" if ok else "incomplete or wrong files after download: rerun prefetch",
                )
            )
        print(results[-1].line(), flush=True)

    total = sum(r.bytes for r in results)
    missing = [r.name for r in results if r.status in ("missing", "incomplete", "failed")]
    print(f"Total in cache for these models: {total / 1e9:.2f} GB.")
    if missing:
        print(f"Not ready: {', '.join(missing)}. Lessons will use the demo model for these until they are fetched.")
    else:
        print("All requested lesson models are ready offline.")
    return results
