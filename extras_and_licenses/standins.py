"""Benchmark stand-ins: each lesson model's real architecture, with random weights.

What it is for: the GPU benchmark (``python -m bench.run_gpu_benchmarks``) measures how long each
lesson takes and how much GPU memory it needs, on machines that cannot download the lesson
models. Time and memory depend on the architecture, not on the values of the weights, so with
``COURSE_STANDIN=random`` set, :func:`extras_and_licenses.models.load_model` hands the lessons
a model built from the lesson model's configuration (kept in ``model_configs/``, written from
the public hub configs) with seeded random weights, and a tokenizer that covers all 32,128 ids
of T5's vocabulary. A loud banner says so.

- :func:`build_model` builds a config's architecture straight on the target device, in the
  target dtype (no float32 copy on the CPU first), from a fixed seed, without touching the
  caller's random state. ``device="meta"`` builds it without allocating anything (the tests
  count parameters that way).
- :func:`build_tokenizer` is the demo model's tokenizer padded to 32,128 ids: the demo pieces
  keep their ids, filler pieces ``«n»`` fill the rest, and the 100 sentinels sit at T5's ids
  (``<extra_id_0>`` = 32099). Any id a random model generates decodes without error.
- Stand-ins are marked like demo models (``model.config.course_demo_stands_in_for``), so the
  lessons' checks of output quality skip. ``LoadedModel.source`` is ``"standin"`` and
  ``is_demo`` stays False: the lessons then run their full workload, as for the real model.

With random weights ``generate()`` rarely meets ``</s>`` (a random T5 with a tied head tends to
repeat its start token ``<pad>``), so generations run to their length limit and a lesson's run
time with a stand-in is an upper bound for the real model's; the benchmark forces lengths
(``min_new_tokens = max_new_tokens``) where it times decoding itself.

Used by ``models.load_model`` (when ``COURSE_STANDIN=random``), by ``bench/`` and by the tests.
No lesson imports it. From the rest of the package it imports only ``catalog`` (the model ids, which
import nothing back): ``models`` uses it, never the reverse (``models`` resolves ids, shows the banner
and wraps the result in a ``LoadedModel``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import torch

from .catalog import LESSON_MODELS

STANDIN_ENV = "COURSE_STANDIN"


class StandinSettingError(ValueError):
    """COURSE_STANDIN is set to something other than ``random``."""


CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
CONFIG_FILES = {"t5-base": "t5-base.json", "t5-large": "t5-large.json", "google/flan-t5-large": "flan-t5-large.json"}
DEMO_TOKENIZER = Path(__file__).resolve().parent / "demo_model" / "tokenizer.json"
SEED = 0
VOCAB_SIZE = 32128  # T5's embedding rows (the real tokenizer names 32,100 of them)
SENTINELS = 100  # <extra_id_0> ... <extra_id_99>, at ids 32099 down to 32000 as in T5
FIRST_SENTINEL = 32000  # T5's sentencepiece vocabulary ends here; ids 32100-32127 are unnamed rows
FILLER = "\u2581\u00ab{}\u00bb"  # "▁«1234»": decodes to " «1234»", never matches ordinary text


def standin_requested(model_id, demo: bool | None = None) -> bool:
    """True when ``COURSE_STANDIN=random`` is set and ``model_id`` names a lesson model.

    ``demo=True`` passed to ``load_model`` wins (the caller asked for the demo model); "demo"
    and local directories load as usual; an unknown id is left to ``load_model``'s own error.
    """
    value = os.environ.get(STANDIN_ENV, "").strip().lower()
    if value in {"", "0", "off", "no", "false"}:
        return False
    if value != "random":
        raise StandinSettingError(
            f"{STANDIN_ENV}={os.environ[STANDIN_ENV]!r} is not understood: the only stand-in is 'random' "
            f"(random weights, for the GPU benchmark). Unset {STANDIN_ENV} to load the real models."
        )
    if demo or not isinstance(model_id, str) or model_id == "demo" or Path(model_id).expanduser().is_dir():
        return False
    return config_file(model_id) is not None


def config_file(model_id: str) -> Path | None:
    """The kept config for an id of a lesson model, exactly as ``catalog.LESSON_MODELS`` spells it (its short
    name, hub repository or an alias: ``t5-base``, ``google-t5/t5-base``, ``flan-t5-large``, ...); None for
    any other id, such as ``someone/t5-base``, which is not the model the config was written from."""
    for spec in LESSON_MODELS.values():
        if model_id in spec.ids():
            return CONFIG_DIR / CONFIG_FILES[spec.name]
    return None


def read_config(model_id: str) -> dict:
    """The kept configuration of a lesson model (name, hub id or short name), as the dict in its JSON file."""
    path = config_file(model_id) if isinstance(model_id, str) else None
    if path is None:
        raise KeyError(f"No kept config for {model_id!r}: stand-ins exist for {', '.join(CONFIG_FILES)}.")
    return json.loads(path.read_text())


def tiny_config(config: dict) -> dict:
    """``config`` shrunk to 2 + 2 layers of width 64, keeping its feed-forward kind, head tying and
    vocabulary: a model of the same kind that builds in milliseconds, for smoke runs and tests."""
    return {**config, "d_model": 64, "d_ff": 256, "d_kv": 16, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2}


def build_model(config: dict, device="cpu", dtype=torch.float32, *, attn_implementation=None, seed: int = SEED):
    """A ``T5ForConditionalGeneration`` of ``config``'s architecture with random weights, in eval mode.

    ``config`` is a config dict (:func:`read_config`). The weights are created on ``device`` in
    ``dtype`` and drawn from ``seed``; the global random state is left as it was. When the
    config says ``tie_word_embeddings: false`` (Flan-T5), the output head gets its own weights,
    as loading the real checkpoint gives (transformers 5's T5Config ties them whatever it is told).
    """
    from transformers import T5Config, T5ForConditionalGeneration

    device = torch.device(device)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        with device:
            model = T5ForConditionalGeneration._from_config(T5Config(**config), dtype=dtype, **kwargs)
            if config.get("tie_word_embeddings") is False and model.lm_head.weight is model.shared.weight:
                head = torch.empty_like(model.shared.weight)  # (vocab, d_model)
                torch.nn.init.normal_(head, mean=0.0, std=model.config.initializer_factor)  # as T5 inits its own head
                model.lm_head.weight = torch.nn.Parameter(head)
                tied = getattr(model, "all_tied_weights_keys", None)
                if isinstance(tied, dict):  # so that a later tie_weights() leaves the head alone
                    tied.pop("lm_head.weight", None)
    return model.eval()


@functools.lru_cache(maxsize=1)
def _padded_tokenizer_json() -> str:
    spec = json.loads(DEMO_TOKENIZER.read_text())
    vocab = spec["model"]["vocab"]  # [[piece, score], ...]; the demo's sentinels are its last 100 pieces
    pieces = [entry for entry in vocab if not entry[0].startswith("<extra_id_")]
    sentinels = sorted((entry for entry in vocab if entry[0].startswith("<extra_id_")), key=lambda e: -int(e[0][10:-1]))
    first_sentinel = FIRST_SENTINEL
    if len(sentinels) != SENTINELS or len(pieces) > first_sentinel:
        raise RuntimeError(f"unexpected demo tokenizer: {len(pieces)} pieces, {len(sentinels)} sentinels")
    low = min(score for _, score in pieces) - 10.0  # fillers never win a segmentation
    filler = [[FILLER.format(i), low] for i in range(len(pieces), first_sentinel)]
    tail = [[FILLER.format(i), low] for i in range(first_sentinel + SENTINELS, VOCAB_SIZE)]
    spec["model"]["vocab"] = pieces + filler + sentinels + tail
    ids = {piece: i for i, (piece, _) in enumerate(spec["model"]["vocab"])}
    for token in spec["added_tokens"]:
        token["id"] = ids[token["content"]]
    return json.dumps(spec)


def build_tokenizer():
    """The demo tokenizer padded to T5's 32,128 ids (a fresh object each call)."""
    from tokenizers import Tokenizer
    from transformers import T5Tokenizer

    tokenizer = T5Tokenizer(
        tokenizer_object=Tokenizer.from_str(_padded_tokenizer_json()),
        extra_ids=SENTINELS,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=512,
    )
    if len(tokenizer) != VOCAB_SIZE:
        raise RuntimeError(f"the padded tokenizer has {len(tokenizer)} ids, not {VOCAB_SIZE}")
    return tokenizer


def banner_lines(stands_in_for: str, parameters: int) -> list[str]:
    """The stand-in banner's lines, for ``models`` to frame and show."""
    return [
        "RANDOM WEIGHTS (benchmark stand-in) - NOT THE REAL MODEL",
        f"Standing in for: {stands_in_for} (its real architecture, {parameters:,} parameters)",
        f"Why: {STANDIN_ENV}=random is set (the GPU benchmark: python -m bench.run_gpu_benchmarks).",
        "The weights are random numbers: every output is noise; only time and memory mean anything.",
        "Text goes through the demo tokenizer, padded with filler pieces «n» to 32,128 ids.",
        f"To use the real model: unset {STANDIN_ENV}.",
    ]
