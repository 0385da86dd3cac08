"""Decide how scripts/ensure_env.sh gets torch for a new environment; print the plan as shell variables.

    python scripts/env_plan.py REQUIREMENTS_FILE          # the plan, as VAR='value' lines for `eval`
    python scripts/env_plan.py REQUIREMENTS_FILE --explain # the same decision in words

Runs with the base Python, before any environment exists, with the standard library only, and
downloads nothing. The decision (see :func:`plan`):

- ``TORCH_SPEC`` set (CI sets ``torch==2.13.0``): install exactly that, as it says; nothing else is
  decided (a ``TORCH_INDEX_URL`` set beside it is passed to pip as ``--index-url``).
- The base Python already has a torch in the tested range: reuse it (the environment then sees
  the system packages), but on a machine with an NVIDIA GPU only when that torch really has
  CUDA and sees the GPU; a CPU-only torch there is not reused.
- Otherwise, on Linux without an NVIDIA GPU (no ``nvidia-smi``, no ``/proc/driver/nvidia``):
  torch from PyTorch's CPU wheel index, a ~200 MB download instead of the CUDA build's ~3 GB.
- Otherwise torch from PyPI (the CUDA build on Linux; macOS and Windows wheels are what they are).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"

_PROBE = (
    "import json, torch; "
    "print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda, "
    "'cuda_available': bool(torch.cuda.is_available())}))"
)


@dataclass
class Plan:
    system_site: bool  # create the venv with --system-site-packages (to reuse the base torch)
    torch_args: list[str]  # pip install arguments for torch, empty when torch is reused
    message: str  # one line, printed before anything is installed

    def shell(self) -> str:
        return "\n".join(
            [
                f"PLAN_SYSTEM_SITE={1 if self.system_site else 0}",
                f"PLAN_TORCH_ARGS={shlex.quote(' '.join(shlex.quote(a) for a in self.torch_args))}",
                f"PLAN_MESSAGE={shlex.quote(self.message)}",
            ]
        )


def torch_range(requirements: Path) -> str:
    """The torch requirement (``torch>=2.4,<2.15``) from a requirements file, following ``-r`` lines."""
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found = torch_range(requirements.parent / line[2:].strip())
            if found:
                return found
        elif re.match(r"torch\s*([<>=!~]|$)", line):
            return line.replace(" ", "")
    return ""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])


def in_range(version: str, requirement: str) -> bool:
    """Does ``version`` (``2.11.0+cu128``) satisfy ``requirement`` (``torch>=2.4,<2.15``)? Plain X.Y.Z only."""
    for op, bound in re.findall(r"(>=|<=|==|!=|<|>)\s*([0-9][0-9.]*)", requirement):
        v, b = _version_tuple(version), _version_tuple(bound)
        width = max(len(v), len(b))
        v, b = v + (0,) * (width - len(v)), b + (0,) * (width - len(b))
        ok = {">=": v >= b, "<=": v <= b, "==": v == b, "!=": v != b, "<": v < b, ">": v > b}[op]
        if not ok:
            return False
    return True


def nvidia_gpu_present() -> bool:
    """An NVIDIA driver with a GPU: `nvidia-smi -L` lists one, or the kernel driver is loaded."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            if out.returncode == 0 and "GPU" in out.stdout:
                return True
        except (OSError, subprocess.SubprocessError):
            pass
    return Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir())


def probe_torch(python: str) -> dict | None:
    """What torch the base Python has (version, CUDA build, GPU visible), or None."""
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def plan(
    *, system: str, nvidia: bool, torch: dict | None, requirement: str, torch_spec: str = "", index_url: str = ""
) -> Plan:
    """The decision, from facts gathered elsewhere (so tests can give any machine)."""
    requirement = requirement or "torch"
    if torch_spec:
        args = [torch_spec] + (["--index-url", index_url] if index_url else [])
        where = f" from {index_url}" if index_url else ""
        return Plan(False, args, f"torch: installing TORCH_SPEC={torch_spec}{where}, as asked.")
    if torch and in_range(torch["version"], requirement):
        has_cuda = bool(torch.get("cuda")) and bool(torch.get("cuda_available"))
        if not nvidia:
            return Plan(True, [], f"torch: reusing the base Python's torch {torch['version']} (no NVIDIA GPU here).")
        if has_cuda:
            return Plan(
                True,
                [],
                f"torch: reusing the base Python's torch {torch['version']} (CUDA {torch['cuda']}, sees the GPU).",
            )
        why = "a CPU-only build" if not torch.get("cuda") else f"built for CUDA {torch['cuda']} but sees no GPU"
        return Plan(
            False,
            [requirement],
            f"torch: not reusing the base Python's torch {torch['version']} ({why}) on this GPU machine; "
            "installing a CUDA build from PyPI.",
        )
    found = f"the base Python's torch {torch['version']} is outside {requirement}; " if torch else ""
    if system == "Linux" and not nvidia:
        return Plan(
            False,
            [requirement, "--index-url", CPU_INDEX],
            f"torch: {found}no NVIDIA GPU here, so installing the CPU build from {CPU_INDEX} "
            "(about 200 MB, not the CUDA build's 3 GB).",
        )
    what = "a CUDA build" if system == "Linux" else "the PyPI build"
    return Plan(False, [requirement], f"torch: {found}installing {what} from PyPI.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("--python", default=sys.executable, help="the base Python whose torch may be reused")
    parser.add_argument("--explain", action="store_true", help="print the decision in words, not as shell lines")
    args = parser.parse_args(argv)
    torch_spec = os.environ.get("TORCH_SPEC", "").strip()
    decided = plan(
        system=platform.system(),
        nvidia=nvidia_gpu_present(),
        torch=None if torch_spec else probe_torch(args.python),
        requirement=torch_range(args.requirements),
        torch_spec=torch_spec,
        index_url=os.environ.get("TORCH_INDEX_URL", "").strip(),
    )
    if args.explain:
        print(decided.message)
        venv = "sees the base Python's packages" if decided.system_site else "is isolated"
        print(f"The environment {venv}; torch pip arguments: {' '.join(decided.torch_args) or '(none: reused)'}")
    else:
        print(decided.shell())
    return 0


if __name__ == "__main__":
    sys.exit(main())
