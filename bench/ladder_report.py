"""The decode ladder's rows (``bench.decode_ladder``) as Markdown: the goals, then a table per model and dtype.

Nothing here measures anything or imports torch: ``bench.gpu_report`` renders the ladder of a results file
with it, and ``python -m bench.decode_ladder`` prints its own rows with it. ``RUNGS`` is the ladder's order,
slowest first; every row's ``rung`` is one of them or ``FLOOR``.
"""

from __future__ import annotations

RUNGS = (
    "no cache",
    "dynamic cache",
    "static cache",
    "static cache + compile",
    "static step",
    "captured step",
    "compiled step",
    "CTranslate2",
)
FLOOR = "floor"
GOALS_MS = {"t5-base": 0.5, "t5-large": 1.0, "flan-t5-large": 1.0}  # bfloat16, batch 1, H100/H200


def _fmt_ms(value) -> str:
    return "-" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}")


def _fmt_x(value) -> str:
    return "-" if value is None else (f"{value:.2f}x" if value < 10 else f"{value:,.0f}x")


def _identity(row: dict) -> str:
    same = row.get("same_tokens_as_generate")
    if same is None:
        return "-"
    text = "yes" if same else f"no (from token {row.get('first_difference', '?')})"
    if row.get("same_tokens_as_static_generate") is not None:
        text += "; static generate(): " + ("yes" if row["same_tokens_as_static_generate"] else "no")
    return text


def table(rows: list[dict]) -> list[str]:
    """Markdown lines: one table per model and dtype, the rungs in order, the floor last."""
    out = []
    keys = []
    for row in rows:
        if (row["model"], row["dtype"]) not in keys:
            keys.append((row["model"], row["dtype"]))
    for model, dtype in keys:
        group = {r["rung"]: r for r in rows if r["model"] == model and r["dtype"] == dtype}
        first = next(iter(group.values()))
        out += [
            "",
            f"**{model}, {dtype}** (batch 1, {first.get('source_tokens', '?')}-token source, "
            f"{first.get('new_tokens', '?')} forced new tokens, {first.get('device', '?')})",
            "",
            "| rung | ms/token | x floor | x CTranslate2 | x generate() | same tokens as generate() | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for rung in (*RUNGS, FLOOR):
            row = group.get(rung)
            if row is None:
                continue
            note = "" if row.get("status") == "ok" else row.get("status", "")
            if rung == FLOOR:
                note = (
                    f"decoder weights / {row.get('bandwidth_gb_s', 0):,.0f} GB/s" if row.get("status") == "ok" else note
                )
            elif row.get("prepare_s") is not None:
                note = f"prepare {row['prepare_s']:.1f} s" + (
                    f"; CTranslate2 {row['version']}" if row.get("version") else ""
                )
            out.append(
                f"| {rung} | {_fmt_ms(row.get('ms_per_token'))} | {_fmt_x(row.get('x_floor'))} | "
                f"{_fmt_x(row.get('x_ct2'))} | {_fmt_x(row.get('x_generate'))} | {_identity(row)} | "
                f"{note.replace('|', '/')} |"
            )
    return out


def goal_lines(rows: list[dict], device_name: str) -> list[str]:
    """The issue's goals against the fastest hand-written rung, bfloat16, batch 1."""
    out = []
    gpu = any(tag in device_name for tag in ("H100", "H200"))
    for model, goal in GOALS_MS.items():
        mine = [
            r
            for r in rows
            if r["model"] == model and r["dtype"] == "bfloat16" and r["rung"] in ("captured step", "compiled step")
        ]
        mine = [r for r in mine if r.get("ms_per_token") is not None]
        ct2 = next(
            (r for r in rows if r["model"] == model and r["dtype"] == "bfloat16" and r["rung"] == "CTranslate2"), {}
        )
        if not mine:
            out.append(f"- {model}, bfloat16: <= {goal} ms/token: not measured (no captured step ran here)")
            continue
        best = min(mine, key=lambda r: r["ms_per_token"])
        verdict = ("met" if best["ms_per_token"] <= goal else "NOT met") if gpu else "goal is for an H100/H200"
        peer = ""
        if ct2.get("ms_per_token"):
            peer = (
                "; faster than CTranslate2"
                if best["ms_per_token"] < ct2["ms_per_token"]
                else "; NOT faster than CTranslate2"
            )
        out.append(
            f"- {model}, bfloat16: <= {goal} ms/token: {best['ms_per_token']:.3f} ({best['rung']}): {verdict}{peer}"
        )
    return out


def markdown(rows: list[dict], device_name: str = "") -> str:
    lines = ["Goals (issue 17):", *goal_lines(rows, device_name), *table(rows)]
    return "\n".join(lines) + "\n"


def cpu_ratio(rows: list[dict]) -> list[str]:
    """On the CPU: the static step against generate(), as a ratio, per model and dtype."""
    out = []
    for row in rows:
        if row["rung"] == "static step" and row.get("x_generate"):
            out.append(f"{row['model']} {row['dtype']}: static step / generate() = {row['x_generate']:.3f}")
    return out
