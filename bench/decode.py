"""The decode part of the GPU benchmark: ms per generated token against the memory-bandwidth floor.

For the t5-base, t5-large and flan-t5-large shapes (random weights, ``extras_and_licenses.standins``) with
no cache, the dynamic cache, and a static cache + torch.compile (lesson 03's settings), in bfloat16 and
float32: batch 1, a 24-token source, 32 forced tokens, median of 5 runs
(``extras_and_licenses.decoding.time_generate``); each also as a multiple of the floor (decoder weight
bytes / bandwidth). ``rows(...)`` measures them and returns one dict per row: a measured row has
``status`` "ok", one that raised "failed: ...", and one left out "skipped: ..." with the reason (the
budget, or no CUDA GPU to compile on). The eager rows come first for every model, then the compiled
rows most-wanted first (t5-large in bfloat16), while the time lasts.
"""

from __future__ import annotations

import time

import torch

from bench import machine
from extras_and_licenses import standins
from extras_and_licenses.decoding import decoder_weight_bytes, time_generate

MODES = {"none": "no cache", "dynamic": "dynamic cache", "compiled": "static cache + compile"}  # option: label
MODELS = ("t5-large", "t5-base", "google/flan-t5-large")  # t5-large first: it carries a goal
SHORT = {"t5-base": "t5-base", "t5-large": "t5-large", "google/flan-t5-large": "flan-t5-large"}
SOURCE_TEXT = "translate English to German: The house is wonderful and the garden is big."
COMPILE_GUESS_S = 75  # a first compile of a T5 decoder step, until one has been measured


def inputs_for(device):
    """The one source every row decodes from: the demo tokenizer's ids, truncated at 24 tokens."""
    return standins.build_tokenizer()(SOURCE_TEXT, return_tensors="pt", truncation=True, max_length=24).to(device)


def setup(smoke: bool) -> dict:
    """The shared settings: the source's length, forced new tokens, timed runs, which models."""
    return {
        "source_tokens": inputs_for("cpu")["input_ids"].shape[1],
        "new_tokens": 4 if smoke else 32,
        "repeats": 1 if smoke else 5,
        "models": "tiny versions of each shape" if smoke else "real shapes, random weights",
    }


def label(row: dict) -> str:
    return f"{row['model']} {row['dtype']} {row['mode']}"


def measure_one(name, dtype, mode, kwargs, inputs, device, *, smoke, new_tokens, repeats, warmup, bandwidth) -> dict:
    """One row: build the model, time ``generate()`` with ``kwargs``; "failed: ..." when it raises."""
    row = {"model": SHORT[name], "dtype": dtype, "mode": mode, "status": "failed"}
    model = None
    try:
        config = standins.read_config(name)
        config = standins.tiny_config(config) if smoke else config
        model = standins.build_model(config, device, getattr(torch, dtype))
        row["decoder_bytes"] = decoder_weight_bytes(model)
        if bandwidth:
            row["floor_ms"] = row["decoder_bytes"] / bandwidth * 1e3
        built = time.perf_counter()
        timing = time_generate(model, inputs, new_tokens, repeats=repeats, warmup=warmup, **kwargs)
        total = time.perf_counter() - built
        row.update(
            status="ok",
            ms_per_token=timing.ms_per_token,
            runs_ms=[round(s * 1e3, 3) for s in timing.seconds],
            spread=round(max(timing.seconds) / min(timing.seconds) - 1, 4),
        )
        if row.get("floor_ms"):
            row["x_floor"] = timing.ms_per_token / row["floor_ms"]
        if "compile_config" in kwargs:
            row["compile_s"] = total - sum(timing.seconds)  # compilation and warm-up runs
            row["compiled"] = hasattr(model, "_compiled_call")
    except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
        text = str(exc).strip()
        row["status"] = f"failed: {type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
    finally:
        del model
        machine.free_memory(device)
    return row


def rows(device, dtypes, modes=tuple(MODES), *, smoke=False, deadline=None, bandwidth=None, log=print, on_row=None):
    """Every decode row for ``dtypes`` and the ``modes`` options (keys of ``MODES``), in the order measured.

    ``deadline`` (a ``time.perf_counter()`` value): a row whose guessed cost does not fit is returned as
    "skipped: ...". ``on_row(row)`` sees each row as it is made (the runner saves after each).
    """
    device = torch.device(device)
    settings = setup(smoke)
    new_tokens, repeats = settings["new_tokens"], settings["repeats"]
    inputs = inputs_for(device)
    made: list[dict] = []

    def emit(row: dict) -> None:
        made.append(row)
        if row.get("ms_per_token") is not None:
            log(
                f"   {label(row)}: {row['ms_per_token']:.2f} ms/token"
                + (f" ({row['x_floor']:,.0f}x the floor)" if row.get("x_floor") else "")
                + (f", compile + warm-up {row['compile_s']:.0f} s" if "compile_s" in row else "")
            )
        if on_row is not None:
            on_row(row)

    def measure(name, dtype, mode, kwargs, warmup, guess_s) -> float | None:
        left = float("inf") if deadline is None else deadline - time.perf_counter()
        if left < guess_s:
            reason = f"{left:.0f} s left in the decode budget, about {guess_s:.0f} s needed"
            emit({"model": SHORT[name], "dtype": dtype, "mode": mode, "status": f"skipped: {reason}"})
            return None
        started = time.perf_counter()
        emit(
            measure_one(
                name,
                dtype,
                mode,
                kwargs,
                inputs,
                device,
                smoke=smoke,
                new_tokens=new_tokens,
                repeats=repeats,
                warmup=warmup,
                bandwidth=bandwidth,
            )
        )
        return time.perf_counter() - started

    # Eager paths first, for every model: a complete table before any compile is tried.
    eager = {MODES["dynamic"]: {}, MODES["none"]: {"use_cache": False}}
    eager = {mode: kw for mode, kw in eager.items() if mode in [MODES[m] for m in modes]}
    per_run = {}  # seconds per generate() run with the dynamic cache, once measured
    first_guess = 0.2 if smoke else 1.5
    for name in MODELS:
        for dtype in dtypes:
            for mode, kwargs in eager.items():
                guess = per_run.get(name, first_guess) * (repeats + 1) * 1.5
                spent = measure(name, dtype, mode, kwargs, warmup=0 if smoke else 1, guess_s=guess)
                if spent is not None and mode == MODES["dynamic"]:
                    per_run[name] = spent / (repeats + 1)

    # Then static cache + torch.compile, most wanted first, while the budget lasts.
    if "compiled" not in modes:
        return made
    if device.type != "cuda":
        for name in MODELS:
            for dtype in dtypes:
                reason = "needs a CUDA GPU (lesson 03 compiles only there: CUDA graphs)"
                emit({"model": SHORT[name], "dtype": dtype, "mode": MODES["compiled"], "status": f"skipped: {reason}"})
        return made
    from transformers import CompileConfig

    static = {"cache_implementation": "static", "max_cache_len": new_tokens + 1}  # lesson 03's settings
    compile_guess = COMPILE_GUESS_S * (0.5 if smoke else 1.0)
    order = [(n, d) for n, d in (("t5-large", "bfloat16"), ("t5-large", "float32")) if d in dtypes]
    order += [(n, d) for d in dtypes for n in ("t5-base", "google/flan-t5-large")]
    for name, dtype in order:
        torch._dynamo.reset()  # each model and dtype compiles afresh, never hitting the recompile limit
        kwargs = dict(static, compile_config=CompileConfig())
        spent = measure(name, dtype, MODES["compiled"], kwargs, warmup=2, guess_s=compile_guess)
        if spent is not None:
            compile_guess = max(compile_guess, spent * 1.1)
    torch._dynamo.reset()
    return made
