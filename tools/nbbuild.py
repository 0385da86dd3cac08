"""Write a lesson notebook from a plain Python list of cells (used while authoring lessons).

    from nbbuild import md, code, solution, write
    write("notebooks/00_setup_and_preflight.ipynb", [md("# Title"), code("print(1)"), ...])

Notebooks are written clean: no outputs, no execution counts. ``solution(...)`` makes a code
cell whose source and outputs start collapsed in JupyterLab (``jupyter.source_hidden``), so a
worked solution stays hidden until the learner clicks to open it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str):
    return nbformat.v4.new_markdown_cell(_src(text))


def code(text: str, **metadata):
    cell = nbformat.v4.new_code_cell(_src(text))
    cell.metadata.update(metadata)
    return cell


def solution(text: str):
    return code(text, jupyter={"source_hidden": True, "outputs_hidden": True}, tags=["solution"])


def write(path: str | Path, cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:03d}"
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
