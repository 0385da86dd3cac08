"""Benchmark stand-ins: the kept configs give the real models' exact shapes, and COURSE_STANDIN=random
makes load_model hand out a marked random-weight model with a tokenizer covering all 32,128 ids.

Full-size models are built on the meta device (no memory, no time); anything that runs is tiny.
"""

from __future__ import annotations

import pytest
import torch

from extras_and_licenses import models, standins

REAL = {  # public facts: (d_model, d_ff, heads, layers, feed-forward, own output head)
    "t5-base": (768, 3072, 12, 12, "relu", False),
    "t5-large": (1024, 4096, 16, 24, "relu", False),
    "google/flan-t5-large": (1024, 2816, 16, 24, "gated-gelu", True),
}
PREFIXES = {
    "translation_en_to_de": "translate English to German: ",
    "translation_en_to_fr": "translate English to French: ",
    "translation_en_to_ro": "translate English to Romanian: ",
    "summarization": "summarize: ",
}


@pytest.mark.parametrize("name", list(REAL))
def test_kept_config_gives_the_real_parameter_count(name):
    model = standins.build_model(standins.read_config(name), device="meta")
    assert model.num_parameters() == models.LESSON_MODELS[name].parameters  # 222,903,552 / 737,668,096 / 783,150,080
    d_model, d_ff, heads, layers, ff, own_head = REAL[name]
    c = model.config
    assert (c.d_model, c.d_ff, c.d_kv, c.num_heads, c.num_layers, c.num_decoder_layers) == (
        d_model,
        d_ff,
        64,
        heads,
        layers,
        layers,
    )
    assert (c.vocab_size, c.feed_forward_proj) == (32128, ff)
    assert (c.relative_attention_num_buckets, c.relative_attention_max_distance) == (32, 128)
    assert (c.decoder_start_token_id, c.pad_token_id, c.eos_token_id) == (0, 0, 1)
    assert (model.lm_head.weight is not model.shared.weight) == own_head
    assert len(model.decoder.block) == layers


@pytest.mark.parametrize("name", ["t5-base", "t5-large"])
def test_t5_configs_carry_the_task_prefixes(name):
    params = standins.read_config(name)["task_specific_params"]
    assert {task: p["prefix"] for task, p in params.items()} == PREFIXES


def test_flan_config_has_no_task_prefixes_and_its_own_head():
    config = standins.read_config("flan-t5-large")
    assert "task_specific_params" not in config and config["tie_word_embeddings"] is False


def test_load_model_gives_a_marked_standin(monkeypatch, capsys):
    monkeypatch.setenv(standins.STANDIN_ENV, "random")
    monkeypatch.setenv(models.DEMO_ENV, "1")  # the stand-in wins over demo mode
    loaded = models.load_model("t5-large", device="meta")  # meta: full size, no memory
    banner = capsys.readouterr().out
    assert "RANDOM WEIGHTS (benchmark stand-in)" in banner and "t5-large" in banner
    assert loaded.source == "standin" and not loaded.is_demo
    assert models.is_demo_model(loaded.model) and loaded.model.config.course_demo_stands_in_for == "t5-large"
    assert loaded.model.num_parameters() == 737_668_096
    assert len(loaded.tokenizer) == 32128
    assert not loaded.model.training


def test_standin_only_when_asked_for(monkeypatch, tmp_path):
    monkeypatch.delenv(standins.STANDIN_ENV, raising=False)
    assert not standins.standin_requested("t5-base")
    monkeypatch.setenv(standins.STANDIN_ENV, "random")
    assert standins.standin_requested("t5-base") and standins.standin_requested("google-t5/t5-large")
    assert not standins.standin_requested("t5-base", demo=True)  # an explicit demo=True wins
    assert not standins.standin_requested("demo")
    assert not standins.standin_requested(str(tmp_path))  # a local directory loads as usual
    assert not standins.standin_requested("t5-bse")  # load_model's own error for unknown ids
    monkeypatch.setenv(standins.STANDIN_ENV, "yes")
    with pytest.raises(standins.StandinSettingError, match="only stand-in is 'random'"):
        standins.standin_requested("t5-base")


def test_tokenizer_covers_every_id_and_keeps_the_demo_ids(tiny_t5):
    _, demo = tiny_t5
    tokenizer = standins.build_tokenizer()
    assert len(tokenizer) == 32128
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_99>"]) == [32099, 32000]  # as in T5
    for text in ("translate English to German: The house is wonderful.", "cola sentence: The cat sat."):
        assert tokenizer(text).input_ids == demo(text).input_ids
    text = tokenizer.decode(list(range(32128)))  # every id decodes
    assert "«31999»" in text and "«32127»" in text


def test_build_is_seeded_in_place_and_leaves_the_rng_alone():
    config = standins.tiny_config(standins.read_config("flan-t5-large"))
    state = torch.get_rng_state()
    first = standins.build_model(config, dtype=torch.bfloat16)
    second = standins.build_model(config, dtype=torch.bfloat16)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(p.dtype == torch.bfloat16 for p in first.parameters())
    assert first.lm_head.weight is not first.shared.weight
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_random_tokens_are_generated_and_decoded():
    model = standins.build_model(standins.tiny_config(standins.read_config("t5-base")))
    tokenizer = standins.build_tokenizer()
    inputs = tokenizer(
        ["translate English to French: The house is wonderful.", "Hello."], return_tensors="pt", padding=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, min_new_tokens=6, max_new_tokens=6, do_sample=True)
    assert out.shape == (2, 7)
    assert all(isinstance(text, str) for text in tokenizer.batch_decode(out))


def _package_imports(module) -> list[str]:
    """The modules of this package that ``module`` imports, anywhere in its source (lazy imports included)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [node.module or "." for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    imported += [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("extras_and_licenses")
    ]
    return imported


def test_standins_imports_only_the_catalog_which_imports_nothing_back():
    """models uses standins (load_model under COURSE_STANDIN=random); standins never uses models: no cycle.
    It reads the model ids from catalog, which imports nothing from the package."""
    from extras_and_licenses import catalog

    assert _package_imports(standins) == ["catalog"]
    assert _package_imports(catalog) == []


def test_an_unknown_id_ending_like_a_lesson_model_still_gets_load_models_error(monkeypatch):
    monkeypatch.setenv(standins.STANDIN_ENV, "random")
    with pytest.raises(models.UnknownModelError, match="not one of the course models"):
        models.load_model("someone/t5-base", device="meta")


def test_only_the_ids_the_catalog_knows_have_a_kept_config(monkeypatch):
    for spec in models.LESSON_MODELS.values():
        for model_id in spec.ids():
            assert standins.config_file(model_id) == standins.CONFIG_DIR / standins.CONFIG_FILES[spec.name]
    for model_id in ("someone/t5-base", "anyone/flan-t5-large", "google/t5-large", "t5-base/", "T5-BASE", "t5"):
        assert standins.config_file(model_id) is None, model_id
    with pytest.raises(KeyError, match="No kept config for 'someone/t5-base'"):
        standins.read_config("someone/t5-base")
    monkeypatch.setenv(standins.STANDIN_ENV, "random")
    assert standins.standin_requested("google-t5/t5-base") and not standins.standin_requested("someone/t5-base")
