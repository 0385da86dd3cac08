"""Build a small Colab-like environment for tests/test_colab_like.py: transformers 5.15.0 and ipywidgets 7.7.1.

    python scripts/colab_like_env.py build/venv-colab      # run with the course's .venv Python

That is what a Colab GPU runtime ships (with its own CUDA torch). The environment borrows torch
from the Python that runs this script instead of downloading one: torch and the packages torch
needs are linked in one by one, so nothing else of that environment (its transformers above all)
is visible. Does nothing when the environment is already built from this version of the script.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

# Colab's GPU image (2026): transformers 5.15, ipywidgets 7.7.1; the rest is what a kernel, the
# lessons' first cells and the explorer import.
PACKAGES = [
    "transformers==5.15.0",
    "ipywidgets==7.7.1",
    "ipykernel>=6.29,<8",
    "matplotlib>=3.8,<4",
    "sentencepiece>=0.2,<0.3",
    "protobuf>=4.25,<8",
    "packaging>=23",
]


def torch_closure() -> list[metadata.Distribution]:
    """torch and every distribution it needs here (markers evaluated), from this Python's environment."""
    seen: dict[str, metadata.Distribution] = {}
    todo = ["torch"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("-", "_")
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(seen.values())


def link_torch(site: Path) -> list[str]:
    """Symlink the top-level files and folders of torch's closure (and their .dist-info) into ``site``."""
    linked = []
    for dist in torch_closure():
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            source, target = base / top, site / top
            if top == "__pycache__" or not source.exists() or target.exists() or target.is_symlink():
                continue
            target.symlink_to(source)
            linked.append(top)
    return linked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path)
    args = parser.parse_args(argv)
    venv = args.venv
    stamp = venv / f".installed-{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}"
    if stamp.exists():
        return 0
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"Creating the Colab-like environment {venv} (transformers 5.15.0, ipywidgets 7.7.1) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    import torch

    linked = link_torch(site)
    print(f"Borrowing torch {torch.__version__} from {sys.prefix} ({len(linked)} links; nothing downloaded).")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--progress-bar", "off", *PACKAGES], check=True)
    check = "import torch, transformers, ipywidgets; print(torch.__version__, transformers.__version__, ipywidgets.__version__)"
    found = subprocess.run([str(python), "-c", check], check=True, capture_output=True, text=True).stdout.split()
    assert found[1:] == ["5.15.0", "7.7.1"] and found[0] == torch.__version__, found
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    print(f"{venv} is ready: torch {found[0]}, transformers {found[1]}, ipywidgets {found[2]}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
