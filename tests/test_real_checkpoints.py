"""What the real checkpoints need that the demo model never exercises, checked on the CPU.

- Flan-T5's layout: an untied, gated-GELU T5 saved and reloaded keeps its own head and its
  decoder output is not rescaled (the T5 v1.0 rescaling must not apply: transformers PR #43681);
  the course's loading path shows no "will NOT tie them" warning for it.
- "Complete" means complete: a cache holding a few-MB file under t5-base's name is incomplete,
  and doctor and prefetch say "incomplete or wrong files: rerun prefetch".
- The behaviour-claim helper: pass line, the "did not hold" box, demo mode, strict mode, tally.
"""

from __future__ import annotations

import pytest
import torch

from extras_and_licenses import claims, doctor, models, prefetch
from tests import hubcache

T5_BASE = models.LESSON_MODELS["t5-base"]
FLAN = models.LESSON_MODELS["google/flan-t5-large"]


# ------------------------------------------------------------------ the untied head
def _tiny_untied_gated_t5():
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config).eval()
    assert not config.scale_decoder_outputs  # T5 v1.1: no d_model**-0.5 before the head
    # transformers 5 ties the head when it builds T5 from a config; Flan-T5's checkpoint has its own.
    model.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.d_model))
    return model


def _logits_and_head_output(model):
    ids = torch.tensor([[5, 9, 13, 1]])
    dec = torch.tensor([[0, 7, 11]])
    with torch.no_grad():
        out = model(input_ids=ids, decoder_input_ids=dec, output_hidden_states=True)
    last_hidden = out.decoder_hidden_states[-1]  # (1, 3, d_model): after the final layer norm
    return out.logits, torch.nn.functional.linear(last_hidden, model.lm_head.weight)


def test_untied_gated_gelu_t5_saves_and_reloads_with_its_own_unscaled_head(tmp_path):
    original = _tiny_untied_gated_t5()
    original.save_pretrained(str(tmp_path), safe_serialization=True)
    from transformers import AutoModelForSeq2SeqLM

    reloaded = AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path), use_safetensors=True).eval()
    assert reloaded.lm_head.weight.data_ptr() != reloaded.shared.weight.data_ptr(), "the head was tied on reload"
    assert torch.equal(reloaded.lm_head.weight, original.lm_head.weight)
    assert not torch.equal(reloaded.lm_head.weight, reloaded.shared.weight)
    logits, unscaled = _logits_and_head_output(reloaded)
    assert torch.allclose(logits, unscaled, atol=1e-5), "decoder output was rescaled before the untied head"
    scaled = unscaled * reloaded.config.d_model**-0.5
    assert not torch.allclose(logits, scaled, atol=1e-3)
    assert torch.allclose(logits, _logits_and_head_output(original)[0], atol=1e-5)


def test_flan_layout_loads_untied_through_the_course_without_the_tie_warning(hf_cache, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "1")
    hubcache.populate(hf_cache, FLAN, hubcache.flan_layout(tmp_path / "flan"))
    loaded = models.load_model("google/flan-t5-large", verbose=False)
    assert loaded.source == "cache"
    model = loaded.model
    assert model.config.is_gated_act and not model.config.scale_decoder_outputs
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    logits, unscaled = _logits_and_head_output(model)
    assert torch.allclose(logits, unscaled, atol=1e-4)
    captured = capfd.readouterr()
    assert "NOT tie" not in captured.out + captured.err
    import logging

    assert not logging.getLogger("transformers.modeling_utils").filters, "the load left a logging filter behind"


# ------------------------------------------------------------------ complete means complete
def test_the_demo_files_under_t5_base_are_not_a_complete_t5_base(hf_cache, monkeypatch):
    monkeypatch.delenv(models.SIZE_CHECK_OFF_ENV, raising=False)
    hubcache.populate(hf_cache, T5_BASE)
    assert not models.is_cached(T5_BASE)
    problems = models.cache_problems(T5_BASE)
    demo_mb = (models.DEMO_MODEL_DIR / "model.safetensors").stat().st_size / 1e6  # the demo weights' size, as shown
    stated = f"model.safetensors is {demo_mb:.1f} MB, at least 873.8 MB expected"  # 873.8 MB: 0.98 x 4 x 222.9M
    assert stated in problems, problems
    assert models.min_file_bytes(T5_BASE, "model.safetensors") < 892_000_000  # t5-base's real file is ~892 MB


def test_the_size_floor_follows_the_parameter_counts():
    for spec in models.LESSON_MODELS.values():
        floor = models.min_file_bytes(spec, "model.safetensors")
        assert 0.95 * 4 * spec.parameters < floor <= 4 * spec.parameters <= spec.download_bytes


def test_only_the_test_override_accepts_small_files(hf_cache, monkeypatch):
    hubcache.populate(hf_cache, T5_BASE)
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "1")
    assert models.is_cached(T5_BASE)
    monkeypatch.setenv(models.SIZE_CHECK_OFF_ENV, "yes")  # only the exact value "1" switches the floor off
    assert not models.is_cached(T5_BASE)


def test_prefetch_and_doctor_call_small_files_incomplete(hf_cache, monkeypatch, capsys):
    monkeypatch.delenv(models.SIZE_CHECK_OFF_ENV, raising=False)
    hubcache.populate(hf_cache, T5_BASE)
    result = prefetch.prefetch(["t5-base"], check_only=True)[0]
    assert result.status == "incomplete" and "incomplete or wrong files: rerun prefetch" in result.message
    row = {r.check: r for r in doctor.check().rows}["model t5-base"]
    assert row.status == doctor.WARN and "incomplete or wrong files" in row.detail and "prefetch" in row.detail


def test_an_incomplete_cache_falls_back_to_the_demo_model_and_says_why(hf_cache, monkeypatch, capsys):
    monkeypatch.delenv(models.SIZE_CHECK_OFF_ENV, raising=False)
    hubcache.populate(hf_cache, T5_BASE)
    loaded = models.load_model("t5-base", verbose=False)
    assert loaded.source == "demo" and "incomplete or wrong" in loaded.demo_reason and "prefetch" in loaded.demo_reason


# ------------------------------------------------------------------ the claim helper
@pytest.fixture()
def fresh_claims(monkeypatch):
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)
    claims.reset()
    yield
    claims.reset()


def test_claims_show_pass_box_and_demo_lines_and_tally_them(fresh_claims, capsys, tiny_t5):
    assert claims.check("two plus two is four", 2 + 2 == 4, expected="4", got="4", why="never") is None
    claims.check("the sky is green", False, expected="'green'", got="'blue'", why="the sky is blue")
    demo_model, _ = tiny_t5
    demo_model.config.course_demo_stands_in_for = "t5-base"
    claims.check("the toy knows Paris", False, expected="x", got="y", why="z", model=demo_model)
    claims.check("two plus two is four", True, expected="4", got="4", why="never")  # a re-run replaces, not adds
    out = capsys.readouterr().out
    assert "Held on this run: two plus two is four (got 4)." in out
    assert "DID NOT HOLD ON THIS RUN" in out and "expected: 'green'" in out and "got: 'blue'" in out
    assert "why that can happen: the sky is blue" in out
    assert "Not checked in demo mode: the toy knows Paris." in out
    line = claims.tally_line()
    assert line.startswith("Behaviour claims in this lesson: 1 of 2 checked held on this run; 1 did not")
    assert "the sky is green" in line and "1 not checked" in line


def test_strict_mode_turns_a_miss_into_a_failure(fresh_claims, monkeypatch, capsys):
    monkeypatch.setenv(claims.STRICT_ENV, "1")
    claims.check("holds", True, expected="a", got="a", why="-")
    with pytest.raises(claims.ClaimNotHeld, match="did not hold .*misses: expected a, got b"):
        claims.check("misses", False, expected="a", got="b", why="-")
    assert isinstance(claims.ClaimNotHeld("x"), AssertionError)
    assert "DID NOT HOLD" in capsys.readouterr().out  # the box is shown before the failure
