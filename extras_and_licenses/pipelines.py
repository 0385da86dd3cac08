"""Seq2seq pipelines (translation, text2text, summarization) that work on transformers 5 and 4.57.

What it is for: transformers 5 removed the ``translation_XX_to_YY``, ``text2text-generation``
and ``summarization`` pipelines. Lesson 01 is built on them, so the course ships this small
replacement with the same call shape and the same results::

    from extras_and_licenses.pipelines import pipeline

    translator = pipeline("translation_en_to_fr", model="t5-base")
    translator("Hello, how are you?")        # [{'translation_text': '...'}]
    translator(["Hello.", "Thank you."])     # [{'translation_text': ...}, {'translation_text': ...}]

    generator = pipeline("text2text-generation", model=translator.model, tokenizer=translator.tokenizer)
    generator("translate English to German: The house is wonderful.")   # [{'generated_text': '...'}]

Any other task (``"fill-mask"``, ``"text-generation"``, ...) is handed to
``transformers.pipeline`` unchanged.

A pipeline is three stages, which you can also call one at a time to see what each does::

    model_inputs = translator.preprocess("Hello")     # 1. add the task prefix, tokenize
    model_outputs = translator._forward(model_inputs)  # 2. model.generate(...), nothing else
    translator.postprocess(model_outputs)              # 3. token ids -> text

(A call runs stage 2 through ``translator.forward``, which adds ``torch.no_grad`` and brings
the output ids back to the CPU.)

Step 1 is where the T5 trick lives: the pipeline does not tell the model the languages in any
other way than by writing an instruction in front of your text. ``translator.prefix`` holds it
(``"translate English to French: "`` for t5-base), read from ``task_specific_params`` in the
model's config, as transformers 4 did; ``prefix=`` sets your own.

Rules it keeps:

- Results match transformers 4.57's own pipelines token for token on the same model and
  settings, and on transformers 5 they equal calling ``model.generate`` directly with
  ``pipe.generate_kwargs`` (tested in ``tests/test_pipelines.py``). Where transformers 4 was
  surprising, this one differs on purpose: settings you pass when you build the pipeline beat
  ``task_specific_params`` (transformers 4 let the config's ``num_beams`` win); a call's
  ``max_length`` is obeyed (transformers 4 warned and kept 256 new tokens); the model's own
  generation config beats the pipeline defaults; over-long input is cut (see below).
- Generation settings: ``pipe.generate_kwargs`` is what every call passes to
  ``model.generate``. It starts from transformers 4's pipeline defaults (``num_beams=4``,
  ``max_new_tokens=256``) for whatever the model's own generation config leaves unset, then
  the task's ``task_specific_params`` (minus the prefix), then the keyword arguments you give
  when you build the pipeline. Keywords given to a call apply to that call only. A length you
  set (``max_new_tokens`` or ``max_length``) replaces the other one, so ``generate`` never
  receives both; the ``max_length`` in ``task_specific_params`` gives way to the default of 256
  new tokens, which is what transformers 4 effectively used.
- Model ids go through :func:`extras_and_licenses.models.load_model`: pinned revisions, the
  GPU when there is one (said once), and the demo model with its banner when the real one
  cannot be had. A model object you pass stays where you put it, in its dtype: the pipeline
  never moves it and never edits its config.
- Input longer than the model's limit (``tokenizer.model_max_length``, 512 for T5) is cut to
  the limit, with a warning that says so; ``truncation=False`` sends it whole.
- Mistakes get a message that names the fix: empty or non-text input, a misspelt task, a
  language pair the model has no prefix for, a decoder-only model.

Used by lesson 01 (sections 2 and 4) and by ``bench/bench_pipeline.py``.
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
from transformers import GenerationConfig, Pipeline

from . import models

# transformers 4's seq2seq pipelines used these when the model's generation config did not say.
PIPELINE_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}

# For the example prefix in error messages.
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "ro": "Romanian", "it": "Italian"}

_TRANSLATION_TASK = re.compile(r"^translation_([a-z][a-z0-9-]*)_to_([a-z][a-z0-9-]*)$")
_LENGTH_KEYS = ("max_new_tokens", "max_length")


class InputTruncatedWarning(UserWarning):
    """An input was longer than the model takes and was cut. Always shown, not only the first time."""


warnings.simplefilter("always", InputTruncatedWarning)


class UnknownTaskError(ValueError, KeyError):
    """The task name is not one this ``pipeline()`` or transformers knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


# ------------------------------------------------------------------ the pipelines
class Text2TextPipeline(Pipeline):
    """Text in, text out with an encoder-decoder model; the ``"text2text-generation"`` task.

    Build it with :func:`pipeline`, or directly from objects you already have::

        pipe = Text2TextPipeline(model, tokenizer)          # the model stays where it is
        pipe("translate English to German: Good morning.")  # [{'generated_text': '...'}]

    Attributes a lesson may look at: ``model``, ``tokenizer``, ``task``, ``prefix`` (text put in
    front of every input), ``generate_kwargs`` (passed to ``model.generate`` on every call),
    ``max_input_tokens`` (longer inputs are cut), ``device``.
    """

    default_task = "text2text-generation"
    return_name = "generated"  # results are {"generated_text": ...}

    _pipeline_calls_generate = True
    # Empty: the base class's generation defaults go unused, ours live in ``generate_kwargs``.
    _default_generation_config = GenerationConfig()
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(
        self,
        model,
        tokenizer,
        *,
        task: str | None = None,
        prefix: str | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        device=None,
        dtype=None,
        **generate_kwargs,
    ):
        _check_can_run_seq2seq(model)
        _check_placement(model, device, dtype)
        if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
            raise TypeError(
                "Pass the tokenizer object that belongs to the model, e.g. "
                "`model, tokenizer = load_model('t5-base')` and then `tokenizer=tokenizer`."
            )
        # Pass the model's own device: given None, the base class would pick GPU 0 and move the model there.
        device = None if getattr(model, "hf_device_map", None) else model.device
        # task="" keeps transformers 4's base class away from task_specific_params, which it
        # would edit (it pops "prefix" out of the model's config).
        with _quiet("transformers.pipelines.base"):  # 4.57 logs "Device set to use ..." at warning level
            super().__init__(
                model=model, tokenizer=tokenizer, task="", device=device, batch_size=batch_size, num_workers=num_workers
            )
        self.task = task or self.default_task
        self._generate_names = _generate_argument_names(model)
        self._check_generate_names(generate_kwargs)
        self.prefix = self._default_prefix() if prefix is None else _check_prefix(prefix)
        self.generate_kwargs = self._initial_generate_kwargs(generate_kwargs)
        limit = getattr(tokenizer, "model_max_length", None)
        self.max_input_tokens = limit if isinstance(limit, int) and limit < 1_000_000 else None
        self.loaded = None  # the LoadedModel, when pipeline() loaded the model from an id

    # ---------------------------------------------------------- call
    def __call__(self, inputs, **kwargs):
        """Run the pipeline on one text or a list of texts.

        Returns a list of dicts, one per generated sequence, e.g. ``[{'generated_text': ...}]``.
        A list of texts gives one dict per text; with ``num_return_sequences=n > 1`` each text
        gets its own list of n dicts. Keywords: ``batch_size`` (texts per ``generate`` call,
        padded to the longest), ``prefix``, ``truncation``, ``return_tensors`` (token ids instead
        of text), ``clean_up_tokenization_spaces``, and any ``model.generate`` setting
        (``num_beams=``, ``max_new_tokens=``, ``do_sample=``, ...), for this call only.
        """
        inputs = _check_inputs(inputs)
        result = super().__call__(inputs, **kwargs)
        # As transformers 4 did: a list of texts with one result each gives a flat list.
        if isinstance(inputs, list) and all(len(records) == 1 for records in result):
            return [records[0] for records in result]
        return result

    def _sanitize_parameters(
        self,
        prefix=None,
        truncation=None,
        return_tensors=None,
        return_text=None,
        clean_up_tokenization_spaces=None,
        **generate_kwargs,
    ):
        """Sort a call's keywords into the three stages: (preprocess, forward, postprocess)."""
        preprocess_params = {}
        if prefix is not None:
            preprocess_params["prefix"] = _check_prefix(prefix)
        if truncation is not None:
            preprocess_params["truncation"] = truncation
        postprocess_params = {}
        if return_tensors is None and return_text is not None:
            return_tensors = not return_text
        if return_tensors is not None:
            postprocess_params["return_tensors"] = return_tensors
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if generate_kwargs:
            self._check_generate_names(generate_kwargs)
        return preprocess_params, generate_kwargs, postprocess_params

    # ---------------------------------------------------------- the three stages
    def preprocess(self, inputs, prefix: str | None = None, truncation=True):
        """Stage 1: put the task prefix in front of the text and tokenize it.

        ``inputs`` is one text (gives a batch of one) or a list of texts (padded to the longest).
        Returns the tokenizer's output: ``input_ids`` and ``attention_mask``, each
        ``(batch, src_len)``, ending in ``</s>`` (id 1 for T5).
        """
        prefix = self.prefix if prefix is None else prefix
        inputs = _check_inputs(inputs, texts_only=True)
        # This is how the task is chosen: in plain text, in front of every input.
        text = prefix + inputs if isinstance(inputs, str) else [prefix + item for item in inputs]
        limit = self.max_input_tokens if truncation else None  # longer inputs are cut, with a warning
        model_inputs = self.tokenizer(
            text,
            padding=not isinstance(text, str),
            truncation=truncation if limit else False,
            max_length=limit,
            return_tensors="pt",
        )  # input_ids, attention_mask: (batch, src_len)
        model_inputs.pop("token_type_ids", None)  # some tokenizers make it; generate() refuses it
        if limit and model_inputs["input_ids"].shape[-1] == limit:
            self._warn_if_truncated(model_inputs, text, limit)
        return model_inputs

    def _forward(self, model_inputs, **generate_kwargs):
        """Stage 2: ``model.generate`` and nothing else.

        Runs with ``self.generate_kwargs``, updated by ``generate_kwargs`` for this call.
        Returns ``{"output_ids": (batch, num_return_sequences, out_len)}``; every output starts
        with the decoder start token (``<pad>`` for T5).
        """
        batch = model_inputs["input_ids"].shape[0]
        # Already there when called through forward(); by hand on a GPU, preprocess's output is on the CPU.
        model_inputs = {name: tensor.to(self.model.device) for name, tensor in model_inputs.items()}
        output_ids = self.model.generate(**model_inputs, **self.generate_kwargs_for_call(generate_kwargs))
        output_ids = getattr(output_ids, "sequences", output_ids)  # return_dict_in_generate=True
        return {"output_ids": output_ids.reshape(batch, -1, output_ids.shape[-1])}

    def postprocess(self, model_outputs, return_tensors: bool = False, clean_up_tokenization_spaces: bool = False):
        """Stage 3: token ids back to text, special tokens (``<pad>``, ``</s>``) left out.

        Returns one dict per generated sequence, ``{"<name>_text": str}`` (or
        ``{"<name>_token_ids": tensor}`` with ``return_tensors=True``). Given a batch of more than
        one input (stages called by hand on a list), it returns one such list per input.
        """
        key = f"{self.return_name}_token_ids" if return_tensors else f"{self.return_name}_text"
        per_input = []
        for sequences in model_outputs["output_ids"]:  # (num_return_sequences, out_len)
            if return_tensors:
                per_input.append([{key: ids} for ids in sequences])
            else:
                texts = self.tokenizer.batch_decode(
                    sequences, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces
                )
                per_input.append([{key: text} for text in texts])
        return per_input[0] if len(per_input) == 1 else per_input

    # ---------------------------------------------------------- generation settings
    def generate_kwargs_for_call(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The keyword arguments one call passes to ``model.generate``.

        ``self.generate_kwargs`` updated by ``overrides``. A length in ``overrides`` replaces the
        other kind of length (``max_length`` drops ``max_new_tokens`` and the reverse), and a
        ``generation_config`` in ``overrides`` replaces the pipeline's settings entirely.
        """
        if not overrides:
            return self.generate_kwargs
        if "generation_config" in overrides:
            return dict(overrides)
        return _layer(self.generate_kwargs, overrides)

    def _initial_generate_kwargs(self, user_kwargs: dict[str, Any]) -> dict[str, Any]:
        if "generation_config" in user_kwargs:  # the user's config replaces the pipeline's settings
            return dict(user_kwargs)
        model_sets = self.model.generation_config.to_diff_dict()
        settings = {}
        for name, value in PIPELINE_DEFAULTS.items():
            if name in model_sets or (name in _LENGTH_KEYS and any(k in model_sets for k in _LENGTH_KEYS)):
                continue  # the model's own generation config says
            settings[name] = value
        if "pad_token_id" not in model_sets and self.tokenizer.pad_token_id is not None:
            settings["pad_token_id"] = self.tokenizer.pad_token_id
        task_params = {k: v for k, v in self._task_params().items() if k != "prefix"}
        if "max_new_tokens" in settings:
            task_params.pop("max_length", None)  # transformers 4: 256 new tokens beat it, silently
        settings.update(task_params)
        return _layer(settings, user_kwargs)

    def _check_generate_names(self, kwargs: dict[str, Any]) -> None:
        unknown = [name for name in kwargs if name not in self._generate_names]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, sorted(self._generate_names), n=1, cutoff=0.7)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"{name!r} is not a setting this pipeline or model.generate() knows.{hint} "
                "Pipeline settings: prefix, truncation, return_tensors, clean_up_tokenization_spaces, batch_size; "
                "anything else goes to model.generate (num_beams, max_new_tokens, do_sample, ...)."
            )

    # ---------------------------------------------------------- prefix
    def _task_params(self) -> dict[str, Any]:
        params = getattr(self.model.config, "task_specific_params", None) or {}
        return dict(params.get(self.task) or {})  # a copy: the model's config is never edited

    def _default_prefix(self) -> str:
        prefix = self._task_params().get("prefix")
        if prefix is None:
            prefix = getattr(self.model.config, "prefix", None)
        return prefix or ""

    def _warn_if_truncated(self, model_inputs, text, limit: int) -> None:
        encodings = getattr(model_inputs, "encodings", None)
        if encodings:  # fast tokenizers keep what was cut off
            cut = [i for i, enc in enumerate(encodings) if enc.overflowing]
        else:  # a slow tokenizer: measure once more, only for inputs that reached the limit
            texts = [text] if isinstance(text, str) else text
            cut = [i for i, t in enumerate(texts) if len(self.tokenizer(t)["input_ids"]) > limit]
        if cut:
            which = "A text" if isinstance(text, str) else f"Text(s) {cut} of the list"
            warnings.warn(
                f"{which} had more than {limit} tokens, the most this model takes "
                f"(tokenizer.model_max_length): only the first {limit} were kept, so the model does not see "
                "the end of the text. Split long text into shorter pieces, or pass truncation=False to send "
                "it whole (T5 then reads past the length it was trained on).",
                InputTruncatedWarning,
                stacklevel=_caller_outside_libraries(),
            )

    # ---------------------------------------------------------- display
    @property
    def is_demo(self) -> bool:
        """True when the model is the bundled demo model standing in for a lesson model."""
        return models.is_demo_model(self.model)

    def __repr__(self) -> str:
        stands_in = getattr(self.model.config, "course_demo_stands_in_for", None)
        model = type(self.model).__name__ + (f" (DEMO, standing in for {stands_in})" if stands_in else "")
        return (
            f"{type(self).__name__}(task={self.task!r}, model={model}, device={self.device}, "
            f"dtype={str(self.model.dtype).replace('torch.', '')}, prefix={self.prefix!r}, "
            f"generate_kwargs={self.generate_kwargs})"
        )


class TranslationPipeline(Text2TextPipeline):
    """Translation, ``"translation_XX_to_YY"``: results are ``{"translation_text": ...}``.

    The languages reach the model only through the prefix, e.g. ``"translate English to
    French: "``, looked up under the task name in the model config's ``task_specific_params``.
    A model with no prefix for the pair is refused with the pairs it has; ``prefix=`` sets one.
    """

    default_task = "translation_en_to_fr"
    return_name = "translation"

    def _default_prefix(self) -> str:
        prefix = self._task_params().get("prefix")
        if prefix is not None:
            return prefix
        params = getattr(self.model.config, "task_specific_params", None) or {}
        if not params and self.model.config.model_type not in ("t5", "mt5", "umt5"):
            return ""  # e.g. a Marian model: one language pair, no prefix needed
        pairs = sorted(k for k in params if k.startswith("translation_"))
        close = difflib.get_close_matches(self.task, pairs, n=1, cutoff=0.6)
        has = f"It has prefixes for: {', '.join(pairs)}." if pairs else "Its config lists no translation prefixes."
        hint = f" Did you mean {close[0]!r}?" if close else ""
        src, tgt = _TRANSLATION_TASK.match(self.task).groups()
        src, tgt = LANGUAGES.get(src, "English"), LANGUAGES.get(tgt, "Spanish")
        raise ValueError(
            f"This model has no task prefix for {self.task!r} in its config (task_specific_params). {has}{hint} "
            "To try another pair, write the instruction yourself, e.g. "
            f"pipeline({self.task!r}, model=..., prefix='translate {src} to {tgt}: ') "
            "(a model only follows prefixes it was trained on)."
        )


class SummarizationPipeline(Text2TextPipeline):
    """Summarization, ``"summarization"``: results are ``{"summary_text": ...}``.

    T5 checkpoints carry the prefix ``"summarize: "`` in ``task_specific_params``; a model
    without one gets your text as it is unless you pass ``prefix=``.
    """

    default_task = "summarization"
    return_name = "summary"


# ------------------------------------------------------------------ the factory
OUR_TASKS = {
    "text2text-generation": Text2TextPipeline,
    "summarization": SummarizationPipeline,
    "translation_xx_to_yy": TranslationPipeline,  # any translation_<src>_to_<tgt>
}


def pipeline(task: str, model=None, tokenizer=None, *, device=None, dtype=None, **kwargs):
    """Build a pipeline, like ``transformers.pipeline``.

    - ``"translation_XX_to_YY"``, ``"text2text-generation"``, ``"summarization"``: one of this
      module's pipelines. ``model`` is a course model id (``"t5-base"``, the default), a local
      directory, or a model object (then pass its ``tokenizer`` too). ``device`` / ``dtype``
      choose where an id is loaded (default: the GPU when there is one); a model object stays
      where it is, and asking for another device or dtype for it is refused rather than done
      behind your back. ``prefix=`` replaces the task prefix; ``batch_size=``; anything else is
      a ``model.generate`` setting (``num_beams=2``, ``max_new_tokens=40``, ...).
    - Any other task: ``transformers.pipeline(task, model=..., ...)`` with your arguments unchanged.
    """
    cls = _pipeline_class(task)
    if cls is None:
        extra = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        return transformers.pipeline(task, model=model, tokenizer=tokenizer, **extra, **kwargs)

    task = task.strip().lower()
    if model is None:
        model = "t5-base"
    if not isinstance(model, (str, os.PathLike)):  # your own model: used where it is, as it is
        return cls(model, tokenizer, task=task, device=device, dtype=dtype, **kwargs)
    loaded = models.load_model(str(model), device=_device_name(device), dtype=dtype)
    pipe = cls(loaded.model, loaded.tokenizer if tokenizer is None else tokenizer, task=task, **kwargs)
    pipe.loaded = loaded
    return pipe


# ------------------------------------------------------------------ helpers
def _pipeline_class(task) -> type[Text2TextPipeline] | None:
    """Our class for ``task``, None for a task transformers has; a helpful error otherwise."""
    if not isinstance(task, str) or not task.strip():
        raise UnknownTaskError(
            f"The task must be a name such as 'translation_en_to_fr' or 'text2text-generation', got {task!r}."
        )
    name = task.strip().lower()
    if _TRANSLATION_TASK.match(name):
        return TranslationPipeline
    if name in OUR_TASKS:
        return OUR_TASKS[name]
    if name == "translation":  # transformers 4 guessed a pair from the config; we ask, on every version
        raise UnknownTaskError(
            "Say which languages: use 'translation_en_to_fr' (English to French), 'translation_en_to_de', ..."
        )
    from transformers.pipelines import PIPELINE_REGISTRY

    theirs = PIPELINE_REGISTRY.get_supported_tasks()
    if task in theirs:
        return None
    pair = re.search(r"([a-z]{2,3})[\W_]*to[\W_]*([a-z]{2,3})$", name)
    if name == "question-answering":  # transformers 5 removed it; nothing close is the same thing
        close = []
    elif pair and "transl" in name:
        close = [f"translation_{pair[1]}_to_{pair[2]}"]
    else:
        close = difflib.get_close_matches(name, ["text2text-generation", "summarization", *theirs], n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    removed = f" (transformers {transformers.__version__} does not have it)" if name == "question-answering" else ""
    raise UnknownTaskError(
        f"Unknown task {task!r}{removed}.{hint} This pipeline() provides 'translation_XX_to_YY' "
        "(e.g. 'translation_en_to_fr'), 'text2text-generation' and 'summarization', and passes "
        f"transformers' own tasks on: {', '.join(theirs)}."
    )


def _check_can_run_seq2seq(model) -> None:
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


def _check_inputs(inputs, texts_only: bool = False):
    """The input, checked; a tuple becomes a list. Generators and datasets pass through unless ``texts_only``."""
    if inputs is None:
        raise TypeError("The input is None. Pass a text, e.g. pipe('Hello, how are you?'), or a list of texts.")
    if isinstance(inputs, str):
        _check_text(inputs)
        return inputs
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    if isinstance(inputs, list):
        if not inputs:
            raise ValueError("The input is an empty list. Pass at least one text, e.g. pipe(['Hello.']).")
        for i, item in enumerate(inputs):
            _check_text(item, i)
        return inputs
    if not texts_only and isinstance(inputs, (types.GeneratorType, torch.utils.data.Dataset)):
        return inputs  # streamed: each item is checked when it is preprocessed
    raise TypeError(
        f"The input must be a text (str) or a list of texts, got {type(inputs).__name__}: {inputs!r:.60}. "
        "Convert it first, e.g. pipe(str(x))."
    )


def _check_text(text, index: int | None = None) -> None:
    where = "The input" if index is None else f"Item {index} of the list"
    if not isinstance(text, str):
        raise TypeError(
            f"{where} must be a string, got {type(text).__name__}: {text!r:.60}. Pass text, e.g. 'Hello, how are you?'."
        )
    if not text.strip():
        raise ValueError(f"{where} is an empty string: there is nothing to work on. Pass some text, e.g. 'Hello.'.")


def _check_prefix(prefix) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as 'translate English to German: ', got {prefix!r}.")
    return prefix


def _layer(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``; a length set in ``top`` removes the other kind from ``base``."""
    merged = {**base, **top}
    for mine, other in (_LENGTH_KEYS, _LENGTH_KEYS[::-1]):
        if mine in top and other not in top:
            merged.pop(other, None)
    return merged


def _generate_argument_names(model) -> frozenset[str]:
    """Keywords model.generate accepts: generation settings, its own arguments, the model's inputs."""
    names = {k for k in vars(GenerationConfig()) if not k.startswith("_")}
    for fn in (model.generate, model.forward):
        names.update(p.name for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD)
    names.discard("self")
    names.update(("tokenizer", "assistant_tokenizer"))  # generate takes them through **kwargs (stop_strings=)
    return frozenset(names)


def _device_name(device) -> str | None:
    """transformers-style devices (-1, 0, torch.device) as the strings load_model takes."""
    if device is None or isinstance(device, str):
        return device
    if isinstance(device, torch.device):
        return str(device)
    if isinstance(device, int):
        return "cpu" if device < 0 else f"cuda:{device}"
    raise TypeError(f"device must be 'cpu', 'cuda', 'cuda:1', an int or a torch.device, got {device!r}.")


def _check_placement(model, device, dtype) -> None:
    """A model object stays where its owner put it; asking for elsewhere is an error, not a move."""
    if device is not None:
        want, have = torch.device(_device_name(device)), model.device
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


_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) for m in (transformers, torch)) + (__file__,)


def _caller_outside_libraries() -> int:
    """A warnings stacklevel that points at the learner's own line, not into transformers or torch."""
    level, frame = 2, sys._getframe(2)  # 1 is our caller, the function that warns
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        level, frame = level + 1, frame.f_back
    return level if frame is not None else 2


@contextlib.contextmanager
def _quiet(logger_name: str):
    logger = transformers.utils.logging.get_logger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
