"""Seq2seq pipelines (translation, text2text, summarization) that work on transformers 5 and 4.57.

What it is for: transformers 5 removed the ``translation_XX_to_YY``, ``text2text-generation``
and ``summarization`` pipelines. Lesson 01 is built on them, so the course ships this small
replacement with the same call shape and the same results::

    from extras_and_licenses import pipeline

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

A call also runs a fourth step first, ``_sanitize_parameters``, which sorts its keywords into
the three stages; and it runs stage 2 through ``translator.forward``, which adds
``torch.no_grad``, moves the inputs to the model's device and the output ids back to the CPU.

Stage 1 is where the T5 trick lives: the pipeline tells the model the languages in no other way
than by writing an instruction in front of your text. ``translator.prefix`` holds it
(``"translate English to French: "`` for t5-base), read from ``task_specific_params`` in the
model's config, as transformers 4 did; ``prefix=`` sets your own.

The rules it keeps, all tested in ``tests/test_pipelines.py``:

- Results match transformers 4.57's own pipelines token for token, and on transformers 5 they
  equal ``model.generate`` called with ``pipe.generate_kwargs``. On purpose, a few things differ
  from transformers 4: settings you pass when you build the pipeline beat ``task_specific_params``;
  a call's ``max_length`` is obeyed; over-long input is cut, with a warning (``truncation=False``
  sends it whole); ``"translation"`` alone asks for the languages instead of guessing a pair.
- The call shape of transformers 4 works: ``src_lang=`` and ``tgt_lang=`` choose the pair for
  ``pipeline("translation", ...)`` and otherwise change nothing for T5 (you are warned when they
  disagree with the pipeline's pair); ``return_text=`` is accepted and, as there, you get text
  unless you ask for ``return_tensors=True``.
- Seeded sampling (``do_sample=True`` after ``torch.manual_seed``): one text gives what
  ``model.generate`` gives. A list goes through a torch DataLoader, which draws one number from
  torch's random generator before the first ``generate``, as transformers' own pipelines do;
  a list therefore equals ``model.generate`` called after ``torch.manual_seed(s)`` and that one draw.
- Model ids go through :func:`extras_and_licenses.models.load_model` (pinned revisions, the GPU when
  there is one, the demo model with its banner when the real one cannot be had). A model object
  you pass stays where you put it, in its dtype: never moved, never converted, its config never edited.
- Generation settings (``pipe.generate_kwargs``) and every check and message live in
  ``pipeline_checks.py``, next to this file.

Used by lesson 01 (sections 2 and 4) and by ``bench/bench_pipeline.py``.
"""

from __future__ import annotations

import os

import transformers
from transformers import GenerationConfig, Pipeline

from . import models
from . import pipeline_checks as checks
from .pipeline_checks import InputTruncatedWarning, UnknownTaskError

__all__ = [
    "InputTruncatedWarning",
    "SummarizationPipeline",
    "Text2TextPipeline",
    "TranslationPipeline",
    "UnknownTaskError",
    "pipeline",
]


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
    _default_generation_config = GenerationConfig()  # empty: the settings are ours (see pipeline_checks)
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(
        self,
        model,
        tokenizer,
        *,
        task=None,
        prefix=None,
        batch_size=None,
        num_workers=None,
        device=None,
        dtype=None,
        **generate_kwargs,
    ):
        checks.check_model(model)
        checks.check_placement(model, device, dtype)
        checks.check_tokenizer(tokenizer)
        # Pass the model's own device: given None, the base class would pick GPU 0 and move the model there.
        device = None if getattr(model, "hf_device_map", None) else model.device
        # task="" keeps transformers 4's base class away from task_specific_params, which it
        # would edit (it pops "prefix" out of the model's config).
        with checks.quiet("transformers.pipelines.base"):
            super().__init__(
                model=model, tokenizer=tokenizer, task="", device=device, batch_size=batch_size, num_workers=num_workers
            )
        self.task = task or self.default_task
        self._generate_names = checks.generate_argument_names(model)
        checks.check_generate_names(self._generate_names, generate_kwargs)
        self.prefix = self._default_prefix() if prefix is None else checks.check_prefix(prefix)
        self.generate_kwargs = checks.initial_generate_kwargs(model, tokenizer, self._task_params(), generate_kwargs)
        limit = getattr(tokenizer, "model_max_length", None)
        self.max_input_tokens = limit if isinstance(limit, int) and limit < 1_000_000 else None
        self.loaded = None  # the LoadedModel, when pipeline() loaded the model from an id

    def __call__(self, inputs, **kwargs):
        """Run the pipeline on one text or a list of texts.

        Returns a list of dicts, one per generated sequence, e.g. ``[{'generated_text': ...}]``.
        A list of texts gives one dict per text; with ``num_return_sequences=n > 1`` each text
        gets its own list of n dicts. Keywords: ``batch_size`` (texts per ``generate`` call,
        padded to the longest), ``prefix``, ``truncation``, ``return_tensors`` (token ids instead
        of text), ``clean_up_tokenization_spaces``, and any ``model.generate`` setting
        (``num_beams=``, ``max_new_tokens=``, ``do_sample=``, ...), for this call only.
        """
        inputs = checks.check_inputs(inputs)
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
        """Sort a call's keywords into the three stages: (preprocess, forward, postprocess).

        ``return_text`` is accepted for transformers 4 code and, as there, changes nothing.
        """
        preprocess_params = {}
        if prefix is not None:
            preprocess_params["prefix"] = checks.check_prefix(prefix)
        if truncation is not None:
            preprocess_params["truncation"] = truncation
        postprocess_params = {}
        if return_tensors is not None:
            postprocess_params["return_tensors"] = return_tensors
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if generate_kwargs:  # the base class's __init__ calls this with none, before _generate_names exists
            checks.check_generate_names(self._generate_names, generate_kwargs)
        return preprocess_params, generate_kwargs, postprocess_params

    def preprocess(self, inputs, prefix: str | None = None, truncation=True):
        """Stage 1: put the task prefix in front of the text and tokenize it.

        ``inputs`` is one text (gives a batch of one) or a list of texts (padded to the longest).
        Returns the tokenizer's output: ``input_ids`` and ``attention_mask``, each
        ``(batch, src_len)``, ending in ``</s>`` (id 1 for T5).
        """
        prefix = self.prefix if prefix is None else prefix
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
            checks.warn_if_truncated(self.tokenizer, model_inputs, text, limit)
        return model_inputs

    def _forward(self, model_inputs, **generate_kwargs):
        """Stage 2: ``model.generate`` and nothing else.

        ``model_inputs`` must be on the model's device: ``forward`` moves them there; by hand, use
        ``pipe.preprocess(text).to(pipe.device)``. Runs with ``self.generate_kwargs``, updated by
        ``generate_kwargs`` for this call. Returns ``{"output_ids": (batch, num_return_sequences,
        out_len)}``; every output starts with the decoder start token (``<pad>`` for T5).
        """
        batch = model_inputs["input_ids"].shape[0]
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

    def generate_kwargs_for_call(self, overrides: dict | None = None) -> dict:
        """What one call passes to ``model.generate``: ``self.generate_kwargs`` updated by ``overrides``.

        A length in ``overrides`` replaces the other kind (``max_length`` drops ``max_new_tokens`` and
        the reverse); a ``generation_config`` in ``overrides`` replaces the pipeline's settings entirely.
        """
        return checks.layer(self.generate_kwargs, overrides) if overrides else self.generate_kwargs

    def _task_params(self) -> dict:
        params = getattr(self.model.config, "task_specific_params", None) or {}
        return dict(params.get(self.task) or {})  # a copy: the model's config is never edited

    def _default_prefix(self) -> str:
        prefix = self._task_params().get("prefix")
        if prefix is None:
            prefix = getattr(self.model.config, "prefix", None)
        return prefix or ""

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
    ``src_lang=`` / ``tgt_lang=`` are accepted, as in transformers 4, and change nothing.
    """

    default_task = "translation_en_to_fr"
    return_name = "translation"

    def __init__(self, model, tokenizer, *, src_lang=None, tgt_lang=None, **kwargs):
        super().__init__(model, tokenizer, **kwargs)
        checks.warn_if_other_languages(self.task, src_lang, tgt_lang)

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        checks.warn_if_other_languages(self.task, src_lang, tgt_lang)
        return super()._sanitize_parameters(**kwargs)

    def _default_prefix(self) -> str:
        prefix = self._task_params().get("prefix")
        if prefix is not None:
            return prefix
        params = getattr(self.model.config, "task_specific_params", None) or {}
        if not params and self.model.config.model_type not in ("t5", "mt5", "umt5"):
            return ""  # e.g. a Marian model: one language pair, no prefix needed
        raise checks.missing_prefix_error(self.model, self.task)


class SummarizationPipeline(Text2TextPipeline):
    """Summarization, ``"summarization"``: results are ``{"summary_text": ...}``.

    T5 checkpoints carry the prefix ``"summarize: "`` in ``task_specific_params``; a model
    without one gets your text as it is unless you pass ``prefix=``.
    """

    default_task = "summarization"
    return_name = "summary"


OUR_TASKS = {
    "text2text-generation": Text2TextPipeline,
    "summarization": SummarizationPipeline,
    "translation_xx_to_yy": TranslationPipeline,  # any translation_<src>_to_<tgt>
}


def pipeline(task: str, model=None, tokenizer=None, *, device=None, dtype=None, **kwargs):
    """Build a pipeline, like ``transformers.pipeline``.

    - ``"translation_XX_to_YY"``, ``"text2text-generation"``, ``"summarization"``: one of this
      module's pipelines; ``"translation"`` with ``src_lang="en", tgt_lang="fr"`` is
      ``"translation_en_to_fr"``. ``model`` is a course model id (``"t5-base"``, the default), a
      local directory, or a model object (then pass its ``tokenizer`` too). ``device`` / ``dtype``
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
    if task == "translation":  # transformers 4 guessed a pair from the config; here you name it
        task = checks.translation_task(kwargs.get("src_lang"), kwargs.get("tgt_lang"))
    if model is None:
        model = "t5-base"
    if not isinstance(model, (str, os.PathLike)):  # your own model: used where it is, as it is
        return cls(model, tokenizer, task=task, device=device, dtype=dtype, **kwargs)
    loaded = models.load_model(str(model), device=checks.device_name(device), dtype=dtype)
    pipe = cls(loaded.model, loaded.tokenizer if tokenizer is None else tokenizer, task=task, **kwargs)
    pipe.loaded = loaded
    return pipe


def _pipeline_class(task) -> type[Text2TextPipeline] | None:
    """Our class for ``task``, None for a task transformers has; a helpful error otherwise."""
    name = task.strip().lower() if isinstance(task, str) else ""
    if name == "translation" or checks.TRANSLATION_TASK.match(name):
        return TranslationPipeline
    if name in OUR_TASKS:
        return OUR_TASKS[name]
    from transformers.pipelines import PIPELINE_REGISTRY

    theirs = PIPELINE_REGISTRY.get_supported_tasks()
    if name and task in theirs:
        return None
    raise checks.unknown_task_error(task, theirs)
