"""The GPU benchmark's bookkeeping: its time budget and the results file its parts write into.

``Budget`` shares ``--budget`` seconds between the parts that run; ``Run`` holds one run's results,
keeps a label per measured row (a later row with the same label replaces it), records what was
skipped and why, and rewrites ``bench/results/<device>.json`` and the Markdown after every row, so a
run that is stopped keeps what it measured. Used by ``python -m bench.run_gpu_benchmarks``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sys
import threading
import time
from pathlib import Path

from bench import gpu_report, machine

# Each measured row's label (also the ``item`` of a skip record): a later row with the same label replaces it.
LABELS = {
    # a lesson also run in float32 (lesson 01, by on_gpu_machine.sh) is its own row beside the bfloat16 one
    "lessons": lambda row: (
        row["lesson"] if row.get("dtype", "bfloat16") == "bfloat16" else f"{row['lesson']} {row['dtype']}"
    ),
    "listener": lambda row: row["dtype"],
    "decode": lambda row: f"{row['model']} {row['dtype']} {row['mode']}",
    "ladder": lambda row: f"{row['model']} {row['dtype']} {row['rung']}",
}


def logger(start: float):
    """``log(message)``: prints it with the seconds since ``start`` (a ``time.perf_counter()`` value)."""

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {message}", flush=True)

    return log


def seconds_left(deadline: float) -> float:
    return deadline - time.perf_counter()


class Budget:
    """The run's time: each part gets its share plus what earlier parts left unused."""

    def __init__(self, total_s: float, scale: float, shares: dict, start: float, log=print):
        self.total_s, self.scale, self.shares, self.carry = total_s, scale, shares, 0.0
        self.start, self.log = start, log  # the budget counts from the start of the command, imports included

    def left(self) -> float:
        return self.total_s - (time.perf_counter() - self.start)

    @contextlib.contextmanager
    def part(self, name: str):
        allowed = max(0.0, min(self.shares[name] * self.scale + self.carry, self.left()))
        deadline = time.perf_counter() + allowed
        self.log(f"== {name}: {allowed:.0f} s allowed")
        began = time.perf_counter()
        try:
            yield deadline
        finally:
            used = time.perf_counter() - began
            self.carry = max(0.0, allowed - used)
            self.log(f"== {name} done in {used:.0f} s")


class Run:
    """The results of one run, written to JSON and Markdown after every row.

    ``partial``: the run measures only some parts, lessons or decode modes, so it starts from this
    device's earlier results file and replaces only what it measures.
    """

    def __init__(self, args, device, *, partial: bool, start: float, log=print):
        self.args, self.device, self.start, self.log = args, device, start, log
        self.lock = threading.Lock()
        self.client = None  # the lesson's NotebookClient while one runs (bench.lessons): the watchdog kills its kernel
        self.data = {
            "schema": 1,
            "kind": "smoke" if args.smoke else ("gpu" if device.type == "cuda" else "cpu"),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([gpu_report.COMMAND, *sys.argv[1:]]),
            "commit": machine.git_commit(),
            "device": machine.describe_device(device, args.smoke),
            "versions": machine.versions(),
            "budget_s": args.budget,
            "elapsed_s": 0.0,
            "bandwidth": {},
            "lessons": [],
            "listener": [],
            "decode": [],
            "decode_setup": {},
            "ladder": [],
            "skipped": [],
            "earlier_runs": [],
        }
        if not args.smoke and self.json_path().exists():
            self.carry_over(json.loads(self.json_path().read_text()), partial)

    def carry_over(self, previous: dict, partial: bool) -> None:
        """Keep rows of this device's earlier results, marked as earlier: every part's in a partial run
        (what it measures replaces the rows with the same label), the ladder's alone in a full run (which
        replaces everything else but does not run the ladder)."""
        if previous.get("kind") != self.data["kind"]:
            return
        for key in LABELS if partial else ("ladder",):
            self.data[key] = [
                dict(row, earlier=row.get("earlier") or previous["date"]) for row in previous.get(key, [])
            ]
        if not partial:
            return
        for key in ("bandwidth", "decode_setup"):
            self.data[key] = previous.get(key, {})
        self.data["skipped"] = previous.get("skipped", [])
        self.data["earlier_runs"] = previous.get("earlier_runs", []) + [f"{previous['date']}: `{previous['command']}`"]

    def watch(self, client) -> None:
        """``bench.lessons.run_notebook``'s ``watch``: remembers the client that is running now (or None)."""
        self.client = client

    def add(self, part: str, row: dict) -> None:
        """Record a measured row (replacing an earlier one with the same label) and save."""
        label = LABELS[part](row)
        with self.lock:
            self.data[part] = [r for r in self.data[part] if LABELS[part](r) != label] + [row]
            self.data["skipped"] = [s for s in self.data["skipped"] if (s["part"], s["item"]) != (part, label)]
        self.save()

    def skip(self, part: str, item: str, reason: str) -> None:
        """Record why ``item`` was not measured, unless an earlier run's measurement of it stands."""
        self.log(f"   skipped {part} / {item}: {reason}")
        with self.lock:
            if part in LABELS and any(LABELS[part](row) == item for row in self.data[part]):
                return
            self.data["skipped"] = [s for s in self.data["skipped"] if (s["part"], s["item"]) != (part, item)]
            self.data["skipped"].append({"part": part, "item": item, "reason": reason})

    def json_path(self) -> Path:
        return self.args.results_dir / f"{self.data['device']['slug']}.json"

    def save(self) -> None:
        with self.lock:
            self.data["elapsed_s"] = time.perf_counter() - self.start
            text = json.dumps(self.data, indent=2, default=str)
        self.args.results_dir.mkdir(parents=True, exist_ok=True)
        self.json_path().write_text(text + "\n")
        if self.args.smoke:  # only this run's table; never the committed BENCHMARKS.md
            markdown = gpu_report.render([json.loads(text)], smoke=True)
        else:
            markdown = gpu_report.render(gpu_report.load_results(self.args.results_dir))
        self.args.markdown.write_text(markdown)
        if self.args.export:
            self.args.export.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.json_path(), self.args.export / self.json_path().name)
            shutil.copy(self.args.markdown, self.args.export / self.args.markdown.name)
