"""How much slower is our seq2seq pipeline than calling model.generate yourself?

Times ``pipe(text)`` (tokenize with the prefix, generate, decode: everything a learner's call
does) against bare ``model.generate(**inputs)`` on the same, already tokenized inputs, and
prints the ratio. The goal is at most 2% overhead. A benchmark, not a test: pytest never runs it.

    python -m bench.bench_pipeline                                  # demo model, CPU: well under a minute
    python -m bench.bench_pipeline --model t5-base-random --device cuda
    python -m bench.bench_pipeline --batch 4 --new-tokens 64 --repeats 30

Every run is forced to the same length (``min_new_tokens = max_new_tokens``), greedy. Runs
alternate (bare, pipeline) and (pipeline, bare), so drift in clock speed or in other load on
the machine falls on both sides. It prints the median of the per-pair ratios with its quartiles,
and the ratio of the fastest runs (the least disturbed by other processes on a shared machine).
On a busy machine both swing by more than the 2% goal, so it also times the pipeline with
``generate`` replaced by a stand-in that returns the tokens at once: everything the pipeline
adds (tokenizing, checks, moving tensors, decoding), as a share of the bare generate time.
Before timing, the script checks that both sides produce the same token ids.

``--model t5-base-random`` is a T5 with random weights in t5-base's shape (d_model 768, d_ff
3072, d_kv 64, 12 heads, 12 + 12 layers, 32128-token vocabulary), fed by the demo tokenizer
(its ids are a subset of T5's vocabulary). On the CPU the default is one thread: the machines
this course runs CI on have two shared cores, and two threads there are slower and noisier.
``measure(...)`` returns the figures as a dict; the command prints them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from extras_and_licenses import standins
from extras_and_licenses.decoding import synchronize
from extras_and_licenses.models import DEMO_MODEL_DIR, choose_device_and_dtype
from extras_and_licenses.pipelines import pipeline

PREFIX = "translate English to French: "
TEXTS = [
    "The house is wonderful and the garden is big.",
    "Good morning, how are you today?",
    "Thank you very much for the lovely dinner, my friend.",
    "The cat sleeps on the warm chair.",
]
GOAL = 1.02


class DifferentTokens(RuntimeError):
    """The pipeline and ``model.generate`` made different tokens: their timings would compare different work."""


def build(model_name: str, device: str, dtype: torch.dtype):
    """The demo model, or t5-base's real architecture (kept config) with random weights."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(DEMO_MODEL_DIR))
    if model_name == "demo":
        model = AutoModelForSeq2SeqLM.from_pretrained(str(DEMO_MODEL_DIR), use_safetensors=True)
        return model.to(device=device, dtype=dtype).eval(), tokenizer
    return standins.build_model(standins.read_config("t5-base"), device, dtype), tokenizer


def per_call_ms(fn, reps: int = 50) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1e3


def measure(
    model_name: str = "demo",
    device=None,
    dtype=None,
    *,
    batch: int = 1,
    new_tokens: int = 32,
    repeats: int = 25,
    threads: int | None = None,
) -> dict:
    """Time ``pipe(text)`` against bare ``model.generate``, in alternating pairs; return the figures.

    Raises ValueError for a batch outside 1..len(TEXTS), ``DifferentTokens`` when the two sides make different tokens.
    """
    if not 1 <= batch <= len(TEXTS):
        raise ValueError(f"the batch must be between 1 and {len(TEXTS)}, not {batch}")
    placement = choose_device_and_dtype(device, dtype)
    device = torch.device(placement.device)
    if device.type == "cpu":
        torch.set_num_threads(threads or 1)
    elif threads:
        torch.set_num_threads(threads)
    model, tokenizer = build(model_name, placement.device, placement.dtype)

    n = new_tokens
    settings = dict(num_beams=1, do_sample=False, min_new_tokens=n, max_new_tokens=n)
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, prefix=PREFIX, **settings)
    texts = TEXTS[:batch]
    pipe_input = texts[0] if batch == 1 else texts
    call = dict(batch_size=batch) if batch > 1 else {}
    inputs = tokenizer([PREFIX + t for t in texts], padding=True, return_tensors="pt").to(device)

    def bare():
        model.generate(**inputs, **settings)
        synchronize(device)

    def ours():
        pipe(pipe_input, **call)
        synchronize(device)

    # Same work on both sides: same token ids.
    with torch.no_grad():
        expected = model.generate(**inputs, **settings).cpu()
    got = pipe(pipe_input, return_tensors=True, **call)  # one record per text
    got = torch.stack([record["translation_token_ids"] for record in got])
    if not torch.equal(got, expected):
        raise DifferentTokens(
            "The pipeline and model.generate made different tokens: timings would compare different work."
        )

    for fn in (bare, ours, bare, ours):  # warm-up
        fn()
    times = {"bare": [], "ours": []}
    ratios = []
    for i in range(repeats):
        order = (("bare", bare), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("bare", bare))
        pair = {}
        for name, fn in order:
            start = time.perf_counter()
            fn()
            pair[name] = time.perf_counter() - start
            times[name].append(pair[name])
        ratios.append(pair["ours"] / pair["bare"])

    # The pipeline's own cost, without the noise of generation: the same calls with generate()
    # replaced by a stand-in that returns the tokens at once. Then its stages, timed alone.
    with torch.no_grad():
        made = model.generate(**inputs, **settings)
    model.generate = lambda *args, **kwargs: made  # an instance attribute shadows the method
    try:
        wrapper_ms = per_call_ms(lambda: pipe(pipe_input, **call), reps=200)
    finally:
        del model.generate
    model_inputs = pipe.preprocess(pipe_input)
    outputs = pipe.forward(model_inputs, **pipe._forward_params)
    ratio = statistics.median(ratios)
    return {
        "model": "demo model" if model_name == "demo" else "t5-base shape, random weights",
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": placement.device,
        "dtype": str(placement.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "batch": batch,
        "source_tokens": inputs["input_ids"].shape[-1],
        "new_tokens": n,
        "repeats": repeats,
        "bare_ms": statistics.median(times["bare"]) * 1e3,
        "pipeline_ms": statistics.median(times["ours"]) * 1e3,
        "preprocess_ms": per_call_ms(lambda: pipe.preprocess(pipe_input)),
        "postprocess_ms": per_call_ms(lambda: pipe.postprocess(outputs)),
        "ratio": ratio,
        "quartiles": statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), ratio, max(ratios)],
        "best_ratio": min(times["ours"]) / min(times["bare"]),
        "wrapper_ms": wrapper_ms,
    }


def report(found: dict) -> list[str]:
    """The lines the command prints for ``measure()``'s figures."""
    n, bare_ms, ours_ms, wrapper_ms = found["new_tokens"], found["bare_ms"], found["pipeline_ms"], found["wrapper_ms"]
    ratio, spread = found["ratio"], found["quartiles"]
    verdict = "within" if ratio <= GOAL else "ABOVE"
    return [
        f"model      {found['model']}, {found['parameters']:,} parameters",
        f"device     {found['device']}, {found['dtype']}, threads {found['threads']}",
        f"inputs     batch {found['batch']}, source {found['source_tokens']} tokens, {n} new tokens (forced)",
        f"runs       {found['repeats']} pairs, alternating order, after 2 warm-up pairs",
        f"bare       model.generate      {bare_ms:9.2f} ms/call  {bare_ms / n:7.3f} ms/token",
        f"pipeline   pipe(text)          {ours_ms:9.2f} ms/call  {ours_ms / n:7.3f} ms/token",
        f"stages     preprocess {found['preprocess_ms']:.3f} ms, postprocess {found['postprocess_ms']:.3f} ms "
        "(each timed alone)",
        f"ratio      pipeline / bare = {ratio:.4f} (median of pairs; quartiles {spread[0]:.4f} .. {spread[-1]:.4f}), "
        f"{verdict} the {GOAL:.2f} goal",
        f"           fastest pipeline / fastest bare = {found['best_ratio']:.4f} "
        "(less sensitive to other load on the machine)",
        f"overhead   pipeline without generation {wrapper_ms:.3f} ms/call = {wrapper_ms / bare_ms:.2%} of bare generate "
        f"(ratio {1 + wrapper_ms / bare_ms:.4f}, free of generation's noise)",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", choices=["demo", "t5-base-random"], default="demo")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: the GPU if there is one)")
    ap.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: bfloat16 on a GPU that has it)")
    ap.add_argument("--batch", type=int, default=1, help="texts per call (padded batch)")
    ap.add_argument("--new-tokens", type=int, default=32, help="forced output length")
    ap.add_argument("--repeats", type=int, default=25, help="timed (bare, pipeline) pairs")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: 1 on the CPU)")
    args = ap.parse_args(argv)
    if not 1 <= args.batch <= len(TEXTS):
        ap.error(f"--batch must be between 1 and {len(TEXTS)}")
    try:
        found = measure(
            args.model,
            args.device,
            args.dtype,
            batch=args.batch,
            new_tokens=args.new_tokens,
            repeats=args.repeats,
            threads=args.threads,
        )
    except DifferentTokens as exc:
        sys.exit(str(exc))
    print("\n".join(report(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
