"""The per-kernel GPU memory cap (extras_and_licenses.gpu_cap), tested on the CPU with a fake torch.cuda.

The fake GPU keeps an allocator's books: moving a model "to cuda" charges its bytes against
``fraction * total`` (what ``set_per_process_memory_fraction`` set), raises
``torch.cuda.OutOfMemoryError`` past it, and frees a model's bytes once the model object is
gone and ``empty_cache`` runs. The model itself never leaves the CPU. What this checks is the
course's logic and messages; a real GPU's allocator is exercised by bench/students_per_gpu.py.
"""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest
import torch

from extras_and_licenses import doctor, gpu_cap, models


class FakeGPU:
    """A CUDA device as far as gpu_cap, models and doctor look at one."""

    def __init__(self, total_bytes: float = 80e9, used_by_others: float = 0.0):
        self.total = int(total_bytes)
        self.others = int(used_by_others)
        self.fraction_calls: list[tuple[float, int]] = []
        self.live: list[tuple[weakref.ref, int]] = []  # models on the "GPU" and their bytes
        self.released = 0  # bytes still reserved by dead models until empty_cache()

    @property
    def fraction(self) -> float:
        return self.fraction_calls[-1][0] if self.fraction_calls else 1.0

    def allocated(self) -> int:
        return sum(size for ref, size in self.live if ref() is not None)

    def reserved(self) -> int:
        dead = sum(size for ref, size in self.live if ref() is None)
        return self.allocated() + dead

    def move(self, module, device):
        if not str(device).startswith("cuda"):
            return module
        size = sum(p.numel() * p.element_size() for p in module.parameters())
        limit = self.fraction * self.total
        if self.reserved() + size > limit:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {size} bytes (limit {limit:.0f} bytes in this process)"
            )
        self.live.append((weakref.ref(module), size))
        return module

    def empty_cache(self):
        self.live = [(ref, size) for ref, size in self.live if ref() is not None]

    def install(self, monkeypatch):
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "is_available", lambda: True)
        monkeypatch.setattr(cuda, "current_device", lambda: 0)
        monkeypatch.setattr(cuda, "device_count", lambda: 1)
        monkeypatch.setattr(cuda, "is_bf16_supported", lambda *a, **k: True)
        monkeypatch.setattr(cuda, "get_device_name", lambda *a, **k: "Fake GPU")
        monkeypatch.setattr(cuda, "get_device_capability", lambda *a, **k: (9, 0))
        monkeypatch.setattr(
            cuda,
            "get_device_properties",
            lambda index=0: types.SimpleNamespace(name="Fake GPU", total_memory=self.total),
        )
        monkeypatch.setattr(
            cuda, "set_per_process_memory_fraction", lambda f, d=None: self.fraction_calls.append((f, d))
        )
        monkeypatch.setattr(
            cuda,
            "mem_get_info",
            lambda index=0: (self.total - self.others - self.reserved(), self.total),
        )
        monkeypatch.setattr(cuda, "memory_reserved", lambda index=None: self.reserved())
        monkeypatch.setattr(cuda, "memory_allocated", lambda index=None: self.allocated())
        monkeypatch.setattr(cuda, "empty_cache", self.empty_cache)
        original_to = torch.nn.Module.to

        def to(module, *args, **kwargs):
            device = args[0] if args else kwargs.get("device")
            if isinstance(device, (str, torch.device)) and str(device).startswith("cuda"):
                return self.move(module, device)
            return original_to(module, *args, **kwargs)

        monkeypatch.setattr(torch.nn.Module, "to", to)
        return self


@pytest.fixture(autouse=True)
def _fresh_cap(monkeypatch):
    monkeypatch.delenv(gpu_cap.CAP_ENV, raising=False)
    monkeypatch.delenv("COURSE_DTYPE", raising=False)
    monkeypatch.delenv("COURSE_STANDIN", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # NVML absent unless a test provides it
    gpu_cap._reset_for_tests()
    yield
    gpu_cap._reset_for_tests()


@pytest.fixture()
def fake_gpu(monkeypatch):
    return FakeGPU().install(monkeypatch)


def demo_bytes() -> int:
    model, _ = models.load_model("demo", device="cpu", dtype=torch.float32, verbose=False)
    return sum(p.numel() * p.element_size() for p in model.parameters())


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize("raw, gb", [("3.5", 3.5), (" 8 ", 8.0), ("12GB", 12.0), ("0.25", 0.25)])
def test_cap_setting_is_read_in_gb(raw, gb):
    assert gpu_cap.requested_cap_gb({gpu_cap.CAP_ENV: raw}) == gb


def test_unset_or_empty_means_no_cap():
    assert gpu_cap.requested_cap_gb({}) is None
    assert gpu_cap.requested_cap_gb({gpu_cap.CAP_ENV: "  "}) is None


@pytest.mark.parametrize("raw", ["abc", "0", "-2", "inf", "nan", "3,5"])
def test_a_bad_cap_setting_says_what_to_set(raw):
    with pytest.raises(gpu_cap.CapSettingError) as info:
        gpu_cap.requested_cap_gb({gpu_cap.CAP_ENV: raw})
    text = str(info.value)
    assert repr(raw) in text and "positive number of GB" in text and "3.5" in text and "unset it" in text


# --------------------------------------------------------------------------- applying it


def test_no_setting_or_no_gpu_applies_nothing(fake_gpu, monkeypatch):
    assert gpu_cap.apply("cuda") is None  # no setting
    monkeypatch.setenv(gpu_cap.CAP_ENV, "4")
    assert gpu_cap.apply("cpu") is None  # the CPU has no cap to apply
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_cap.apply("cuda") is None
    assert fake_gpu.fraction_calls == []


def test_cap_becomes_the_allocator_fraction_once(fake_gpu, monkeypatch):
    monkeypatch.setenv(gpu_cap.CAP_ENV, "4")
    state = gpu_cap.apply("cuda")
    assert fake_gpu.fraction_calls == [(4e9 / 80e9, 0)]
    assert state.cap_gb == 4 and state.total_gb == 80 and state.effective_gb == pytest.approx(4)
    assert gpu_cap.apply("cuda:0") is state  # the same cap again: nothing new
    assert len(fake_gpu.fraction_calls) == 1
    monkeypatch.setenv(gpu_cap.CAP_ENV, "8")  # a changed setting is applied afresh
    assert gpu_cap.apply("cuda").cap_gb == 8
    assert fake_gpu.fraction_calls[-1] == (8e9 / 80e9, 0)
    assert gpu_cap.current().cap_gb == 8


def test_cap_larger_than_the_card_is_no_cap(fake_gpu, monkeypatch):
    monkeypatch.setenv(gpu_cap.CAP_ENV, "200")
    state = gpu_cap.apply("cuda")
    assert fake_gpu.fraction_calls == [(1.0, 0)]
    assert "whole GPU" in state.describe()


def test_the_first_model_load_applies_the_cap_before_weights_move(fake_gpu, monkeypatch):
    monkeypatch.setenv(gpu_cap.CAP_ENV, "2")
    seen_at_move = []
    move = fake_gpu.move
    monkeypatch.setattr(fake_gpu, "move", lambda m, d: (seen_at_move.append(fake_gpu.fraction), move(m, d))[1])
    loaded = models.load_model("demo", device="cuda", dtype=torch.float32, verbose=False)
    assert seen_at_move == [2e9 / 80e9]
    assert loaded.placement.device == "cuda"
    assert fake_gpu.allocated() > 0


def test_a_bad_setting_stops_the_load_with_the_fix(fake_gpu, monkeypatch):
    monkeypatch.setenv(gpu_cap.CAP_ENV, "lots")
    with pytest.raises(gpu_cap.CapSettingError, match="COURSE_GPU_MEMORY_GB='lots'"):
        models.load_model("demo", device="cuda", verbose=False)
    assert fake_gpu.allocated() == 0 and fake_gpu.fraction_calls == []


# --------------------------------------------------------------------------- hitting it


def test_out_of_memory_names_the_cap_and_the_kernel_recovers(monkeypatch):
    size = demo_bytes()
    gpu = FakeGPU(total_bytes=100 * size).install(monkeypatch)
    cap_gb = 1.5 * size / 1e9  # room for one demo model, not two
    monkeypatch.setenv(gpu_cap.CAP_ENV, f"{cap_gb:.9f}")
    first = models.load_model("demo", device="cuda", dtype=torch.float32, verbose=False)
    with pytest.raises(models.NotEnoughGPUMemoryError) as info:
        models.load_model("demo", device="cuda", dtype=torch.float32, verbose=False)
    text = str(info.value)
    assert "GPU memory cap" in text and f"{gpu_cap.CAP_ENV}={float(f'{cap_gb:.9f}'):g}" in text
    assert "free_gpu_memory()" in text and "ask your instructor" in text
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)

    del first
    report = models.free_gpu_memory()
    assert "0.00 GB allocated" in report
    again = models.load_model("demo", device="cuda", dtype=torch.float32, verbose=False)
    assert gpu.allocated() == size and again.model is not None
    assert len(gpu.fraction_calls) == 1  # the cap was applied once and is still in force


def test_out_of_memory_without_a_cap_says_so(monkeypatch):
    size = demo_bytes()
    FakeGPU(total_bytes=size // 2).install(monkeypatch)
    with pytest.raises(models.NotEnoughGPUMemoryError) as info:
        models.load_model("demo", device="cuda", dtype=torch.float32, verbose=False)
    text = str(info.value)
    assert "ran out of memory" in text and "cap" not in text and "free_gpu_memory()" in text
    gc.collect()


# --------------------------------------------------------------------------- what the card holds


def test_other_processes_from_mem_get_info(monkeypatch):
    gpu = FakeGPU(total_bytes=80e9, used_by_others=15e9).install(monkeypatch)
    gpu.live.append((weakref.ref(gpu), int(5e9)))  # this process reserves 5 GB
    used, how = gpu_cap.other_processes_gb(0)
    assert used == pytest.approx(15.0) and "mem_get_info" in how


def test_other_processes_from_nvml(monkeypatch, fake_gpu):
    import os

    calls = []
    procs = [
        types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=int(3e9)),
        types.SimpleNamespace(pid=1, usedGpuMemory=int(2e9)),
        types.SimpleNamespace(pid=2, usedGpuMemory=int(1.5e9)),
    ]
    nvml = types.SimpleNamespace(
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetHandleByIndex=lambda i: ("handle", i),
        nvmlDeviceGetComputeRunningProcesses=lambda h: procs,
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    used, how = gpu_cap.other_processes_gb(0)
    assert used == pytest.approx(3.5) and how.startswith("NVML, 2 other")
    assert calls == ["init", "shutdown"]


# --------------------------------------------------------------------------- doctor


def rows(report):
    return {r.check: r for r in report.rows}


def test_doctor_reports_the_cap_and_each_lesson_against_it(monkeypatch, hf_cache):
    monkeypatch.setenv(gpu_cap.CAP_ENV, "2")
    got = rows(doctor.check(probe_hub=lambda: (False, "test")))
    assert got["GPU memory cap"].status == doctor.OK and "2 GB" in got["GPU memory cap"].detail
    for lesson, need in models.LESSON_MEMORY.items():
        row = got[f"lesson {lesson} under the cap"]
        fits = need.bfloat16 * 1.1 <= 2  # the estimate plus a 10% margin, as for a whole GPU
        assert row.status == (doctor.OK if fits else doctor.FAIL), (lesson, need, row)
        if not fits:
            assert "raise COURSE_GPU_MEMORY_GB" in row.detail


def test_a_cap_and_a_gpu_of_the_same_size_get_the_same_verdict_for_each_lesson(monkeypatch, hf_cache):
    """One rule, 10% margin included: a 3.2 GB cap holds lesson 01 (3 GB in bfloat16) no better than a 3.2 GB GPU."""
    FakeGPU(total_bytes=3.2e9).install(monkeypatch)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "3.2")
    got = rows(doctor.check(probe_hub=lambda: (False, "test")))
    for lesson in models.LESSON_MEMORY:
        assert got[f"lesson {lesson} under the cap"].status == got[f"lesson {lesson} memory"].status, lesson
    assert got["lesson 01 under the cap"].status == doctor.FAIL  # 3.0 GB + 10% is more than 3.2 GB
    assert got["lesson 04 under the cap"].status == doctor.OK  # 2.5 GB + 10% is not


def test_doctor_on_a_gpu_shows_share_and_other_processes(monkeypatch, hf_cache):
    FakeGPU(total_bytes=80e9, used_by_others=12e9).install(monkeypatch)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "4")
    got = rows(doctor.check(probe_hub=lambda: (False, "test")))
    assert "4 GB of 80.0 GB per kernel (0.050 of the card)" in got["GPU memory cap"].detail
    assert got["GPU, other processes"].detail.startswith("12.0 GB of 80.0 GB")


def test_doctor_without_a_cap_says_so_and_a_bad_one_fails(monkeypatch, hf_cache):
    got = rows(doctor.check(probe_hub=lambda: (False, "test")))
    assert "not set" in got["GPU memory cap"].detail
    assert not any(name.endswith("under the cap") for name in got)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "-1")
    report = doctor.check(probe_hub=lambda: (False, "test"))
    assert rows(report)["GPU memory cap"].status == doctor.FAIL
    assert report.verdict[0] == doctor.FAIL


def test_lesson_needs_come_from_the_one_memory_table():
    for lesson, need in models.LESSON_MEMORY.items():
        assert doctor.lesson_need_gb(lesson, "bfloat16") == need.bfloat16
        assert doctor.lesson_need_gb(lesson, "float32") == need.float32
    with pytest.raises(ValueError, match="bfloat16 or float32"):
        doctor.lesson_need_gb("01", "float16")


# --------------------------------------------------------------------------- an OOM in any cell of a capped kernel


class FakeShell:
    """What gpu_cap uses of an IPython kernel's shell."""

    def __init__(self):
        self.kernel = object()
        self.custom_exceptions = ()
        self.handler = None
        self.tracebacks = []

    def set_custom_exc(self, exc_tuple, handler):
        self.custom_exceptions, self.handler = exc_tuple, handler

    def showtraceback(self, exc_tuple, tb_offset=None):
        self.tracebacks.append(exc_tuple)


def test_an_oom_in_any_cell_of_a_capped_kernel_names_the_cap(fake_gpu, monkeypatch, capsys):
    shell = FakeShell()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "4")
    gpu_cap.apply("cuda")
    assert shell.custom_exceptions == (torch.cuda.OutOfMemoryError,)
    error = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    shell.handler(shell, type(error), error, None)
    assert shell.tracebacks and shell.tracebacks[0][1] is error  # the usual traceback first
    out = capsys.readouterr().out
    assert "GPU memory cap while running this cell" in out and "COURSE_GPU_MEMORY_GB=4" in out
    gpu_cap.remove_oom_hint(shell)
    assert shell.custom_exceptions == () and shell.handler is None


def test_the_hint_leaves_a_kernels_own_handler_and_uncapped_kernels_alone(fake_gpu, monkeypatch):
    shell = FakeShell()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    mine = lambda *a, **k: None  # noqa: E731
    shell.set_custom_exc((ValueError,), mine)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "4")
    gpu_cap.apply("cuda")
    assert shell.custom_exceptions == (ValueError,) and shell.handler is mine
    other = FakeShell()
    monkeypatch.setattr("IPython.get_ipython", lambda: other)
    monkeypatch.setenv(gpu_cap.CAP_ENV, "500")  # larger than the card: no cap, no hint
    gpu_cap.apply("cuda")
    assert other.custom_exceptions == ()
