"""bench/decode_ladder.py (issue 17): its smoke mode writes every rung's row, and BENCHMARKS.md shows them.

These tests check that the ladder runs and reports, never how fast anything is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import decode_ladder, gpu_report, ladder_report
from bench import run_gpu_benchmarks as bench

ROOT = Path(__file__).resolve().parents[1]


def run_ok(command: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a benchmark command on two threads, from the repository root; it must exit 0 (its output tail is
    the failure message)."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


CPU_SKIPS = {
    "static cache + compile": "skipped: generate() compiles only on a CUDA device",
    "captured step": "skipped: the model is on cpu, and CUDA graphs need a CUDA GPU",
    "compiled step": "skipped: the model is on cpu, and CUDA graphs need a CUDA GPU",
}


def check_rows(rows: list[dict], models: list[str]) -> None:
    assert {(r["model"], r["dtype"]) for r in rows} == {(m, "float32") for m in models}
    for model in models:
        group = {r["rung"]: r for r in rows if r["model"] == model}
        assert set(group) == {*ladder_report.RUNGS, ladder_report.FLOOR}, sorted(group)
        for rung, row in group.items():
            if rung in CPU_SKIPS:
                assert row["status"] == CPU_SKIPS[rung] and "ms_per_token" not in row, row
                continue
            assert row["status"] == "ok" and row["ms_per_token"] > 0, row  # CTranslate2 included: CI installs it
            if rung != ladder_report.FLOOR:
                assert row["x_floor"] > 0 and row["x_ct2"] > 0 and row["x_generate"] > 0, row
                assert isinstance(row["same_tokens_as_generate"], bool), row
        # the structural claim: in float32 the static step is generate()'s greedy decoding, token for token
        assert group["static step"]["same_tokens_as_generate"] is True, group["static step"]
        assert group["static step"]["same_tokens_as_static_generate"] is True
        assert group["dynamic cache"]["x_generate"] == 1.0


def test_the_ladder_cli_writes_its_rows(tmp_path):
    out = tmp_path / "ladder.json"
    done = run_ok([sys.executable, "-m", "bench.decode_ladder", "--smoke", "--models", "t5-base", "--json", str(out)])
    check_rows(json.loads(out.read_text()), ["t5-base"])
    assert "| static step |" in done.stdout and "static step / generate() =" in done.stdout


def test_the_ladder_part_lands_in_the_results_and_the_page(tmp_path):
    markdown = tmp_path / "smoke.md"
    # a budget no smoke run comes near, so that no rung is skipped for time on a slow machine
    command = [sys.executable, "-m", "bench.run_gpu_benchmarks", "--smoke", "--parts", "ladder"]
    command += ["--budget", "900"]
    run_ok(command + ["--results-dir", str(tmp_path), "--markdown", str(markdown)])
    results = json.loads((tmp_path / "cpu-smoke.json").read_text())
    assert results["lessons"] == [] and results["decode"] == []  # only the ladder ran
    check_rows(results["ladder"], ["t5-base", "flan-t5-large"])
    page = markdown.read_text()
    assert "### Decode ladder" in page and "**CPU figures" in page
    assert "| captured step | - |" in page and "| CTranslate2 |" in page


def test_the_goals_read_the_fastest_captured_rung():
    def row(model, rung, ms):
        return {"model": model, "dtype": "bfloat16", "rung": rung, "ms_per_token": ms, "status": "ok"}

    rows = [
        row("t5-large", "captured step", 0.9),
        row("t5-large", "compiled step", 1.2),
        row("t5-large", "CTranslate2", 1.1),
        row("flan-t5-large", "captured step", 1.4),
        row("flan-t5-large", "CTranslate2", 1.3),
    ]
    lines = ladder_report.goal_lines(rows, "NVIDIA H200")
    assert lines[0] == "- t5-base, bfloat16: <= 0.5 ms/token: not measured (no captured step ran here)"
    assert lines[1] == "- t5-large, bfloat16: <= 1.0 ms/token: 0.900 (captured step): met; faster than CTranslate2"
    assert lines[2].endswith("1.400 (captured step): NOT met; NOT faster than CTranslate2")
    assert "goal is for an H100/H200" in ladder_report.goal_lines(rows, "NVIDIA L4")[1]

    result = {
        "kind": "gpu",
        "date": "2026-12-01T00:00:00+00:00",
        "command": "python -m bench.run_gpu_benchmarks --parts ladder",
        "device": {"name": "NVIDIA H200", "slug": "nvidia-h200"},
        "versions": {"torch": "2.13.0"},
        "elapsed_s": 1.0,
        "budget_s": 420,
        "ladder": [dict(r, device="cuda:0", new_tokens=32, source_tokens=24) for r in rows],
    }
    page = gpu_report.render_device(result)
    assert "### Decode ladder" in page and "**CPU figures" not in page
    assert "| captured step | 0.900 |" in page


def test_the_lessons_default_run_leaves_the_ladder_out():
    args, _ = bench.parse_args([])
    assert "ladder" not in args.parts and args.budget == bench.DEFAULT_BUDGET == 420
    args, _ = bench.parse_args(["--parts", "ladder", "--ladder-models", "t5-base"])
    assert args.parts == ["ladder"] and args.ladder_models == ["t5-base"]


def test_requirements_name_ctranslate2():
    assert any(line.startswith("ctranslate2") for line in (ROOT / "requirements-dev.txt").read_text().splitlines())
    assert Path(decode_ladder.__file__).parent == ROOT / "bench"
