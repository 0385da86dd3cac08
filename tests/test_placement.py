"""Precision by compute capability: bfloat16 only where the GPU runs it natively (8.0 and newer).

``torch.cuda.is_bf16_supported()`` counts emulation, so it says True on a T4, V100 or P100. The
GPUs are mocked: their names and capabilities are those the real cards report.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from extras_and_licenses import models

GPUS = {
    "Tesla T4": (7, 5),
    "Tesla V100-SXM2-16GB": (7, 0),
    "Tesla P100-PCIE-16GB": (6, 0),
    "NVIDIA A10G": (8, 6),
    "NVIDIA A100-SXM4-40GB": (8, 0),
    "NVIDIA L4": (8, 9),
    "NVIDIA H100 80GB HBM3": (9, 0),
}


@pytest.fixture()
def gpu(monkeypatch):
    """Pretend this machine has one GPU of the given name; is_bf16_supported() says True (emulation counts)."""

    def install(name: str, bf16_at_all: bool = True):
        monkeypatch.delenv("COURSE_DTYPE", raising=False)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_at_all)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: name)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: GPUS[name])

    return install


@pytest.mark.parametrize("name", ["Tesla T4", "Tesla V100-SXM2-16GB", "Tesla P100-PCIE-16GB"])
def test_gpus_without_native_bfloat16_run_float32_and_say_why(gpu, name):
    gpu(name)
    assert torch.cuda.is_bf16_supported()  # what torch says, emulation included
    p = models.choose_device_and_dtype()
    assert (p.device, p.dtype) == ("cuda", torch.float32)
    major, minor = GPUS[name]
    assert f"{name} has no native bfloat16 (compute capability {major}.{minor}" in p.note
    assert "float32" in p.note


@pytest.mark.parametrize("name", ["NVIDIA A10G", "NVIDIA A100-SXM4-40GB", "NVIDIA L4", "NVIDIA H100 80GB HBM3"])
def test_ampere_and_newer_run_bfloat16(gpu, name):
    gpu(name)
    p = models.choose_device_and_dtype()
    assert (p.device, p.dtype) == ("cuda", torch.bfloat16)
    assert p.note == f"Running on {name} (cuda) in bfloat16."


def test_the_t4_note_reads_as_one_line(gpu):
    gpu("Tesla T4")
    note = models.choose_device_and_dtype().note
    assert "\n" not in note
    assert note == (
        "Running on Tesla T4 (cuda) in float32; Tesla T4 has no native bfloat16 "
        "(compute capability 7.5, bfloat16 needs 8.0 or newer)."
    )


def test_course_dtype_bfloat16_on_a_t4_runs_emulated_with_a_warning(gpu, monkeypatch):
    gpu("Tesla T4")
    monkeypatch.setenv("COURSE_DTYPE", "bfloat16")
    with pytest.warns(UserWarning, match="Tesla T4 has no native bfloat16 .*emulated there and slow"):
        p = models.choose_device_and_dtype()
    assert p.dtype is torch.bfloat16
    assert "COURSE_DTYPE=bfloat16" in p.note and "emulated" in p.note


def test_an_explicit_bfloat16_on_a_v100_warns_too(gpu):
    gpu("Tesla V100-SXM2-16GB")
    with pytest.warns(UserWarning, match="emulated"):
        assert models.choose_device_and_dtype(dtype=torch.bfloat16).dtype is torch.bfloat16


def test_bfloat16_on_an_ampere_gpu_does_not_warn(gpu):
    gpu("NVIDIA A10G")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert models.choose_device_and_dtype(dtype="bfloat16").dtype is torch.bfloat16


def test_a_gpu_with_no_bfloat16_at_all_refuses_it(gpu):
    gpu("Tesla P100-PCIE-16GB", bf16_at_all=False)
    assert models.choose_device_and_dtype().dtype is torch.float32
    with pytest.raises(ValueError, match="cannot run bfloat16 at all: use dtype=torch.float32"):
        models.choose_device_and_dtype(dtype=torch.bfloat16)


def test_float32_is_always_allowed_on_any_gpu(gpu):
    gpu("NVIDIA H100 80GB HBM3")
    assert models.choose_device_and_dtype(dtype=torch.float32).dtype is torch.float32


# ------------------------------------------------------------------ the memory table
def test_memory_table_has_both_precisions_and_keeps_the_old_name():
    assert set(models.LESSON_MEMORY) == {"00", "01", "02", "03", "04"}
    for lesson, need in models.LESSON_MEMORY.items():
        assert need.float32 > need.bfloat16 > 0
        assert models.LESSON_GPU_GB[lesson] == need.bfloat16
        assert need.gb("float32") == need.float32 and need.gb(torch.bfloat16) == need.bfloat16
    with pytest.raises(ValueError, match="bfloat16 or float32"):
        models.LESSON_MEMORY["01"].gb("float16")


def test_float32_figures_cover_the_float32_weights_each_lesson_holds_at_once():
    fp32 = {name: spec.gigabytes(4) for name, spec in models.LESSON_MODELS.items()}
    held = {
        "00": fp32["t5-base"],
        "01": fp32["t5-base"] + max(fp32["t5-large"], fp32["google/flan-t5-large"]),
        "02": fp32["t5-base"],
        "03": fp32["t5-large"],
        "04": max(fp32["t5-large"], fp32["google/flan-t5-large"]),
    }
    for lesson, weights in held.items():
        assert models.LESSON_MEMORY[lesson].float32 > weights, lesson


def test_every_lesson_fits_a_16_gb_t4_in_float32():
    assert all(need.fits(models.T4_GB, "float32") for need in models.LESSON_MEMORY.values())
    assert not models.LESSON_MEMORY["01"].fits(4.0, "float32")
