"""Write a lesson notebook from a plain Python list of cells (used while authoring lessons).

    from nbbuild import md, code, solution, write
    write("notebooks/00_setup_and_preflight.ipynb", [md("# Title"), code("print(1)"), ...])

Notebooks are written clean: no outputs, no execution counts. ``solution(n, ...)`` makes a
markdown cell holding the worked solution's code in a closed ``<details>`` block: Run All neither
runs nor shows it, and the learner opens it with a click. (A code cell with ``outputs_hidden``
would not do: JupyterLab drops that flag when it runs the cell, so Run All would show the
solution's output under the exercise.) tests/test_notebooks.py runs each one after its check.
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


def solution(exercise: int, text: str, note: str = "Copy the code into a cell below the check and run it."):
    return md(
        f"<details>\n<summary><b>Solution to Exercise {exercise}</b> (click to open)</summary>\n\n{note}\n\n"
        f"```python\n{_src(text)}\n```\n\n</details>"
    )


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
