"""Greedy decoding for T5 as fast as a batch-1 step can go: one decoder step, replayed.

What it is for: lesson 03 builds the fastest path to the same tokens ``generate()`` gives, by hand,
in the learner's view. ``generate()`` spends most of a step at batch 1 launching hundreds of small
GPU kernels from Python, and its default (dynamic) cache hands every step tensors of a new shape.
This module removes both costs, one at a time:

1. **Encode once.** The encoder runs over the prompt a single time (:meth:`StaticT5Decoder.load`).
2. **A static self-attention cache.** Keys and values for every decoder layer are allocated at their
   final length, ``(batch, heads, max_new_tokens, d_kv)``, and each step writes one position in
   place. Every step then sees tensors of the same shapes at the same addresses.
3. **Cross-attention filled before any capture.** The cross-attention keys and values depend on the
   encoder's output only, so :meth:`~StaticT5Decoder.load` computes them for every layer up front.
   A captured step only reads them. (Filling them inside a captured step is what breaks CUDA graphs
   for encoder-decoders in ``generate()``, transformers issue #48199: the capture would record the
   one-off fill and replay it, or fail on it.)
4. **One step, including ``lm_head`` and argmax on the device.** :meth:`~StaticT5Decoder.step` reads
   its inputs from, and writes its outputs to, buffers that never move: the token fed in, the
   position (a tensor, not a Python int), the finished rows, the output ids. No value comes back
   to Python inside a step.
5. **Capture and replay.** :func:`capture_cuda_graph` records the step once as a CUDA graph
   (``torch.cuda.CUDAGraph``); replaying it launches all of its kernels in one call.
   :func:`compile_step` is the other route: ``torch.compile(mode="reduce-overhead", fullgraph=True)``
   on the step alone, which records CUDA graphs itself.
6. **No host synchronisation per token.** ``if next_token.item() == eos`` in a Python loop makes the
   CPU wait for the GPU at every token. :meth:`~StaticT5Decoder.decode` replays ``check_every`` steps,
   then asks once whether every row has finished, and trims the output at the end.

The result is ``generate()``'s greedy output, token for token: greedy argmax over float32 scores,
``min_new_tokens`` by masking ``</s>``, and rows of a padded batch that have finished fed ``<pad>``,
as ``generate()`` does. Without a CUDA GPU (or with a torch too old to capture), the same step runs
uncaptured, and :func:`greedy_decode` says why in its result. What it refuses, and why, lives in
``fast_decode_checks``.

Used by lesson 03 (section 5) and by ``bench/decode_ladder.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .decoding import time_calls
from .fast_decode_checks import FastDecodeError, capture_problem, check_generate_kwargs, check_model

__all__ = [
    "RECORDED_H200",
    "DecodeResult",
    "FastDecodeError",
    "StaticT5Decoder",
    "capture_cuda_graph",
    "capture_problem",
    "check_generate_kwargs",
    "check_model",
    "compile_step",
    "greedy_decode",
    "time_decode",
]

METHODS = ("auto", "graph", "compile", "static")

# Figures measured on one GPU, for learners without one (lesson 03 draws them beside their own). The source is
# bench/results/nvidia-h200.json (tests check these agree with it); the versions are the ones it ran on.
RECORDED_H200 = {
    "device": "NVIDIA H200",
    "date": "2026-11-28",
    "versions": "transformers 5.17, torch 2.11 (CUDA 13.0)",
    "setup": "t5-large's shape with random weights, bfloat16, batch 1, 24-token source, 32 forced new tokens",
    "bandwidth_gb_s": 4047,
    "ms_per_token": {"dynamic cache": 23.44, "static cache + compile": 7.34, "floor": 0.214},
}


class StaticT5Decoder:
    """Every buffer one greedy decode needs, allocated once on the model's device.

    ``StaticT5Decoder(model, batch_size, source_len, max_new_tokens)`` allocates; :meth:`load` encodes a
    prompt batch of that shape and fills the cross-attention keys and values; :meth:`step` makes one
    token for every row; :meth:`decode` runs the steps and returns the ids, shaped as ``generate()``'s.
    A new prompt of the same shape reuses the buffers (and a graph captured on them): call
    :meth:`load` again. The model itself is only read, never changed.
    """

    def __init__(self, model, batch_size: int, source_len: int, max_new_tokens: int, min_new_tokens: int = 0):
        check_model(model)
        if max_new_tokens < 1 or not 0 <= min_new_tokens <= max_new_tokens:
            raise FastDecodeError(
                f"need 1 <= max_new_tokens and 0 <= min_new_tokens <= max_new_tokens; "
                f"got max_new_tokens={max_new_tokens}, min_new_tokens={min_new_tokens}."
            )
        self.model, self.decoder = model, model.get_decoder()
        config, settings = model.config, model.generation_config
        self.batch_size, self.source_len = batch_size, source_len
        self.max_new_tokens, self.min_new_tokens = max_new_tokens, min_new_tokens
        self.heads, self.d_kv = config.num_heads, config.d_kv
        self.scale_output = getattr(config, "scale_decoder_outputs", config.tie_word_embeddings)
        self.eager_attention = config._attn_implementation == "eager"
        device, dtype = model.device, model.dtype
        eos = settings.eos_token_id if settings.eos_token_id is not None else config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos)
        pad = settings.pad_token_id if settings.pad_token_id is not None else eos[0]  # as generate() falls back
        start = settings.decoder_start_token_id
        start = start if start is not None else config.decoder_start_token_id
        self.start_id, self.pad_id, self.eos_ids = start, pad, torch.tensor(eos, device=device)  # (n_eos,)
        self.is_eos = torch.zeros(config.vocab_size, dtype=torch.bool, device=device)  # (vocab,)
        self.is_eos[self.eos_ids] = True

        B, H, L, S, D = batch_size, self.heads, max_new_tokens, source_len, self.d_kv
        layers = len(self.decoder.block)
        # The static self-attention cache: the token fed at step t writes its keys and values at position t.
        self.keys = [torch.zeros(B, H, L, D, dtype=dtype, device=device) for _ in range(layers)]  # (B, H, L, d_kv)
        self.values = [torch.zeros(B, H, L, D, dtype=dtype, device=device) for _ in range(layers)]
        # The cross-attention half, (B, H, S, d_kv) per layer: filled by load(), read by every step.
        self.cross_keys = [torch.zeros(B, H, S, D, dtype=dtype, device=device) for _ in range(layers)]
        self.cross_values = [torch.zeros(B, H, S, D, dtype=dtype, device=device) for _ in range(layers)]
        # (B, 1, 1, S): 0 on real source tokens, the dtype's most negative number on padding
        self.cross_mask = torch.zeros(B, 1, 1, S, dtype=dtype, device=device)
        # T5's relative position bias for every (query position, key position) pair, computed once, with the
        # causal mask folded in: query t may read keys 0..t only. Row t is what step t adds to its scores.
        with torch.no_grad():
            attention = self.decoder.block[0].layer[0].SelfAttention
            bias = attention.compute_bias(L, L, device=device).to(dtype)  # (1, H, L, L)
            causal = torch.ones(L, L, dtype=torch.bool, device=device).tril()  # (L, L): key <= query
            self.self_bias = torch.where(causal, bias, torch.finfo(dtype).min)  # (1, H, L, L)
        # The step's state: what it reads and writes instead of Python values.
        self.position = torch.zeros(1, dtype=torch.long, device=device)  # (1,): the step number t
        self.tokens = torch.full((B, 1), start, dtype=torch.long, device=device)  # (B, 1): the token fed in
        self.unfinished = torch.ones(B, dtype=torch.bool, device=device)  # (B,): rows still without </s>
        self.length = torch.zeros(1, dtype=torch.long, device=device)  # (1,): steps generate() would have run
        self.output = torch.full((B, 1 + L), pad, dtype=torch.long, device=device)  # (B, 1 + max_new_tokens)
        self.loaded = False

    def __repr__(self) -> str:
        return (
            f"StaticT5Decoder(batch {self.batch_size}, source {self.source_len} tokens, up to {self.max_new_tokens} "
            f"new tokens, {len(self.keys)} layers, {self.model.dtype}, on {self.model.device})"
        )

    def cache_bytes(self) -> int:
        """Bytes held by both halves of the static cache."""
        tensors = self.keys + self.values + self.cross_keys + self.cross_values
        return sum(t.numel() * t.element_size() for t in tensors)

    @torch.no_grad()
    def load(self, input_ids, attention_mask=None) -> None:
        """Encode a prompt batch once, fill the cross-attention keys and values, and reset the step state."""
        model = self.model
        for name, tensor in (("input_ids", input_ids), ("attention_mask", attention_mask)):
            if tensor is not None and tensor.device != model.device:
                raise FastDecodeError(
                    f"{name} is on {tensor.device} but the model is on {model.device}: "
                    f"move the inputs with .to(model.device)."
                )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        shape = (self.batch_size, self.source_len)
        if tuple(input_ids.shape) != shape or tuple(attention_mask.shape) != shape:
            raise FastDecodeError(
                f"this decoder was built for inputs of shape {shape}; got input_ids {tuple(input_ids.shape)} and "
                f"attention_mask {tuple(attention_mask.shape)}. Build a StaticT5Decoder for the new shape."
            )
        encoded = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, S, d_model)
        split = (self.batch_size, self.source_len, self.heads, self.d_kv)
        for block, keys, values in zip(self.decoder.block, self.cross_keys, self.cross_values):
            attention = block.layer[1].EncDecAttention
            keys.copy_(attention.k(encoded).view(split).transpose(1, 2))  # (B, H, S, d_kv), in place
            values.copy_(attention.v(encoded).view(split).transpose(1, 2))
        real = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S)
        self.cross_mask.copy_(torch.where(real, 0.0, torch.finfo(self.cross_mask.dtype).min))
        self.reset()
        self.loaded = True

    def reset(self) -> None:
        """Back to step 0 (the cross-attention half stays). Stale self-attention entries need no clearing:
        the causal mask keeps every step from reading past its own position."""
        self.position.zero_()
        self.tokens.fill_(self.start_id)
        self.unfinished.fill_(True)
        self.length.zero_()
        self.output.fill_(self.pad_id)
        self.output[:, 0] = self.start_id

    def _attend(self, query, keys, values, mask):
        """Attention for one query position, as the model's own attention implementation computes it.
        T5 does not scale the scores by 1/sqrt(d_kv) (scale=1.0); its position bias arrives in ``mask``."""
        if self.eager_attention:
            weights = torch.softmax(query @ keys.transpose(2, 3) + mask, dim=-1)  # (B, H, 1, keys)
            return weights @ values  # (B, H, 1, d_kv)
        return F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=1.0)  # (B, H, 1, d_kv)

    @torch.no_grad()
    def step(self) -> None:
        """One new token for every row, from the buffers to the buffers: nothing returns to Python."""
        B, H, D = self.batch_size, self.heads, self.d_kv
        split = (B, 1, H, D)
        hidden = self.decoder.embed_tokens(self.tokens)  # (B, 1, d_model)
        self_bias = self.self_bias.index_select(2, self.position)  # (1, H, 1, L): row t of the bias table
        for i, block in enumerate(self.decoder.block):
            # self-attention over the static cache: write this position's keys and values, read all positions
            part = block.layer[0]
            normed = part.layer_norm(hidden)
            attention = part.SelfAttention
            query = attention.q(normed).view(split).transpose(1, 2)  # (B, H, 1, d_kv)
            self.keys[i].index_copy_(2, self.position, attention.k(normed).view(split).transpose(1, 2))
            self.values[i].index_copy_(2, self.position, attention.v(normed).view(split).transpose(1, 2))
            mixed = self._attend(query, self.keys[i], self.values[i], self_bias)  # (B, H, 1, d_kv)
            hidden = hidden + attention.o(mixed.transpose(1, 2).reshape(B, 1, H * D))
            # cross-attention: only read the keys and values load() filled
            part = block.layer[1]
            attention = part.EncDecAttention
            query = attention.q(part.layer_norm(hidden)).view(split).transpose(1, 2)  # (B, H, 1, d_kv)
            mixed = self._attend(query, self.cross_keys[i], self.cross_values[i], self.cross_mask)
            hidden = hidden + attention.o(mixed.transpose(1, 2).reshape(B, 1, H * D))
            hidden = block.layer[2](hidden)  # the feed-forward sublayer, with its norm and residual
        hidden = self.decoder.final_layer_norm(hidden)  # (B, 1, d_model)
        if self.scale_output:  # T5 with a tied head rescales before lm_head
            hidden = hidden * (self.model.model_dim**-0.5)
        scores = self.model.lm_head(hidden)[:, 0, :].float()  # (B, vocab), float32 as generate() scores
        if self.min_new_tokens:  # generate()'s min_new_tokens: no </s> before that many new tokens
            too_early = self.position < self.min_new_tokens  # (1,)
            scores = scores.masked_fill(self.is_eos & too_early, float("-inf"))
        next_token = scores.argmax(dim=-1)  # (B,)
        next_token = torch.where(self.unfinished, next_token, self.pad_id)  # finished rows get <pad>
        self.length.add_(self.unfinished.any().long())  # generate() runs a step while any row is unfinished
        self.unfinished.logical_and_(~self.is_eos[next_token])
        self.output.index_copy_(1, self.position + 1, next_token[:, None])
        self.tokens.copy_(next_token[:, None])
        self.position.add_(1)

    def decode(self, run_step=None, check_every: int = 8) -> torch.Tensor:
        """Run the steps from the loaded prompt; returns ids of shape (batch, 1 + new tokens), as generate().

        ``run_step`` makes one step (``self.step``, a graph's ``replay``, a compiled step). The only
        host synchronisation is one question every ``check_every`` steps: has every row finished?
        """
        if not self.loaded:
            raise FastDecodeError("nothing to decode yet: call load(input_ids, attention_mask) first.")
        if check_every < 1:
            raise FastDecodeError(f"check_every must be at least 1, got {check_every}.")
        run_step = run_step or self.step
        self.reset()
        done = 0
        while done < self.max_new_tokens:
            chunk = min(check_every, self.max_new_tokens - done)
            for _ in range(chunk):
                run_step()
            done += chunk
            if done >= self.min_new_tokens and not bool(self.unfinished.any()):  # one sync per chunk
                break
        return self.output[:, : 1 + int(self.length)].clone()


def capture_cuda_graph(decoder: StaticT5Decoder, warmup: int = 2):
    """Record ``decoder.step`` once as a CUDA graph; returns the graph (call ``graph.replay()`` per token).

    The warm-up steps run on a side stream first, as PyTorch asks before a capture (they let libraries
    allocate their workspaces outside the graph). The state they change is reset afterwards. The graph
    holds on to the buffers' addresses: it is valid for as long as ``decoder`` lives.
    """
    problem = capture_problem(decoder.model.device)
    if problem:
        raise FastDecodeError(f"cannot capture a CUDA graph: {problem}.")
    if not decoder.loaded:
        raise FastDecodeError("call load(...) before capturing: the cross-attention half must be filled first.")
    side = torch.cuda.Stream(device=decoder.model.device)
    side.wait_stream(torch.cuda.current_stream(decoder.model.device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            decoder.step()
    torch.cuda.current_stream(decoder.model.device).wait_stream(side)
    decoder.reset()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        decoder.step()
    decoder.reset()  # the capture ran nothing for real, but start clean anyway
    return graph


def compile_step(decoder: StaticT5Decoder, **options):
    """``decoder.step`` compiled with ``torch.compile(mode="reduce-overhead", fullgraph=True)`` (the default
    ``options``); on a CUDA GPU that mode records CUDA graphs of the compiled step. The buffers are marked
    as static addresses, so the graphs read them in place. The first calls compile (slow, once)."""
    options = options or {"mode": "reduce-overhead", "fullgraph": True}
    for tensor in (
        decoder.keys
        + decoder.values
        + decoder.cross_keys
        + decoder.cross_values
        + [decoder.cross_mask, decoder.self_bias, decoder.position, decoder.tokens]
        + [decoder.unfinished, decoder.length, decoder.output, decoder.is_eos]
    ):
        torch._dynamo.mark_static_address(tensor)
    return torch.compile(decoder.step, **options)


def time_decode(decoder: StaticT5Decoder, input_ids, attention_mask=None, *, run_step=None, repeats=3, warmup=1):
    """Median-ready wall times of ``load`` + ``decode`` (the encoder included, as ``generate()`` is timed).

    Each run makes ``decoder.max_new_tokens`` tokens when ``min_new_tokens`` equals it (a forced length).
    Returns a :class:`~extras_and_licenses.decoding.GenerateTiming`; ``output_ids`` is the last run's output.
    """
    if repeats < 1 or warmup < 0:
        raise FastDecodeError(f"need repeats >= 1 and warmup >= 0; got {repeats} and {warmup}.")

    def run():
        decoder.load(input_ids, attention_mask)
        return decoder.decode(run_step, check_every=decoder.max_new_tokens)

    return time_calls(run, decoder.model.device, decoder.max_new_tokens, repeats=repeats, warmup=warmup)


@dataclass
class DecodeResult:
    """What :func:`greedy_decode` made, and how."""

    sequences: torch.Tensor  # (batch, 1 + new tokens), as generate() returns them
    method: str  # "graph", "compile" or "static": the way the steps actually ran
    note: str  # why that way (for example why nothing was captured)
    prepare_s: float  # seconds to allocate, encode, fill the cross-attention half and capture or compile


def greedy_decode(
    model,
    input_ids,
    attention_mask=None,
    *,
    max_new_tokens: int,
    min_new_tokens: int = 0,
    method: str = "auto",
    check_every: int = 8,
    **generate_kwargs,
) -> DecodeResult:
    """Greedy decoding with the static step: the ids ``model.generate(input_ids, attention_mask=...,
    max_new_tokens=..., min_new_tokens=...)`` returns, token for token.

    ``method``: ``"graph"`` (capture the step as a CUDA graph), ``"compile"`` (``torch.compile`` with
    CUDA graphs), ``"static"`` (the same step, uncaptured) or ``"auto"`` (a graph when the device allows
    one, else the uncaptured step; the result's ``note`` says why). Anything but greedy decoding is refused.
    """
    if method not in METHODS:
        raise FastDecodeError(f"method must be one of {METHODS}, got {method!r}.")
    check_generate_kwargs(generate_kwargs)
    check_model(model)
    if input_ids.ndim != 2:
        raise FastDecodeError(f"input_ids must be (batch, source length); got shape {tuple(input_ids.shape)}.")
    started = time.perf_counter()
    decoder = StaticT5Decoder(model, *input_ids.shape, max_new_tokens, min_new_tokens)
    decoder.load(input_ids, attention_mask)
    problem = capture_problem(model.device)
    note = ""
    if method == "auto":
        method = "static" if problem else "graph"
        note = f"not captured: {problem}; ran the same static step uncaptured." if problem else "captured"
    elif method in ("graph", "compile") and problem:
        raise FastDecodeError(f"method={method!r} cannot run here: {problem}. Use method='static' or 'auto'.")
    run_step = decoder.step
    if method == "graph":
        run_step = capture_cuda_graph(decoder).replay
        note = note or "captured as a CUDA graph"
    elif method == "compile":
        run_step = compile_step(decoder)
        for _ in range(3):  # compile, then record the graphs, outside the decode itself
            run_step()
        decoder.reset()
        note = 'torch.compile(mode="reduce-overhead", fullgraph=True)'
    else:
        note = note or "uncaptured static step"
    prepare_s = time.perf_counter() - started
    sequences = decoder.decode(run_step, check_every=check_every)
    return DecodeResult(sequences=sequences, method=method, note=note, prepare_s=prepare_s)
