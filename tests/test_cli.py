"""prefetch and doctor, on empty and populated caches, from Python and from the command line."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import namedtuple

import torch

from extras_and_licenses import doctor, models, prefetch
from extras_and_licenses.__main__ import main
from tests import hubcache

SPECS = list(models.LESSON_MODELS.values())


def _never(spec, cache_dir):  # a download that must not happen
    raise AssertionError(f"tried to download {spec.name}")


# ------------------------------------------------------------------ prefetch
def test_prefetch_check_on_an_empty_cache_reports_every_model_missing(hf_cache, capsys):
    results = prefetch.prefetch(check_only=True, download=_never)
    assert [r.status for r in results] == ["missing"] * 3
    out = capsys.readouterr().out
    assert "needs 0.9 GB" in out and "demo model" in out


def test_prefetch_skips_what_is_cached_and_prints_sizes(hf_cache, capsys):
    for spec in SPECS:
        hubcache.populate(hf_cache, spec)
    results = prefetch.prefetch(download=_never)
    assert [r.status for r in results] == ["cached"] * 3
    assert all(r.bytes > 1_000_000 for r in results)
    out = capsys.readouterr().out
    assert "already complete, skipped" in out and "ready offline" in out


def test_prefetch_downloads_only_what_is_missing(hf_cache, capsys):
    hubcache.populate(hf_cache, SPECS[0])
    fetched = []

    def fake_download(spec, cache_dir):
        fetched.append(spec.name)
        hubcache.populate(models.hub_cache_dir(cache_dir), spec)

    results = prefetch.prefetch(download=fake_download, probe_hub=lambda: (True, "pretend"))
    assert fetched == ["t5-large", "google/flan-t5-large"]
    assert [r.status for r in results] == ["cached", "downloaded", "downloaded"]
    on_disk = [sum(models.cached_files(spec).values()) for spec in SPECS]  # what each model's files hold
    assert min(on_disk) > 1_000_000 and [r.bytes for r in results] == on_disk
    out = capsys.readouterr().out
    for r, size in zip(results, on_disk):  # e.g. "  t5-large   downloaded   0.01 GB"
        assert r.line() in out and f"{size / 1e9:5.2f} GB" in r.line()
    assert f"Total in cache for these models: {sum(on_disk) / 1e9:.2f} GB." in out
    assert "All requested lesson models are ready offline." in out


def test_prefetch_with_the_hub_unreachable_reports_instead_of_raising(hf_cache, capsys):
    results = prefetch.prefetch(["t5-base"], download=_never)
    assert results[0].status == "failed"
    assert "HF_HUB_OFFLINE" in results[0].message


def test_prefetch_network_error_mid_download_is_reported(hf_cache, capsys):
    def dies(spec, cache_dir):
        raise ConnectionError("connection reset")

    results = prefetch.prefetch(["t5-base"], download=dies, probe_hub=lambda: (True, "pretend"))
    assert results[0].status == "failed" and "rerun to resume" in results[0].message


def test_prefetch_full_disk_mid_download_names_the_fix(hf_cache, capsys):
    def fills_the_disk(spec, cache_dir):
        raise OSError(errno.ENOSPC, "No space left on device")

    results = prefetch.prefetch(["t5-base"], download=fills_the_disk, probe_hub=lambda: (True, "pretend"))
    assert results[0].status == "failed" and results[0].message.startswith("disk full: free space under ")
    assert "HF_HUB_CACHE" in results[0].message


def test_prefetch_notices_a_partial_download(hf_cache, capsys):
    spec = models.LESSON_MODELS["t5-base"]
    blobs = hf_cache / ("models--" + spec.repo_id.replace("/", "--")) / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "abc123.incomplete").write_bytes(b"x" * 10)
    results = prefetch.prefetch(["t5-base"], check_only=True)
    assert "partial download" in results[0].message


def test_prefetch_cli_unknown_model_exits_2_with_the_suggestion(hf_cache, capsys):
    assert main(["prefetch", "t5-lrage"]) == 2
    assert "Did you mean 't5-large'" in capsys.readouterr().err


def test_prefetch_cli_check_exit_codes(hf_cache, capsys):
    assert main(["prefetch", "--check"]) == 1
    for spec in SPECS:
        hubcache.populate(hf_cache, spec)
    assert main(["prefetch", "--check"]) == 0


# ------------------------------------------------------------------ doctor
def _rows(report):
    return {r.check: r for r in report.rows}


def test_doctor_on_an_empty_cache_warns_and_explains(hf_cache, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: Usage(10**12, 0, 10**12))  # room for every model
    report = doctor.check()
    rows = _rows(report)
    for spec in SPECS:
        assert rows[f"model {spec.name}"].status == doctor.WARN
        assert "prefetch" in rows[f"model {spec.name}"].detail
    assert rows["model hub"].status == doctor.WARN
    assert rows["demo mode"].status == doctor.WARN
    # this machine's known state: the tested library versions, room on the disk, a GPU or a warning that there is none
    warned = {f"model {spec.name}" for spec in SPECS} | {"model hub", "demo mode"}
    if not torch.cuda.is_available():
        warned.add("GPU")
    assert warned <= {r.check for r in report.rows if r.status == doctor.WARN}
    assert [r.check for r in report.rows if r.status == doctor.FAIL] == []
    assert report.verdict == (
        doctor.WARN,
        "READY WITH CAVEATS: the lessons run; read the rows marked WARN before class.",
    )
    text = report.text()
    assert "Verdict:" in text and "transformers" in text


def test_doctor_on_a_populated_cache_marks_models_ready(hf_cache):
    for spec in SPECS:
        hubcache.populate(hf_cache, spec)
    rows = _rows(doctor.check())
    for spec in SPECS:
        assert rows[f"model {spec.name}"].status == doctor.OK
        assert "cached" in rows[f"model {spec.name}"].detail
    assert rows["model hub"].status == doctor.OK  # unreachable, but nothing is missing
    assert rows["demo mode"].status == doctor.OK


def test_doctor_flags_a_disk_too_small_for_the_missing_models(hf_cache, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: Usage(10**10, 10**10 - 10**8, 10**8))
    report = doctor.check()
    assert _rows(report)["disk"].status == doctor.FAIL
    assert report.verdict[0] == doctor.FAIL and "disk" in report.verdict[1]


def test_doctor_reports_demo_mode_when_asked_for(hf_cache, monkeypatch):
    monkeypatch.setenv("COURSE_DEMO_MODE", "1")
    assert "unset" in _rows(doctor.check())["demo mode"].detail.lower()


def test_doctor_html_table_for_notebooks(hf_cache):
    html = doctor.check()._repr_html_()
    assert html.count("<tr") >= 10 and "Verdict" in html


def _fake_gpu(monkeypatch, name: str, gigabytes: int, capability: tuple[int, int]) -> None:
    """torch.cuda as it looks on one GPU of that name, size and compute capability."""
    Props = namedtuple("Props", "name total_memory")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props(name, gigabytes * 10**9))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)


def test_doctor_gpu_rows_with_a_fake_gpu(hf_cache, monkeypatch):
    _fake_gpu(monkeypatch, "Fake 2GB", 2, (8, 6))  # native bfloat16
    rows = _rows(doctor.check())
    assert rows["GPU"].status == doctor.OK and "Fake 2GB" in rows["GPU"].detail
    assert rows["bfloat16"].status == doctor.OK
    assert rows["lesson 01 memory"].status == doctor.FAIL  # needs more than 2 GB
    assert rows["lesson 02 memory"].status == doctor.OK
    assert [f"lesson {lesson} memory" in rows for lesson in models.LESSON_GPU_GB] == [True] * 5  # a row for each


def test_doctor_command_line_prints_a_report_without_traceback(hf_cache):
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "extras_and_licenses", "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Verdict:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_doctor_names_a_bad_course_dtype_and_the_fix_and_still_reports_the_gpu(hf_cache, monkeypatch):
    for value, problem in (("half", "is not understood: use bfloat16, float32 or auto"), ("float16", "overflow")):
        monkeypatch.setenv("COURSE_DTYPE", value)
        report = doctor.check(probe_hub=lambda: (False, "test"))
        rows = _rows(report)
        assert rows["precision"].status == doctor.FAIL, value
        assert f"COURSE_DTYPE='{value}'" in rows["precision"].detail and problem in rows["precision"].detail
        assert "unset COURSE_DTYPE" in rows["precision"].detail  # the fix
        assert "torch does not import" not in report.text()  # torch imports fine: that is not the problem
        assert rows["GPU"].status != doctor.FAIL
        assert report.verdict[0] == doctor.FAIL and "precision" in report.verdict[1]
    monkeypatch.setenv("COURSE_DTYPE", "float32")
    assert _rows(doctor.check(probe_hub=lambda: (False, "test")))["precision"].status == doctor.OK


def test_doctor_with_a_bad_course_dtype_on_a_gpu_keeps_its_gpu_and_memory_rows(hf_cache, monkeypatch):
    _fake_gpu(monkeypatch, "Fake 40GB", 40, (8, 0))
    monkeypatch.setenv("COURSE_DTYPE", "fp32")
    rows = _rows(doctor.check(probe_hub=lambda: (False, "test")))
    assert rows["precision"].status == doctor.FAIL and "COURSE_DTYPE='fp32'" in rows["precision"].detail
    assert rows["GPU"].status == doctor.OK and "Fake 40GB" in rows["GPU"].detail
    assert rows["bfloat16"].status == doctor.OK and "run in bf16" in rows["bfloat16"].detail  # what auto gives
    assert all(rows[f"lesson {lesson} memory"].status == doctor.OK for lesson in models.LESSON_MEMORY)
