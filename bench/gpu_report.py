"""BENCHMARKS.md from the GPU benchmark's results files (bench/results/<device>.json).

``bench/run_gpu_benchmarks.py`` measures and writes one JSON file per device; this module turns
those files into the Markdown an instructor reads: per device, the goals, each lesson's run time
and peak GPU memory, the listener's overhead and the decode speed against the bandwidth floor.
It also carries the figures measured on an H200 before the benchmark command existed, so that
re-rendering never loses them. Nothing here measures anything.

    python bench/run_gpu_benchmarks.py --render     # re-render BENCHMARKS.md from bench/results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from extras_and_licenses.models import LESSON_GPU_GB  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
COMMAND = "python bench/run_gpu_benchmarks.py"
MODES = ("no cache", "dynamic cache", "static cache + compile")
GOALS = (
    "lesson 01 peak GPU memory <= 6 GB in bfloat16",
    "listener overhead <= 2% (ratio <= 1.02)",
    "fastest taught decode path for t5-large <= 2 ms/token on an H100/H200",
)

EARLIER = """\
## Figures measured earlier on an H200 (before this command existed)

Measured on 2026-11-28, before `bench/run_gpu_benchmarks.py` was written, on one NVIDIA H200 with
**transformers 5.17 and torch 2.11** (not the versions the lessons are tested with, 5.24 and 2.13),
random weights in the real shapes. They are kept here as they were reported.

**Listener overhead**, `python bench/bench_listener.py --device cuda` and variants (t5-large
shape, batch 1, 32 forced new tokens, 15 interleaved pairs, ratio of medians):

| command | ratio with / without listeners | note |
|---|---|---|
| `python bench/bench_listener.py --device cuda` (float32) | 1.0116 | 18.55 ms/token without listeners |
| `... --device cuda --dtype bfloat16` | 1.0127 | |
| `... --device cuda --no-listener-timing` | 1.0042 | listeners without CUDA-event timing |

The listener's own cost, measured alone: 12.8 µs per call. All three ratios are within the 2% goal.

**Baseline decode speed** (eager PyTorch; batch 1, 24-token source, 32 forced new tokens, median
of 5; from the project's notes on transformers 5):

| model | dtype | ms/token, cache | ms/token, no cache |
|---|---|---|---|
| t5-base | float32 | 9.2 | 14.4 |
| t5-large | float32 | 19.0 | 22.3 |
| flan-t5-large | float32 | 22.5 | 35.3 |

The notes add: bfloat16 was not faster at batch 1 ("12.9 and 25.2 ms/token"): decoding there was
bound by per-kernel launch overhead, not by memory. The memory-bandwidth floor (decoder weights
read once per token at the measured ~4.2 TB/s copy rate) is about 0.2 ms/token for t5-large in
bfloat16, so eager generation ran about 100x above it. A naive forward wrapper cost 0-5% there.
"""


def load_results(directory: Path = RESULTS_DIR) -> list[dict]:
    """Every results file in ``directory``, GPUs first, then full CPU runs; smoke runs are left out."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") in ("gpu", "cpu"):
            found.append(data)
    return sorted(found, key=lambda data: data["kind"] != "gpu")


# ------------------------------------------------------------------ formatting helpers
def _gb(nbytes) -> str:
    return "-" if nbytes is None else f"{nbytes / 1e9:.2f} GB"


def _peak(memory: dict) -> str:
    """Peak allocated on a GPU; off it, the peak of live tensors (bench/tensor_memory.py)."""
    if memory.get("max_allocated") is None and memory.get("tensor_peak") is not None:
        return f"{_gb(memory['tensor_peak'])} (live tensors)"
    return _gb(memory.get("max_allocated"))


def _s(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _earlier(row: dict) -> str:
    return " (earlier)" if row.get("earlier") else ""


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def goal_rows(result: dict) -> list[tuple[str, str, str]]:
    """(goal, figure, verdict) for one run."""
    rows = []
    lesson = next((n for n in result.get("lessons", []) if n["lesson"].startswith("01")), None)
    memory = (lesson or {}).get("memory") or {}
    if lesson is not None and memory.get("tensor_peak") is not None:
        peak = memory["tensor_peak"]
        figure = f"{_gb(peak)} of live tensors in {lesson.get('dtype')}, on the CPU"
        verdict = (
            f"not a GPU figure (none was lent); the live tensors alone are {'within' if peak <= 6e9 else 'OVER'} "
            "6 GB, and a GPU adds its CUDA context and allocator cache"
        )
        if lesson.get("dtype") != "bfloat16":
            verdict = f"not comparable: the lesson ran in {lesson.get('dtype')}"
        rows.append((GOALS[0], figure, verdict))
    elif lesson is None or memory.get("max_allocated") is None:
        if lesson is None:
            reason = "lesson 01 did not run"
        elif memory.get("cuda") is False:
            reason = f"lesson 01 ran on the CPU ({lesson.get('summary', '?')}): no GPU memory to measure"
        else:
            reason = lesson.get("reason", f"no memory reading ({lesson.get('summary', '?')})")
        rows.append((GOALS[0], "not measured", reason))
    else:
        peak = memory["max_allocated"]
        figure = f"{_gb(peak)} allocated (process about {_gb(memory.get('process_peak_estimate'))})"
        if lesson.get("dtype") != "bfloat16":
            verdict = f"not comparable: the lesson ran in {lesson.get('dtype')}"
        else:
            verdict = "met" if peak <= 6e9 else "NOT met"
        if lesson.get("status") != "completed":
            verdict += f" (lesson {lesson.get('status')})"
        rows.append((GOALS[0], figure, verdict))

    listener = [row for row in result.get("listener", []) if row.get("ratio") is not None]
    if listener:
        figure = ", ".join(f"{row['dtype']} {row['ratio']:.4f}" for row in listener)
        verdict = "met" if all(row["ratio"] <= 1.02 for row in listener) else "NOT met"
        rows.append((GOALS[1], figure, verdict))
    else:
        rows.append((GOALS[1], "not measured", "-"))

    large = [row for row in result.get("decode", []) if row["model"] == "t5-large" and row.get("ms_per_token")]
    if large:
        best = min(large, key=lambda row: row["ms_per_token"])
        figure = f"{best['ms_per_token']:.2f} ms/token ({best['mode']}, {best['dtype']})"
        name = result.get("device", {}).get("name", "")
        if any(tag in name for tag in ("H100", "H200")):
            verdict = "met" if best["ms_per_token"] <= 2.0 else "NOT met"
        else:
            verdict = f"goal is for H100/H200; this is {name or 'another device'}"
        if not any(row["mode"] == MODES[2] for row in large):
            verdict += " (compiled path not measured)"
        rows.append((GOALS[2], figure, verdict))
    else:
        rows.append((GOALS[2], "not measured", "-"))
    return rows


def render_device(result: dict) -> str:
    """The Markdown section for one results file."""
    device, versions = result["device"], result["versions"]
    out = [f"## {device['name']} ({result['date'][:10]})", ""]
    if result.get("kind") == "smoke":
        out += ["**Smoke run: tiny models on the CPU. These numbers check the benchmark, not a machine.**", ""]
    if result.get("kind") == "cpu":
        out += [
            "**A CPU run, made where no GPU was lent: its times are a CPU's, not a GPU's.** Its memory column is "
            "the peak of live tensor bytes in the lesson's kernel (`bench/tensor_memory.py`), the CPU's stand-in "
            "for `torch.cuda.max_memory_allocated`; a GPU adds its CUDA context, the allocator's cache and "
            "kernels' workspaces, and runs some cells the CPU skips (lesson 03 compiles only on a GPU).",
            "",
        ]
    memory = f", {device['total_memory'] / 1e9:.0f} GB" if device.get("total_memory") else ""
    out += [
        f"- device: {device['name']}{memory}{', ' + device['detail'] if device.get('detail') else ''}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- command: `{result['command']}` (commit {result.get('commit', 'unknown')})",
        f"- finished in {result['elapsed_s']:.0f} s of a {result['budget_s']:.0f} s budget"
        + (f"; {result['stopped']}" if result.get("stopped") else ""),
        *[f"- rows marked (earlier) come from an earlier run: {run}" for run in result.get("earlier_runs", [])],
        "",
        "| goal | figure | verdict |",
        "|---|---|---|",
    ]
    out += [f"| {goal} | {_cell(figure)} | {_cell(verdict)} |" for goal, figure, verdict in goal_rows(result)]

    out += ["", "### Lessons", ""]
    notebooks = result.get("lessons", [])
    if notebooks:
        out += [
            "Each lesson notebook run headless (nbclient) with `COURSE_STANDIN=random`: every lesson model is its "
            "real architecture with random weights. Peak memory comes from a cell appended to the in-memory copy "
            "of the notebook (`torch.cuda.max_memory_allocated` / `max_memory_reserved`); the process peak adds "
            "the kernel's CUDA context and other memory outside PyTorch's allocator (from `torch.cuda.mem_get_info`). "
            "Random weights rarely produce `</s>`, so most generations run to their length limit: run times are "
            "upper bounds, and the lessons' checks of output quality fail where they do not skip (listed below).",
            "",
            "| lesson | dtype | result | run time | peak allocated | peak reserved | process peak (est.) "
            "| estimate in models.py |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for nb in notebooks:
            memory = nb.get("memory") or {}
            estimate = LESSON_GPU_GB.get(nb["lesson"][:2])
            out.append(
                f"| {nb['lesson']}{_earlier(nb)} | {nb.get('dtype', '-')} | {_cell(nb['summary'])} | "
                f"{_s(nb.get('wall_s'))} | "
                f"{_peak(memory)} | {_gb(memory.get('max_reserved'))} | "
                f"{_gb(memory.get('process_peak_estimate'))} | "
                f"{'-' if estimate is None else f'{estimate:g} GB'} |"
            )
        for nb in notebooks:
            details = [
                f"cell {e['cell']} `{_cell(e['ename'])}`"
                + (f": {_cell(e['evalue'])}" if e.get("evalue") else "")
                + (f" at `{_cell(e['line'])}`" if e.get("line") else "")
                for e in nb.get("errors", [])
            ]
            slow = [f"cell {c['cell']} {c['seconds']:.1f} s (`{_cell(c['source'])}`)" for c in nb.get("slowest", [])]
            if details or slow:
                out += ["", f"**{nb['lesson']}**"]
                if slow:
                    out.append("- slowest cells: " + "; ".join(slow))
                out += [f"- {line}" for line in details[:12]]
                if len(details) > 12:
                    out.append(f"- ... and {len(details) - 12} more")
    else:
        out.append("Not run.")

    out += ["", "### Listener overhead", ""]
    listener = result.get("listener", [])
    if listener:
        out += [
            "`bench/bench_listener.py` itself, with the arguments in the last column (by default: t5-large's "
            "shape, random weights, batch 1, 32 forced new tokens, 15 interleaved pairs, ratio of medians); "
            "goal: ratio <= 1.02.",
            "",
            "| dtype | ratio with / without | ms/token without listeners | listener cost per call | same tokens | command |",
            "|---|---|---|---|---|---|",
        ]
        for row in listener:
            ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.4f}"
            base = "-" if row.get("ms_per_token") is None else f"{row['ms_per_token']:.2f}"
            cost = "-" if row.get("cost_us") is None else f"{row['cost_us']:.1f} µs"
            out.append(
                f"| {row['dtype']}{_earlier(row)} | {ratio} | {base} | {cost} | {row.get('checks', '-')} | "
                f"`{_cell(row['command'])}` |"
            )
    else:
        out.append("Not run.")

    out += ["", "### Decode speed against the bandwidth floor", ""]
    decode = result.get("decode", [])
    bandwidth = result.get("bandwidth", {}).get("bytes_per_s")
    if decode:
        setup = result.get("decode_setup", {})
        out += [
            f"Batch 1, a {setup.get('source_tokens', '?')}-token source, {setup.get('new_tokens', '?')} forced new "
            f"tokens (`min_new_tokens = max_new_tokens`), greedy, median of {setup.get('repeats', '?')} runs "
            "(`extras_and_licenses.decoding.time_generate`). The floor is the decoder's weight bytes plus the "
            f"`lm_head`, read once per token, divided by the copy bandwidth "
            f"({'-' if bandwidth is None else f'{bandwidth / 1e9:,.0f} GB/s'}); each figure is ms/token "
            "and, in brackets, how many times the floor it is. The compiled path is lesson 03's: "
            "`cache_implementation='static'` with `CompileConfig()` (mode reduce-overhead, CUDA graphs).",
            "",
            "| model | dtype | decoder bytes | floor | " + " | ".join(MODES) + " |",
            "|---|---|---|---|" + "---|" * len(MODES),
        ]
        keys = []
        for row in decode:
            if (row["model"], row["dtype"]) not in keys:
                keys.append((row["model"], row["dtype"]))
        for model, dtype in keys:
            rows = {r["mode"]: r for r in decode if r["model"] == model and r["dtype"] == dtype}
            any_row = next(iter(rows.values()))
            floor = any_row.get("floor_ms")
            cells = []
            for mode in MODES:
                row = rows.get(mode)
                if row is None or row.get("ms_per_token") is None:
                    cells.append(_cell(row["status"]) if row else "not run (see below)")
                    continue
                text = f"{row['ms_per_token']:.2f} ms ({row['x_floor']:,.0f}x)" if row.get("x_floor") else ""
                text = text or f"{row['ms_per_token']:.2f} ms"
                if row.get("compile_s") is not None:
                    text += f"; compiled + warm-up {row['compile_s']:.0f} s"
                if row.get("compiled") is False:
                    text += " (no compiled call was made: not compiled?)"
                cells.append(text + _earlier(row))
            decoder_bytes = any_row.get("decoder_bytes")
            out.append(
                f"| {model} | {dtype} | {'-' if decoder_bytes is None else f'{decoder_bytes / 1e6:,.0f} MB'} | "
                f"{'-' if floor is None else f'{floor:.3f} ms'} | " + " | ".join(cells) + " |"
            )
    else:
        out.append("Not run.")

    if result.get("ladder"):
        out += ["", *ladder_section(result)]

    skipped = result.get("skipped", [])
    if skipped:
        out += ["", "### Skipped or failed", ""]
        out += [f"- {item['part']}: {_cell(item['item'])}: {_cell(item['reason'])}" for item in skipped]
    return "\n".join(out) + "\n"


def ladder_section(result: dict) -> list[str]:
    """Issue 17's decode ladder (``bench/decode_ladder.py``), when the run measured it."""
    import decode_ladder  # a sibling module; it imports torch, so only when there is a ladder to show

    rows = result["ladder"]
    earlier = {row.get("earlier") for row in rows if row.get("earlier")}
    cpu = not str(rows[0].get("device", "")).startswith("cuda")
    return [
        "### Decode ladder: from no cache to the captured step, beside CTranslate2",
        "",
        f"`{COMMAND} --parts ladder` (`bench/decode_ladder.py`). Each rung makes the same greedy tokens a "
        "different way; every row's tokens are checked against plain `generate()`'s. Times include the "
        "encoder, as `generate()`'s do; x floor is the multiple of decoder weight bytes / copy bandwidth; "
        "CTranslate2 runs the same random weights, converted, in the same process on the same device."
        + (" **CPU figures: CUDA graphs and compilation need a GPU, so those rungs are skipped.**" if cpu else "")
        + (f" Measured {', '.join(sorted(earlier))} (earlier run)." if earlier else ""),
        "",
        decode_ladder.markdown(rows, result.get("device", {}).get("name", "")),
    ]


def render(results: list[dict], *, smoke: bool = False) -> str:
    """The whole BENCHMARKS.md for a list of results (one per device); ``smoke``: a smoke run's table only."""
    if smoke:
        head = ["# Benchmark smoke run (tiny models on the CPU; the numbers mean nothing)", ""]
        return "\n".join(head) + "\n" + "\n".join(render_device(r) for r in results)
    head = [
        "# Benchmarks: what GPU does a class need?",
        "",
        "Each lesson's run time and peak GPU memory, the ForwardListener's overhead, and decode speed",
        "against the memory-bandwidth limit, measured by one command on one GPU (issue 8):",
        "",
        "```bash",
        f"{COMMAND}                    # on the GPU machine: under 8 minutes",
        f'{COMMAND} --export "$OUT"    # the same, and copy BENCHMARKS.md and the results file to $OUT',
        f"{COMMAND} --smoke            # CPU, tiny models, under a minute: checks the benchmark runs (CI)",
        f"{COMMAND} --device cpu --parts lessons   # no GPU: the lessons in bfloat16, memory as live tensors",
        f"{COMMAND} --parts ladder     # lesson 03's decode ladder and CTranslate2 (issue 17), its own call",
        f"{COMMAND} --render           # re-render this file from bench/results/*.json",
        "```",
        "",
        "The GPU machines cannot reach the model hub, so the benchmark uses the real architectures with",
        "random weights (`COURSE_STANDIN=random`, `extras_and_licenses/standins.py`, configs in",
        "`extras_and_licenses/model_configs/`), generation forced to fixed lengths where it times decoding,",
        "and the demo tokenizer padded to T5's 32,128 ids. Run time and memory depend on the shapes, not on",
        "the weights' values. Results: `bench/results/<device>.json`, one file per device.",
        "",
        "Goals: " + "; ".join(GOALS) + ".",
        "",
    ]
    if not results:
        head += [
            "**No GPU figures from the full command exist yet.** The command above has not been run on a GPU:",
            "it was written and tested on a CPU-only machine (its `--smoke` mode runs in CI). Until it runs, the",
            "lesson memory figures in README.md are estimates, and the only GPU measurements are the earlier",
            "H200 figures below.",
            "",
        ]
    if not any(r.get("kind") == "gpu" and r.get("lessons") for r in results):
        head += [
            "**No lesson has run on a GPU yet.** No GPU was lent when the lessons' behaviour claims and real",
            "path were added (issue 15), so the figures below are from a CPU, or from a GPU run without the",
            "lesson part. The device call is ready: `bash bench/on_gpu_machine.sh` runs all five lessons in",
            "bfloat16 with real-shape random weights (behaviour claims in report mode: each lesson's tally of",
            "the claims that held is recorded, none stops a lesson), then lesson 01 again in float32, in about",
            "8.5 minutes (`BENCH_BUDGET`, `FP32_BUDGET`). Its figures then replace the estimates in",
            "`models.LESSON_GPU_GB`, README.md's table and lesson 01's introduction.",
            "",
        ]
    head += [
        "What the run needs: a CUDA GPU, the packages in `requirements-dev.txt` (nbclient and ipykernel run",
        "the lessons), a C compiler and Triton for `torch.compile` (missing ones are recorded, not fatal), and",
        "about 7.5 minutes: `--budget` (default 420 s) is shared by the parts, what does not fit is skipped",
        "with its reason, and a watchdog stops the run 30 s after the budget, keeping what was written.",
        "A later call with `--parts decode` (say) fills in skipped rows and keeps the other parts' results.",
        "The lessons need the transformers range in `requirements.txt` (>= 5.24); outside it the lesson part",
        "is skipped with the reason. The GPU machines' image has transformers 5.17 and no Jupyter kernel:",
        "`bash bench/fetch_gpu_wheels.sh` fetches the wheels the lesson part needs, transformers 5.24.0",
        "among them, into `.whl/`; carry that folder, and make the device command",
        "`bash bench/on_gpu_machine.sh`, which installs them beside the image's Python and runs the benchmark.",
        "",
    ]
    body = [render_device(r) + "\n" for r in results]
    # Students per GPU (bench/students_per_gpu.py --render writes that section), after everything else.
    students = RESULTS_DIR / "students_per_gpu.md"
    return "\n".join(head + body) + "\n" + EARLIER + ("\n" + students.read_text() if students.exists() else "")
