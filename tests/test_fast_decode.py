"""extras_and_licenses.fast_decode: the static decoder step of lesson 03 gives generate()'s greedy tokens.

On the CPU nothing is captured (no CUDA graphs there): the same step runs uncaptured, which is the
computation a CUDA graph records. float32 is compared with plain ``generate()`` (the dynamic cache).
In bfloat16 a static cache attends over its full, masked length, which rounds differently from the
dynamic cache's exact length, so a model with random weights (whose top two scores are often close)
can pick another token after a few steps; there the step is compared with ``generate()`` using a
static cache, the same arithmetic, and with plain ``generate()`` on the trained demo model.
"""

from __future__ import annotations

import pytest
import torch

from extras_and_licenses import standins
from extras_and_licenses.fast_decode import (
    FastDecodeError,
    StaticT5Decoder,
    capture_problem,
    compile_step,
    greedy_decode,
)

PROMPTS = [
    "translate English to German: The black dog sees the red cat.",
    "translate English to French: The house is big.",
    "cola sentence: The dog sees.",
]
# Another shape than the demo model: gated-GELU feed-forward, an untied head (Flan-T5's kind), 3 layers
OTHER_SHAPE = {
    **standins.read_config("google/flan-t5-large"),
    "d_model": 96,
    "d_ff": 160,
    "d_kv": 24,
    "num_heads": 3,
    "num_layers": 3,
    "num_decoder_layers": 3,  # generate() itself fails when the two differ (its cache counts num_layers)
}


def generate(model, encoded, new_tokens, min_new_tokens=0, **extra):
    with torch.no_grad():
        return model.generate(
            **encoded, max_new_tokens=new_tokens, min_new_tokens=min_new_tokens, do_sample=False, num_beams=1, **extra
        )


def fast(model, encoded, new_tokens, min_new_tokens=0, **extra):
    result = greedy_decode(
        model,
        encoded["input_ids"],
        encoded["attention_mask"],
        max_new_tokens=new_tokens,
        min_new_tokens=min_new_tokens,
        **extra,
    )
    return result.sequences


def assert_same(ours, theirs, what):
    assert ours.shape == theirs.shape and torch.equal(ours, theirs), (
        f"{what}: static step {ours.tolist()} != generate() {theirs.tolist()}"
    )


@pytest.fixture(scope="module")
def demo():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from tests.conftest import DEMO_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(DEMO_DIR))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(DEMO_DIR), use_safetensors=True).eval()
    return model, tokenizer


@pytest.mark.parametrize("batch", [1, 3], ids=["batch 1", "padded batch of 3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_demo_model_matches_generate(demo, batch, dtype):
    model, tokenizer = demo
    model = model.to(dtype) if dtype != torch.float32 else model
    try:
        encoded = tokenizer(PROMPTS[:batch], return_tensors="pt", padding=True)
        if batch > 1:
            assert (encoded["attention_mask"] == 0).any(), "the batch must be padded"
        reference = generate(model, encoded, 24)
        ours = fast(model, encoded, 24)
        assert_same(ours, reference, f"demo model, {dtype}, batch {batch}")
        # the trained model stops by itself: rows end with </s>, and rows that end early are padded after it
        assert ours.shape[1] < 1 + 24 and (ours == model.config.eos_token_id).any(dim=1).all()
        if batch > 1:
            ends = (ours == model.config.eos_token_id).int().argmax(dim=1)  # (batch,): where each row's </s> is
            assert len(set(ends.tolist())) > 1, "the rows should finish at different steps"
            for row, end in enumerate(ends.tolist()):
                assert (ours[row, end + 1 :] == model.config.pad_token_id).all()
    finally:
        model.to(torch.float32)


@pytest.mark.parametrize("batch", [1, 3], ids=["batch 1", "padded batch of 3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_random_t5_of_another_shape_matches_generate(batch, dtype):
    model = standins.build_model(OTHER_SHAPE, dtype=dtype)
    tokenizer = standins.build_tokenizer()
    encoded = tokenizer(PROMPTS[:batch], return_tensors="pt", padding=True)
    ours = fast(model, encoded, 20, min_new_tokens=12)
    assert ours.shape[1] > 12  # min_new_tokens held </s> back
    if dtype == torch.float32:
        assert_same(ours, generate(model, encoded, 20, 12), f"random T5, float32, batch {batch}")
    else:
        static = dict(cache_implementation="static", disable_compile=True)
        assert_same(ours, generate(model, encoded, 20, 12, **static), f"random T5, bfloat16, batch {batch}")


def test_eager_attention_matches_generate():
    """A model switched to eager attention (lesson 02 does that) takes the matmul-softmax route."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from tests.conftest import DEMO_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(DEMO_DIR))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(DEMO_DIR), use_safetensors=True, attn_implementation="eager")
    model.eval()
    assert model.config._attn_implementation == "eager"
    encoded = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    for new_tokens, least in ((1, 0), (9, 4), (24, 0), (16, 16)):
        reference = generate(model, encoded, new_tokens, least)
        assert_same(fast(model, encoded, new_tokens, least), reference, f"{new_tokens} tokens, at least {least}")


def test_chunked_checks_give_the_same_tokens(demo):
    model, tokenizer = demo
    encoded = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    reference = generate(model, encoded, 24)
    for every in (1, 5, 100):
        assert_same(fast(model, encoded, 24, check_every=every), reference, f"check_every={every}")


def test_one_decoder_serves_a_second_prompt_of_the_same_shape(demo):
    model, tokenizer = demo
    decoder = StaticT5Decoder(model, batch_size=1, source_len=32, max_new_tokens=16)
    for prompt in ("translate English to German: The black dog sees the red cat.", "cola sentence: The cat sees."):
        encoded = tokenizer(prompt, return_tensors="pt", padding="max_length", max_length=32)
        decoder.load(encoded["input_ids"], encoded["attention_mask"])
        assert_same(decoder.decode(), generate(model, encoded, 16), prompt)
    assert "batch 1, source 32 tokens" in repr(decoder) and decoder.cache_bytes() > 0


def test_compiled_step_traces_as_one_graph(demo):
    """The torch.compile path: fullgraph=True fails on any graph break. The 'eager' backend checks the
    tracing without compiling kernels (seconds on a CPU); on a GPU the lesson and the benchmark run
    mode='reduce-overhead'."""
    model, tokenizer = demo
    torch._dynamo.reset()
    try:
        encoded = tokenizer(PROMPTS, return_tensors="pt", padding=True)
        decoder = StaticT5Decoder(model, *encoded["input_ids"].shape, max_new_tokens=24)
        decoder.load(encoded["input_ids"], encoded["attention_mask"])
        step = compile_step(decoder, backend="eager", fullgraph=True)
        assert_same(decoder.decode(step), generate(model, encoded, 24), "compiled step")
    finally:
        torch._dynamo.reset()


def test_without_a_gpu_it_says_why_and_runs_the_static_step(demo):
    model, tokenizer = demo
    encoded = tokenizer(PROMPTS[0], return_tensors="pt")
    assert capture_problem("cpu") == "the model is on cpu, and CUDA graphs need a CUDA GPU"
    result = greedy_decode(model, encoded["input_ids"], max_new_tokens=8)
    assert result.method == "static" and "CUDA graphs need a CUDA GPU" in result.note
    for method in ("graph", "compile"):
        with pytest.raises(FastDecodeError, match="cannot run here: the model is on cpu"):
            greedy_decode(model, encoded["input_ids"], max_new_tokens=8, method=method)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"do_sample": True}, "greedy decoding only.*do_sample=True"),
        ({"num_beams": 4}, "greedy decoding only.*num_beams=4"),
        ({"temperature": 0.7, "top_p": 0.9}, "temperature=0.7, top_p=0.9"),
        ({"method": "fastest"}, "method must be one of"),
        ({"max_new_tokens": 0}, "need 1 <= max_new_tokens"),
        ({"min_new_tokens": 9}, "min_new_tokens <= max_new_tokens"),
        ({"check_every": 0}, "check_every must be at least 1"),
    ],
)
def test_requests_it_cannot_serve_get_a_clear_message(demo, kwargs, message):
    model, tokenizer = demo
    encoded = tokenizer(PROMPTS[0], return_tensors="pt")
    request = {"max_new_tokens": 8, **kwargs}
    with pytest.raises(FastDecodeError, match=message):
        greedy_decode(model, encoded["input_ids"], **request)


def test_wrong_device_wrong_shape_and_wrong_model_are_refused(demo):
    from transformers import BartConfig, BartForConditionalGeneration

    model, tokenizer = demo
    encoded = tokenizer(PROMPTS[0], return_tensors="pt")
    with pytest.raises(FastDecodeError, match=r"input_ids is on meta but the model is on cpu.*\.to\(model\.device\)"):
        greedy_decode(model, encoded["input_ids"].to("meta"), max_new_tokens=4)
    decoder = StaticT5Decoder(model, 1, 5, 4)
    with pytest.raises(FastDecodeError, match="built for inputs of shape"):
        decoder.load(encoded["input_ids"])
    with pytest.raises(FastDecodeError, match="call load"):
        decoder.decode()
    with pytest.raises(FastDecodeError, match="input_ids must be"):
        greedy_decode(model, encoded["input_ids"][0], max_new_tokens=4)
    bart = BartForConditionalGeneration(
        BartConfig(
            vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16, decoder_ffn_dim=16
        )
    ).eval()
    with pytest.raises(FastDecodeError, match="works with T5 models.*not BartForConditionalGeneration"):
        greedy_decode(bart, torch.ones(1, 3, dtype=torch.long), max_new_tokens=4)


def test_models_it_cannot_serve_are_refused_and_left_as_they_were():
    model = standins.build_model(standins.tiny_config(standins.read_config("t5-base")))
    ids = torch.ones(1, 3, dtype=torch.long)
    model.train()
    with pytest.raises(FastDecodeError, match="training mode.*model.eval"):
        greedy_decode(model, ids, max_new_tokens=4)
    assert model.training
    model.eval().to(torch.float16)
    with pytest.raises(FastDecodeError, match="float16.*NaN"):
        greedy_decode(model, ids, max_new_tokens=4)
    model.to(torch.float32)
    model.generation_config.repetition_penalty = 1.3
    with pytest.raises(FastDecodeError, match="repetition_penalty"):
        greedy_decode(model, ids, max_new_tokens=4)


def _fingerprint(model):
    return {
        "forward": "forward" in vars(model) or any("forward" in vars(m) for m in model.modules()),
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
        "device": model.device,
        "dtype": model.dtype,
        "attention": [m.config._attn_implementation for m in (model, model.encoder, model.decoder)],
        "training": model.training,
        "grad": [p.requires_grad for p in model.parameters()],
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "generation_config": model.generation_config.to_dict(),
    }


def test_the_learners_model_is_left_unchanged(demo):
    model, tokenizer = demo
    before = _fingerprint(model)
    encoded = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    fast(model, encoded, 24)
    decoder = StaticT5Decoder(model, *encoded["input_ids"].shape, max_new_tokens=8)
    decoder.load(encoded["input_ids"], encoded["attention_mask"])
    decoder.decode()
    after = _fingerprint(model)
    weights_before, weights_after = before.pop("weights"), after.pop("weights")
    assert before == after and before["forward"] is False and before["hooks"] == 0
    assert weights_before.keys() == weights_after.keys()
    assert all(torch.equal(weights_before[k], weights_after[k]) for k in weights_before)
    assert_same(fast(model, encoded, 24), generate(model, encoded, 24), "after use")


def test_recorded_gpu_figures_are_the_results_file_s():
    import json

    from extras_and_licenses.fast_decode import RECORDED_H200
    from tests.conftest import ROOT

    result = json.loads((ROOT / "bench" / "results" / "nvidia-h200.json").read_text())
    assert result["device"]["name"] == RECORDED_H200["device"] and result["date"].startswith(RECORDED_H200["date"])
    versions = result["versions"]
    assert RECORDED_H200["versions"].startswith(
        f"transformers {versions['transformers'][:4]}, torch {versions['torch'][:4]}"
    )
    rows = {r["mode"]: r for r in result["decode"] if r["model"] == "t5-large" and r["dtype"] == "bfloat16"}
    recorded = RECORDED_H200["ms_per_token"]
    for mode in ("dynamic cache", "static cache + compile"):
        assert round(rows[mode]["ms_per_token"], 2) == recorded[mode], mode
    assert round(rows["dynamic cache"]["floor_ms"], 3) == recorded["floor"]
    assert round(result["bandwidth"]["bytes_per_s"] / 1e9) == RECORDED_H200["bandwidth_gb_s"]


def test_time_decode_times_a_forced_length(demo):
    from extras_and_licenses.fast_decode import time_decode

    model, tokenizer = demo
    encoded = tokenizer(PROMPTS[0], return_tensors="pt")
    decoder = StaticT5Decoder(model, *encoded["input_ids"].shape, max_new_tokens=6, min_new_tokens=6)
    timing = time_decode(decoder, encoded["input_ids"], encoded["attention_mask"], repeats=2, warmup=0)
    assert len(timing.seconds) == 2 and timing.output_ids.shape == (1, 7)
    assert_same(timing.output_ids, generate(model, encoded, 6, 6), "timed decode")
