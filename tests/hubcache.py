"""Build a Hugging Face hub cache on disk without the hub, for tests.

The layout is the one huggingface_hub writes (blobs/, snapshots/<revision>/ with symlinks,
refs/main), filled with the demo model's files under a lesson model's repository name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from extras_and_licenses import models


def populate(cache: Path, spec: models.ModelSpec, source: Path = models.DEMO_MODEL_DIR, files=None) -> Path:
    repo = cache / ("models--" + spec.repo_id.replace("/", "--"))
    snap = repo / "snapshots" / spec.revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(spec.revision)
    for name in files or (
        "config.json",
        "model.safetensors",
        "spiece.model",
        "tokenizer.json",
        "tokenizer_config.json",
    ):
        data = (source / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / name
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, snap), link)
    return snap
