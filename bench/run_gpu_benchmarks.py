"""GPU benchmark for instructors (issue 8): what GPU does a class need?

One command, on one GPU, in under 8 minutes, from the repository root:

1. bandwidth: the device's copy bandwidth (``bench.machine.bandwidth``);
2. lessons: every lesson notebook (``notebooks/0*.ipynb``) run headless with nbclient and
   ``COURSE_STANDIN=random``, so each lesson model is its real architecture with random weights
   (the GPU machines cannot reach the hub): wall time, the cells that raised, and peak GPU memory,
   which the kernel hands back in a JSON file (``bench.lessons``, ``bench.in_kernel``);
3. listener: the ForwardListener's overhead on t5-large's shape (``bench.bench_listener.measure``),
   float32, then bfloat16;
4. decode: ms per generated token for the t5-base, t5-large and flan-t5-large shapes with no
   cache, the dynamic cache, and a static cache + torch.compile (lesson 03's settings), in
   bfloat16 and float32, each also as a multiple of the bandwidth floor (``bench.decode``);
5. ladder, only when asked (``--parts ladder``): issue 17's decode ladder (``bench.decode_ladder``): no
   cache to the hand-written step captured as a CUDA graph and compiled, CTranslate2 on the same weights,
   and the floor; token identity against ``generate()`` per row. Its own call:
   ``WHEEL_SET=ladder bash bench/fetch_gpu_wheels.sh`` here, then the device command
   ``bash bench/on_gpu_machine.sh --parts ladder --budget 420`` (carry [".whl"]).

Each part returns its rows as data; this module gives each its share of ``--budget`` (default 420 s,
counted from the start; what a part leaves passes to the next), records the rows and what was skipped
and why (``bench.bookkeeping``), and rewrites ``bench/results/<device-slug>.json`` and ``BENCHMARKS.md``
(``bench.gpu_report``) after every row. A watchdog ends the run 30 s after the budget, keeping what
was written. A partial run (``--parts``, ``--lessons`` or ``--decode-modes`` narrowed) starts from the
device's earlier results file and replaces only what it measures, to fill in what a first call skipped.

    python -m bench.run_gpu_benchmarks                     # on a GPU machine
    python -m bench.run_gpu_benchmarks --export "$OUT"     # ... and copy the results there too
    python -m bench.run_gpu_benchmarks --smoke             # CPU, tiny models, < 1 minute, temp folder
    python -m bench.run_gpu_benchmarks --render            # only re-render BENCHMARKS.md
    python -m bench.run_gpu_benchmarks --device cpu --parts lessons   # no GPU lent: live tensor bytes
    python -m bench.run_gpu_benchmarks --parts decode --decode-modes compiled --budget 300

Off the GPU the lessons run in bfloat16 (``--lesson-dtype``) and their memory is the peak of live tensor
bytes in the kernel (``bench.tensor_memory``); the results are their own kind, ``bench/results/cpu.json``.
On a lent GPU machine the device call is ``bash bench/on_gpu_machine.sh`` with the wheels from
``bash bench/fetch_gpu_wheels.sh`` carried (the image lacks the Jupyter kernel and has transformers 5.17).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # the budget counts from here, imports included

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from bench import bench_listener, decode, decode_ladder, gpu_report, lessons, machine  # noqa: E402
from bench.bookkeeping import Budget, Run, logger, seconds_left  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARES = {"bandwidth": 10, "lessons": 220, "listener": 45, "decode": 145, "ladder": 400}  # seconds
DEFAULT_PARTS = ("bandwidth", "lessons", "listener", "decode")  # the ladder (issue 17) runs when asked: --parts ladder
DEFAULT_BUDGET = sum(SHARES[part] for part in DEFAULT_PARTS)
GRACE_S = 30  # the watchdog's margin past the budget
NOTEBOOK_RESERVE_S = 20  # kept back for each lesson still to run
log = logger(T0)


def dtypes_for(run: Run, part: str) -> list[str]:
    """bfloat16 and float32 on a GPU that has bf16; float32 alone in a smoke run (CPU bf16 is slow)."""
    if run.args.smoke:
        return ["float32"]
    if not run.data["device"]["bf16"]:
        run.skip(part, "bfloat16", "this GPU does not support bfloat16")
        return ["float32"]
    return ["bfloat16", "float32"]


def run_bandwidth(run: Run, deadline: float) -> None:
    run.data["bandwidth"] = machine.bandwidth(run.device, run.args.smoke)
    log(f"   copy bandwidth {run.data['bandwidth']['bytes_per_s'] / 1e9:,.0f} GB/s")


def run_lessons(run: Run, deadline: float) -> None:
    problem = lessons.cannot_run(run.data["versions"])
    if problem:
        run.skip("lessons", "all", problem)
        return
    jobs = lessons.jobs(run.args.smoke, run.args.lessons)
    hub_cache = Path(tempfile.mkdtemp(prefix="bench-hf-cache-"))
    dtype = lessons.lesson_dtype(run.args.lesson_dtype, run.device, run.data["device"]["bf16"], run.args.smoke)
    env = lessons.kernel_env(hub_cache, dtype)
    try:
        for position, (name, read, workdir) in enumerate(jobs):
            own_deadline = deadline - NOTEBOOK_RESERVE_S * (len(jobs) - position - 1)
            if seconds_left(own_deadline) < 5:
                left = max(0, seconds_left(own_deadline))
                run.skip("lessons", name, f"only {left:.0f} s left for it in the lessons' budget")
                continue
            machine.free_memory(run.device)
            log(f"   {name}: running (up to {seconds_left(own_deadline):.0f} s)")
            result = lessons.run_notebook(read(), name, workdir, own_deadline, env, run.device, watch=run.watch)
            log(f"   {lessons.describe(result)}")
            run.add("lessons", result)
    finally:
        shutil.rmtree(hub_cache, ignore_errors=True)


def run_listener(run: Run, deadline: float) -> None:
    last_cost = None
    for dtype in sorted(dtypes_for(run, "listener"), reverse=True):  # float32 first: bench_listener's default
        if run.args.smoke:
            options = {"shape": "tiny", "device": "cpu", "repeats": 1, "new_tokens": 4}
            argv = ["--tiny", "--device", "cpu", "--dtype", dtype, "--repeats", "1", "--new-tokens", "4"]
        else:  # bench_listener's defaults: t5-large, 15 pairs on a GPU
            options = {"device": run.device}
            argv = ["--device", str(run.device), "--dtype", dtype]
        needed = 1.2 * last_cost if last_cost else 5
        if seconds_left(deadline) < needed:
            run.skip("listener", dtype, f"{seconds_left(deadline):.0f} s left, about {needed:.0f} s needed")
            continue
        command = "python -m bench.bench_listener " + " ".join(argv)
        log(f"   {command}")
        started = time.perf_counter()
        try:
            found = bench_listener.measure(dtype=dtype, **options)
        except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
            run.skip("listener", dtype, f"{type(exc).__name__}: {str(exc)[:200]}")
            continue
        finally:
            machine.free_memory(run.device)
        last_cost = time.perf_counter() - started
        log("   " + "\n   ".join(bench_listener.report(found)))
        run.add(
            "listener",
            {
                "dtype": dtype,
                "command": command,
                "ratio": found["ratio"],
                "ms_per_token": found["ms_per_token"],
                "cost_us": found["cost_us"],
                "checks": f"tokens {found['same_tokens']}, cache lengths {found['cache_lengths_ok']}",
                "seconds": round(last_cost, 1),
            },
        )


def record(run: Run, part: str, label: str, row: dict) -> None:
    """A part's row: a "skipped: reason" row is listed as skipped (an earlier run's measurement of it
    stands); any other row, measured or failed, is added."""
    status = row.get("status", "ok")
    if status.startswith("skipped"):
        run.skip(part, label, status.split(": ", 1)[-1])
        return
    if status != "ok":
        log(f"   {part} / {label}: {status}")
    run.add(part, row)


def run_decode(run: Run, deadline: float) -> None:
    run.data["decode_setup"] = decode.setup(run.args.smoke)
    decode.rows(
        run.device,
        dtypes_for(run, "decode"),
        run.args.decode_modes,
        smoke=run.args.smoke,
        deadline=deadline,
        bandwidth=run.data["bandwidth"].get("bytes_per_s"),
        log=log,
        on_row=lambda row: record(run, "decode", decode.label(row), row),
    )


def run_ladder(run: Run, deadline: float) -> None:
    """Issue 17's ladder: no cache to the captured step, CTranslate2, the floor."""
    smoke = run.args.smoke
    decode_ladder.ladder(
        run.args.ladder_models or (("t5-base", "flan-t5-large") if smoke else decode_ladder.MODELS),
        run.args.ladder_dtypes or dtypes_for(run, "ladder"),
        run.device,
        new_tokens=4 if smoke else 32,
        repeats=1 if smoke else 5,
        smoke=smoke,
        deadline=deadline,
        bandwidth=run.data["bandwidth"].get("bytes_per_s"),
        log=log,
        on_rows=lambda rows: [run.add("ladder", row) for row in rows],
    )


PARTS = {
    "bandwidth": run_bandwidth,
    "lessons": run_lessons,
    "listener": run_listener,
    "decode": run_decode,
    "ladder": run_ladder,
}


def watchdog(run: Run, limit_s: float) -> threading.Timer:
    def stop():
        log("WATCHDOG: the budget and its grace are spent; writing what was measured and stopping.")
        with run.lock:
            run.data["stopped"] = f"stopped by the watchdog {GRACE_S} s after the budget"
        try:
            run.save()
            lessons.kill_kernel(run.client)  # a lesson kernel would outlive us otherwise
        finally:
            os._exit(3)

    timer = threading.Timer(limit_s, stop)
    timer.daemon = True
    timer.start()
    return timer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run_gpu_benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny models, an injected notebook, temp output")
    parser.add_argument("--render", action="store_true", help="only re-render the Markdown from the results files")
    parser.add_argument("--device", default=None, help="cuda (default when there is one), cuda:1, cpu")
    parser.add_argument(
        "--budget", type=float, default=None, help=f"seconds in all (default {DEFAULT_BUDGET}; smoke 75)"
    )
    parser.add_argument(
        "--parts", nargs="+", choices=list(SHARES), default=list(DEFAULT_PARTS), help="which parts to run (ladder: ask)"
    )
    parser.add_argument("--lessons", nargs="+", default=None, help="lesson prefixes to run, e.g. 01 03")
    parser.add_argument(
        "--lesson-dtype",
        choices=["auto", "bfloat16", "float32"],
        default="auto",
        help="the lessons' precision (COURSE_DTYPE in their kernels); auto: the GPU's choice, bfloat16 on the CPU",
    )
    parser.add_argument(
        "--decode-modes", nargs="+", choices=list(decode.MODES), default=list(decode.MODES), help="decode rows to time"
    )
    parser.add_argument("--ladder-models", nargs="+", choices=decode_ladder.MODELS, help="ladder: these models only")
    parser.add_argument("--ladder-dtypes", nargs="+", choices=["bfloat16", "float32"], help="ladder: these dtypes only")
    parser.add_argument("--results-dir", type=Path, default=None, help="default bench/results (smoke: a temp folder)")
    parser.add_argument("--markdown", type=Path, default=None, help="default BENCHMARKS.md (smoke: a temp file)")
    parser.add_argument("--export", type=Path, default=None, help="also copy the JSON and Markdown here (e.g. $OUT)")
    args = parser.parse_args(argv)
    if args.smoke:
        scratch = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
        args.results_dir = args.results_dir or scratch
        args.markdown = args.markdown or scratch / "BENCHMARKS.md"
        args.budget = args.budget or 75.0
    args.results_dir = args.results_dir or ROOT / "bench" / "results"
    args.markdown = args.markdown or ROOT / "BENCHMARKS.md"
    args.budget = args.budget or float(DEFAULT_BUDGET)
    return args, parser


def partial(args) -> bool:
    """Does this run measure less than a full one (some parts, lessons or decode modes)?"""
    return set(args.parts) != set(DEFAULT_PARTS) or bool(args.lessons) or set(args.decode_modes) != set(decode.MODES)


def main(argv=None) -> int:
    args, parser = parse_args(argv)
    if args.render:
        args.markdown.write_text(gpu_report.render(gpu_report.load_results(args.results_dir)))
        print(f"wrote {args.markdown}")
        return 0
    if args.smoke:
        device = torch.device(args.device or "cpu")
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    else:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type != "cuda" and args.device is None:
            parser.error(
                "no CUDA GPU here. `--smoke` checks the benchmark on the CPU with tiny models; "
                "`--device cpu` runs the full benchmark on the CPU (very slow)."
            )
    run = Run(args, device, partial=partial(args), start=T0, log=log)
    log(
        f"benchmark on {run.data['device']['name']}; "
        + ", ".join(f"{k} {v}" for k, v in run.data["versions"].items())
        + f"; budget {args.budget:.0f} s; results -> {run.json_path()}, {args.markdown}"
    )
    timer = watchdog(run, args.budget + GRACE_S - (time.perf_counter() - T0))
    budget = Budget(args.budget, args.budget / sum(SHARES[part] for part in args.parts), SHARES, T0, log)
    try:
        for name, function in PARTS.items():
            if name not in args.parts:
                continue
            if name in ("decode", "ladder") and "bandwidth" not in args.parts:
                run_bandwidth(run, 0)  # the floor needs this device's bandwidth, measured now
            with budget.part(name) as deadline:
                try:
                    function(run, deadline)
                except Exception as exc:  # noqa: BLE001 - one broken part must not lose the others
                    run.skip(name, "all", f"{type(exc).__name__}: {str(exc)[:300]}")
            run.save()
    finally:
        timer.cancel()
    run.save()
    log(f"done: {run.json_path()} and {args.markdown}")
    for goal, figure, verdict in gpu_report.goal_rows(run.data):
        log(f"goal: {goal}: {figure}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
