"""The class cap, checked in a process of its own before the students start (python -m bench.students_per_gpu).

    python -m bench.students_cap_check --device cuda --output cap.json

With ``COURSE_GPU_MEMORY_GB=0.2`` set in this process, a checkpoint of t5-base's shape (random weights,
about 0.45 GB in bfloat16) must be refused on a GPU with the course's message naming the cap; after
``models.free_gpu_memory()`` the demo model must load and generate in the same process. On the CPU
(``--device cpu``, the smoke rehearsal) no cap applies and a tiny shape is used: the load is expected
to succeed, which shows the check itself runs. The verdict is written as JSON to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

CAP_GB = "0.2"


def check(device: str) -> dict:
    """Run the check on ``device`` ("cuda" or "cpu"); the result's ``ok`` says whether it passed."""
    os.environ["COURSE_GPU_MEMORY_GB"] = CAP_GB  # before the course's package is imported and applies it
    import torch

    from extras_and_licenses import models, standins

    out = {"device": device, "cap_gb": float(CAP_GB)}
    folder = tempfile.mkdtemp()
    # Saved as a local checkpoint and loaded the way a lesson loads a cached model
    # (from_pretrained on the CPU, then moved to the GPU).
    config = standins.read_config("t5-base")
    config = config if device.startswith("cuda") else standins.tiny_config(config)
    standins.build_model(config, dtype=torch.bfloat16).save_pretrained(folder)
    standins.build_tokenizer().save_pretrained(folder)
    try:
        models.load_model(folder, device=device, dtype=torch.bfloat16, verbose=False)
        out["over_cap"] = "loaded"
    except models.NotEnoughGPUMemoryError as exc:
        out["over_cap"] = "refused"
        out["message"] = str(exc)
    out["names_cap"] = f"COURSE_GPU_MEMORY_GB={CAP_GB}" in out.get("message", "")
    out["after_free"] = models.free_gpu_memory()
    try:
        model, tokenizer = models.load_model("demo", device=device, dtype=torch.bfloat16, verbose=False)
        inputs = tokenizer("translate English to French: Hello.", return_tensors="pt").to(device)
        ids = model.generate(**inputs, max_new_tokens=5)
        out["reload"] = f"demo model loaded and generated {ids.shape[1]} tokens"
    except Exception as exc:  # noqa: BLE001 - recorded in the verdict
        out["reload"] = f"failed: {type(exc).__name__}: {exc}"
    refused = out["over_cap"] == "refused" and out["names_cap"]
    expected = refused if device.startswith("cuda") else out["over_cap"] == "loaded"
    out["ok"] = expected and out["reload"].startswith("demo")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.students_cap_check", description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True, help="cuda, or cpu for the rehearsal")
    parser.add_argument("--output", type=Path, required=True, help="where the JSON verdict is written")
    args = parser.parse_args(argv)
    args.output.write_text(json.dumps(check(args.device)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
