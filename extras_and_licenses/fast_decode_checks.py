"""What ``fast_decode`` refuses, and why: the models, settings and machines its replayed step cannot serve.

``fast_decode`` promises ``generate()``'s greedy tokens, token for token. These checks keep that promise
honest by refusing, with a message that says what to do instead, whatever would make the two differ:
a model that is not T5, dropout left on, float16, an attention implementation the step does not follow,
generation settings that change which token wins (:func:`check_model`), sampling or beams
(:func:`check_generate_kwargs`); and they say why a step cannot be captured as a CUDA graph here
(:func:`capture_problem`).

Used by ``fast_decode`` (lesson 03, ``bench/decode_ladder.py``), which re-exports the public names.
"""

from __future__ import annotations

import torch

# generate() settings that change which token greedy decoding picks; this module implements none of them
UNSUPPORTED_SETTINGS = {
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "renormalize_logits": False,
}
MIN_TORCH_FOR_GRAPHS = (2, 1)


class FastDecodeError(ValueError):
    """A request this module cannot serve; the message says what to change."""


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def capture_problem(device) -> str | None:
    """Why a step on ``device`` cannot be captured as a CUDA graph here, or None if it can."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"the model is on {device}, and CUDA graphs need a CUDA GPU"
    if _torch_version() < MIN_TORCH_FOR_GRAPHS or not hasattr(torch.cuda, "CUDAGraph"):
        return f"torch {torch.__version__} is older than {'.'.join(map(str, MIN_TORCH_FOR_GRAPHS))}"
    return None


def check_model(model) -> None:
    """Refuse, with a message saying what to do, a model this module cannot decode for."""
    from transformers import T5ForConditionalGeneration

    if not isinstance(model, T5ForConditionalGeneration):
        raise FastDecodeError(
            f"fast_decode works with T5 models (T5ForConditionalGeneration), not {type(model).__name__}: "
            "use model.generate() for this model."
        )
    if model.training:
        raise FastDecodeError("the model is in training mode (dropout on): call model.eval() first.")
    if model.dtype not in (torch.float32, torch.bfloat16):
        raise FastDecodeError(
            f"the model is in {model.dtype}; T5 runs in bfloat16 or float32 (in float16 it overflows into NaN)."
        )
    implementation = model.config._attn_implementation
    if implementation not in ("sdpa", "eager"):
        raise FastDecodeError(
            f"the model uses the {implementation!r} attention implementation; fast_decode follows 'sdpa' or 'eager'."
        )
    settings = model.generation_config
    changed = {k: getattr(settings, k, None) for k, d in UNSUPPORTED_SETTINGS.items()}
    changed = {k: v for k, v in changed.items() if v is not None and v != UNSUPPORTED_SETTINGS[k]}  # None: unset
    if changed:
        raise FastDecodeError(
            f"the model's generation_config sets {changed}, which greedy decoding here does not apply: "
            "use model.generate() for it."
        )


def check_generate_kwargs(generate_kwargs: dict) -> None:
    """Only greedy decoding: refuse sampling, beams and anything else generate() would do differently."""
    if not generate_kwargs:
        return
    greedy_defaults = {"do_sample": False, "num_beams": 1, "use_cache": True}
    rest = {k: v for k, v in generate_kwargs.items() if greedy_defaults.get(k, object()) != v}
    if rest:
        names = ", ".join(f"{k}={v!r}" for k, v in rest.items())
        raise FastDecodeError(
            f"fast_decode does greedy decoding only (always the most likely token) and does not take {names}. "
            "Drop it, or use model.generate() for sampling and beam search."
        )
