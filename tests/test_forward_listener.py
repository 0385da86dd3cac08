"""ForwardListener: it never changes what generate() returns, records what really happened, and cleans up.

Runs on transformers 5 and 4.57 with the bundled demo T5 and tiny random BART / Marian / Flan-T5-shaped
models built from configs (no hub access). Never asserts on generated text: the demo weights change.
"""

from __future__ import annotations

import functools
import inspect
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from extras_and_licenses.forward_listener import ForwardCall, ForwardListener

PROMPTS = [
    "translate English to German: The house is wonderful and the garden is big.",
    "translate English to French: Thank you.",
]
NEW = 12  # forced number of new tokens (min_new_tokens = max_new_tokens)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _clean_listeners_and_one_thread():
    # One thread: these models are tiny, and the CI machine's two cores are shared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ForwardListener.clear_all()
    yield
    ForwardListener.clear_all()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(demo_dir):
    """The demo tokenizer (its files read the same on transformers 5 and 4.57)."""
    return AutoTokenizer.from_pretrained(str(demo_dir))


@pytest.fixture()
def t5(demo_dir, tokenizer):
    model = AutoModelForSeq2SeqLM.from_pretrained(str(demo_dir), use_safetensors=True).eval()
    return model, tokenizer


@pytest.fixture()
def batch(tokenizer):
    enc = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    assert (enc["attention_mask"] == 0).any(), "the test batch must be padded"
    return enc


# Toy sizes shared by the BART and Marian models below (fed token ids below 10, so a small vocabulary does).
_TOY_SEQ2SEQ = dict(
    vocab_size=406,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_position_embeddings=64,
    pad_token_id=0,
    eos_token_id=1,
)


def _tiny_bart():
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    config = BartConfig(**_TOY_SEQ2SEQ, bos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=None)
    return BartForConditionalGeneration(config).eval()


def _tiny_marian():
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(0)
    return MarianMTModel(MarianConfig(**_TOY_SEQ2SEQ, decoder_start_token_id=0)).eval()


def _tiny_flan_t5():
    """Flan-T5's architecture (gated-GELU feed-forward, its own LM head) at toy size."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=406,
        d_model=32,
        d_ff=64,
        d_kv=8,
        num_heads=4,
        num_layers=2,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    return T5ForConditionalGeneration(config).eval()


def _generate(model, batch, **kw):
    """generate() with scores: the scores are float and change if padding is mishandled."""
    kw = {"min_new_tokens": NEW, "max_new_tokens": NEW, **kw}
    with torch.no_grad():
        out = model.generate(**batch, return_dict_in_generate=True, output_scores=True, **kw)
    return out.sequences, torch.stack(out.scores)


def _attach(model, tokenizer=None, **kw):
    encoder = ForwardListener(model.get_encoder(), name="encoder", tokenizer=tokenizer, **kw)
    decoder = ForwardListener(model.get_decoder(), name="decoder", tokenizer=tokenizer, **kw)
    return encoder, decoder


def _true_cache_lengths(cache):
    """Cache lengths read off the stored key tensors of the last layer (not via get_seq_length)."""
    if cache is None:
        return None, None

    def length(part):
        layer = part.layers[-1] if part.layers else None
        return layer.keys.shape[-2] if layer is not None and layer.is_initialized else 0

    return length(cache.self_attention_cache), length(cache.cross_attention_cache)


# ---------------------------------------------------------------------------------------------- never changes results


def test_listener_keeps_the_wrapped_signature(t5):
    model, tok = t5
    original = model.encoder.forward
    listener = ForwardListener(model.encoder, name="encoder", tokenizer=tok)
    assert model.encoder.forward is listener
    assert inspect.signature(model.encoder.forward) == inspect.signature(original)
    assert "attention_mask" in inspect.signature(model.encoder.forward).parameters
    assert listener.__wrapped__ == original


def test_a_bare_wrapper_would_change_padded_results(t5, batch):
    """The control for the tests below: dropping the signature really changes padded generation."""
    model, _ = t5
    seqs_ref, scores_ref = _generate(model, batch)
    inner = model.encoder.forward

    def bare(*args, **kw):  # generate() passes everything only to a parameter literally named `kwargs`
        return inner(*args, **kw)

    model.encoder.forward = bare
    try:
        _, scores_bare = _generate(model, batch)
    finally:
        del model.encoder.forward
    assert not torch.equal(scores_ref, scores_bare)


@pytest.mark.parametrize(
    "mode",
    [
        {},
        {"num_beams": 3, "num_return_sequences": 2},
        {"do_sample": True, "top_k": 20, "temperature": 1.5},
        {"use_cache": False},
    ],
    ids=["greedy", "beam", "sampling", "no-cache"],
)
def test_outputs_identical_with_and_without_listeners(t5, batch, mode, capsys):
    model, tok = t5
    torch.manual_seed(0)
    seqs_ref, scores_ref = _generate(model, batch, **mode)
    encoder, decoder = _attach(model, tok)
    torch.manual_seed(0)
    seqs, scores = _generate(model, batch, **mode)
    assert torch.equal(seqs, seqs_ref)
    assert torch.equal(scores, scores_ref)
    assert len(encoder.calls) == 1
    assert len(decoder.calls) == NEW
    rows = len(PROMPTS) * mode.get("num_beams", 1)
    assert {c.rows for c in decoder.calls} == {rows}
    assert "+" in capsys.readouterr().out.splitlines()[2]  # "+N rows" on the decoder lines


@pytest.mark.parametrize("build", [_tiny_bart, _tiny_marian, _tiny_flan_t5], ids=["bart", "marian", "flan-t5"])
def test_other_encoder_decoders(build):
    model = build()
    ids = torch.tensor([[5, 6, 7, 8, 9, 1], [5, 6, 1, 0, 0, 0]])
    batch = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    seqs_ref, scores_ref = _generate(model, batch, num_beams=2)
    encoder, decoder = _attach(model, quiet=True)
    seqs, scores = _generate(model, batch, num_beams=2)
    assert torch.equal(seqs, seqs_ref) and torch.equal(scores, scores_ref)
    assert [c.input_shape for c in encoder.calls] == [(2, 6)]
    assert [c.self_cache_len for c in decoder.calls] == list(range(NEW))
    assert [c.cross_cache_len for c in decoder.calls] == [0] + [6] * (NEW - 1)
    assert all(c.input_shape == (4, 1) for c in decoder.calls)
    assert encoder.calls[0].token_ids == ids[0].tolist() and encoder.calls[0].tokens is None


# ---------------------------------------------------------------------------------------------- records are the truth


def test_records_match_the_real_cache_and_inputs(t5, batch):
    model, tok = t5
    truth = []
    model.decoder.register_forward_pre_hook(
        lambda mod, args, kwargs: truth.append(_true_cache_lengths(kwargs.get("cache", kwargs.get("past_key_values")))),
        with_kwargs=True,
    )
    encoder, decoder = _attach(model, tok, quiet=True)
    with torch.no_grad():
        out = model.generate(**batch, min_new_tokens=NEW, max_new_tokens=NEW, return_dict_in_generate=True)
    seqs = out.sequences
    src_len = batch["input_ids"].shape[1]

    assert [c.index for c in encoder.calls + decoder.calls] == list(range(1, NEW + 2))  # encoder first, once
    assert encoder.calls[0].input_shape == tuple(batch["input_ids"].shape)
    assert encoder.calls[0].tokens == tok.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert [(c.self_cache_len, c.cross_cache_len) for c in decoder.calls] == truth
    assert [c.self_cache_len for c in decoder.calls] == list(range(NEW))
    assert [c.cross_cache_len for c in decoder.calls] == [0] + [src_len] * (NEW - 1)
    assert out.past_key_values.self_attention_cache.get_seq_length() == decoder.calls[-1].self_cache_len + 1
    # the decoder is fed the newest token only: the start token <pad>, then what it generated
    assert [c.token_ids for c in decoder.calls] == [[t] for t in seqs[0, :NEW].tolist()]
    assert decoder.calls[0].tokens == ["<pad>"]
    assert all(c.input_shape == (len(PROMPTS), 1) for c in decoder.calls)
    assert all(c.seconds is not None and c.seconds > 0 for c in decoder.calls)


def test_without_cache_the_decoder_sees_the_whole_prefix(t5, batch):
    model, tok = t5
    _, decoder = _attach(model, tok, quiet=True)
    _generate(model, batch, use_cache=False)
    assert [c.input_shape for c in decoder.calls] == [(len(PROMPTS), k + 1) for k in range(NEW)]
    assert {(c.self_cache_len, c.cross_cache_len) for c in decoder.calls} == {(None, None)}


def test_to_dataframe(t5, batch):
    model, tok = t5
    _, decoder = _attach(model, tok, quiet=True)
    _generate(model, batch)
    frame = decoder.to_dataframe()
    assert list(frame.columns) == [
        "index",
        "step",
        "name",
        "input_shape",
        "rows",
        "tokens",
        "self_cache_len",
        "cross_cache_len",
        "ms",
    ]
    assert len(frame) == NEW
    assert frame["self_cache_len"].tolist() == list(range(NEW))
    assert frame["step"].tolist() == list(range(NEW))
    assert (frame["ms"] > 0).all()
    assert isinstance(decoder.calls[0], ForwardCall)


# ---------------------------------------------------------------------------------------------- what the learner sees


def test_the_lesson_cell_twice_logs_one_line_per_call(t5, batch, capsys):
    model, tok = t5
    pipe = SimpleNamespace(model=model, tokenizer=tok)
    for _ in range(2):  # re-running the attach cell replaces, never nests
        pipe.model.encoder.forward = ForwardListener(pipe.model.encoder, name="encoder", tokenizer=pipe.tokenizer)
        pipe.model.decoder.forward = ForwardListener(pipe.model.decoder, name="decoder", tokenizer=pipe.tokenizer)
    assert not isinstance(model.decoder.forward.__wrapped__, ForwardListener)
    with torch.no_grad():
        model.generate(**batch, min_new_tokens=30, max_new_tokens=30)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["call", "module", "input"]
    assert len(lines) == 1 + 1 + 30  # header, encoder once, decoder per token: fits one screen
    assert all(len(line) <= 110 for line in lines)
    first_pieces = tok.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert lines[1].startswith("#1") and "encoder" in lines[1] and repr(first_pieces[0]) in lines[1]
    assert "more]" in lines[1] and lines[1].endswith("+1 row")  # long prompt cut to fit
    assert lines[2].startswith("#2") and "decoder" in lines[2] and "['<pad>']" in lines[2]
    self_cache_column = [int(line.split()[4]) for line in lines[2:]]  # "#2 decoder (2, 1) 0 ..."
    assert self_cache_column == list(range(30))
    assert ForwardListener.clear_all() == 2
    assert "forward" not in model.encoder.__dict__ and "forward" not in model.decoder.__dict__


def test_the_listeners_log_ends_at_eos(t5, capsys):
    """The decoder lines show what each call was fed and, after the arrow, the top next token: the last is </s>."""
    model, tok = t5
    enc = tok(["translate English to French: The black dog sees the red cat."], return_tensors="pt")
    encoder, decoder = _attach(model, tok)
    with torch.no_grad():
        seq = model.generate(**enc, max_new_tokens=40, do_sample=False, num_beams=1)[0].tolist()
    lines = capsys.readouterr().out.splitlines()
    assert seq[-1] == tok.eos_token_id and len(decoder.calls) == len(seq) - 1
    assert "fed in" in lines[0] and "first row" not in lines[0]
    assert lines[-1].endswith("→ '</s>'"), lines[-1]
    assert "→" not in lines[1]  # the encoder predicts nothing
    # greedy: the top next token of each call is the token generation fed to the next one (and then </s>)
    assert [c.predicted_id for c in decoder.calls] == seq[1:]
    assert [c.predicted for c in decoder.calls] == tok.convert_ids_to_tokens(seq[1:])
    assert [line.rsplit("→ ", 1)[1] for line in lines[2:]] == [repr(p) for p in tok.convert_ids_to_tokens(seq[1:])]
    assert len(lines) == 2 + len(decoder.calls)
    ForwardListener.clear_all()
    assert not model.lm_head._forward_hooks  # the output layer's hook went with the listener


def test_the_log_shows_time_only_when_asked(t5, capsys):
    model, tok = t5
    enc = tok(["translate English to French: Thank you."], return_tensors="pt")
    for show_time in (False, True):
        ForwardListener.clear_all()
        _, decoder = _attach(model, tok, show_time=show_time)
        with torch.no_grad():
            model.generate(**enc, max_new_tokens=5, min_new_tokens=5)
        lines = capsys.readouterr().out.splitlines()
        assert ("time" in lines[0]) is show_time
        assert all((" ms " in line) is show_time for line in lines[1:]), lines
        assert all(c.seconds is not None and c.seconds > 0 for c in decoder.calls)  # recorded either way


def test_the_top_next_token_for_bart_and_a_given_model(capsys):
    """The calling model is found through BART's extra level (BartForConditionalGeneration -> BartModel -> decoder)."""
    model = _tiny_bart()
    ids = torch.tensor([[5, 6, 7, 8, 9, 1]])
    for given in (None, model):
        ForwardListener.clear_all()
        ForwardListener(model.get_decoder(), name="decoder", model=given)
        with torch.no_grad():
            seq = model.generate(ids, max_new_tokens=NEW, do_sample=False, num_beams=1)[0].tolist()
        calls = model.get_decoder().forward.calls
        assert [c.token_ids[0] for c in calls] == seq[:-1]
        assert [c.predicted_id for c in calls] == seq[1:]
        assert capsys.readouterr().out.splitlines()[-1].split("→ ")[1].isdigit()  # no tokenizer: an id
    ForwardListener.clear_all()
    assert not model.lm_head._forward_hooks


def test_quiet_listeners_leave_the_output_layer_alone(t5, batch):
    model, tok = t5
    _attach(model, tok, quiet=True)
    _generate(model, batch)
    assert not model.lm_head._forward_hooks


def test_quiet_mode_prints_nothing_and_still_records(t5, batch, capsys):
    model, tok = t5
    encoder, decoder = _attach(model, tok, quiet=True)
    _generate(model, batch)
    assert capsys.readouterr().out == ""
    assert len(decoder.calls) == NEW and decoder.calls[0].tokens == ["<pad>"]


def test_repr_says_what_is_attached(t5, batch):
    model, tok = t5
    first = ForwardListener(model.decoder, name="decoder", tokenizer=tok, quiet=True)
    second = ForwardListener(model.decoder, name="decoder", tokenizer=tok, quiet=True)
    _generate(model, batch)
    assert repr(second) == f"<ForwardListener 'decoder' on T5Stack: attached, quiet, {NEW} calls>"
    assert "replaced by a newer listener" in repr(first) and "0 calls" in repr(first)
    assert ForwardListener.attached_listeners() == [second]
    second.clear()
    assert "detached" in repr(second)


def test_any_module_float_inputs_show_shapes(capsys):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net.forward = ForwardListener(net, name="mlp")
    net(torch.zeros(5, 4))
    net(torch.zeros(2, 4))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("note: mlp is fed torch.float32 tensors, not token ids")
    assert sum(line.startswith("note:") for line in out) == 1  # said once
    assert "(5, 4)" in out[2] and "(shape only)" in out[2] and out[2].endswith("+4 rows")
    call = net.forward.calls[1]
    assert (call.input_kind, call.input_shape, call.tokens, call.self_cache_len) == ("float tensor", (2, 4), None, None)


def test_token_ids_without_a_tokenizer(capsys):
    emb = nn.Embedding(10, 2)
    listener = ForwardListener(emb, name="embed")
    emb(torch.tensor([[3, 4, 5]]))
    out = capsys.readouterr().out
    assert "no tokenizer" in out and "[3, 4, 5]" in out
    assert listener.calls[0].token_ids == [3, 4, 5] and listener.calls[0].tokens is None


def test_errors_say_what_to_do(t5):
    model, _ = t5
    with pytest.raises(TypeError, match="not its forward method"):
        ForwardListener(model.encoder.forward, name="encoder")
    with pytest.raises(TypeError, match="pipe.model.encoder"):
        ForwardListener("encoder")
    with pytest.raises(TypeError, match="no forward method of its own"):
        ForwardListener(nn.Module())
    with pytest.raises(TypeError, match="output_attentions"):
        ForwardListener(nn.Linear(2, 2), capture_cross_attention=True)
    assert ForwardListener.attached_listeners() == []


# ---------------------------------------------------------------------------------------------- safe in a notebook


class _Stop(Exception):
    pass


@pytest.mark.parametrize("error", [_Stop, KeyboardInterrupt], ids=["exception", "keyboard-interrupt"])
def test_clear_all_after_generation_was_interrupted(t5, batch, error):
    model, tok = t5
    seqs_ref, scores_ref = _generate(model, batch)
    encoder, decoder = _attach(model, tok, quiet=True)
    steps = []

    def interrupt(mod, args):
        steps.append(1)
        if len(steps) == 3:
            raise error()

    handle = model.decoder.block[0].register_forward_pre_hook(interrupt)
    with pytest.raises(error):
        _generate(model, batch)
    handle.remove()
    assert len(decoder.calls) == 2  # the two calls that finished
    encoder, decoder = _attach(model, tok)  # printing listeners hook the output layer; interrupted too
    with pytest.raises(error):
        steps.clear()
        handle = model.decoder.block[0].register_forward_pre_hook(interrupt)
        try:
            _generate(model, batch)
        finally:
            handle.remove()
    assert model.lm_head._forward_hooks
    assert ForwardListener.clear_all() == 2
    assert ForwardListener.clear_all() == 0  # twice is fine
    assert not model.lm_head._forward_hooks
    assert "forward" not in model.encoder.__dict__ and "forward" not in model.decoder.__dict__
    seqs, scores = _generate(model, batch)
    assert torch.equal(seqs, seqs_ref) and torch.equal(scores, scores_ref)


def test_context_manager_detaches_even_when_generation_fails(t5, batch):
    model, tok = t5
    with ForwardListener(model.decoder, name="decoder", tokenizer=tok, quiet=True) as decoder:
        _generate(model, batch)
        assert decoder.attached
    assert "forward" not in model.decoder.__dict__ and len(decoder.calls) == NEW
    with pytest.raises(_Stop):
        with ForwardListener(model.decoder, name="decoder", quiet=True):
            raise _Stop
    assert "forward" not in model.decoder.__dict__


def test_an_earlier_instance_forward_is_restored(t5, batch):
    model, tok = t5
    inner = model.encoder.forward
    seen = []

    @functools.wraps(inner)
    def mine(*args, **kwargs):
        seen.append(1)
        return inner(*args, **kwargs)

    model.encoder.forward = mine
    ForwardListener(model.encoder, name="encoder", tokenizer=tok, quiet=True)
    ForwardListener(model.encoder, name="encoder", tokenizer=tok, quiet=True)  # replaces, keeps `mine` below
    _generate(model, batch)
    assert seen == [1]
    ForwardListener.clear_all()
    assert model.encoder.__dict__["forward"] is mine


def test_reset_all_numbers_calls_from_one_again(t5, batch):
    model, tok = t5
    encoder, decoder = _attach(model, tok, quiet=True)
    _generate(model, batch)
    ForwardListener.reset_all()
    _generate(model, batch)
    assert encoder.calls[0].index == 1 and decoder.calls[0].index == 2 and len(decoder.calls) == NEW


# ---------------------------------------------------------------------------------------------- cross-attention


def _eager(module):
    if module.config._attn_implementation != "eager":
        module.set_attn_implementation("eager")


def test_capture_cross_attention_t5(t5, batch, capsys):
    model, tok = t5
    before = model.decoder.config._attn_implementation
    decoder = ForwardListener(model.decoder, name="decoder", tokenizer=tok, quiet=True, capture_cross_attention=True)
    assert model.decoder.config._attn_implementation == "eager"
    printed = capsys.readouterr().out
    if before != "eager":  # transformers 5 defaults to sdpa; T5 on 4.57 is already eager
        assert "to 'eager' attention" in printed and "never" in printed
    seqs, _ = _generate(model, batch, num_beams=2)
    calls = decoder.calls
    src_len, layers = batch["input_ids"].shape[1], model.config.num_decoder_layers
    assert len(calls) == NEW
    for call in calls:
        assert len(call.cross_attentions) == layers
        for weights in call.cross_attentions:  # (rows, heads, query_len, src_len)
            assert weights.shape == (4, model.config.num_heads, 1, src_len)
            torch.testing.assert_close(weights.sum(-1), torch.ones(4, model.config.num_heads, 1))
    # the short prompt's padding gets no attention (rows 2 and 3 are its two beams)
    pad = batch["attention_mask"][1] == 0
    assert float(calls[-1].cross_attentions[0][2:, :, :, pad].abs().max()) < 1e-6
    stacked = decoder.cross_attention()
    assert stacked.shape == (NEW, layers, 4, model.config.num_heads, src_len)

    decoder.clear()
    assert model.decoder.config._attn_implementation == before
    _eager(model.decoder)
    seqs_eager, _ = _generate(model, batch, num_beams=2)
    assert torch.equal(seqs, seqs_eager)


def test_capture_cross_attention_bart_restores_sdpa():
    model = _tiny_bart()
    before = model.config._attn_implementation
    ids = torch.tensor([[5, 6, 7, 8, 9, 1]])
    listener = ForwardListener(model.get_decoder(), name="decoder", quiet=True, capture_cross_attention=True)
    _generate(model, {"input_ids": ids})
    assert listener.cross_attention().shape == (NEW, 2, 1, 2, 6)
    ForwardListener.clear_all()
    assert model.config._attn_implementation == before
    with pytest.raises(ValueError, match="capture_cross_attention=True"):
        ForwardListener(model.get_decoder(), quiet=True).cross_attention()
