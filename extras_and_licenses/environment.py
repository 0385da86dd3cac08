"""Which library versions the lessons need, and the check at the top of every lesson.

The tested ranges are written in one place only: ``requirements.txt`` at the top of the
repository. This module reads them with ``packaging``:

- from ``requirements.txt`` itself when the package is imported from a checkout (``make lab``,
  an editable install, ``PYTHONPATH``);
- from the installed package's metadata otherwise (``pip install .`` from a clone, as the
  Colab/Kaggle setup cell does): ``pyproject.toml`` copies requirements.txt into the extra
  ``lessons`` when the package is built, so the installed copy carries the same ranges.

Used by the first cells of every lesson (00-04)::

    from extras_and_licenses.environment import check_environment
    check_environment()   # one line when all is well; otherwise what to run, and the lesson stops

by ``doctor`` (the versions rows), by the GPU benchmark's lesson part, ``bench.lessons`` (it refuses to
run the lessons outside the ranges), and by the Colab/Kaggle setup cell (:func:`install_for_hosted_runtime`).
It imports neither torch nor transformers: it reads installed versions from package metadata.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

DIST_NAME = "extras_and_licenses"
EXTRA = "lessons"  # the optional-dependencies group that pyproject.toml fills from requirements.txt
PACKAGE_DIR = Path(__file__).resolve().parent

# Served by the front end, never imported by a lesson's kernel: a kernel run by Colab, Kaggle or
# VS Code does not need it, so the lessons' check leaves it out (doctor, for `make lab`, does not).
FRONT_END_ONLY = frozenset({"jupyterlab"})

# Colab draws widgets with its own widget manager, built for ipywidgets 7 (its runtime ships
# 7.7.1; ipywidgets 8 there has shown blank widgets and a "third-party widgets" prompt, see
# googlecolab/colabtools#3020). The lessons' widgets work on 7.7 and 8, so on Colab the
# platform's ipywidgets is kept as long as it is at least this. Everywhere else requirements.txt
# rules (JupyterLab 4 needs ipywidgets 8).
COLAB_IPYWIDGETS_FLOOR = Version("7.7")

# Libraries a hosted runtime may have imported before the setup cell upgraded them: for these, a
# loaded version that differs from the installed one means the kernel must restart.
_WATCH_LOADED = ("torch", "transformers", "huggingface_hub", "tokenizers", "safetensors", "ipywidgets")


class RequirementsNotFound(RuntimeError):
    """Neither requirements.txt nor the installed package's metadata holds the ranges."""


# ------------------------------------------------------------------ reading the ranges
def checkout_root() -> Path | None:
    """The repository this package was imported from, or None for an installed copy."""
    root = PACKAGE_DIR.parent
    pyproject = root / "pyproject.toml"
    if (root / "requirements.txt").is_file() and pyproject.is_file():
        if f'name = "{DIST_NAME}"' in pyproject.read_text(encoding="utf-8"):
            return root
    return None


def parse_requirements_text(text: str) -> list[Requirement]:
    """The requirements in a requirements.txt text: comments, blank lines and pip options skipped."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        found.append(Requirement(line))
    return found


def _from_metadata() -> list[Requirement]:
    try:
        requires = metadata.requires(DIST_NAME) or []
    except metadata.PackageNotFoundError:
        requires = []
    found = []
    for text in requires:
        requirement = Requirement(text)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": EXTRA}):
            requirement.marker = None
            found.append(requirement)
    return found


def requirements(path: str | os.PathLike | None = None) -> list[Requirement]:
    """The tested ranges, as ``packaging`` requirements, in requirements.txt's order.

    ``path`` names a requirements file to read; by default the checkout's requirements.txt,
    else the installed package's metadata.
    """
    if path is None:
        root = checkout_root()
        path = root / "requirements.txt" if root else None
    if path is not None:
        return parse_requirements_text(Path(path).read_text(encoding="utf-8"))
    found = _from_metadata()
    if not found:
        raise RequirementsNotFound(
            "The course's tested version ranges were not found: this copy of extras_and_licenses has neither "
            "requirements.txt beside it nor the ranges in its installed metadata. Reinstall it from the "
            "course repository (`pip install --no-deps .` in the clone, or `make lab`)."
        )
    return found


def requirement_for(name: str, path=None) -> Requirement:
    """The requirement for one package (``"transformers"`` -> ``transformers<6,>=5.24``)."""
    for requirement in requirements(path):
        if _canonical(requirement.name) == _canonical(name):
            return requirement
    raise KeyError(f"{name} is not in the course's requirements.txt")


def _canonical(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


# ------------------------------------------------------------------ where we are
COLAB_DIR = Path("/content")  # where Colab runs notebooks
KAGGLE_DIR = Path("/kaggle")  # what Kaggle mounts


def _colab_importable() -> bool:
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def hosted_runtime() -> str | None:
    """``"colab"`` on Google Colab, ``"kaggle"`` on a Kaggle notebook, None elsewhere.

    The usual conventions: Colab runs notebooks from ``/content`` with the ``google.colab``
    package importable; Kaggle mounts ``/kaggle`` (and sets ``KAGGLE_KERNEL_RUN_TYPE``).
    """
    if COLAB_DIR.is_dir() and _colab_importable():
        return "colab"
    if KAGGLE_DIR.is_dir() or os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "kaggle"
    return None


def course_root() -> Path | None:
    """The course's files (notebooks/, imgs/): the checkout, else ``COURSE_ROOT`` (set by the setup cell)."""
    root = checkout_root()
    if root is not None:
        return root
    env = os.environ.get("COURSE_ROOT")
    if env and (Path(env) / "imgs").is_dir():
        return Path(env)
    for folder in (Path.cwd(), *Path.cwd().parents):  # a notebook run from the clone's notebooks/
        if (folder / "imgs").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return None


# ------------------------------------------------------------------ what the kernel has
@dataclass(frozen=True)
class PackageState:
    """One requirement against what is installed."""

    requirement: Requirement
    found: str | None  # the installed version, None when missing
    ok: bool
    note: str = ""  # why an out-of-range version is accepted here, or what is wrong besides

    @property
    def name(self) -> str:
        return self.requirement.name

    @property
    def spec(self) -> str:
        """The range as pip writes it: ``transformers>=5.24,<6``."""
        return f"{self.requirement.name}{_ordered(self.requirement)}"


def _ordered(requirement: Requirement) -> str:
    """``>=5.24,<6`` rather than packaging's sorted ``<6,>=5.24``: lower bound first reads better."""
    specs = sorted(requirement.specifier, key=lambda s: (not s.operator.startswith(">"), s.version))
    return ",".join(str(s) for s in specs)


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _contains(requirement: Requirement, version: str) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    # a local build tag (2.13.0+cpu, 2.11.0+cu128) is the same release for the range
    return requirement.specifier.contains(Version(parsed.public), prereleases=True)


def _stale_import(name: str, installed: str | None) -> str:
    """A note when the kernel still runs an older copy than the one installed (pip ran after the import)."""
    if name not in _WATCH_LOADED:
        return ""
    module = sys.modules.get(name)
    loaded = getattr(module, "__version__", None) if module is not None else None
    if not (isinstance(loaded, str) and installed):
        return ""
    try:
        differs = Version(loaded).public != Version(installed).public
    except InvalidVersion:
        return ""
    return f"{loaded} is still loaded in this kernel although {installed} is installed" if differs else ""


def survey(
    *, kernel_side: bool = True, runtime: str | None = "detect", versions: dict | None = None, path=None
) -> list[PackageState]:
    """Every requirement against this environment.

    ``kernel_side=True`` (the lessons' check) leaves out what only the front end needs
    (JupyterLab). ``runtime`` is the hosted platform (``"colab"``, ``"kaggle"`` or None;
    detected by default). ``versions`` replaces the installed versions, for tests and for
    judging another machine's versions (a dict of name -> version, a missing name = not installed).
    """
    if runtime == "detect":
        runtime = hosted_runtime()
    states = []
    for requirement in requirements(path):
        if kernel_side and _canonical(requirement.name) in FRONT_END_ONLY:
            continue
        if versions is None:
            found = _installed_version(requirement.name)
            # a stale import matters only once the installed copy is right: otherwise that is the fix
            stale = _stale_import(requirement.name, found) if found and _contains(requirement, found) else ""
        else:
            found = {_canonical(k): v for k, v in versions.items()}.get(_canonical(requirement.name))
            stale = ""
        ok = found is not None and _contains(requirement, found) and not stale
        note = stale
        if (
            not ok
            and not stale
            and found is not None
            and runtime == "colab"
            and _canonical(requirement.name) == "ipywidgets"
            and Version(Version(found).public) >= COLAB_IPYWIDGETS_FLOOR
        ):
            ok, note = True, "Colab's own widget front end"
        states.append(PackageState(requirement, found, ok, note))
    return states


def pip_command(states: list[PackageState], magic: bool = True) -> str:
    """The one command that brings the failing packages into range (``%pip`` in a notebook)."""
    bad = [s for s in states if not s.ok]
    args = " ".join(f'"{s.spec}"' for s in bad)
    return f"{'%pip' if magic else 'python -m pip'} install -U {args}"


def restart_hint(runtime: str | None = None) -> str:
    if runtime == "colab":
        return "then restart the session (Runtime > Restart session) and run the notebook again from the top"
    if runtime == "kaggle":
        return "then restart the kernel (Kaggle's Run menu) and run the notebook again from the top"
    return "then restart the kernel (Kernel > Restart Kernel...) and run the notebook again from the top"


# ------------------------------------------------------------------ the check at the top of every lesson
class EnvironmentMismatch(RuntimeError):
    """The kernel's libraries are outside the tested ranges. In Jupyter it shows as its message only."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return ["\x1b[1;31mEnvironment check failed\x1b[0m"] + self.lines


def summary_line(states: list[PackageState]) -> str:
    """What the kernel has, in one line."""
    shown = {"torch", "transformers", "ipywidgets"}
    parts = [f"{s.name} {s.found}" + (f" ({s.note})" if s.note else "") for s in states if s.name in shown]
    python = ".".join(str(v) for v in sys.version_info[:3])
    return f"Python {python}, " + ", ".join(parts)


def check_environment(*, runtime: str | None = "detect", versions: dict | None = None, path=None) -> None:
    """Print one line about this kernel; stop the notebook with the fix when a library is out of range.

    Never installs anything. Raises :class:`EnvironmentMismatch` (shown in Jupyter as its
    message alone, no traceback) when something is missing or out of range.
    """
    if runtime == "detect":
        runtime = hosted_runtime()
    states = survey(kernel_side=True, runtime=runtime, versions=versions, path=path)
    bad = [s for s in states if not s.ok]
    if not bad:
        print(f"Environment OK: {summary_line(states)}, all within the course's tested ranges (requirements.txt).")
        return
    lines = ["The lessons need other library versions than this kernel has:"]
    for s in bad:
        have = "not installed" if s.found is None else s.note or f"{s.found} installed"
        lines.append(f"  {s.name}: {have}; the lessons need {s.spec}")
    to_install = [s for s in bad if not s.note]
    if to_install:
        lines += ["Run this in a new cell:", f"  {pip_command(to_install)}", restart_hint(runtime) + "."]
    else:  # installed right, but an older copy is still loaded
        lines.append(restart_hint(runtime).replace("then restart", "Restart", 1) + ".")
    if any(s.name == "torch" for s in bad):
        lines.append(
            "For torch, keep the build that matches your GPU: see README.md, 'CPU only' (TORCH_SPEC) and 'Colab / Kaggle'."
        )
    raise EnvironmentMismatch(lines)


# ------------------------------------------------------------------ Colab and Kaggle
def install_for_hosted_runtime(
    *, runtime: str | None = "detect", dry_run: bool = False, versions: dict | None = None
) -> list[str]:
    """On Colab or Kaggle: upgrade what the platform ships outside the ranges (transformers, above all).

    Says what it installs and why before it runs pip. torch is never replaced (the platform's
    build matches its GPU); JupyterLab is not installed (the platform has its own front end);
    on Colab the platform's ipywidgets 7 is kept (see COLAB_IPYWIDGETS_FLOOR). Returns the pip
    arguments it used (nothing when all was in range). ``dry_run`` only says what it would do;
    ``versions`` stands in for the installed versions (tests).
    """
    if runtime == "detect":
        runtime = hosted_runtime()
    if runtime is None:
        print("Not on Colab or Kaggle: nothing installed (this machine's own environment is used).")
        return []
    states = survey(kernel_side=True, runtime=runtime, versions=versions)
    bad = [s for s in states if not s.ok and s.name != "torch"]
    for s in states:
        if s.name == "torch" and not s.ok:
            print(f"Note: {runtime}'s torch {s.found} is outside {s.spec}; it is kept (it matches the GPU).")
    if not bad:
        print(f"{runtime}: every library the lessons need is already in range; nothing to install.")
        return []
    for s in bad:
        was = "missing" if s.found is None else s.found
        print(f"Installing {s.spec} (the platform has {was}; the lessons need this range) ...")
    args = [s.spec for s in bad]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "-U", *args]
    if dry_run:
        print("Would run:", " ".join(shlex.quote(a) for a in command))
        return args
    subprocess.run(command, check=True)
    importlib.invalidate_caches()
    print("Done. The next cell checks the versions.")
    return args


# ------------------------------------------------------------------ figures
def figure(name: str, *, width: int | None = None):
    """A figure from the course's ``imgs/`` folder, as an IPython image read from disk.

    Lessons put figures in their text as ``![...](../imgs/NAME)``, which JupyterLab shows. Colab
    and Kaggle draw text cells in your browser, which cannot read the runtime's disk, so there a
    code cell shows the same file through the kernel: ``figure("t5_architecture.png")``.
    """
    from IPython.display import Image

    root = course_root()
    if root is None:
        raise FileNotFoundError(
            f"The course's imgs/ folder was not found, so {name} cannot be shown. Run the notebook from the "
            "course repository (its notebooks/ folder), or set COURSE_ROOT to the clone's folder."
        )
    path = root / "imgs" / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in (root / "imgs").glob("*.png")))
        raise FileNotFoundError(f"{path} does not exist. The figures there are: {known}.")
    return Image(filename=str(path), width=width)


def hosted_figure(name: str, *, width: int | None = None):
    """On Colab or Kaggle the figure named (see :func:`figure`); elsewhere None, as the text cell shows it."""
    return figure(name, width=width) if hosted_runtime() else None
