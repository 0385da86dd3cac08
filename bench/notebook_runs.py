"""What the benchmarks that run lessons in kernels share: reading errors out of an executed notebook, and
naming a results file after a device. No torch here, so the students' runner stays light.
"""

from __future__ import annotations

import re


def slug(text: str) -> str:
    """A device name as a file name: "NVIDIA H200" -> "nvidia-h200" (runs of other characters become one dash)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def failing_line(traceback: list[str]) -> str:
    """The cell's own line that raised: IPython marks it with an arrow in the first traceback frame."""
    for frame in traceback:
        for line in re.sub(r"\x1b\[[0-9;]*m", "", frame).splitlines():
            if line.lstrip().startswith("---->"):
                return line.split("---->", 1)[1].strip().lstrip("0123456789 ")[:120]
    return ""


def cell_errors(cells) -> list[dict]:
    """Each executed cell's error output: the cell's index, the exception, its message's first line, the line."""
    found = []
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                evalue = str(output.get("evalue", "")).strip().splitlines()
                found.append(
                    {
                        "cell": index,
                        "ename": output.get("ename", "?"),
                        "evalue": (evalue[0] if evalue else "")[:160],
                        "line": failing_line(output.get("traceback", [])),
                    }
                )
    return found
