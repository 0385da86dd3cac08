"""Decoding speed: how long a seq2seq model takes per new token, and how fast it could go.

What it is for: at batch size 1, every new token makes the decoder read all of its weights
from memory once, whatever else it does. So the weights' size divided by the memory bandwidth
is a floor on the time per token that no cache, compiler or kernel can beat. Lesson 03 times
``generate()`` in several ways and draws that floor beside the measurements; the GPU benchmark
in ``bench/`` uses the same three measurements, so the two report comparable numbers:

- :func:`copy_bandwidth`: the memory bandwidth of a device, measured with one large tensor copy
  (bytes read plus bytes written, per second).
- :func:`decoder_weight_bytes`: the bytes of weights one decoding step reads: the decoder's
  parameters plus the output projection (``lm_head``).
- :func:`time_generate`: the median wall time of ``generate()`` forced to make exactly
  ``new_tokens`` tokens, waiting for the GPU before and after each run; :func:`time_calls` is its
  loop, for any other decoder.

Used by lesson 03 (the KV cache and decoding) and by the GPU benchmark in ``bench/``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

__all__ = [
    "GenerateTiming",
    "copy_bandwidth",
    "decoder_weight_bytes",
    "floor_ms_per_token",
    "time_calls",
    "time_generate",
]


def synchronize(device: torch.device) -> None:
    """Wait for the GPU to finish its queued work (nothing to wait for on the CPU); timers need it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device="cpu", megabytes: int | None = None, repeats: int = 5) -> float:
    """Measured memory bandwidth of ``device`` in bytes per second.

    Copies one buffer of ``megabytes`` MiB (default: 1024 on a GPU, 256 on the CPU) into another
    ``repeats`` times and keeps the fastest copy. A copy reads every byte once and writes it once,
    so the bytes moved are twice the buffer's size. The buffer should be much larger than the
    device's caches, or the figure is the cache's speed, not the memory's.
    """
    device = torch.device(device)
    if megabytes is None:
        megabytes = 1024 if device.type == "cuda" else 256
    if megabytes <= 0 or repeats <= 0:
        raise ValueError(f"megabytes and repeats must be positive, got {megabytes} and {repeats}.")
    nbytes = megabytes * 2**20
    source = torch.ones(nbytes, dtype=torch.uint8, device=device)  # ones, not empty: touch every page first
    target = torch.zeros_like(source)
    try:
        target.copy_(source)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            target.copy_(source)
            synchronize(device)
            best = min(best, time.perf_counter() - start)
    finally:
        del source, target
    return 2 * nbytes / best


def decoder_weight_bytes(model) -> int:
    """Bytes of weights one decoding step reads: the decoder's parameters and the ``lm_head``.

    The token-embedding table is left out (a step reads one row of it, not all of it), and the
    output projection is counted even when it shares its tensor with that table (t5-base and
    t5-large tie them): the projection multiplies the whole matrix every step. The cross-attention
    key and value projections are counted too, although with a cache they run only on the first
    step: for t5-large that puts the floor about 13% above the strict minimum (12% of the bytes).
    """
    decoder = model.get_decoder()
    embedding = decoder.get_input_embeddings()
    skip = {id(embedding.weight)} if embedding is not None else set()
    total = sum(p.numel() * p.element_size() for p in decoder.parameters() if id(p) not in skip)
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__} has no output projection (lm_head): is it a generation model?")
    return total + head.weight.numel() * head.weight.element_size()


def floor_ms_per_token(model, bytes_per_second: float) -> float:
    """The memory-bandwidth floor in milliseconds per token: decoder weight bytes / bandwidth."""
    if bytes_per_second <= 0:
        raise ValueError(f"bytes_per_second must be positive, got {bytes_per_second}.")
    return decoder_weight_bytes(model) / bytes_per_second * 1e3


@dataclass
class GenerateTiming:
    """Wall times of repeated ``generate()`` runs that each made ``new_tokens`` tokens."""

    new_tokens: int
    seconds: list[float] = field(default_factory=list)
    output_ids: torch.Tensor | None = field(default=None, repr=False)  # the last run's output

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ms_per_token(self) -> float:
        return self.median_s / self.new_tokens * 1e3


def time_generate(model, inputs, new_tokens: int, *, repeats: int = 3, warmup: int = 1, **generate_kwargs):
    """Time ``model.generate(**inputs)`` forced to make exactly ``new_tokens`` new tokens.

    ``min_new_tokens = max_new_tokens = new_tokens`` keeps the end-of-sequence token from
    stopping a run early, so every run does the same work. Greedy decoding unless
    ``generate_kwargs`` say otherwise; they pass straight to ``generate`` (``use_cache=False``,
    ``cache_implementation="static"``, ...). ``warmup`` untimed runs come first (the first run
    of a compiled model compiles it). On a GPU the clock stops only once the GPU has finished.
    Returns a :class:`GenerateTiming`; raises if a run made a different number of tokens.
    """
    if new_tokens < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"need new_tokens >= 1, repeats >= 1, warmup >= 0; got {new_tokens}, {repeats}, {warmup}.")
    kwargs = {"do_sample": False, "num_beams": 1, **generate_kwargs}
    kwargs.update(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    device = model.device
    prompt_len = 1 if model.config.is_encoder_decoder else inputs["input_ids"].shape[-1]  # T5 starts from one token

    def check(out) -> None:
        made = out.shape[-1] - prompt_len
        if made != new_tokens:
            raise RuntimeError(f"generate() made {made} tokens, not the {new_tokens} asked for: timings would mislead.")

    with torch.no_grad():
        return time_calls(
            lambda: model.generate(**inputs, **kwargs), device, new_tokens, repeats=repeats, warmup=warmup, check=check
        )


def time_calls(call, device, new_tokens: int, *, repeats: int = 3, warmup: int = 1, check=None) -> GenerateTiming:
    """Wall times of ``repeats`` calls of ``call()`` that each make ``new_tokens`` tokens, after ``warmup``
    untimed ones, waiting for ``device`` before and after each; ``check(result)`` (when given) sees every
    call's result. The timing loop of :func:`time_generate`, for decoders that are not ``generate()``
    (a hand-written step, another runtime); the last call's result is the timing's ``output_ids``."""
    timing = GenerateTiming(new_tokens)
    for run in range(warmup + repeats):
        synchronize(device)
        start = time.perf_counter()
        out = call()
        synchronize(device)
        if run >= warmup:
            timing.seconds.append(time.perf_counter() - start)
        if check is not None:
            check(out)
    timing.output_ids = out
    return timing
