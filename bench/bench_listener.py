"""How much do quiet ForwardListeners slow down generation?

Generates with and without listeners on the encoder and decoder (``quiet=True``, timing on, as
lessons 01-03 use them) on a T5 with random weights of a real model's shape, and prints the
ratio of the median times. The goal is an overhead of at most 2% on a GPU. A benchmark, not a
test: nothing here is run by pytest.

    python -m bench.bench_listener                          # t5-large shape, on the GPU if there is one
    python -m bench.bench_listener --tiny --device cpu      # a quick smoke run
    python -m bench.bench_listener --shape t5-base --dtype bfloat16 --repeats 7

Runs alternate (without, with) and (with, without) so that drift in clock speed or in other
load on the machine falls on both sides. The inputs come from the demo tokenizer (its ids are a
subset of T5's 32128-token vocabulary); ``min_new_tokens = max_new_tokens`` forces the length.
``measure(...)`` returns the figures as a dict (the GPU benchmark's listener part records it);
the command prints them.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch

from extras_and_licenses import standins
from extras_and_licenses.decoding import synchronize
from extras_and_licenses.forward_listener import ForwardListener

ROOT = Path(__file__).resolve().parents[1]

DEMO_DIR = ROOT / "extras_and_licenses" / "demo_model"
PROMPT = "translate English to German: The house is wonderful."  # 30 demo-tokenizer tokens
GOAL = 1.02

# Model shapes: the lesson models' kept configs (extras_and_licenses/model_configs); "tiny" for smoke runs.
SHAPES = ("t5-large", "t5-base", "tiny")


def load_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(DEMO_DIR))


def build_model(shape: str, device: torch.device, dtype: torch.dtype):
    """A T5 of the lesson model's real shape (or a tiny one) with random weights, built on ``device``."""
    config = standins.read_config("t5-large" if shape == "tiny" else shape)
    return standins.build_model(standins.tiny_config(config) if shape == "tiny" else config, device, dtype)


def timed_generate(model, inputs, new_tokens: int, device: torch.device) -> tuple[float, torch.Tensor]:
    gc.collect()  # so that a collection of earlier runs' garbage does not land inside this one
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**inputs, min_new_tokens=new_tokens, max_new_tokens=new_tokens, do_sample=False)
    synchronize(device)
    return time.perf_counter() - start, out


def timed_generate_listened(model, tokenizer, inputs, new_tokens: int, device: torch.device, timing: bool):
    """Like timed_generate, with quiet listeners on the encoder and decoder; also returns the listeners."""
    encoder = ForwardListener(model.encoder, name="encoder", tokenizer=tokenizer, quiet=True, timing=timing)
    decoder = ForwardListener(model.decoder, name="decoder", tokenizer=tokenizer, quiet=True, timing=timing)
    try:
        seconds, out = timed_generate(model, inputs, new_tokens, device)
    finally:
        ForwardListener.clear_all()
    # Reading the records (and any CUDA event timings) happens after the clock stopped, as in a lesson.
    calls = len(encoder.calls) + len(decoder.calls)
    if calls != 1 + new_tokens:
        raise RuntimeError(f"expected {1 + new_tokens} recorded calls, got {calls}")
    return seconds, out, (encoder, decoder)


class _Echo(torch.nn.Module):
    """A decoder-like module that does nothing: what is left is the listener's own cost."""

    def forward(self, input_ids=None, attention_mask=None, cache=None, use_cache=None, **kwargs):
        return input_ids


def listener_cost_us(device: torch.device, timing: bool, calls: int = 2000) -> float:
    """Microseconds a quiet listener adds to one call of a module (best of 5 loops, records read after)."""
    from transformers import DynamicCache, EncoderDecoderCache

    module = _Echo()
    ids = torch.zeros(1, 1, dtype=torch.long, device=device)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())

    def loop() -> float:
        best = float("inf")
        for _ in range(5):
            synchronize(device)
            start = time.perf_counter()
            for _ in range(calls):
                module(input_ids=ids, cache=cache, use_cache=True)
            synchronize(device)
            best = min(best, (time.perf_counter() - start) / calls)
        return best

    plain = loop()
    listener = ForwardListener(module, name="echo", quiet=True, timing=timing)
    try:
        listened = loop()
    finally:
        listener.clear()
    assert len(listener.calls) == 5 * calls
    return (listened - plain) * 1e6


def measure(
    shape: str = "t5-large",
    device="cpu",
    dtype: str = "float32",
    *,
    repeats: int | None = None,
    new_tokens: int = 32,
    batch: int = 1,
    timing: bool = True,
) -> dict:
    """Time generation with and without quiet listeners, in interleaved pairs; return the figures.

    ``repeats``: timed pairs (default 15 on a GPU, 3 on the CPU). A warm-up pair comes first, which also
    checks that listening changes no token (``same_tokens``) and that the decoder's records show the true
    cache lengths (``cache_lengths_ok``). ``ratio`` is the ratio of the medians, with / without.
    """
    import transformers

    device = torch.device(device)
    repeats = repeats or (15 if device.type == "cuda" else 3)
    tokenizer = load_tokenizer()
    model = build_model(shape, device, getattr(torch, dtype))
    inputs = tokenizer([PROMPT] * batch, return_tensors="pt", padding=True).to(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    src_len, n = inputs["input_ids"].shape[1], new_tokens
    found = {
        "shape": shape,
        "parameters": model.num_parameters(),
        "dtype": dtype,
        "device": str(device),
        "where": where,
        "versions": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "batch": batch,
        "source_tokens": src_len,
        "new_tokens": n,
        "repeats": repeats,
        "timing": timing,
    }
    _, reference = timed_generate(model, inputs, n, device)
    _, listened_out, (_, decoder) = timed_generate_listened(model, tokenizer, inputs, n, device, timing)
    found["same_tokens"] = torch.equal(reference, listened_out)
    found["cache_lengths_ok"] = [(c.self_cache_len, c.cross_cache_len) for c in decoder.calls] == [(0, 0)] + [
        (k, src_len) for k in range(1, n)
    ]

    without, with_ = [], []
    for r in range(repeats):
        pair = [
            lambda: without.append(timed_generate(model, inputs, n, device)[0]),
            lambda: with_.append(timed_generate_listened(model, tokenizer, inputs, n, device, timing)[0]),
        ]
        for run in pair if r % 2 == 0 else pair[::-1]:
            run()
    base = statistics.median(without)
    cost = listener_cost_us(device, timing)
    found.update(
        without_s=without,
        with_s=with_,
        ratio=statistics.median(with_) / base,
        ms_per_token=base / n * 1e3,
        best_ratio=min(with_) / min(without),
        spread=max(without) / min(without) - 1,
        cost_us=cost,
        expected_ratio=1 + (1 + n) * cost * 1e-6 / base,
    )
    return found


def report(found: dict) -> list[str]:
    """The lines the command prints for ``measure()``'s figures."""
    n = found["new_tokens"]
    lines = [
        f"model: {found['shape']} shape, random weights, {found['parameters']:,} parameters, {found['dtype']} on "
        f"{found['device']} ({found['where']}); {found['versions']}",
        f"input: batch {found['batch']}, {found['source_tokens']} source tokens, {n} forced new "
        f"tokens; {found['repeats']} interleaved pairs, medians",
        f"check: same tokens with listeners: {found['same_tokens']}; recorded cache lengths are 0..{n - 1}: "
        f"{found['cache_lengths_ok']}",
    ]
    labels = ("without listeners", "with listeners (quiet" + ("" if found["timing"] else ", timing=False") + ")")
    width = max(map(len, labels)) + 1
    for label, runs in zip(labels, (found["without_s"], found["with_s"]), strict=True):
        median = statistics.median(runs)
        lines.append(
            f"{label + ':':<{width}} median {median * 1e3:8.1f} ms ({median / n * 1e3:.2f} ms/token), "
            f"best {min(runs) * 1e3:.1f} ms; runs: {' '.join(f'{t * 1e3:.0f}' for t in runs)}"
        )
    ratio = found["ratio"]
    verdict = "within" if ratio <= GOAL else "ABOVE"
    lines += [
        f"best-run ratio {found['best_ratio']:.4f}; run-to-run spread without listeners {found['spread'] * 100:.1f}%",
        f"listener's own cost, measured alone: {found['cost_us']:.1f} us per call; {1 + n} calls per generation "
        f"-> expected ratio {found['expected_ratio']:.4f}",
        f"RATIO with/without = {ratio:.4f} ({(ratio - 1) * 100:+.2f}%, medians): {verdict} the {GOAL:.2f} goal for a GPU",
    ]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_listener", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="t5-large")
    parser.add_argument("--tiny", action="store_true", help="same as --shape tiny")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--repeats", type=int, default=None, help="timed pairs (default: 15 on a GPU, 3 on the CPU)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--no-listener-timing", action="store_true", help="listeners with timing=False")
    parser.add_argument("--check", action="store_true", help=f"exit with status 1 when the ratio exceeds {GOAL}")
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    found = measure(
        "tiny" if args.tiny else args.shape,
        device,
        args.dtype,
        repeats=args.repeats,
        new_tokens=args.new_tokens,
        batch=args.batch,
        timing=not args.no_listener_timing,
    )
    print("\n".join(report(found)))
    checks_ok = found["same_tokens"] and found["cache_lengths_ok"]
    return 1 if not checks_ok or (args.check and found["ratio"] > GOAL) else 0


if __name__ == "__main__":
    sys.exit(main())
