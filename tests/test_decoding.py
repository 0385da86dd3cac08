"""extras_and_licenses.decoding: the bandwidth floor and the generate() timer that lesson 03 uses."""

from __future__ import annotations

import math

import pytest
import torch

from extras_and_licenses.decoding import (
    copy_bandwidth,
    decoder_weight_bytes,
    floor_ms_per_token,
    time_calls,
    time_generate,
)

PROMPT = "translate English to French: The black dog sees the red cat."


def _meta_t5(**shape):
    """A T5 of a real model's shape on the meta device: right parameter counts, no memory."""
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=32128, feed_forward_proj="relu", **shape)
    with torch.device("meta"):
        return T5ForConditionalGeneration(config).to(torch.bfloat16)


def test_t5_large_decoder_bytes_match_the_architecture():
    d_model, d_ff, layers, vocab = 1024, 4096, 24, 32128
    model = _meta_t5(d_model=d_model, d_ff=d_ff, d_kv=64, num_heads=16, num_layers=layers)
    attention = 4 * d_model * d_model  # q, k, v, o
    per_block = 2 * attention + 2 * d_model * d_ff + 3 * d_model  # self-, cross-attention, feed-forward, 3 norms
    relative_bias = 32 * 16  # buckets x heads, layer 0 only
    expected_params = layers * per_block + relative_bias + d_model + vocab * d_model  # + final norm + lm_head
    assert decoder_weight_bytes(model) == 2 * expected_params
    # At the ~4.2 TB/s an H200 copies at, t5-large in bf16 could make a token every ~0.2 ms.
    assert 0.19 < floor_ms_per_token(model, 4.2e12) < 0.22


def test_tied_head_is_counted_and_the_embedding_is_not(tiny_t5):
    model, _ = tiny_t5
    assert model.config.tie_word_embeddings  # the demo model, like t5-base/t5-large, ties them
    embedding = model.get_decoder().get_input_embeddings().weight
    blocks = sum(p.numel() * 4 for name, p in model.get_decoder().named_parameters() if "embed_tokens" not in name)
    assert decoder_weight_bytes(model) == blocks + embedding.numel() * 4


def test_untied_head_is_counted_once():
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=100, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=1, tie_word_embeddings=False)
    model = T5ForConditionalGeneration(config)
    decoder = sum(p.numel() for n, p in model.decoder.named_parameters() if "embed_tokens" not in n)
    assert decoder_weight_bytes(model) == 4 * (decoder + 100 * 32)


def test_copy_bandwidth_on_the_cpu_is_a_plausible_number():
    rate = copy_bandwidth("cpu", megabytes=16, repeats=2)
    assert math.isfinite(rate) and 1e8 < rate < 1e13  # between 0.1 GB/s and 10 TB/s


@pytest.mark.parametrize("bad", [dict(megabytes=0), dict(repeats=0)])
def test_copy_bandwidth_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        copy_bandwidth("cpu", **{"megabytes": 1, "repeats": 1, **bad})


def test_floor_needs_a_positive_bandwidth(tiny_t5):
    with pytest.raises(ValueError):
        floor_ms_per_token(tiny_t5[0], 0)


@pytest.mark.parametrize("extra", [{}, {"use_cache": False}, {"cache_implementation": "static"}])
def test_time_generate_forces_the_length(tiny_t5, extra):
    model, tokenizer = tiny_t5
    inputs = tokenizer(PROMPT, return_tensors="pt")
    timing = time_generate(model, inputs, 5, repeats=2, warmup=0, **extra)
    assert len(timing.seconds) == 2 and all(s > 0 for s in timing.seconds)
    assert timing.output_ids.shape == (1, 1 + 5)  # the start token, then exactly 5 new ones
    assert timing.ms_per_token == pytest.approx(timing.median_s / 5 * 1e3)


def test_time_generate_is_greedy_by_default(tiny_t5):
    model, tokenizer = tiny_t5
    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        reference = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert torch.equal(time_generate(model, inputs, 4, repeats=1, warmup=0).output_ids, reference)


def test_time_generate_refuses_nonsense(tiny_t5):
    model, tokenizer = tiny_t5
    with pytest.raises(ValueError):
        time_generate(model, tokenizer(PROMPT, return_tensors="pt"), 0)


def test_time_calls_times_the_repeats_after_the_warmup_and_checks_every_call():
    """time_generate's loop, for any decoder (bench.decode_ladder's hand-written step and CTranslate2)."""
    made, seen = [], []

    def call():
        made.append(len(made))
        return torch.zeros(1, 1 + 4)

    timing = time_calls(call, torch.device("cpu"), 4, repeats=3, warmup=2, check=lambda out: seen.append(out.shape))
    assert len(made) == 5 and len(seen) == 5  # every call is checked, warm-up ones too
    assert len(timing.seconds) == 3 and timing.output_ids.shape == (1, 5)
    assert timing.ms_per_token == pytest.approx(timing.median_s / 4 * 1e3)
