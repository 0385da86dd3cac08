"""The course's seq2seq pipelines: same results as transformers, clear errors, models left alone.

Runs on transformers 5 and 4.57 with the bundled demo T5. On every version the pipeline is compared
with tokenizing and calling ``model.generate`` by hand; on 4.57 it is also compared, token for token,
with transformers' own TranslationPipeline, Text2TextGenerationPipeline and SummarizationPipeline.
Never asserts on generated text: the demo weights change.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import transformers

from extras_and_licenses.pipelines import (
    InputTruncatedWarning,
    SummarizationPipeline,
    Text2TextPipeline,
    TranslationPipeline,
    UnknownTaskError,
    pipeline,
)

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])
needs_builtin_pipelines = pytest.mark.skipif(
    TRANSFORMERS_MAJOR >= 5,
    reason="compares with transformers 4's built-in translation/text2text/summarization pipelines, "
    f"which transformers {transformers.__version__} removed",
)
only_transformers_5 = pytest.mark.skipif(
    TRANSFORMERS_MAJOR < 5, reason=f"checks transformers 5 behaviour; this is {transformers.__version__}"
)

FR = "translate English to French: "
TEXTS = [  # different lengths, so a batch of them is padded
    "Good morning.",
    "The house is wonderful and the garden is big.",
    "Thank you very much, my friend.",
]
NEW = 8  # max_new_tokens for most comparisons: short, the demo model is slow on two shared cores


@pytest.fixture(autouse=True)
def _one_thread():
    # The demo model is tiny; two threads on two shared cores are slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# A random T5 unlike the demo model: narrower, gated-gelu, its own output head, and real T5's kind of
# task_specific_params (beam search, a max_length, early stopping, a summarization entry).
RANDOM_T5 = dict(
    d_model=48,
    d_ff=96,
    d_kv=12,
    num_heads=4,
    num_layers=3,
    feed_forward_proj="gated-gelu",
    tie_word_embeddings=False,
    decoder_start_token_id=0,
    pad_token_id=0,
    eos_token_id=1,
    task_specific_params={
        "summarization": {"prefix": "summarize: ", "max_length": 30, "min_length": 5, "num_beams": 2},
        "translation_en_to_de": {"prefix": "translate English to German: ", "max_length": 40, "num_beams": 4},
        "translation_en_to_fr": {
            "prefix": FR,
            "max_length": 40,
            "num_beams": 2,  # 2, not real T5's 4: the defaults case then runs 256 new tokens at half the cost
            "early_stopping": True,
        },
    },
)


@pytest.fixture(params=["demo", "random-t5"])
def t5(request, tiny_t5):
    """The demo T5, then a random T5 of another shape (same tokenizer), as (model, tokenizer)."""
    model, tokenizer = tiny_t5
    if request.param == "random-t5":
        from extras_and_licenses import standins

        model = standins.build_model(dict(RANDOM_T5, vocab_size=len(tokenizer)), seed=1)
        assert model.lm_head.weight is not model.shared.weight and model.config.d_model != tiny_t5[0].config.d_model
    return model, tokenizer


def by_hand(model, tokenizer, texts, prefix="", **generate_kwargs):
    """The reference: tokenize (padded), model.generate, one row of output ids per sequence."""
    batch = tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
    return model.generate(**batch, **generate_kwargs)  # (len(texts) * num_return_sequences, out_len)


def decoded(tokenizer, ids):
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def plain(result):
    """A pipeline result with tensors turned into lists, so whole results compare with ==."""
    if isinstance(result, list):
        return [plain(r) for r in result]
    if isinstance(result, dict):
        return {k: v.tolist() if torch.is_tensor(v) else v for k, v in result.items()}
    return result


# ------------------------------------------------------------------ same results as model.generate
def test_translation_with_default_settings_matches_generate(tiny_t5):
    model, tokenizer = tiny_t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer)
    assert pipe.prefix == FR  # from the config's task_specific_params
    # transformers 4's defaults: 256 new tokens (they beat the config's max_length), num_beams from the task.
    assert pipe.generate_kwargs == {"max_new_tokens": 256, "num_beams": 1}
    result = pipe(TEXTS[0])
    expected = by_hand(model, tokenizer, TEXTS[:1], FR, max_new_tokens=256, num_beams=1)
    assert result == [{"translation_text": decoded(tokenizer, expected)[0]}]


@pytest.mark.parametrize("batch_size", [1, 3], ids=["one-at-a-time", "padded-batch"])
def test_list_matches_generate_token_for_token(tiny_t5, batch_size):
    model, tokenizer = tiny_t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=NEW)
    ids = pipe(TEXTS, batch_size=batch_size, return_tensors=True)
    if batch_size == 1:  # each text generated alone
        expected = [by_hand(model, tokenizer, [t], FR, max_new_tokens=NEW, num_beams=1)[0] for t in TEXTS]
    else:  # one padded batch; shorter outputs are padded to the longest
        expected = list(by_hand(model, tokenizer, TEXTS, FR, max_new_tokens=NEW, num_beams=1))
    assert plain(ids) == [{"translation_token_ids": e.tolist()} for e in expected]
    texts = pipe(TEXTS, batch_size=batch_size)
    assert texts == [{"translation_text": t} for t in decoded(tokenizer, expected)]


def test_beam_search_with_several_return_sequences(tiny_t5):
    model, tokenizer = tiny_t5
    pipe = pipeline("text2text-generation", model=model, tokenizer=tokenizer)
    settings = dict(num_beams=3, num_return_sequences=2, max_new_tokens=NEW)
    one = pipe(FR + TEXTS[1], **settings)
    assert one == [
        {"generated_text": t} for t in decoded(tokenizer, by_hand(model, tokenizer, [FR + TEXTS[1]], **settings))
    ]
    two = pipe([FR + t for t in TEXTS[:2]], **settings, return_tensors=True)
    expected = [by_hand(model, tokenizer, [FR + t], **settings) for t in TEXTS[:2]]
    assert plain(two) == [[{"generated_token_ids": ids.tolist()} for ids in e] for e in expected]


def test_summarization_with_a_prefix_of_your_own(tiny_t5):
    model, tokenizer = tiny_t5
    pipe = pipeline("summarization", model=model, tokenizer=tokenizer, prefix="summarize: ", max_new_tokens=NEW)
    assert isinstance(pipe, SummarizationPipeline)
    expected = by_hand(model, tokenizer, [TEXTS[1]], "summarize: ", max_new_tokens=NEW, num_beams=4)
    assert pipe(TEXTS[1]) == [{"summary_text": decoded(tokenizer, expected)[0]}]


def test_settings_at_construction_and_per_call(tiny_t5):
    model, tokenizer = tiny_t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, num_beams=2, max_new_tokens=6)
    assert pipe.generate_kwargs == {"num_beams": 2, "max_new_tokens": 6}
    text = [TEXTS[1]]

    def ids(**call):
        return pipe(TEXTS[1], return_tensors=True, **call)[0]["translation_token_ids"].tolist()

    assert ids() == by_hand(model, tokenizer, text, FR, num_beams=2, max_new_tokens=6)[0].tolist()
    assert ids(num_beams=1) == by_hand(model, tokenizer, text, FR, num_beams=1, max_new_tokens=6)[0].tolist()
    # A call's max_length replaces the pipeline's max_new_tokens: generate() never gets both.
    assert "max_new_tokens" not in pipe.generate_kwargs_for_call({"max_length": 4})
    assert ids(max_length=4) == by_hand(model, tokenizer, text, FR, num_beams=2, max_length=4)[0].tolist()
    assert pipe.generate_kwargs == {"num_beams": 2, "max_new_tokens": 6}  # calls leave it alone


def test_the_three_stages_one_at_a_time(tiny_t5):
    model, tokenizer = tiny_t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=NEW)
    model_inputs = pipe.preprocess(TEXTS[0])
    assert set(model_inputs) == {"input_ids", "attention_mask"}
    assert model_inputs["input_ids"].tolist() == [tokenizer(FR + TEXTS[0])["input_ids"]]  # (batch, src_len)
    prefix_ids = tokenizer(FR.strip(), add_special_tokens=False)["input_ids"]
    assert model_inputs["input_ids"][0, : len(prefix_ids)].tolist() == prefix_ids  # the instruction comes first
    model_outputs = pipe._forward(model_inputs)
    assert model_outputs["output_ids"].shape[:2] == (1, 1)  # (batch, num_return_sequences, out_len)
    assert pipe.postprocess(model_outputs) == pipe(TEXTS[0])


# ------------------------------------------------------------------ the user's model is left alone
def test_model_is_never_moved_converted_or_edited(tiny_t5, monkeypatch):
    model, tokenizer = tiny_t5
    model = model.to(torch.bfloat16)
    config_before = copy.deepcopy(model.config.to_dict())
    generation_before = model.generation_config.to_dict()

    def refuse(*args, **kwargs):
        raise AssertionError("the pipeline tried to move or convert the model")

    monkeypatch.setattr(model, "to", refuse)
    monkeypatch.setattr(model, "cuda", refuse)
    for pipe in (
        pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=2),
        TranslationPipeline(model, tokenizer, max_new_tokens=2),  # built directly, no device given
    ):
        pipe(TEXTS[0])
        assert pipe.device == model.device and model.dtype == torch.bfloat16
    assert model.config.to_dict() == config_before  # transformers 4's base class pops the prefix out
    assert model.generation_config.to_dict() == generation_before


@pytest.mark.parametrize(
    "placement, match",
    [({"device": "cuda:0"}, "never moves"), ({"dtype": torch.bfloat16}, "never converts")],
    ids=["device", "dtype"],
)
def test_another_device_or_dtype_for_your_model_is_refused(tiny_t5, placement, match):
    model, tokenizer = tiny_t5
    with pytest.raises(ValueError, match=match):
        pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, **placement)
    assert model.device.type == "cpu" and model.dtype == torch.float32


def test_model_id_offline_falls_back_to_the_demo_with_its_banner(hf_cache, capsys):
    pipe = pipeline("translation_en_to_fr", model="t5-base", max_new_tokens=4)
    out = capsys.readouterr().out
    assert "DEMO MODEL" in out and "t5-base" in out
    placement = pipe.loaded.placement  # the CPU here; the GPU, named, on a GPU machine
    assert placement.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert out.count(placement.note) == 1  # the placement is said once
    assert pipe.is_demo and pipe.loaded.is_demo and "DEMO" in repr(pipe)
    assert pipe.prefix == FR
    result = pipe("Good morning.")
    assert len(result) == 1 and isinstance(result[0]["translation_text"], str)


@pytest.mark.gpu
def test_on_a_gpu_the_pipeline_runs_where_the_model_is(tiny_t5):
    model, tokenizer = tiny_t5
    model = model.to("cuda")
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=NEW)
    assert pipe.device.type == "cuda"
    batch = tokenizer([FR + t for t in TEXTS], padding=True, return_tensors="pt").to("cuda")
    expected = model.generate(**batch, **pipe.generate_kwargs).cpu()
    ids = pipe(TEXTS, batch_size=3, return_tensors=True)
    assert plain(ids) == [{"translation_token_ids": e.tolist()} for e in expected]
    by_hand_stages = pipe.postprocess(pipe._forward(pipe.preprocess(TEXTS[0]).to(pipe.device)))
    assert by_hand_stages == pipe(TEXTS[0]) and model.device.type == "cuda"


def test_other_tasks_go_to_transformers_unchanged(monkeypatch):
    seen = {}
    monkeypatch.setattr(transformers, "pipeline", lambda *args, **kwargs: seen.update(args=args, kwargs=kwargs))
    pipeline("fill-mask", model="some/model", top_k=3)
    assert seen == {"args": ("fill-mask",), "kwargs": {"model": "some/model", "tokenizer": None, "top_k": 3}}


@only_transformers_5
def test_transformers_5_has_no_translation_pipeline_of_its_own(tiny_t5):
    model, tokenizer = tiny_t5
    with pytest.raises(KeyError):
        transformers.pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer)


# ------------------------------------------------------------------ bad input, clear messages
@pytest.fixture()
def translator(tiny_t5):
    model, tokenizer = tiny_t5
    return pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=2)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("", ValueError, "empty string"),
        ("   ", ValueError, "empty string"),
        (None, TypeError, "None"),
        (42, TypeError, "got int"),
        ([], ValueError, "empty list"),
        (["Hello.", 3], TypeError, "Item 1 of the list must be a string"),
        (["Hello.", ""], ValueError, "Item 1 of the list is an empty string"),
    ],
    ids=["empty", "spaces", "None", "int", "empty-list", "list-with-int", "list-with-empty"],
)
def test_bad_input_says_what_to_pass(translator, bad, error, match):
    with pytest.raises(error, match=match):
        translator(bad)


@pytest.mark.parametrize(
    "task, suggestion",
    [
        ("translaton_en_to_fr", "translation_en_to_fr"),
        ("translate_en_to_de", "translation_en_to_de"),
        ("text2text-generaton", "text2text-generation"),
        ("summarisation", "summarization"),
        ("translation", "translation_en_to_fr"),
    ],
)
def test_misspelt_task_suggests_the_right_name(task, suggestion):
    with pytest.raises(UnknownTaskError, match=suggestion):  # raised before any model is loaded
        pipeline(task)


def test_language_pair_without_a_prefix_lists_the_pairs_and_prefix_option(tiny_t5):
    model, tokenizer = tiny_t5
    with pytest.raises(ValueError) as info:
        pipeline("translation_en_to_es", model=model, tokenizer=tokenizer)
    message = str(info.value)
    assert "translation_en_to_de" in message and "translation_en_to_fr" in message and "prefix=" in message
    pipe = pipeline("translation_en_to_es", model=model, tokenizer=tokenizer, prefix="translate English to Spanish: ")
    assert pipe.prefix == "translate English to Spanish: "


def test_decoder_only_model_is_refused_with_the_way_out(tiny_t5):
    _, tokenizer = tiny_t5
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=tokenizer.vocab_size)
    gpt2 = transformers.GPT2LMHeadModel(config).eval()
    with pytest.raises(ValueError, match="decoder-only.*text-generation"):
        pipeline("text2text-generation", model=gpt2, tokenizer=tokenizer)


def test_misspelt_generation_setting_suggests_the_right_name(translator):
    with pytest.raises(TypeError, match="num_beams"):
        translator("Hello.", num_beam=2)


def test_long_input_is_cut_to_the_limit_with_a_warning(translator):
    long_text = "The house is wonderful and the garden is big. " * 80
    with pytest.warns(InputTruncatedWarning, match="first 512"):
        model_inputs = translator.preprocess(long_text)
    assert model_inputs["input_ids"].shape == (1, 512) and model_inputs["input_ids"][0, -1] == 1  # still ends in </s>
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputTruncatedWarning)
        assert translator.preprocess(long_text, truncation=False)["input_ids"].shape[-1] > 512
        translator.preprocess(TEXTS[1])  # short input: no warning


# ------------------------------------------------------------------ transformers 4's call shape
def test_src_lang_and_tgt_lang_choose_the_pair_for_plain_translation(t5):
    model, tokenizer = t5
    pipe = pipeline("translation", model=model, tokenizer=tokenizer, src_lang="en", tgt_lang="fr", max_new_tokens=NEW)
    assert isinstance(pipe, TranslationPipeline) and pipe.task == "translation_en_to_fr" and pipe.prefix == FR
    expected = by_hand(model, tokenizer, TEXTS[:1], FR, **pipe.generate_kwargs)
    assert pipe(TEXTS[0]) == [{"translation_text": decoded(tokenizer, expected)[0]}]
    with pytest.raises(UnknownTaskError, match="src_lang='en', tgt_lang='fr'"):
        pipeline("translation", model=model, tokenizer=tokenizer, src_lang="en")  # one language is not a pair


def test_src_lang_and_tgt_lang_at_a_call_change_nothing_for_t5(t5):
    model, tokenizer = t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=NEW)
    expected = pipe(TEXTS, return_tensors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pipeline's own pair: no warning
        assert plain(pipe(TEXTS, src_lang="en", tgt_lang="fr", return_tensors=True)) == plain(expected)
    with pytest.warns(UserWarning, match="tgt_lang='de' do not change this 'translation_en_to_fr' pipeline"):
        other = pipe(TEXTS, src_lang="en", tgt_lang="de", return_tensors=True)
    assert plain(other) == plain(expected)  # still French: T5 reads the pair from the prefix only


def test_return_text_is_accepted_and_text_comes_unless_tensors_are_asked_for(t5):
    model, tokenizer = t5
    pipe = pipeline("text2text-generation", model=model, tokenizer=tokenizer, max_new_tokens=NEW)
    text = pipe(FR + TEXTS[1])
    assert set(text[0]) == {"generated_text"}
    assert pipe(FR + TEXTS[1], return_text=False) == text == pipe(FR + TEXTS[1], return_text=True)
    ids = plain(pipe(FR + TEXTS[1], return_tensors=True))
    assert set(ids[0]) == {"generated_token_ids"}
    assert plain(pipe(FR + TEXTS[1], return_text=True, return_tensors=True)) == ids  # ids only, as in 4.57
    assert plain(pipe(FR + TEXTS[1], return_text=False, return_tensors=True)) == ids


@pytest.mark.parametrize("batch_size", [1, 3], ids=["one-at-a-time", "padded-batch"])
def test_seeded_sampling_one_text_equals_generate_a_list_after_one_draw(t5, batch_size):
    """What holds with do_sample=True: a text as model.generate; a list as model.generate after the
    DataLoader's one draw from torch's random generator (transformers' own pipelines do the same)."""
    model, tokenizer = t5
    pipe = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer, max_new_tokens=NEW, num_beams=1)
    settings = dict(pipe.generate_kwargs, do_sample=True)

    torch.manual_seed(0)
    one = pipe(TEXTS[0], do_sample=True, return_tensors=True)
    torch.manual_seed(0)
    assert plain(one) == [{"translation_token_ids": by_hand(model, tokenizer, TEXTS[:1], FR, **settings)[0].tolist()}]

    torch.manual_seed(0)
    many = pipe(TEXTS, do_sample=True, return_tensors=True, batch_size=batch_size)
    torch.manual_seed(0)
    torch.empty((), dtype=torch.int64).random_()  # the DataLoader's draw (torch.utils.data's shared seed)
    if batch_size == 1:
        expected = [by_hand(model, tokenizer, [t], FR, **settings)[0] for t in TEXTS]
    else:
        expected = list(by_hand(model, tokenizer, TEXTS, FR, **settings))
    assert plain(many) == [{"translation_token_ids": e.tolist()} for e in expected]


# ------------------------------------------------------------------ token for token with transformers 4.57
PARITY_CASES = [
    ("translation_en_to_fr", TEXTS[1], {}, {}),  # the defaults
    ("translation_en_to_fr", TEXTS, {}, {"max_new_tokens": NEW}),
    ("translation_en_to_fr", TEXTS, {"batch_size": 3}, {"max_new_tokens": NEW}),  # padded
    ("translation_en_to_de", TEXTS[0], {"max_new_tokens": NEW}, {"num_beams": 3}),
    ("text2text-generation", FR + TEXTS[1], {}, {"max_new_tokens": NEW, "num_beams": 3, "num_return_sequences": 2}),
    (
        "text2text-generation",
        [FR + t for t in TEXTS],
        {"batch_size": 2},
        {"max_new_tokens": NEW, "num_beams": 2, "num_return_sequences": 2},
    ),
    ("text2text-generation", [FR + t for t in TEXTS], {}, {"max_new_tokens": NEW, "num_beams": 2}),
    ("summarization", "summarize: " + TEXTS[1], {"max_new_tokens": NEW}, {}),
]


@needs_builtin_pipelines
@pytest.mark.parametrize(
    "task, inputs, init, call",
    PARITY_CASES,
    ids=[
        "translation-defaults",
        "translation-list",
        "translation-padded-batch",
        "translation-de-beams",
        "text2text-beams-n2",
        "text2text-padded-batch-beams-n2",
        "text2text-list-beams",
        "summarization",
    ],
)
def test_same_tokens_as_transformers_4_pipelines(t5, task, inputs, init, call):
    model, tokenizer = t5
    theirs = transformers.pipeline(task, model=copy.deepcopy(model), tokenizer=tokenizer, device=-1, **init)
    ours = pipeline(task, model=model, tokenizer=tokenizer, **init)
    assert ours(inputs, **call) == theirs(inputs, **call)
    assert plain(ours(inputs, return_tensors=True, **call)) == plain(theirs(inputs, return_tensors=True, **call))


@needs_builtin_pipelines
def test_same_stages_as_transformers_4(tiny_t5):
    model, tokenizer = tiny_t5
    theirs = transformers.pipeline("translation_en_to_fr", model=copy.deepcopy(model), tokenizer=tokenizer, device=-1)
    ours = pipeline("translation_en_to_fr", model=model, tokenizer=tokenizer)
    assert ours.prefix == theirs.prefix == FR
    mine, builtin = ours.preprocess(TEXTS[1]), theirs.preprocess(TEXTS[1])
    assert {k: v.tolist() for k, v in mine.items()} == {k: v.tolist() for k, v in builtin.items()}
    assert isinstance(ours, Text2TextPipeline) and isinstance(ours, transformers.Pipeline)


V4_CALL_SHAPE = [
    ("translation_en_to_fr", TEXTS, {"src_lang": "en", "tgt_lang": "fr"}),
    ("translation_en_to_fr", TEXTS[1], {"return_text": False}),
    ("text2text-generation", FR + TEXTS[1], {"return_text": False}),
    ("text2text-generation", FR + TEXTS[1], {"return_text": True, "return_tensors": True}),
    ("translation_en_to_fr", TEXTS[0], {"do_sample": True}),
    ("translation_en_to_fr", TEXTS, {"do_sample": True}),
    ("translation_en_to_fr", TEXTS, {"do_sample": True, "batch_size": 3}),
]


@needs_builtin_pipelines
@pytest.mark.parametrize(
    "task, inputs, call",
    V4_CALL_SHAPE,
    ids=[
        "src-tgt-lang",
        "translation-return-text-false",
        "text2text-return-text-false",
        "return-text-and-tensors",
        "sampling-one-text",
        "sampling-list",
        "sampling-padded-batch",
    ],
)
def test_transformers_4_call_shape_gives_the_same_tokens(t5, task, inputs, call):
    model, tokenizer = t5
    # num_beams at the call: transformers 4 lets task_specific_params' num_beams beat one given at build time
    call = dict(call, max_new_tokens=NEW, num_beams=1)
    theirs = transformers.pipeline(task, model=copy.deepcopy(model), tokenizer=tokenizer, device=-1)
    ours = pipeline(task, model=model, tokenizer=tokenizer)
    torch.manual_seed(0)
    expected = plain(theirs(inputs, **call))
    torch.manual_seed(0)
    assert plain(ours(inputs, **call)) == expected


@needs_builtin_pipelines
def test_plain_translation_with_languages_matches_transformers_4s_pair(t5):
    model, tokenizer = t5
    for pair in ("en_to_fr", "en_to_de"):
        src, tgt = pair.split("_to_")
        theirs = transformers.pipeline(
            f"translation_{pair}", model=copy.deepcopy(model), tokenizer=tokenizer, device=-1
        )
        ours = pipeline("translation", model=model, tokenizer=tokenizer, src_lang=src, tgt_lang=tgt)
        assert ours.prefix == theirs.prefix
        call = dict(src_lang=src, tgt_lang=tgt, max_new_tokens=NEW, num_beams=2, return_tensors=True)
        assert plain(ours(TEXTS, **call)) == plain(theirs(TEXTS, **call))
