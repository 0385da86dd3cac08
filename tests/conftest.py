"""Shared fixtures: the bundled demo model (a real, tiny T5) and an isolated HF cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "extras_and_licenses" / "demo_model"

# Two cores on CI: keep torch from oversubscribing them.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO_DIR


@pytest.fixture()
def tiny_t5(demo_dir):
    """A fresh (model, tokenizer) pair of the demo T5, float32 on the CPU, in eval mode."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(demo_dir))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(demo_dir), use_safetensors=True).eval()
    return model, tokenizer


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """An empty, private Hugging Face cache; the hub is made unreachable.

    The tests fill it with the demo model's few-MB files under the lesson models' names
    (tests/hubcache.py), so the size floor that tells a complete cache from a wrong one is switched
    off here with the test-only ``COURSE_TEST_ONLY_ACCEPT_SMALL_FILES=1``; tests of the floor unset it.
    """
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("COURSE_TEST_ONLY_ACCEPT_SMALL_FILES", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("COURSE_DEMO_MODE", raising=False)
    monkeypatch.delenv("COURSE_STANDIN", raising=False)
    return cache


@pytest.fixture(autouse=True)
def _banners_in_full():
    """Each test starts as a fresh kernel would: the demo and stand-in banners show in full once."""
    from extras_and_licenses import models

    models.forget_banners()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA GPU: without one they are skipped, and the summary says why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none here); runs on a GPU machine: python -m pytest -m gpu")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
