"""A class at once, for python -m bench.students_per_gpu: N student processes, a memory sampler, the cap check.

:func:`run_class` starts N workers (bench/students_worker.py), each with a kernel of its own, lets
them all begin lesson 01 at the same moment, samples memory while they run (:class:`Sampler`) and
returns the round's figures. :func:`cap_check` runs bench/students_cap_check.py in a fresh process
and returns its verdict. Every process started here gets the repository root on ``PYTHONPATH``, so
it (and the kernels it starts) can import ``bench`` and ``extras_and_licenses``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[students_per_gpu {time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env() -> dict:
    """This process's environment without the course's settings, with the repository root on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def student_env(args, hub_cache: Path) -> dict:
    """What a class hub would set for every student, plus the benchmark's own settings."""
    env = base_env()
    env.update(
        COURSE_GPU_MEMORY_GB=str(args.cap_gb),
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(hub_cache),  # empty: no real model is found, nothing is downloaded
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=str(args.threads),
    )
    if args.smoke:
        env["COURSE_DEMO_MODE"] = "1"
    else:
        env.update(COURSE_STANDIN="random", COURSE_DTYPE=args.dtype)
    return env


def nvidia_smi(*query: str) -> list[list[str]]:
    """One nvidia-smi query in its CSV format: a list of rows, each a list of fields."""
    out = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True, text=True)
    return [[field.strip() for field in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


class Sampler(threading.Thread):
    """Every 0.5 s: host RSS of each student's processes; per-process and card-wide GPU memory (nvidia-smi)."""

    def __init__(self, workers: dict[str, subprocess.Popen], gpu: bool):
        super().__init__(daemon=True)
        self.workers = workers
        self.gpu = gpu and shutil.which("nvidia-smi") is not None
        self.rss_peak: dict[str, int] = {}
        self.gpu_pid_peak: dict[int, int] = {}  # pid -> bytes
        self.card_peak = 0
        self.card_start: int | None = None
        self.seen: dict[int, object] = {}  # pid -> psutil.Process, every process of every student
        self.stop = threading.Event()

    def kill_leftovers(self) -> list[int]:
        """Kill (by pid, checked against its start time) any student process still running; return their pids."""
        left = []
        for proc in self.seen.values():
            try:
                if proc.is_running():
                    proc.kill()
                    left.append(proc.pid)
            except Exception:  # noqa: BLE001 - gone in between
                pass
        return left

    def _sample_host(self, psutil) -> None:
        for name, proc in self.workers.items():
            try:
                family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            except psutil.Error:
                continue
            total = 0
            for member in family:
                self.seen.setdefault(member.pid, member)
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    pass
            self.rss_peak[name] = max(total, self.rss_peak.get(name, 0))

    def _sample_gpu(self) -> None:
        try:
            used = int(nvidia_smi("--query-gpu=memory.used")[0][0]) * 2**20
            self.card_start = used if self.card_start is None else self.card_start
            self.card_peak = max(self.card_peak, used)
            for pid, mib in nvidia_smi("--query-compute-apps=pid,used_memory"):
                if pid.isdigit() and mib.isdigit():
                    self.gpu_pid_peak[int(pid)] = max(int(mib) * 2**20, self.gpu_pid_peak.get(int(pid), 0))
        except (OSError, ValueError, IndexError):
            pass

    def run(self) -> None:
        try:
            import psutil
        except ImportError:  # an image without psutil: GPU figures only, no host memory
            psutil = None
        while not self.stop.is_set():
            if psutil is not None:
                self._sample_host(psutil)
            if self.gpu:
                self._sample_gpu()
            self.stop.wait(0.5)


def run_class(args, n: int, workdir: Path, timeout: float) -> dict:
    """N students at once; returns the round's figures. Raises TimeoutError if the kernels do not all start."""
    hub_cache = workdir / "empty-hf-cache"
    hub_cache.mkdir(exist_ok=True)
    env = student_env(args, hub_cache)
    go = workdir / f"go-{n}"
    workers, files = {}, {}
    for i in range(n):
        name = f"student{i + 1:02d}"
        files[name] = (workdir / f"{n}-{name}.ready", workdir / f"{n}-{name}.json")
        cmd = [sys.executable, "-m", "bench.students_worker", "--name", name, "--ready", str(files[name][0])]
        cmd += ["--go", str(go), "--result", str(files[name][1]), "--cell-timeout", str(int(timeout))]
        workers[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    sampler = Sampler(workers, gpu=not args.smoke)
    sampler.start()
    deadline = time.monotonic() + timeout
    try:
        while not all(ready.exists() for ready, _ in files.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("the kernels did not all start in time")
            time.sleep(0.2)
        log(f"N={n}: every kernel is up; all start lesson 01 now")
        began = time.perf_counter()
        go.write_text("go")
        for proc in workers.values():
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        wall = time.perf_counter() - began
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        sampler.stop.set()
        sampler.join(timeout=5)
        sampler.kill_leftovers()
    students = []
    for name, (_, result_file) in files.items():
        no_result = {"student": name, "status": "no result"}
        result = json.loads(result_file.read_text()) if result_file.exists() else no_result
        kernel_pid = (result.get("kernel") or {}).get("pid")
        result["host_rss_peak"] = sampler.rss_peak.get(name)
        result["gpu_process_peak"] = sampler.gpu_pid_peak.get(kernel_pid) if kernel_pid else None
        students.append(result)
    walls = [s["wall_s"] for s in students if "wall_s" in s]
    return {
        "students": n,
        "wall_s": round(wall, 2),
        "lesson_s_max": max(walls) if walls else None,
        "lesson_s_median": statistics.median(walls) if walls else None,
        "card_peak": sampler.card_peak or None,
        "card_before": sampler.card_start,
        "all_completed": all(s.get("status") == "completed" for s in students),
        "per_student": students,
    }


def cap_check(smoke: bool) -> dict:
    """bench/students_cap_check.py in a fresh process (on the CPU for the smoke run); its verdict."""
    env = {**base_env(), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="students-cap-check-") as tmp:
        verdict = Path(tmp) / "cap_check.json"
        cmd = [sys.executable, "-m", "bench.students_cap_check", "--device", "cpu" if smoke else "cuda"]
        out = subprocess.run(
            [*cmd, "--output", str(verdict)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        if verdict.exists():
            return json.loads(verdict.read_text())
    return {"ok": False, "error": (out.stderr or out.stdout)[-2000:]}


def device_info(smoke: bool) -> dict:
    import torch

    if not smoke and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"kind": "cuda", "name": props.name, "total_gb": round(props.total_memory / 1e9, 1)}
    return {"kind": "cpu", "name": f"CPU ({platform.machine()}, {os.cpu_count()} cores)", "total_gb": None}
