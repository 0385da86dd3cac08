"""Build a Hugging Face hub cache on disk without the hub, for tests.

The layout is the one huggingface_hub writes (blobs/, snapshots/<revision>/ with symlinks,
refs/main), filled with the demo model's files under a lesson model's repository name.

- :func:`populate` puts one directory's files under one lesson model's pinned revision.
- :func:`lesson_cache` fills a cache with all three lesson models the way their real
  repositories are laid out, built offline from the demo model: t5-base and t5-large carry T5's
  real ``task_specific_params`` (summarization and en->de/fr/ro prefixes, with their
  ``num_beams``/``max_length``); the Flan-T5 entry is in Flan's layout (gated-gelu feed-forward,
  an untied ``lm_head`` stored in the file, ``tie_word_embeddings: false``).
- :func:`shaped_t5` writes a randomly initialised T5 of another shape (layers, heads, width),
  with the demo tokenizer, so that tests can show no lesson depends on the demo model's shape.

These models are megabytes, not the gigabytes of the real ones, so ``models.is_cached`` calls them
incomplete unless the test-only override ``COURSE_TEST_ONLY_ACCEPT_SMALL_FILES=1``
(``models.SIZE_CHECK_OFF_ENV``) is set; the tests that need a "complete" cache set it explicitly.
It is never set by default, and doctor says when it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from extras_and_licenses import models

TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json")
DEFAULT_FILES = ("config.json", "model.safetensors") + TOKENIZER_FILES
MODEL_CONFIG_DIR = Path(models.__file__).resolve().parent / "model_configs"


def populate(cache: Path, spec: models.ModelSpec, source: Path = models.DEMO_MODEL_DIR, files=None) -> Path:
    repo = cache / ("models--" + spec.repo_id.replace("/", "--"))
    snap = repo / "snapshots" / spec.revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(spec.revision)
    for name in files or DEFAULT_FILES:
        data = (source / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / name
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, snap), link)
    return snap


def _real_task_params(name: str) -> dict:
    """T5's own ``task_specific_params`` (kept in the package's model_configs, from the hub configs)."""
    return json.loads((MODEL_CONFIG_DIR / f"{name}.json").read_text())["task_specific_params"]


def _copy_tokenizer(source: Path, target: Path) -> None:
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, target / name)


def t5_layout(target: Path, name: str, source: Path = models.DEMO_MODEL_DIR) -> Path:
    """The demo model's files with ``name``'s (t5-base or t5-large) real task_specific_params."""
    target.mkdir(parents=True, exist_ok=True)
    for file in DEFAULT_FILES:
        shutil.copy(source / file, target / file)
    config = json.loads((source / "config.json").read_text())
    config["task_specific_params"] = _real_task_params(name)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return target


def flan_layout(target: Path, source: Path = models.DEMO_MODEL_DIR) -> Path:
    """A Flan-T5-shaped checkpoint built from the demo model's weights, written the way Flan's repository is.

    Flan-T5 is T5 v1.1: a gated-GELU feed-forward (``wi_0``, ``wi_1``, ``wo``) and an output layer of
    its own. The attention weights, norms and embedding are the demo model's; both halves of the gated
    feed-forward start from the demo's ``wi``; ``lm_head`` is the embedding times d_model**-0.5 (what
    the tied demo model applies before its head), stored as its own tensor. The config says
    ``tie_word_embeddings: false`` and names no ``task_specific_params``, as Flan's does.
    """
    import torch
    from safetensors.torch import load_file, save_file

    target.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(source / "model.safetensors"))
    config = json.loads((source / "config.json").read_text())
    out = {}
    for key, tensor in weights.items():
        if key.endswith("DenseReluDense.wi.weight"):
            out[key.replace(".wi.", ".wi_0.")] = tensor.clone()
            out[key.replace(".wi.", ".wi_1.")] = tensor.clone()
        else:
            out[key] = tensor.clone()
    shared = weights.get("shared.weight", weights.get("encoder.embed_tokens.weight"))
    out["lm_head.weight"] = (shared * config["d_model"] ** -0.5).to(torch.float32).contiguous()
    save_file(out, str(target / "model.safetensors"), metadata={"format": "pt"})
    for key in ("task_specific_params", "scale_decoder_outputs", "dense_act_fn", "is_gated_act"):
        config.pop(key, None)
    config.update(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    _copy_tokenizer(source, target)
    return target


def lesson_cache(cache: Path, workdir: Path, source: Path = models.DEMO_MODEL_DIR) -> Path:
    """Fill ``cache`` with all three lesson models in their real layouts (see the module docstring)."""
    for name in ("t5-base", "t5-large"):
        populate(cache, models.LESSON_MODELS[name], t5_layout(workdir / name, name, source))
    populate(cache, models.LESSON_MODELS["google/flan-t5-large"], flan_layout(workdir / "flan-t5-large", source))
    return cache


def shaped_t5(target: Path, *, num_layers=2, num_decoder_layers=2, num_heads=6, d_kv=16, d_model=96, d_ff=160, seed=0):
    """A randomly initialised T5 of another shape than the demo model's, with the demo tokenizer and T5's prefixes."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    demo = json.loads((models.DEMO_MODEL_DIR / "config.json").read_text())
    config = T5Config(
        vocab_size=demo["vocab_size"],
        d_model=d_model,
        d_kv=d_kv,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_decoder_layers,
        num_heads=num_heads,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        # T5's prefixes and beam counts, with max_length cut to 32: a random model rarely writes </s>,
        # and at T5's 300 every pipeline call would run to that limit.
        task_specific_params={
            task: dict(params, max_length=min(32, params.get("max_length", 32)), min_length=0)
            for task, params in _real_task_params("t5-base").items()
        },
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = T5ForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target), safe_serialization=True)
    _copy_tokenizer(models.DEMO_MODEL_DIR, target)
    return target


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: kind and permissions, size, modification time, and a file's sha256
    (links not followed), to show that nothing in a shared cache was touched."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
            state[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return state
