"""How much do quiet ForwardListeners slow down generation?

Generates with and without listeners on the encoder and decoder (``quiet=True``, timing on, as
lessons 01-03 use them) on a T5 with random weights of a real model's shape, and prints the
ratio of the median times. The goal is an overhead of at most 2% on a GPU. A benchmark, not a
test: nothing here is run by pytest.

    python bench/bench_listener.py                          # t5-large shape, on the GPU if there is one
    python bench/bench_listener.py --tiny --device cpu      # a quick smoke run
    python bench/bench_listener.py --shape t5-base --dtype bfloat16 --repeats 7

Runs alternate (without, with) and (with, without) so that drift in clock speed or in other
load on the machine falls on both sides. The inputs come from the demo tokenizer (its ids are a
subset of T5's 32128-token vocabulary); ``min_new_tokens = max_new_tokens`` forces the length.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from extras_and_licenses import standins  # noqa: E402
from extras_and_licenses.decoding import synchronize  # noqa: E402
from extras_and_licenses.forward_listener import ForwardListener  # noqa: E402

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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

    shape = "tiny" if args.tiny else args.shape
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    repeats = args.repeats or (15 if device.type == "cuda" else 3)

    import transformers

    tokenizer = load_tokenizer()
    model = build_model(shape, device, dtype)
    inputs = tokenizer([PROMPT] * args.batch, return_tensors="pt", padding=True).to(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"model: {shape} shape, random weights, {model.num_parameters():,} parameters, {args.dtype} on {device} "
        f"({where}); transformers {transformers.__version__}, torch {torch.__version__}"
    )
    print(
        f"input: batch {args.batch}, {inputs['input_ids'].shape[1]} source tokens, {args.new_tokens} forced new "
        f"tokens; {repeats} interleaved pairs, medians"
    )

    timing = not args.no_listener_timing
    # Warm-up pair, which also checks that listening changes nothing and records the true cache lengths.
    _, reference = timed_generate(model, inputs, args.new_tokens, device)
    _, listened_out, (_, decoder) = timed_generate_listened(model, tokenizer, inputs, args.new_tokens, device, timing)
    src_len, n = inputs["input_ids"].shape[1], args.new_tokens
    identical = torch.equal(reference, listened_out)
    lengths_ok = [(c.self_cache_len, c.cross_cache_len) for c in decoder.calls] == [(0, 0)] + [
        (k, src_len) for k in range(1, n)
    ]
    print(f"check: same tokens with listeners: {identical}; recorded cache lengths are 0..{n - 1}: {lengths_ok}")

    def run_plain() -> float:
        return timed_generate(model, inputs, n, device)[0]

    def run_listened() -> float:
        return timed_generate_listened(model, tokenizer, inputs, n, device, timing)[0]

    without, with_ = [], []
    for r in range(repeats):
        if r % 2 == 0:
            without.append(run_plain())
            with_.append(run_listened())
        else:
            with_.append(run_listened())
            without.append(run_plain())

    base, listened = statistics.median(without), statistics.median(with_)
    ratio = listened / base
    labels = ("without listeners", "with listeners (quiet" + ("" if timing else ", timing=False") + ")")
    width = max(map(len, labels)) + 1
    for label, runs in zip(labels, (without, with_), strict=True):
        median = statistics.median(runs)
        print(
            f"{label + ':':<{width}} median {median * 1e3:8.1f} ms ({median / n * 1e3:.2f} ms/token), "
            f"best {min(runs) * 1e3:.1f} ms; runs: {' '.join(f'{t * 1e3:.0f}' for t in runs)}"
        )
    spread = max(without) / min(without) - 1
    cost = listener_cost_us(device, timing)
    estimate = 1 + (1 + n) * cost * 1e-6 / base
    print(f"best-run ratio {min(with_) / min(without):.4f}; run-to-run spread without listeners {spread * 100:.1f}%")
    print(
        f"listener's own cost, measured alone: {cost:.1f} us per call; {1 + n} calls per generation "
        f"-> expected ratio {estimate:.4f}"
    )
    verdict = "within" if ratio <= GOAL else "ABOVE"
    print(
        f"RATIO with/without = {ratio:.4f} ({(ratio - 1) * 100:+.2f}%, medians): {verdict} the {GOAL:.2f} goal for a GPU"
    )
    return 1 if not (identical and lengths_ok) or (args.check and ratio > GOAL) else 0


if __name__ == "__main__":
    sys.exit(main())
