"""The bundled demo model: loads offline, is small, and really translates sentences it never saw.

Runs on transformers 5 and 4.57 (the tokenizer files must read the same in both).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import demo_corpus as corpus  # noqa: E402

CARD = json.loads((ROOT / "extras_and_licenses" / "demo_model" / "demo_model_card.json").read_text())


def _generate(model, tok, sources, **kw):
    enc = tok(sources, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=48, do_sample=False, **kw)
    return tok.batch_decode(out, skip_special_tokens=True)


def test_weights_are_small_safetensors_only(demo_dir):
    files = {p.name for p in demo_dir.iterdir()}
    assert "model.safetensors" in files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".ckpt")) for name in files)
    assert (demo_dir / "model.safetensors").stat().st_size < 8_000_000


def test_it_is_a_real_t5_with_t5_task_prefixes(tiny_t5):
    model, tok = tiny_t5
    assert type(model).__name__ == "T5ForConditionalGeneration"
    assert model.config.decoder_start_token_id == tok.pad_token_id == 0
    assert tok.eos_token == "</s>" and tok.eos_token_id == 1
    params = model.config.task_specific_params
    assert params["translation_en_to_fr"]["prefix"] == "translate English to French: "
    assert params["translation_en_to_de"]["prefix"] == "translate English to German: "


def test_loads_offline_from_the_package(monkeypatch, demo_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(demo_dir), local_files_only=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(str(demo_dir), local_files_only=True, use_safetensors=True)
    assert model.num_parameters() == CARD["parameters"]
    assert len(tok) == model.config.vocab_size


def test_tokenizer_encodes_the_same_on_every_transformers_version(tiny_t5):
    _, tok = tiny_t5
    assert tok(CARD["sample_text"]).input_ids == CARD["sample_ids"]
    assert tok.convert_tokens_to_ids("<extra_id_0>") == len(tok) - 1


@pytest.mark.parametrize("lang", ["fr", "de"])
def test_translates_held_out_sentences_exactly(tiny_t5, lang):
    """Sentences the training data excluded: every one must come out right, word for word."""
    model, tok = tiny_t5
    clauses = corpus.heldout_clauses()
    prefix = corpus.FR_PREFIX if lang == "fr" else corpus.DE_PREFIX
    got = _generate(model, tok, [prefix + c.en() for c in clauses])
    want = [c.fr() if lang == "fr" else c.de() for c in clauses]
    wrong = [(w, g) for w, g in zip(want, got) if w != g]
    assert not wrong, f"{len(wrong)} of {len(want)} held-out sentences mistranslated: {wrong[:3]}"


def test_held_out_sentences_really_were_held_out():
    banned = {c.en() for c in corpus.heldout_clauses()}
    sources = {src for src, _ in corpus.training_pairs(60000, seed=0)}
    for sentence in banned:
        assert corpus.FR_PREFIX + sentence not in sources
        assert corpus.DE_PREFIX + sentence not in sources


def test_greetings_with_names(tiny_t5):
    model, tok = tiny_t5
    got = _generate(
        model,
        tok,
        [corpus.FR_PREFIX + "Hello, my name is Marie.", corpus.DE_PREFIX + "Good morning, Leo."],
    )
    assert got == ["Bonjour, je m'appelle Marie.", "Guten Morgen, Leo."]


def test_the_other_task_formats(tiny_t5):
    """cola is learnt well; stsb only in form (a score from 0.0 to 5.0 as text), its values are rough."""
    model, tok = tiny_t5
    good = corpus.Clause(corpus.NOUNS[0], None, corpus.VERBS[0], corpus.NOUNS[1], None).en()  # The cat sees the dog.
    got = _generate(
        model,
        tok,
        [
            corpus.COLA_PREFIX + good,
            corpus.COLA_PREFIX + "The cat the dog sees.",
            f"{corpus.STSB_PREFIX}{good} sentence2: The happy horse buys the blue apple.",
        ],
    )
    assert got[:2] == ["acceptable", "unacceptable"]
    assert got[2] in {f"{x:.1f}" for x in range(6)}, got[2]


def test_beam_search_agrees_on_an_easy_sentence(tiny_t5):
    model, tok = tiny_t5
    src = corpus.FR_PREFIX + "The black dog sees the red cat."
    assert _generate(model, tok, [src], num_beams=4) == ["Le chien noir voit le chat rouge."]


# ---------------------------------------------------------------------------------------------- its vocabulary
# Its vocabulary: 4,000 sentencepiece pieces (plus the 100 sentinels), trained by tools/build_demo_model.py on
# the task pairs, a word list and the lessons' own prose, so that common words are whole pieces as in T5's.
WHOLE = {
    "task prefixes": ["translate", "English", "French", "German", "summarize", "cola", "sentence", "stsb", "question"],
    "common English": ["the", "and", "because", "house", "water", "people", "world", "quick", "brown", "banana"],
    "the lessons' words": ["encoder", "decoder", "attention", "model", "token", "cache", "layer"],
    "French and German": ["chien", "noir", "maison", "Hund", "schwarze", "Katze", "Guten", "Morgen"],
}


@pytest.mark.parametrize("kind", list(WHOLE))
def test_the_demo_tokenizer_keeps_translate_whole(tiny_t5, kind):
    """As with T5's 32k vocabulary, frequent words are single pieces (with the start-of-word mark)."""
    _, tok = tiny_t5
    split = {w: tok.tokenize(w) for w in WHOLE[kind] if tok.tokenize(w) != ["▁" + w]}
    assert not split, f"{kind} cut into pieces: {split}"
    assert tok.tokenize("translate English to French:") == ["▁translate", "▁English", "▁to", "▁French", ":"]


def test_the_demo_tokenizer_splits_rare_words(tiny_t5):
    """Rare words, and the made-up words the lessons show being cut up (its build leaves them out of the
    lessons' prose it learns from), are several pieces."""
    from build_demo_model import SHOWN_AS_RARE

    _, tok = tiny_t5
    for word in ["antidisestablishmentarianism", "zygomorphic", "quizzically"]:
        pieces = tok.tokenize(word)
        assert len(pieces) >= 3 and any(len(p.lstrip("▁")) > 1 for p in pieces), (word, pieces)
    for word in SHOWN_AS_RARE:
        pieces = [p.lstrip("▁") for p in tok.tokenize(word)]
        assert word not in pieces and len([p for p in pieces if p]) >= 2, (word, pieces)


def test_the_demo_vocabulary_has_a_realistic_size_and_no_unknown_letters(tiny_t5):
    _, tok = tiny_t5
    assert len(tok) >= 3000  # T5's is 32,100; a few thousand keeps the demo model a few MB
    text = "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 !?.,;:'\"()[]{}<>@#$%&*+-=/\\|^_`~"
    text += " àâäçéèêëîïôöùûüÿœæß ÀÉÈÊÇÖÜ Zoe Quentin Xavier"
    ids = tok(text).input_ids
    assert tok.unk_token_id not in ids, [tok.convert_ids_to_tokens(i) for i in ids if i == tok.unk_token_id]


def test_the_prose_gives_the_demo_model_s_real_size():
    """README and lesson 00 state the demo model's size; it must be the shipped model's, to 0.1 million."""
    card = json.loads((ROOT / "extras_and_licenses" / "demo_model" / "demo_model_card.json").read_text())
    millions = f"{card['parameters'] / 1e6:.1f}"
    texts = {
        "README.md": (ROOT / "README.md").read_text(),
        "lesson 00": (ROOT / "notebooks" / "00_setup_and_preflight.ipynb").read_text(),
    }
    for name, text in texts.items():
        stated = re.findall(r"(\d+\.\d)(?: million|M) parameters", text)
        assert stated and set(stated) == {millions}, (
            f"{name} says {stated} million parameters; the model has {millions}"
        )
