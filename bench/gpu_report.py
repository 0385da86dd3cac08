"""BENCHMARKS.md from the GPU benchmark's results files (bench/results/<device>.json).

``python -m bench.run_gpu_benchmarks`` measures and writes one JSON file per device; this module turns
those files into the Markdown an instructor reads: per device, the goals, each lesson's run time
and peak GPU memory, the listener's overhead and the decode speed against the bandwidth floor.
Each table is a column spec (``LESSON_COLUMNS``, ...: a header and how to fill the cell from a row)
rendered by ``table``; the prose is in ``bench.report_text``; the figures measured on an H200 before
the benchmark command existed are data, ``bench/data/earlier_h200.json``, so that re-rendering never
loses them. The students-per-GPU section (``bench/results/students_per_gpu.md``, written by
``python -m bench.students_per_gpu``) is appended last. Nothing here measures anything.

    python -m bench.run_gpu_benchmarks --render     # re-render BENCHMARKS.md from bench/results/*.json
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import ladder_report, report_text
from bench.decode import MODES as DECODE_MODES
from extras_and_licenses.models import LESSON_GPU_GB

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
EARLIER = Path(__file__).resolve().parent / "data" / "earlier_h200.json"
STUDENTS = RESULTS_DIR / "students_per_gpu.md"  # python -m bench.students_per_gpu --render writes it
COMMAND = "python -m bench.run_gpu_benchmarks"
MODES = tuple(DECODE_MODES.values())  # the decode table's columns, in this order
GOALS = (
    "lesson 01 peak GPU memory <= 6 GB in bfloat16",
    "listener overhead <= 2% (ratio <= 1.02)",
    "fastest taught decode path for t5-large <= 2 ms/token on an H100/H200",
)


def load_results(directory: Path = RESULTS_DIR) -> list[dict]:
    """Every results file in ``directory``, GPUs first, then full CPU runs; smoke runs are left out."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") in ("gpu", "cpu"):
            found.append(data)
    return sorted(found, key=lambda data: data["kind"] != "gpu")


# ------------------------------------------------------------------ cells
def _gb(nbytes) -> str:
    return "-" if nbytes is None else f"{nbytes / 1e9:.2f} GB"


def _peak(memory: dict) -> str:
    """Peak allocated on a GPU; off it, the peak of live tensors (bench/tensor_memory.py)."""
    if memory.get("max_allocated") is None and memory.get("tensor_peak") is not None:
        return f"{_gb(memory['tensor_peak'])} (live tensors)"
    return _gb(memory.get("max_allocated"))


def _s(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _number(value, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _scaled(value, unit: float):
    return None if value is None else value / unit


def _earlier(row: dict) -> str:
    return " (earlier)" if row.get("earlier") else ""


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(columns, rows) -> list[str]:
    """A Markdown table: ``columns`` is (header, cell) pairs, ``cell(row)`` the text of one cell."""
    lines = ["| " + " | ".join(header for header, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(cell(row)) for _, cell in columns)
        lines.append("|" + "|".join(f" {text} " if text else " " for text in cells) + "|")  # an empty cell: "| |"
    return lines


# ------------------------------------------------------------------ table specs
def _memory(nb: dict) -> dict:
    return nb.get("memory") or {}


LESSON_COLUMNS = (
    ("lesson", lambda nb: nb["lesson"] + _earlier(nb)),
    ("dtype", lambda nb: nb.get("dtype", "-")),
    ("result", lambda nb: _cell(nb["summary"])),
    ("run time", lambda nb: _s(nb.get("wall_s"))),
    ("peak allocated", lambda nb: _peak(_memory(nb))),
    ("peak reserved", lambda nb: _gb(_memory(nb).get("max_reserved"))),
    ("process peak (est.)", lambda nb: _gb(_memory(nb).get("process_peak_estimate"))),
    ("estimate in placement.py", lambda nb: _number(LESSON_GPU_GB.get(nb["lesson"][:2]), "g", " GB")),
)
LISTENER_COLUMNS = (
    ("dtype", lambda row: row["dtype"] + _earlier(row)),
    ("ratio with / without", lambda row: _number(row.get("ratio"), ".4f")),
    ("ms/token without listeners", lambda row: _number(row.get("ms_per_token"), ".2f")),
    ("listener cost per call", lambda row: _number(row.get("cost_us"), ".1f", " µs")),
    ("same tokens", lambda row: row.get("checks", "-")),
    ("command", lambda row: f"`{_cell(report_text.spelled_today(row['command']))}`"),
)
GOAL_COLUMNS = (
    ("goal", lambda goal: goal[0]),
    ("figure", lambda goal: _cell(goal[1])),
    ("verdict", lambda goal: _cell(goal[2])),
)


def _decode_cell(row: dict | None) -> str:
    """One decode figure: ms/token and its multiple of the floor, or why there is none."""
    if row is None or row.get("ms_per_token") is None:
        return _cell(row["status"]) if row else "not run (see below)"
    text = f"{row['ms_per_token']:.2f} ms" + (f" ({row['x_floor']:,.0f}x)" if row.get("x_floor") else "")
    if row.get("compile_s") is not None:
        text += f"; compiled + warm-up {row['compile_s']:.0f} s"
    if row.get("compiled") is False:
        text += " (no compiled call was made: not compiled?)"
    return text + _earlier(row)


def _decode_groups(decode: list[dict]) -> list[dict]:
    """The decode rows pivoted: per (model, dtype), in first-seen order, its rows by mode and the first of them."""
    groups: dict[tuple, dict] = {}
    for row in decode:
        groups.setdefault((row["model"], row["dtype"]), {})[row["mode"]] = row
    return [{"first": next(iter(modes.values())), "modes": modes} for modes in groups.values()]


DECODE_COLUMNS = (
    ("model", lambda g: g["first"]["model"]),
    ("dtype", lambda g: g["first"]["dtype"]),
    ("decoder bytes", lambda g: _number(_scaled(g["first"].get("decoder_bytes"), 1e6), ",.0f", " MB")),
    ("floor", lambda g: _number(g["first"].get("floor_ms"), ".3f", " ms")),
    *((mode, lambda g, mode=mode: _decode_cell(g["modes"].get(mode))) for mode in MODES),
)


# ------------------------------------------------------------------ goals
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


# ------------------------------------------------------------------ sections
def _section(title: str, rows: list, intro: str, columns, extra: list[str] = ()) -> list[str]:
    if not rows:
        return ["", f"### {title}", "", "Not run."]
    return ["", f"### {title}", "", intro, "", *table(columns, rows), *extra]


def _lesson_details(notebooks: list[dict]) -> list[str]:
    """Per lesson: its slowest cells and the cells that raised (the first 12)."""
    out = []
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
    return out


def render_device(result: dict) -> str:
    """The Markdown section for one results file."""
    device, versions = result["device"], result["versions"]
    out = [f"## {device['name']} ({result['date'][:10]})", ""]
    out += {"smoke": [report_text.SMOKE_RUN, ""], "cpu": [report_text.CPU_RUN, ""]}.get(result.get("kind"), [])
    memory = f", {device['total_memory'] / 1e9:.0f} GB" if device.get("total_memory") else ""
    out += [
        f"- device: {device['name']}{memory}{', ' + device['detail'] if device.get('detail') else ''}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- command: `{report_text.spelled_today(result['command'])}` (commit {result.get('commit', 'unknown')})",
        f"- finished in {result['elapsed_s']:.0f} s of a {result['budget_s']:.0f} s budget"
        + (f"; {result['stopped']}" if result.get("stopped") else ""),
        *[
            f"- rows marked (earlier) come from an earlier run: {report_text.spelled_today(run)}"
            for run in result.get("earlier_runs", [])
        ],
        "",
        *table(GOAL_COLUMNS, goal_rows(result)),
    ]
    lessons = result.get("lessons", [])
    out += _section("Lessons", lessons, report_text.LESSONS, LESSON_COLUMNS, _lesson_details(lessons))
    out += _section("Listener overhead", result.get("listener", []), report_text.LISTENER, LISTENER_COLUMNS)
    setup, bandwidth = result.get("decode_setup", {}), result.get("bandwidth", {}).get("bytes_per_s")
    intro = report_text.DECODE.format(
        source_tokens=setup.get("source_tokens", "?"),
        new_tokens=setup.get("new_tokens", "?"),
        repeats=setup.get("repeats", "?"),
        bandwidth="-" if bandwidth is None else f"{bandwidth / 1e9:,.0f} GB/s",
    )
    decode = _decode_groups(result.get("decode", []))
    out += _section("Decode speed against the bandwidth floor", decode, intro, DECODE_COLUMNS)
    if result.get("ladder"):
        out += ["", *ladder_section(result)]
    skipped = result.get("skipped", [])
    if skipped:
        out += ["", "### Skipped or failed", ""]
        out += [f"- {item['part']}: {_cell(item['item'])}: {_cell(item['reason'])}" for item in skipped]
    return "\n".join(out) + "\n"


def ladder_section(result: dict) -> list[str]:
    """Issue 17's decode ladder (``bench.decode_ladder``), when the run measured it."""
    rows = result["ladder"]
    earlier = {row.get("earlier") for row in rows if row.get("earlier")}
    cpu = not str(rows[0].get("device", "")).startswith("cuda")
    return [
        report_text.LADDER_TITLE,
        "",
        report_text.LADDER.format(command=COMMAND)
        + (report_text.LADDER_CPU if cpu else "")
        + (f" Measured {', '.join(sorted(earlier))} (earlier run)." if earlier else ""),
        "",
        ladder_report.markdown(rows, result.get("device", {}).get("name", "")),
    ]


def render_earlier(path: Path = EARLIER) -> str:
    """The figures measured before the benchmark command existed (``bench/data/earlier_h200.json``)."""
    data = json.loads(path.read_text())
    out = [f"## {data['title']}"]
    for block in data["blocks"]:
        columns = [(header, lambda row, i=i: row[i]) for i, header in enumerate(block.get("columns", []))]
        out += ["", *(block["text"] if "text" in block else table(columns, block["rows"]))]
    return "\n".join(out) + "\n"


def render(results: list[dict], *, smoke: bool = False) -> str:
    """The whole BENCHMARKS.md for a list of results (one per device); ``smoke``: a smoke run's table only."""
    if smoke:
        return report_text.SMOKE_HEAD + "\n\n" + "\n".join(render_device(r) for r in results)
    head = report_text.PAGE_HEAD.format(command=COMMAND, goals="; ".join(GOALS)).splitlines() + [""]
    if not results:
        head += report_text.NO_RESULTS.splitlines() + [""]
    if not any(r.get("kind") == "gpu" and r.get("lessons") for r in results):
        head += report_text.NO_GPU_LESSONS.splitlines() + [""]
    head += report_text.NEEDS.splitlines() + [""]
    body = [render_device(r) + "\n" for r in results]
    students = "\n" + STUDENTS.read_text() if STUDENTS.exists() else ""
    return "\n".join(head + body) + "\n" + render_earlier() + students
