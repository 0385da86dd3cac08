"""The GPU benchmark runs: its CPU smoke mode (tiny models, an injected notebook) goes through every
part and writes its table and results file; and BENCHMARKS.md is what the renderer makes.

These tests check that the benchmark works, never the numbers it measures, and none depends on the
machine's speed: the smoke run gets a budget it cannot use up (its subprocess timeout only guards
against a hang), and the budget's arithmetic is tested on a fake clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bench import bookkeeping, gpu_report, lessons
from bench import run_gpu_benchmarks as bench

ROOT = Path(__file__).resolve().parents[1]

UNLIMITED = "1000000"  # seconds: a --budget no smoke run comes near, so no part is cut for time
HANG_GUARD_S = 1800  # a hung run fails here; a slow one (a loaded CI machine) still finishes


def run_ok(command: list[str], cwd: Path = ROOT, **env) -> subprocess.CompletedProcess:
    """Run a benchmark command on two threads, from the repository root (where ``python -m bench....`` runs);
    it must exit 0 (its output tail is the failure message)."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env=dict(os.environ, OMP_NUM_THREADS="2", **env),
        cwd=cwd,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_smoke_run_writes_its_table_and_results(tmp_path):
    committed = (ROOT / "BENCHMARKS.md").read_text()
    markdown = tmp_path / "smoke.md"
    command = [sys.executable, "-m", "bench.run_gpu_benchmarks", "--smoke", "--budget", UNLIMITED]
    run_ok(command + ["--results-dir", str(tmp_path), "--markdown", str(markdown)])
    assert (ROOT / "BENCHMARKS.md").read_text() == committed, "a smoke run must not touch BENCHMARKS.md"

    results = json.loads((tmp_path / "cpu-smoke.json").read_text())
    assert results["kind"] == "smoke" and results["bandwidth"]["bytes_per_s"] > 0
    assert not [s for s in results["skipped"] if "left" in s["reason"] or "budget" in s["reason"]], results["skipped"]
    [notebook] = results["lessons"]
    assert notebook["status"] == "completed" and not notebook["errors"], notebook
    # the injected cells reported back from the kernel: off the GPU, the live tensor bytes, which
    # include the tiny model's float32 weights (2,286,592 parameters), still alive at the end
    memory = notebook["memory"]
    assert memory["cuda"] is False and memory["tensor_peak"] >= memory["tensor_now"] >= 2_286_592 * 4, memory
    [listener] = results["listener"]
    assert listener["ratio"] > 0 and listener["checks"] == "tokens True, cache lengths True", listener
    assert listener["command"].startswith("python -m bench.bench_listener --tiny")
    eager = [row for row in results["decode"] if row["mode"] != "static cache + compile"]
    assert len(eager) == 6 and all(row["status"] == "ok" for row in eager), eager  # 3 shapes x 2 modes, float32
    assert any("static cache + compile" in item["item"] for item in results["skipped"])  # no GPU here

    table = markdown.read_text()
    assert table == gpu_report.render([results], smoke=True)  # the page is the results file, rendered
    for heading in ("### Lessons", "### Listener overhead", "### Decode speed against the bandwidth floor"):
        assert heading in table
    assert "| smoke notebook (injected) | float32 | ran all 2 cells |" in table
    assert "GB (live tensors) |" in table
    assert "| t5-large | float32 |" in table


def test_benchmarks_md_is_rendered_from_the_results_files():
    expected = gpu_report.render(gpu_report.load_results())
    assert (ROOT / "BENCHMARKS.md").read_text() == expected, "run: python -m bench.run_gpu_benchmarks --render"


def test_without_gpu_results_the_page_says_so_and_keeps_the_earlier_figures():
    page = gpu_report.render([])
    assert "No GPU figures from the full command exist yet" in page
    assert "python -m bench.run_gpu_benchmarks --render" in page
    for figure in ("1.0116", "18.55 ms/token", "1.0127", "1.0042", "12.8 µs", "| t5-large | float32 | 19.0 | 22.3 |"):
        assert figure in page
    assert "transformers 5.17 and torch 2.11" in page


def test_goals_read_a_gpu_result():
    result = {
        "device": {"name": "NVIDIA H200"},
        "lessons": [
            {
                "lesson": "01_encoder_decoders",
                "dtype": "bfloat16",
                "status": "completed",
                "memory": {"max_allocated": 4e9},
            }
        ],
        "listener": [{"dtype": "float32", "ratio": 1.03}],
        "decode": [
            {"model": "t5-large", "dtype": "bfloat16", "mode": "dynamic cache", "ms_per_token": 20.0},
            {"model": "t5-large", "dtype": "bfloat16", "mode": "static cache + compile", "ms_per_token": 1.5},
        ],
    }
    verdicts = [verdict for _, _, verdict in gpu_report.goal_rows(result)]
    assert verdicts == ["met", "NOT met", "met"]


def test_a_partial_run_keeps_the_earlier_rows_and_replaces_what_it_measures(tmp_path):
    args, _ = bench.parse_args(["--device", "cpu", "--parts", "decode", "--decode-modes", "compiled"])
    args.results_dir, args.markdown = tmp_path, tmp_path / "B.md"
    earlier_row = {"model": "t5-large", "dtype": "bfloat16", "mode": "dynamic cache", "ms_per_token": 20.0}
    stale_row = {"model": "t5-large", "dtype": "bfloat16", "mode": "static cache + compile", "status": "failed"}
    previous = {
        "kind": "cpu",  # a full run on this device (--device cpu) that is not a smoke run
        "date": "2026-01-01T00:00:00+00:00",
        "command": "python -m bench.run_gpu_benchmarks",
        "lessons": [{"lesson": "01_encoder_decoders", "summary": "ran all 9 cells", "memory": {"max_allocated": 1e9}}],
        "listener": [],
        "decode": [earlier_row, stale_row],
        "skipped": [{"part": "decode", "item": "t5-base float32 no cache", "reason": "over budget"}],
    }
    (tmp_path / "cpu.json").write_text(json.dumps(previous))
    assert bench.partial(args)
    run = bookkeeping.Run(args, bench.torch.device("cpu"), partial=True, start=bench.T0)
    assert run.data["lessons"][0]["earlier"] == previous["date"]
    run.add("decode", {"model": "t5-large", "dtype": "bfloat16", "mode": "static cache + compile", "ms_per_token": 1.5})
    run.skip("decode", "t5-large bfloat16 dynamic cache", "over budget")  # the earlier measurement stands
    saved = json.loads((tmp_path / "cpu.json").read_text())
    assert [(r["mode"], r.get("ms_per_token")) for r in saved["decode"]] == [
        ("dynamic cache", 20.0),
        ("static cache + compile", 1.5),
    ]
    assert [s["item"] for s in saved["skipped"]] == ["t5-base float32 no cache"]
    assert "(earlier)" in (tmp_path / "B.md").read_text()


def test_the_lessons_part_refuses_versions_outside_the_tested_range(tmp_path):
    # the GPU image's transformers: the lessons would fail on the `cache` argument, not on memory
    problem = lessons.lesson_version_problem({"torch": "2.11.0+cu130", "transformers": "5.17.0"})
    assert problem is not None and problem.startswith("transformers 5.17.0 is outside transformers<6,>=5.24 ")
    assert "fetch_gpu_wheels.sh" in problem  # says what to do
    # the versions CI tests, and a CUDA build's local tag, pass
    assert lessons.lesson_version_problem({"torch": "2.13.0+cpu", "transformers": "5.24.0"}) is None
    assert lessons.lesson_version_problem({"torch": "2.11.0+cu130", "transformers": "5.24.0"}) is None
    # too new a torch is named as well
    assert "torch 2.15.0 is outside" in lessons.lesson_version_problem({"torch": "2.15.0", "transformers": "5.24.0"})

    # and the part records the reason instead of running notebooks that cannot pass
    args, _ = bench.parse_args(["--device", "cpu", "--parts", "lessons"])
    args.results_dir, args.markdown = tmp_path, tmp_path / "B.md"
    run = bookkeeping.Run(args, bench.torch.device("cpu"), partial=True, start=bench.T0)
    run.data["versions"]["transformers"] = "5.17.0"
    bench.run_lessons(run, deadline=bench.time.perf_counter() + 60)
    assert run.data["lessons"] == []
    [skip] = run.data["skipped"]
    assert skip["part"] == "lessons" and skip["item"] == "all" and "5.17.0" in skip["reason"]


def test_the_device_script_passes_its_options_and_exports_to_out(tmp_path):
    """bench/on_gpu_machine.sh is the whole device call; with no wheels it uses this Python's packages."""
    out = tmp_path / "out"
    done = run_ok(
        [
            "bash",
            str(ROOT / "bench" / "on_gpu_machine.sh"),
            "--smoke",
            "--budget",
            UNLIMITED,
            "--parts",
            "bandwidth",
            "decode",
        ],
        tmp_path,
        OUT=str(out),
        WHEEL_DIR=str(tmp_path / "no-wheels"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    assert "no-wheels/ here: using this machine's own packages" in done.stderr
    results = json.loads((out / "cpu-smoke.json").read_text())
    assert results["kind"] == "smoke" and "--parts bandwidth decode" in results["command"]
    assert results["lessons"] == [] and results["decode"]  # only the parts asked for ran
    assert "Decode speed" in (out / "BENCHMARKS.md").read_text()


def test_the_budget_shares_time_and_passes_on_what_a_part_leaves(monkeypatch):
    """The time-budget arithmetic, on a fake clock: the parts' shares, the carry, the cap at what is left."""
    now = [bench.T0]
    monkeypatch.setattr(bookkeeping, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    scale = 100.0 / sum(bench.SHARES[p] for p in bench.DEFAULT_PARTS)  # a 100 s run of the default parts
    budget = bookkeeping.Budget(100.0, scale, bench.SHARES, start=bench.T0)
    with budget.part("bandwidth") as deadline:
        assert deadline - now[0] == pytest.approx(bench.SHARES["bandwidth"] * scale)
        now[0] += 1.0
    unused = bench.SHARES["bandwidth"] * scale - 1.0
    with budget.part("lessons") as deadline:
        assert deadline - now[0] == pytest.approx(bench.SHARES["lessons"] * scale + unused)  # the carry
        assert bookkeeping.seconds_left(deadline) == pytest.approx(deadline - now[0])
        now[0] += 90.0  # past its deadline: nothing carries on
    with budget.part("listener") as deadline:
        assert deadline - now[0] == pytest.approx(100.0 - 91.0)  # capped at what the run has left
        now[0] += 9.0
    with budget.part("decode") as deadline:
        assert deadline == now[0]  # nothing left: the part's own checks skip what does not fit


def test_recorded_commands_are_shown_in_today_s_spelling():
    """Results files keep the command as it was run; BENCHMARKS.md shows one that still runs when copied."""
    from bench.report_text import spelled_today

    old = "python bench/run_gpu_benchmarks.py --parts lessons --budget 3000"
    assert spelled_today(old) == "python -m bench.run_gpu_benchmarks --parts lessons --budget 3000"
    assert spelled_today("python3 bench/decode_ladder.py --smoke") == "python -m bench.decode_ladder --smoke"
    assert spelled_today("python -m bench.students_per_gpu --render") == "python -m bench.students_per_gpu --render"
    assert "python bench/" not in (ROOT / "BENCHMARKS.md").read_text()
