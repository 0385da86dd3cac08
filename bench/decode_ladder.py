"""The decode ladder (issue 17): every way of making T5's greedy tokens, fastest last, beside CTranslate2.

For t5-base, t5-large and flan-t5-large (their real shapes with random weights, ``standins``), in
bfloat16 and float32, at batch 1 with a forced length (``min_new_tokens = max_new_tokens``), one row per rung:

1. ``no cache``: ``generate(use_cache=False)``, every step re-runs the decoder over the whole prefix;
2. ``dynamic cache``: plain ``generate()``, the reference every other row's tokens are checked against;
3. ``static cache``: ``generate(cache_implementation="static", disable_compile=True)``;
4. ``static cache + compile``: the same with ``CompileConfig()`` (a CUDA GPU only: ``generate()`` compiles only there);
5. ``static step``: ``extras_and_licenses.fast_decode``'s step, uncaptured (what the CPU runs);
6. ``captured step``: that step recorded once as a CUDA graph and replayed per token (GPU only);
7. ``compiled step``: that step under ``torch.compile(mode="reduce-overhead", fullgraph=True)`` (GPU only);
8. ``CTranslate2``: the same random weights converted with CTranslate2's Transformers converter, run in this
   process on the same device (if it cannot run, the row says why);

and ``floor``: decoder weight bytes / copy bandwidth (``extras_and_licenses.decoding``), the time no batch-1
step can beat. Each timed row has its median ms per token over ``repeats`` runs (each run includes the
encoder, as ``generate()`` does), how many times the floor it is, its ratio to CTranslate2 and to plain
``generate()``, and whether its tokens equal plain ``generate()``'s (and, for the static rungs,
``generate()`` with a static cache: in bfloat16 a static cache's masked, full-length attention rounds
differently from the dynamic cache's, so with random weights the two can part after some tokens).

    python -m bench.decode_ladder --smoke                  # CPU, tiny shapes, seconds: checks it runs
    python -m bench.decode_ladder --device cuda            # the whole ladder on a GPU
    python -m bench.decode_ladder --device cpu --models t5-base --dtypes float32 --new-tokens 16
    python -m bench.run_gpu_benchmarks --parts ladder      # the same, into bench/results/ and BENCHMARKS.md

``ladder(...)`` returns the rows (a list of dicts); ``bench.ladder_report.markdown(...)`` renders them.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

from bench import ct2_peer
from bench.ladder_report import FLOOR, cpu_ratio, markdown
from extras_and_licenses import fast_decode, standins
from extras_and_licenses.decoding import copy_bandwidth, floor_ms_per_token, time_generate

MODELS = ("t5-large", "flan-t5-large", "t5-base")  # t5-large first: it carries the goal
MODEL_IDS = {"t5-base": "t5-base", "t5-large": "t5-large", "flan-t5-large": "google/flan-t5-large"}
COMPILE_GUESS_S = 90  # a first torch.compile of a t5-large step, until one has been timed
SOURCE_TEXT = "translate English to German: The house is wonderful and the garden is big."


def _status(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ""
    return f"failed: {type(exc).__name__}: {text}"


def _generate_rungs(device):
    """The four generate() rungs: (rung, kwargs, warm-up runs), the dynamic cache first (the reference)."""
    rungs = [
        ("dynamic cache", {}, 1),
        ("no cache", {"use_cache": False}, 1),
        ("static cache", {"cache_implementation": "static", "disable_compile": True}, 1),
    ]
    if device.type == "cuda":
        from transformers import CompileConfig

        rungs.append(
            ("static cache + compile", {"cache_implementation": "static", "compile_config": CompileConfig()}, 2)
        )
    return rungs


def ladder(
    models=MODELS,
    dtypes=("bfloat16", "float32"),
    device="cuda",
    *,
    new_tokens: int = 32,
    repeats: int = 5,
    smoke: bool = False,
    deadline: float | None = None,
    bandwidth: float | None = None,
    log=print,
    on_rows=None,
) -> list[dict]:
    """Measure the ladder; returns one row dict per (model, dtype, rung), the floor included.

    ``smoke``: tiny versions of each shape (``standins.tiny_config``). ``deadline`` (a ``time.perf_counter()``
    value): rungs that would not finish by then are recorded as skipped (the compiled rungs are guessed
    at ``COMPILE_GUESS_S`` until one has been timed). ``bandwidth`` in bytes per second (measured here when
    not given). ``on_rows(rows)`` is called with each model and dtype's finished rows. The dtypes loop
    outside the models: the bfloat16 rows, which carry the goals, come first.
    """
    device = torch.device(device)
    if bandwidth is None:
        bandwidth = copy_bandwidth(device, megabytes=64 if smoke else None, repeats=3 if smoke else 5)
    state = _Ladder(device, new_tokens, repeats, smoke, deadline, bandwidth, log)
    rows: list[dict] = []
    for dtype in dtypes:
        for name in models:
            model_rows = state.measure(name, dtype)
            rows += model_rows
            if on_rows is not None:
                on_rows(model_rows)
    return rows


class _Ladder:
    """What every model's rungs share: the device, the prompt, the clock, the guess of a compile's cost."""

    def __init__(self, device, new_tokens, repeats, smoke, deadline, bandwidth, log):
        self.device, self.new_tokens, self.repeats, self.smoke = device, new_tokens, repeats, smoke
        self.deadline, self.bandwidth, self.log = deadline, bandwidth, log
        self.tokenizer = standins.build_tokenizer()
        self.inputs = self.tokenizer(SOURCE_TEXT, return_tensors="pt", truncation=True, max_length=24).to(device)
        self.compile_guess_s = COMPILE_GUESS_S * (0.1 if smoke else 1.0)  # updated once a compile is timed

    def out_of_time(self, needed_s: float = 0.0) -> bool:
        return self.deadline is not None and time.perf_counter() + needed_s > self.deadline

    def timed_compile(self, started: float) -> None:
        self.compile_guess_s = max(self.compile_guess_s, 1.1 * (time.perf_counter() - started))

    def measure(self, name: str, dtype: str) -> list[dict]:
        """Every rung for one model and dtype; the rows, with their ratios and token identity filled in."""
        device, inputs, new_tokens, repeats = self.device, self.inputs, self.new_tokens, self.repeats
        config = standins.read_config(MODEL_IDS[name])
        config = standins.tiny_config(config) if self.smoke else config
        base = {"model": name, "dtype": dtype, "device": str(device), "new_tokens": new_tokens}
        base["source_tokens"] = inputs["input_ids"].shape[1]
        rows: list[dict] = []

        def add(rung, **fields):
            row = {**base, "rung": rung, **fields}
            rows.append(row)
            shown = f"{row['ms_per_token']:.3f} ms/token" if row.get("ms_per_token") is not None else row["status"]
            self.log(f"   ladder {name} {dtype} {rung}: {shown}")

        if dtype == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            add(FLOOR, status="skipped: this GPU has no bfloat16")
            return rows
        model = standins.build_model(config, device, getattr(torch, dtype))
        add(
            FLOOR,
            status="ok",
            ms_per_token=floor_ms_per_token(model, self.bandwidth),
            bandwidth_gb_s=self.bandwidth / 1e9,
        )
        outputs = {}

        # rungs 1-4: generate()
        for rung, kwargs, warmup in _generate_rungs(device):
            compiled = "compile_config" in kwargs
            if self.out_of_time(self.compile_guess_s if compiled else 0.0):
                add(rung, status="skipped: out of time")
                continue
            started = time.perf_counter()
            try:
                if compiled:
                    torch._dynamo.reset()  # each model and dtype compiles afresh
                warmup = 0 if self.smoke else warmup
                timing = time_generate(model, inputs, new_tokens, repeats=repeats, warmup=warmup, **kwargs)
                outputs[rung] = timing.output_ids
                add(rung, status="ok", ms_per_token=timing.ms_per_token, runs_ms=_ms(timing.seconds))
                if compiled:
                    self.timed_compile(started)
            except Exception as exc:  # noqa: BLE001 - recorded, and the ladder goes on
                add(rung, status=_status(exc))
            finally:
                if compiled:
                    torch._dynamo.reset()
        if device.type != "cuda":
            add("static cache + compile", status="skipped: generate() compiles only on a CUDA device")

        # rungs 5-7: the hand-written static step, uncaptured, captured, compiled
        problem = fast_decode.capture_problem(device)
        for rung in ("static step", "captured step", "compiled step"):
            if rung != "static step" and problem:
                add(rung, status=f"skipped: {problem}")
                continue
            if self.out_of_time(self.compile_guess_s if rung == "compiled step" else 0.0):
                add(rung, status="skipped: out of time")
                continue
            started = time.perf_counter()
            try:
                add(rung, **_time_static_step(model, inputs, new_tokens, repeats, rung, device, outputs))
                if rung == "compiled step":
                    self.timed_compile(started)
            except Exception as exc:  # noqa: BLE001
                add(rung, status=_status(exc))
            finally:
                if rung == "compiled step":
                    torch._dynamo.reset()

        # rung 8: CTranslate2
        if self.out_of_time():
            add("CTranslate2", status="skipped: out of time")
        else:
            try:
                row = ct2_peer.time_ct2(model, self.tokenizer, inputs, new_tokens, repeats, dtype, device)
                if row.get("output_ids") is not None:
                    outputs["CTranslate2"] = row.pop("output_ids")
                add("CTranslate2", **row)
            except Exception as exc:  # noqa: BLE001 - CUDA library versions, compute types: recorded
                add("CTranslate2", status=_status(exc))

        _ratios(rows, outputs)
        del model
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return rows


def _ms(seconds: list[float]) -> list[float]:
    return [round(s * 1e3, 3) for s in seconds]


def _time_static_step(model, inputs, new_tokens, repeats, rung, device, outputs) -> dict:
    """One of the hand-written step's rungs: uncaptured, captured as a CUDA graph, or compiled."""
    started = time.perf_counter()
    decoder = fast_decode.StaticT5Decoder(model, *inputs["input_ids"].shape, new_tokens, new_tokens)
    decoder.load(inputs["input_ids"], inputs["attention_mask"])
    step = decoder.step
    if rung == "captured step":
        step = fast_decode.capture_cuda_graph(decoder).replay
    elif rung == "compiled step":
        step = fast_decode.compile_step(decoder)
        for _ in range(3):
            step()
    prepare_s = time.perf_counter() - started

    # each run encodes, then decodes, as generate() does per call
    timing = fast_decode.time_decode(
        decoder, inputs["input_ids"], inputs["attention_mask"], run_step=step, repeats=repeats, warmup=1
    )
    if timing.output_ids.shape[1] - 1 != new_tokens:
        raise RuntimeError(f"the step made {timing.output_ids.shape[1] - 1} tokens, not {new_tokens}")
    outputs[rung] = timing.output_ids
    return {
        "status": "ok",
        "ms_per_token": timing.ms_per_token,
        "runs_ms": _ms(timing.seconds),
        "prepare_s": round(prepare_s, 2),
        "cache_mb": round(decoder.cache_bytes() / 1e6, 2),
    }


def _ratios(model_rows: list[dict], outputs: dict) -> None:
    """Fill in each row's multiples of the floor, of CTranslate2 and of generate(), and its token identity."""
    by_rung = {row["rung"]: row for row in model_rows}
    floor = by_rung.get(FLOOR, {}).get("ms_per_token")
    ct2 = by_rung.get("CTranslate2", {}).get("ms_per_token")
    eager = by_rung.get("dynamic cache", {}).get("ms_per_token")
    reference, static = outputs.get("dynamic cache"), outputs.get("static cache")
    for row in model_rows:
        ms = row.get("ms_per_token")
        if ms is None or row["rung"] == FLOOR:
            continue
        row["x_floor"] = ms / floor if floor else None
        row["x_ct2"] = ms / ct2 if ct2 else None
        row["x_generate"] = ms / eager if eager else None
        ids = outputs.get(row["rung"])
        if ids is not None and reference is not None:
            row["same_tokens_as_generate"] = bool(ids.shape == reference.shape and torch.equal(ids, reference))
            if not row["same_tokens_as_generate"] and ids.shape == reference.shape:
                row["first_difference"] = int((ids != reference).any(0).nonzero()[0])
        if ids is not None and static is not None and row["rung"] in ("static step", "captured step", "compiled step"):
            row["same_tokens_as_static_generate"] = bool(ids.shape == static.shape and torch.equal(ids, static))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode_ladder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, 4 tokens, 1 repeat: checks it runs")
    parser.add_argument("--device", default=None, help="cuda (default when there is one), cpu")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--dtypes", nargs="+", choices=["bfloat16", "float32"], default=None)
    parser.add_argument("--new-tokens", type=int, default=None, help="forced new tokens (default 32; smoke 4)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per rung (default 5; smoke 1)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.smoke else "cpu"))
    dtypes = args.dtypes or (["float32"] if args.smoke else ["bfloat16", "float32"])
    rows = ladder(
        args.models,
        dtypes,
        device,
        new_tokens=args.new_tokens or (4 if args.smoke else 32),
        repeats=args.repeats or (1 if args.smoke else 5),
        smoke=args.smoke,
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(markdown(rows, name))
    for line in cpu_ratio(rows) if device.type == "cpu" else []:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
