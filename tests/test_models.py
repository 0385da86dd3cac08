"""Model access: ids, device and dtype, cache, demo fallback and its banner, clear errors."""

from __future__ import annotations

import errno
import re

import pytest
import torch

from extras_and_licenses import models
from tests import hubcache

T5_BASE = models.LESSON_MODELS["t5-base"]


# ------------------------------------------------------------------ ids
@pytest.mark.parametrize(
    "alias, name",
    [
        ("t5-base", "t5-base"),
        ("google-t5/t5-base", "t5-base"),
        ("t5-large", "t5-large"),
        ("google/flan-t5-large", "google/flan-t5-large"),
        ("flan-t5-large", "google/flan-t5-large"),
    ],
)
def test_resolve_aliases(alias, name):
    assert models.resolve(alias).name == name


def test_every_lesson_model_is_pinned_to_a_commit():
    for spec in models.LESSON_MODELS.values():
        assert len(spec.revision) == 40 and all(c in "0123456789abcdef" for c in spec.revision)


def test_unknown_id_names_the_close_match_and_the_way_out():
    with pytest.raises(models.UnknownModelError) as info:
        models.resolve("t5-bsae")
    text = str(info.value)
    assert "Did you mean 't5-base'" in text
    assert "from_pretrained" in text and "local directory" in text


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_empty_or_non_string_id(bad):
    with pytest.raises(models.UnknownModelError, match="non-empty string"):
        models.resolve(bad)


def test_unknown_id_in_load_model_fails_before_any_loading(hf_cache, capsys):
    with pytest.raises(models.UnknownModelError):
        models.load_model("bert-base-uncased")
    assert "DEMO MODEL" not in capsys.readouterr().out


# ------------------------------------------------------------------ device and dtype
def test_cpu_is_float32_with_a_visible_note():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CPU branch is tested on CPU-only machines")
    p = models.choose_device_and_dtype()
    assert (p.device, p.dtype) == ("cpu", torch.float32)
    assert "No GPU found" in p.note


def test_float16_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="overflow"):
        models.choose_device_and_dtype(dtype=torch.float16)
    with pytest.raises(ValueError, match="overflow"):
        models.choose_device_and_dtype(dtype="float16")


def test_cuda_requested_without_a_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(models.CourseModelError, match="no CUDA GPU"):
        models.choose_device_and_dtype(device="cuda")


# GPU precision by compute capability: tests/test_placement.py


def test_course_dtype_picks_the_precision_when_a_call_names_none(monkeypatch):
    monkeypatch.setenv("COURSE_DTYPE", "bfloat16")
    p = models.choose_device_and_dtype(device="cpu")
    assert p.dtype is torch.bfloat16 and "COURSE_DTYPE=bfloat16" in p.note
    assert models.choose_device_and_dtype(device="cpu", dtype=torch.float32).dtype is torch.float32  # a call wins
    monkeypatch.setenv("COURSE_DTYPE", "auto")
    assert models.choose_device_and_dtype(device="cpu").dtype is torch.float32
    monkeypatch.setenv("COURSE_DTYPE", "float16")
    with pytest.raises(ValueError, match="overflow"):
        models.choose_device_and_dtype(device="cpu")
    monkeypatch.setenv("COURSE_DTYPE", "half")
    with pytest.raises(ValueError, match="COURSE_DTYPE='half' is not understood: use bfloat16, float32 or auto"):
        models.choose_device_and_dtype(device="cpu")


# ------------------------------------------------------------------ loading
def test_hub_unreachable_and_empty_cache_gives_the_demo_with_a_banner(hf_cache, capsys):
    loaded = models.load_model("t5-base")
    out = capsys.readouterr().out
    assert loaded.is_demo and loaded.source == "demo"
    assert "DEMO MODEL - NOT THE REAL ONE" in out
    assert "Standing in for: t5-base" in out
    assert "toy" in out
    assert models.is_demo_model(loaded.model)
    assert loaded.model.config.course_demo_stands_in_for == "t5-base"
    model, tokenizer = loaded  # unpacks like a pair
    assert model.training is False
    assert next(model.parameters()).dtype == torch.float32


def test_populated_cache_loads_offline_without_a_banner(hf_cache, capsys):
    hubcache.populate(hf_cache, T5_BASE)
    assert models.is_cached(T5_BASE)
    loaded = models.load_model("t5-base")
    out = capsys.readouterr().out
    assert loaded.source == "cache" and not loaded.is_demo
    assert "DEMO MODEL" not in out
    assert not models.is_demo_model(loaded.model)


def test_explicit_cache_dir_argument(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("COURSE_DEMO_MODE", raising=False)
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "1")  # test-only: the demo's small files count as complete
    hubcache.populate(tmp_path, T5_BASE)
    loaded = models.load_model("google-t5/t5-base", cache_dir=tmp_path)
    assert loaded.source == "cache" and loaded.name == "t5-base"


def test_demo_mode_env_wins_over_the_cache(hf_cache, monkeypatch, capsys):
    hubcache.populate(hf_cache, T5_BASE)
    monkeypatch.setenv("COURSE_DEMO_MODE", "1")
    loaded = models.load_model("t5-base")
    out = capsys.readouterr().out
    assert loaded.is_demo
    assert "COURSE_DEMO_MODE=1" in out and "unset COURSE_DEMO_MODE" in out


@pytest.mark.parametrize("value, demo", [("0", False), ("", False), ("yes", True), ("TRUE", True)])
def test_demo_mode_switch_values(monkeypatch, value, demo):
    monkeypatch.setenv("COURSE_DEMO_MODE", value)
    assert models.demo_requested() is demo


def test_banner_names_the_flan_model(hf_cache, capsys):
    models.load_model("google/flan-t5-large")
    assert "Standing in for: google/flan-t5-large" in capsys.readouterr().out


def test_network_failure_during_download_falls_back_to_the_demo(hf_cache, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: (True, "pretend"))
    real = models._from_pretrained

    def flaky(path_or_id, *args):
        if path_or_id == T5_BASE.repo_id:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")
        return real(path_or_id, *args)

    monkeypatch.setattr(models, "_from_pretrained", flaky)
    loaded = models.load_model("t5-base")
    assert loaded.is_demo
    assert "cannot be reached" in capsys.readouterr().out


def test_full_disk_during_download_names_the_fix(hf_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: (True, "pretend"))

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(models, "_from_pretrained", full)
    with pytest.raises(models.DiskFullError, match="HF_HUB_CACHE"):
        models.load_model("t5-base")


def test_other_errors_are_not_hidden_behind_the_demo(hf_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: (True, "pretend"))

    def broken(*args):
        raise ValueError("corrupt config")

    monkeypatch.setattr(models, "_from_pretrained", broken)
    with pytest.raises(ValueError, match="corrupt config"):
        models.load_model("t5-base")


def test_gpu_out_of_memory_names_the_fix(hf_cache, monkeypatch):
    def oom(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch.nn.Module, "to", oom)
    with pytest.raises(models.NotEnoughGPUMemoryError, match="free_gpu_memory"):
        models.load_model("t5-base", verbose=False)


def test_bfloat16_on_request_and_float16_refused(hf_cache):
    loaded = models.load_model("demo", dtype=torch.bfloat16, verbose=False)
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError):
        models.load_model("demo", dtype=torch.float16)


def test_local_directory_loads_as_local(demo_dir, capsys):
    loaded = models.load_model(str(demo_dir))
    assert loaded.source == "local" and not loaded.is_demo
    assert "DEMO MODEL" not in capsys.readouterr().out


def test_only_safetensors_are_loaded(hf_cache, monkeypatch):
    seen = {}
    from transformers import AutoModelForSeq2SeqLM

    real = AutoModelForSeq2SeqLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForSeq2SeqLM, "from_pretrained", spy)
    models.load_model("t5-base", verbose=False)
    assert seen["use_safetensors"] is True
    assert "trust_remote_code" not in seen


def test_memory_helpers(tiny_t5):
    model, _ = tiny_t5
    gb = models.model_memory_gb(model)
    assert gb == pytest.approx(model.num_parameters() * 4 / 1e9, rel=0.05)
    report = models.free_gpu_memory()
    if torch.cuda.is_available():
        assert re.fullmatch(r"GPU memory held by PyTorch: \d+\.\d\d GB allocated, \d+\.\d\d GB reserved\.", report)
    else:
        assert report == "No GPU: nothing to free."


@pytest.mark.gpu
def test_on_a_gpu_the_model_lands_there_in_the_gpus_precision(capsys):
    loaded = models.load_model("demo", verbose=True)
    bf16 = torch.cuda.is_bf16_supported()
    assert loaded.placement.device == "cuda" and loaded.model.device.type == "cuda"
    assert next(loaded.model.parameters()).dtype == (torch.bfloat16 if bf16 else torch.float32)
    assert torch.cuda.get_device_name(0) in capsys.readouterr().out  # the placement line names the GPU
    del loaded
    assert models.free_gpu_memory().startswith("GPU memory held by PyTorch: ")
