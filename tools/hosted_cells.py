"""The first cells of every lesson (Colab/Kaggle setup, environment check), written in one place.

    python tools/hosted_cells.py          # put these cells into notebooks/00..04 (idempotent)

Each lesson starts, after its title, with two cells whose sources are below:

- ``env-setup``: on Colab or Kaggle, fetch the course and install what the lessons need; elsewhere
  nothing. The repository address is ``COURSE_REPO_URL`` below (the one place it is written;
  the environment variable of the same name overrides it).
- ``env-check``: the one-line check of the kernel's libraries against requirements.txt.

Lesson 01 also gets, after each text cell that shows a figure from ``imgs/``, a cell that shows the
same figure from the kernel on Colab and Kaggle, whose text cells cannot read the runtime's disk.
tests/test_hosted_cells.py checks that the notebooks hold exactly these cells.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# The git address the setup cell clones on Colab/Kaggle. Empty until the course has a public home:
# then write it here and run this script. Never guess one: a guessed address could clone someone else's code.
COURSE_REPO_URL = ""
CLONE_NAME = "t5-lessons"

SETUP_ID, CHECK_ID = "env-setup", "env-check"

SETUP_SOURCE = f'''# Colab and Kaggle only: fetch the course and install what it needs. Elsewhere this cell does nothing.
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The course's git address (the repository you opened this notebook from): write it between the quotes, or set
# the environment variable COURSE_REPO_URL. On Kaggle you can instead add the repository as a dataset.
COURSE_REPO_URL = os.environ.get("COURSE_REPO_URL") or "{COURSE_REPO_URL}"
ON_COLAB = Path("/content").is_dir() and importlib.util.find_spec("google") is not None and importlib.util.find_spec("google.colab") is not None
ON_KAGGLE = Path("/kaggle").is_dir()

if ON_COLAB or ON_KAGGLE:
    course = Path("/content" if ON_COLAB else "/kaggle/working") / "{CLONE_NAME}"
    uploaded = sorted(Path("/kaggle/input").glob("*/extras_and_licenses")) if ON_KAGGLE else []
    if not (course / "requirements.txt").is_file():
        if uploaded:  # the repository added to the notebook as a Kaggle dataset
            print(f"Copying the course from {{uploaded[0].parent}} to {{course}} ...")
            shutil.copytree(uploaded[0].parent, course)
        elif not COURSE_REPO_URL:
            raise SystemExit(
                "This notebook does not know where the course lives. Write the course's git address into "
                "COURSE_REPO_URL at the top of this cell (the repository you opened this notebook from), then run it again."
            )
        else:
            print(f"Fetching the course from {{COURSE_REPO_URL}} into {{course}} ...")
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", COURSE_REPO_URL, str(course)], check=True)
    print("Installing the course's helper package, extras_and_licenses (no dependencies) ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", str(course)], check=True)
    importlib.invalidate_caches()
    os.environ["COURSE_ROOT"] = str(course)  # where the figures (imgs/) are
    os.chdir(course / "notebooks")
    from extras_and_licenses.environment import install_for_hosted_runtime

    install_for_hosted_runtime()  # upgrades what the platform ships outside the tested ranges, and says so
else:
    print("Not on Colab or Kaggle: nothing to set up here (this machine's own environment is used).")'''

CHECK_SOURCE = """from extras_and_licenses.environment import check_environment

check_environment()  # one line; if a library is out of range it prints the command to run and stops here"""

# lesson 01: (id of the text cell that shows the figure, id of the new cell, figure file)
FIGURES = [
    ("c026", "fig-architecture-hosted", "t5_architecture.png"),
    ("c041", "fig-decoding-hosted", "decoding_with_cache.png"),
    ("c052", "fig-text-to-text-hosted", "text_to_text.png"),
]


def figure_source(name: str) -> str:
    return (
        "# Colab and Kaggle cannot show the picture above from the text cell: there, it is shown from here.\n"
        "from extras_and_licenses.environment import hosted_figure\n"
        "\n"
        f'hosted_figure("{name}")'
    )


def code_cell(cell_id: str, source: str) -> dict:
    lines = source.splitlines(keepends=True)
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [], "source": lines}


def _put_after(cells: list, after_id: str, cell: dict) -> None:
    ids = [c.get("id") for c in cells]
    if cell["id"] in ids:
        cells[ids.index(cell["id"])] = cell
        return
    cells.insert(ids.index(after_id) + 1, cell)


def apply(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    title = cells[0]["id"]
    _put_after(cells, title, code_cell(SETUP_ID, SETUP_SOURCE))
    _put_after(cells, SETUP_ID, code_cell(CHECK_ID, CHECK_SOURCE))
    if path.name.startswith("01_"):
        for text_id, cell_id, name in FIGURES:
            _put_after(cells, text_id, code_cell(cell_id, figure_source(name)))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for notebook in NOTEBOOKS:
        apply(notebook)
        print(f"updated {notebook.relative_to(ROOT)}")
