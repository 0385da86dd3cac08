"""A class's shared, read-only model cache, as a student's kernel and the instructor use it.

The hub gives every student ``HF_HUB_CACHE`` (the instructor's cache), ``HF_HUB_OFFLINE=1`` and
``COURSE_SHARED_CACHE=1``. A student's load must read from it and write nothing there (no lock
files, no ``.no_exist`` markers, no refs: huggingface_hub issues #2580 and #2797 are about exactly
those); a model the instructor did not fetch, or a cache the kernel cannot see, gives the demo
banner with "ask your instructor to run prefetch". The instructor fills it with
``prefetch --cache-dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extras_and_licenses import models, prefetch
from tests import hubcache

T5_BASE = models.LESSON_MODELS["t5-base"]
T5_LARGE = models.LESSON_MODELS["t5-large"]


tree_state = hubcache.tree_state


@pytest.fixture()
def shared(tmp_path, monkeypatch):
    cache = tmp_path / "shared-hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(models.SHARED_CACHE_ENV, "1")
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "1")  # test-only: the demo's small files count as complete
    monkeypatch.delenv("COURSE_DEMO_MODE", raising=False)
    monkeypatch.delenv("COURSE_STANDIN", raising=False)
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: pytest.fail("a shared cache must not reach the hub"))
    return cache


@pytest.mark.parametrize("offline", ["1", ""])
def test_a_student_load_reads_the_shared_cache_and_writes_nothing(shared, monkeypatch, capsys, offline):
    hubcache.populate(shared, T5_BASE)
    before = tree_state(shared)
    if not offline:
        monkeypatch.delenv("HF_HUB_OFFLINE")  # a student who unsets it still writes nothing
    loaded = models.load_model("t5-base", verbose=False)
    assert loaded.source == "cache" and not loaded.is_demo
    assert "DEMO MODEL" not in capsys.readouterr().out
    assert tree_state(shared) == before, "a student's load changed the shared cache"
    assert not (shared / ".locks").exists()


def test_a_model_the_instructor_did_not_fetch_gives_the_banner_with_the_fix(shared, capsys):
    hubcache.populate(shared, T5_BASE)
    before = tree_state(shared)
    loaded = models.load_model("t5-large")
    out = capsys.readouterr().out
    assert loaded.is_demo
    assert "DEMO MODEL - NOT THE REAL ONE" in out
    assert f"t5-large is not in the class's shared model cache ({shared})" in out
    assert "ask your instructor to run prefetch" in out and f"--cache-dir {shared}" in out
    assert tree_state(shared) == before


def test_a_kernel_that_cannot_see_the_shared_cache_gets_the_banner(shared, monkeypatch, capsys):
    missing = shared.parent / "not-mounted"
    monkeypatch.setenv("HF_HUB_CACHE", str(missing))
    loaded = models.load_model("t5-base")
    out = capsys.readouterr().out
    assert loaded.is_demo
    assert f"cannot see the class's shared model cache at {missing}" in out
    assert "ask your instructor to run prefetch" in out
    assert not missing.exists()


def test_a_cache_this_user_cannot_write_counts_as_shared(tmp_path, monkeypatch):
    monkeypatch.delenv(models.SHARED_CACHE_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert models.shared_cache() is None
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real_access(p, mode))
    assert models.shared_cache() == tmp_path


def test_a_student_prefetch_into_the_shared_cache_is_refused_with_the_fix(shared, monkeypatch, capsys):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real_access(p, mode))
    calls = []
    results = prefetch.prefetch(
        ["t5-base"], download=lambda spec, cache_dir: calls.append(spec), probe_hub=lambda: (True, "x")
    )
    assert calls == []
    assert results[0].status == "failed"
    assert "read-only for you" in results[0].message and f"prefetch --cache-dir {shared}" in results[0].message


def test_the_instructor_fills_a_cache_with_prefetch_cache_dir(tmp_path, monkeypatch, capsys):
    from extras_and_licenses.__main__ import main

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(models.SHARED_CACHE_ENV, raising=False)
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "1")  # test-only: the fake download writes the demo's small files
    target = tmp_path / "class-cache"
    fetched = []

    def fake_download(spec, cache_dir):  # stands in for snapshot_download: writes the real layout
        fetched.append((spec.name, Path(cache_dir)))
        hubcache.populate(Path(cache_dir), spec)

    monkeypatch.setattr(prefetch, "_download", fake_download)
    monkeypatch.setattr(
        prefetch.prefetch, "__kwdefaults__", {**prefetch.prefetch.__kwdefaults__, "download": fake_download}
    )
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: (True, "test"))
    assert main(["prefetch", "--cache-dir", str(target)]) == 0
    assert sorted(name for name, _ in fetched) == sorted(models.LESSON_MODELS)
    assert all(where == target for _, where in fetched)
    assert all(models.is_cached(spec, target) for spec in models.LESSON_MODELS.values())
    assert f"Hugging Face cache: {target}" in capsys.readouterr().out
