"""What ``pipelines`` needs besides the four stages: input checks, messages, generation settings.

What it is for: ``pipelines.py`` is the file lesson 01 opens in front of you, so it holds only the
pipeline classes, their stages and the factory, the way transformers' own pipeline files read.
Everything that makes those stages safe to call lives here:

- checks of what you pass (texts, prefixes, models, devices, generation settings), each with a
  message that names the fix;
- the generation settings every call passes to ``model.generate`` (below);
- the errors for an unknown task or a language pair the model has no prefix for;
- the warning for input cut at the model's length limit;
- what transformers 4.57 needs: its base class logs at warning level while it is built.

Generation settings, and why they are ours: transformers 5.24's ``Pipeline`` base class keeps
generation settings of its own (``_prepare_generate_kwargs``), but 4.57's base class has nothing
like it (it builds a ``generation_config`` object, edits it with ``task_specific_params`` and
pops the prefix out of your model's config). One rule for both versions needs one layer, this
one, and the pipelines keep the base class's away (their ``_default_generation_config`` is
empty and they never hand it a generation keyword). The rule:

1. transformers 4's pipeline defaults (``PIPELINE_DEFAULTS``) for whatever the model's own
   generation config leaves unset; the tokenizer's ``pad_token_id`` likewise;
2. then the task's ``task_specific_params`` from the model config (minus the prefix; its
   ``max_length`` gives way to the default of 256 new tokens, which is what transformers 4
   effectively used);
3. then the keywords given when the pipeline is built; then, for one call, the call's.

A length set at a higher layer (``max_new_tokens`` or ``max_length``) replaces the other kind,
so ``generate`` never receives both (5.24's base class would pass both, and generate would
obey ``max_new_tokens``). A ``generation_config=`` replaces every layer below it.

Used by ``extras_and_licenses.pipelines`` only.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import logging
import os
import re
import sys
import types
import warnings
from typing import Any

import torch
import transformers
from transformers import GenerationConfig

# transformers 4's seq2seq pipelines used these when the model's generation config did not say.
PIPELINE_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}
LENGTH_KEYS = ("max_new_tokens", "max_length")
TRANSLATION_TASK = re.compile(r"^translation_([a-z][a-z0-9-]*)_to_([a-z][a-z0-9-]*)$")
# For the example prefix in error messages.
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "ro": "Romanian", "it": "Italian"}
PIPELINE_SETTINGS = "prefix, truncation, return_tensors, return_text, clean_up_tokenization_spaces, batch_size"


class InputTruncatedWarning(UserWarning):
    """An input was longer than the model takes and was cut. Always shown, not only the first time."""


warnings.simplefilter("always", InputTruncatedWarning)


class UnknownTaskError(ValueError, KeyError):
    """The task name is not one this ``pipeline()`` or transformers knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


# ------------------------------------------------------------------ inputs
def check_inputs(inputs):
    """A call's input, checked once: a text, or a list (a tuple becomes one) of texts.

    Generators and datasets are streamed: each item is checked as it is read, with its index.
    """
    if inputs is None:
        raise TypeError("The input is None. Pass a text, e.g. pipe('Hello, how are you?'), or a list of texts.")
    if isinstance(inputs, str):
        return check_text(inputs)
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    if isinstance(inputs, list):
        if not inputs:
            raise ValueError("The input is an empty list. Pass at least one text, e.g. pipe(['Hello.']).")
        for i, item in enumerate(inputs):
            check_text(item, i)
        return inputs
    if isinstance(inputs, types.GeneratorType):
        return (check_text(item, i, "the stream") for i, item in enumerate(inputs))
    if isinstance(inputs, torch.utils.data.Dataset):
        return _CheckedDataset(inputs)
    raise TypeError(
        f"The input must be a text (str) or a list of texts, got {type(inputs).__name__}: {inputs!r:.60}. "
        "Convert it first, e.g. pipe(str(x))."
    )


def check_text(text, index: int | None = None, where: str = "the list") -> str:
    what = "The input" if index is None else f"Item {index} of {where}"
    if not isinstance(text, str):
        raise TypeError(
            f"{what} must be a string, got {type(text).__name__}: {text!r:.60}. Pass text, e.g. 'Hello, how are you?'."
        )
    if not text.strip():
        raise ValueError(f"{what} is an empty string: there is nothing to work on. Pass some text, e.g. 'Hello.'.")
    return text


class _CheckedDataset(torch.utils.data.Dataset):
    """A dataset whose items are checked as the pipeline reads them."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return check_text(self.dataset[i], i, "the dataset")


def check_prefix(prefix) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as 'translate English to German: ', got {prefix!r}.")
    return prefix


# ------------------------------------------------------------------ model, tokenizer, placement
def check_model(model) -> None:
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "generate"):
        raise TypeError(
            f"model must be a transformers model (or a course model id such as 't5-base'), got {type(model).__name__}."
        )
    if not getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"{type(model).__name__} is a decoder-only model: it has no encoder to read your text first, so it "
            "cannot run in a seq2seq pipeline. Use an encoder-decoder such as 't5-base' or "
            "'google/flan-t5-large', or use transformers.pipeline('text-generation', model=...) for this model."
        )
    can_generate = getattr(model, "can_generate", None)
    if can_generate is not None and not can_generate():
        raise ValueError(
            f"{type(model).__name__} cannot generate text (it has no language-modelling head). Load it with "
            "AutoModelForSeq2SeqLM, or use load_model('t5-base')."
        )


def check_tokenizer(tokenizer) -> None:
    if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
        raise TypeError(
            "Pass the tokenizer object that belongs to the model, e.g. "
            "`model, tokenizer = load_model('t5-base')` and then `tokenizer=tokenizer`."
        )


def device_name(device) -> str | None:
    """transformers-style devices (-1, 0, torch.device) as the strings load_model takes."""
    if device is None or isinstance(device, str):
        return device
    if isinstance(device, torch.device):
        return str(device)
    if isinstance(device, int):
        return "cpu" if device < 0 else f"cuda:{device}"
    raise TypeError(f"device must be 'cpu', 'cuda', 'cuda:1', an int or a torch.device, got {device!r}.")


def check_placement(model, device, dtype) -> None:
    """A model object stays where its owner put it; asking for elsewhere is an error, not a move."""
    if device is not None:
        want, have = torch.device(device_name(device)), model.device
        if want.type != have.type or (want.index is not None and want.index != (have.index or 0)):
            raise ValueError(
                f"Your model is on {have} and device={device!r} was passed. The pipeline never moves a model you "
                f"loaded yourself: move it first (model.to({str(want)!r})), or leave device= out to use it where it is."
            )
    if dtype is not None:
        want = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if want != model.dtype:
            raise ValueError(
                f"Your model is in {model.dtype} and dtype={dtype!r} was passed. The pipeline never converts a model "
                f"you loaded yourself: convert it first (model.to({want})), or leave dtype= out."
            )


# ------------------------------------------------------------------ generation settings
def generate_argument_names(model) -> frozenset[str]:
    """Keywords model.generate accepts: generation settings, its own arguments, the model's inputs."""
    names = {k for k in vars(GenerationConfig()) if not k.startswith("_")}
    for fn in (model.generate, model.forward):
        names.update(p.name for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD)
    names.discard("self")
    names.update(("tokenizer", "assistant_tokenizer"))  # generate takes them through **kwargs (stop_strings=)
    return frozenset(names)


def check_generate_names(known: frozenset[str], kwargs: dict[str, Any]) -> None:
    unknown = [name for name in kwargs if name not in known]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"{name!r} is not a setting this pipeline or model.generate() knows.{hint} "
            f"Pipeline settings: {PIPELINE_SETTINGS} (and src_lang, tgt_lang for translation); "
            "anything else goes to model.generate (num_beams, max_new_tokens, do_sample, ...)."
        )


def initial_generate_kwargs(model, tokenizer, task_params: dict, user_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Layers 1-3 of the module docstring: what every call passes to ``model.generate``."""
    if "generation_config" in user_kwargs:  # the user's config replaces the pipeline's settings
        return dict(user_kwargs)
    model_sets = model.generation_config.to_diff_dict()
    settings = {}
    for name, value in PIPELINE_DEFAULTS.items():
        if name in model_sets or (name in LENGTH_KEYS and any(k in model_sets for k in LENGTH_KEYS)):
            continue  # the model's own generation config says
        settings[name] = value
    if "pad_token_id" not in model_sets and tokenizer.pad_token_id is not None:
        settings["pad_token_id"] = tokenizer.pad_token_id
    task_params = {k: v for k, v in task_params.items() if k != "prefix"}
    if "max_new_tokens" in settings:
        task_params.pop("max_length", None)  # transformers 4: 256 new tokens beat it, silently
    settings.update(task_params)
    return layer(settings, user_kwargs)


def layer(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``; a length set in ``top`` removes the other kind from ``base``."""
    if "generation_config" in top:
        return dict(top)
    merged = {**base, **top}
    for mine, other in (LENGTH_KEYS, LENGTH_KEYS[::-1]):
        if mine in top and other not in top:
            merged.pop(other, None)
    return merged


# ------------------------------------------------------------------ tasks and languages
def translation_task(src_lang, tgt_lang) -> str:
    """The task name for ``pipeline("translation", src_lang=..., tgt_lang=...)``."""
    if not (isinstance(src_lang, str) and isinstance(tgt_lang, str) and src_lang.strip() and tgt_lang.strip()):
        raise UnknownTaskError(
            "Say which languages: pipeline('translation', src_lang='en', tgt_lang='fr'), or name the pair in the "
            "task: 'translation_en_to_fr' (English to French), 'translation_en_to_de', ..."
        )
    return f"translation_{src_lang.strip().lower()}_to_{tgt_lang.strip().lower()}"


def warn_if_other_languages(task: str, src_lang, tgt_lang) -> None:
    """src_lang / tgt_lang change nothing for T5 (as in transformers 4); say so when they disagree with the task."""
    if src_lang is None and tgt_lang is None:
        return
    src, tgt = TRANSLATION_TASK.match(task).groups()
    given = (("src_lang", src_lang, src), ("tgt_lang", tgt_lang, tgt))
    wrong = [f"{name}={value!r}" for name, value, own in given if value is not None and str(value).lower() != own]
    if wrong:
        warnings.warn(
            f"{' and '.join(wrong)} do not change this {task!r} pipeline: T5 learns the languages only from the "
            f"prefix in front of your text. Build pipeline('translation_<src>_to_<tgt>') for another pair, or pass "
            "prefix='translate English to German: ' (a model only follows prefixes it was trained on).",
            UserWarning,
            stacklevel=caller_outside_libraries(),
        )


def missing_prefix_error(model, task: str) -> ValueError:
    params = getattr(model.config, "task_specific_params", None) or {}
    pairs = sorted(k for k in params if k.startswith("translation_"))
    close = difflib.get_close_matches(task, pairs, n=1, cutoff=0.6)
    has = f"It has prefixes for: {', '.join(pairs)}." if pairs else "Its config lists no translation prefixes."
    hint = f" Did you mean {close[0]!r}?" if close else ""
    src, tgt = TRANSLATION_TASK.match(task).groups()
    src, tgt = LANGUAGES.get(src, "English"), LANGUAGES.get(tgt, "Spanish")
    return ValueError(
        f"This model has no task prefix for {task!r} in its config (task_specific_params). {has}{hint} "
        "To try another pair, write the instruction yourself, e.g. "
        f"pipeline({task!r}, model=..., prefix='translate {src} to {tgt}: ') "
        "(a model only follows prefixes it was trained on)."
    )


def unknown_task_error(task, theirs: list[str]) -> UnknownTaskError:
    if not isinstance(task, str) or not task.strip():
        return UnknownTaskError(
            f"The task must be a name such as 'translation_en_to_fr' or 'text2text-generation', got {task!r}."
        )
    name = task.strip().lower()
    pair = re.search(r"([a-z]{2,3})[\W_]*to[\W_]*([a-z]{2,3})$", name)
    if name == "question-answering":  # transformers 5 removed it; nothing close is the same thing
        close = []
    elif pair and "transl" in name:
        close = [f"translation_{pair[1]}_to_{pair[2]}"]
    else:
        close = difflib.get_close_matches(name, ["text2text-generation", "summarization", *theirs], n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    removed = f" (transformers {transformers.__version__} does not have it)" if name == "question-answering" else ""
    return UnknownTaskError(
        f"Unknown task {task!r}{removed}.{hint} This pipeline() provides 'translation_XX_to_YY' "
        "(e.g. 'translation_en_to_fr'), 'text2text-generation' and 'summarization', and passes "
        f"transformers' own tasks on: {', '.join(theirs)}."
    )


# ------------------------------------------------------------------ long input
def warn_if_truncated(tokenizer, model_inputs, text, limit: int) -> None:
    encodings = getattr(model_inputs, "encodings", None)
    if encodings:  # fast tokenizers keep what was cut off
        cut = [i for i, enc in enumerate(encodings) if enc.overflowing]
    else:  # a slow tokenizer: measure once more, only for inputs that reached the limit
        texts = [text] if isinstance(text, str) else text
        cut = [i for i, t in enumerate(texts) if len(tokenizer(t)["input_ids"]) > limit]
    if cut:
        which = "A text" if isinstance(text, str) else f"Text(s) {cut} of the list"
        warnings.warn(
            f"{which} had more than {limit} tokens, the most this model takes "
            f"(tokenizer.model_max_length): only the first {limit} were kept, so the model does not see "
            "the end of the text. Split long text into shorter pieces, or pass truncation=False to send "
            "it whole (T5 then reads past the length it was trained on).",
            InputTruncatedWarning,
            stacklevel=caller_outside_libraries(),
        )


_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) for m in (transformers, torch)) + (os.path.dirname(__file__),)


def caller_outside_libraries() -> int:
    """A warnings stacklevel that points at the learner's own line, not into transformers, torch or this package."""
    level, frame = 2, sys._getframe(2)  # 1 is our caller, the function that warns
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        level, frame = level + 1, frame.f_back
    return level if frame is not None else 2


@contextlib.contextmanager
def quiet(logger_name: str):
    """transformers 4.57's base class logs "Device set to use ..." at warning level: hidden while it is built."""
    logger = transformers.utils.logging.get_logger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
