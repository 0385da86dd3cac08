"""The lessons in a real front end: JupyterLab driven by Chromium (Playwright, Debian's /usr/bin/chromium).

Widgets and rich output only prove themselves in a live browser, so these tests run the lessons
the way a learner does: open the notebook in JupyterLab (demo mode, hub offline), Run All,
wait until the kernel is really connected and every cell has run, then use what is on screen:

- lesson 02: move the cross-attention explorer's step slider; the heatmap must be redrawn and differ.
- lesson 01: the ForwardListener's log (encoder and decoder call lines) is in an output, and
  every figure in the prose has loaded.
- lessons 03 and 04: Kernel > Restart Kernel and Run All Cells, confirmed in its dialog.
- every lesson run: each plotting cell shows an image, and nothing gives an exercise's answer
  away (no visible "Exercise N: correct", every folded solution closed). A solution in a code
  cell would not do: JupyterLab drops ``outputs_hidden`` when it runs a cell, and the self-test
  with such a cell proves it.

The self-tests run the same checks on scratch notebooks written here: a working explorer,
figure, plot and folded solution must pass; a broken explorer (the slider moves, the image is
never redrawn), a missing figure, a missing log, a plot drawn to no image and a collapsed
solution code cell must each fail, with a screenshot saved. On any failure the
assertion message names the screenshot, page text and Lab log saved under artifacts/browser/.

Lab serves the lessons from the folder ``make lab`` serves (its ``--ServerApp.root_dir``, read from
the Makefile), so a figure linked from outside that folder fails here as it does for a learner.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import pytest

from tests import browser_support as bs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LESSON_01 = NOTEBOOKS / "01_encoder_decoders.ipynb"
LESSON_02 = NOTEBOOKS / "02_cross_attention.ipynb"
LESSON_03 = NOTEBOOKS / "03_kv_cache_and_decoding.ipynb"
LESSON_04 = NOTEBOOKS / "04_prompt_lab.ipynb"


def make_lab_root() -> Path:
    """The folder ``make lab`` serves; the repository root when the Makefile names none."""
    match = re.search(r"--ServerApp\.root_dir=(\S+)", (ROOT / "Makefile").read_text())
    return (ROOT / match.group(1)).resolve() if match else ROOT


LAB_ROOT = make_lab_root()
RUN_TIMEOUT = float(os.environ.get("COURSE_BROWSER_RUN_TIMEOUT", "180"))  # seconds for Run All


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    bs.skip_unless_ready(bs.chromium_available())
    browser = bs.Chromium(tmp_path_factory.mktemp("chromium")).start()
    try:
        yield browser
    finally:
        browser.close()


class LabPool:
    """``pool(root_dir)``: one JupyterLab per served folder, started on first use."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self.servers: dict[Path, bs.LabServer] = {}

    def __call__(self, root_dir: Path) -> bs.LabServer:
        root_dir = Path(root_dir).resolve()
        if root_dir not in self.servers:
            self.servers[root_dir] = bs.LabServer(root_dir, self._tmp.mktemp("lab")).start()
        return self.servers[root_dir]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pool = LabPool(tmp_path_factory)
    try:
        yield pool
    finally:
        for server in pool.servers.values():
            server.stop()


@pytest.fixture()
def page(chromium, lab):
    """A fresh browser context and page; afterwards it is closed and the kernels it started shut down."""
    page = chromium.new_page()
    try:
        yield page
    finally:
        try:
            page.context.close()
        finally:
            for server in lab.servers.values():
                server.shutdown_kernels()  # a lesson's kernel would otherwise keep its memory and CPU


def lesson_server(lab, notebook: Path) -> bs.LabServer:
    assert notebook.exists(), f"{notebook.relative_to(ROOT)} is missing"
    return lab(LAB_ROOT)


# --------------------------------------------------------------------------- the lessons


def test_lesson_02_explorer_slider_redraws_heatmap(lab, page):
    server = lesson_server(lab, LESSON_02)
    with bs.evidence_on_failure(page, "lesson02_explorer", server=server), bs.folder_left_alone(page, NOTEBOOKS):
        bs.run_notebook(page, server, LESSON_02, timeout=RUN_TIMEOUT)
        assert bs.check_no_solution_revealed(page) == 3
        assert len(bs.check_plots_rendered(page)) >= 4
        bs.check_heatmap_changes(page)


def test_lesson_01_listener_log_shows_in_an_output(lab, page):
    server = lesson_server(lab, LESSON_01)
    with bs.evidence_on_failure(page, "lesson01_listener_log", server=server), bs.folder_left_alone(page, NOTEBOOKS):
        bs.run_notebook(page, server, LESSON_01, timeout=RUN_TIMEOUT)
        bs.check_listener_log(page)
        assert bs.check_no_solution_revealed(page) == 4
        assert len(bs.check_plots_rendered(page)) >= 1


@pytest.mark.parametrize(
    ("notebook", "n_solutions", "n_plots"), [(LESSON_03, 2, 2), (LESSON_04, 4, 0)], ids=["03", "04"]
)
def test_lessons_03_04_restart_kernel_and_run_all(lab, page, notebook, n_solutions, n_plots):
    server = lesson_server(lab, notebook)
    with (
        bs.evidence_on_failure(page, f"{notebook.stem}_restart_run_all", server=server),
        bs.folder_left_alone(page, NOTEBOOKS),
    ):
        bs.restart_and_run_all(page, server, notebook, timeout=RUN_TIMEOUT)
        assert bs.check_no_solution_revealed(page) == n_solutions
        assert len(bs.check_plots_rendered(page)) >= n_plots


def test_lesson_01_figures_render(lab, page):
    """Markdown renders when the notebook opens: no need to run it (a failing cell cannot hide this)."""
    server = lesson_server(lab, LESSON_01)
    with bs.evidence_on_failure(page, "lesson01_figures", server=server), bs.folder_left_alone(page, NOTEBOOKS):
        bs.open_notebook(page, server, LESSON_01)
        bs.check_markdown_images(page)


# --------------------------------------------------------------------------- scratch notebooks


def tiny_png(width: int = 48, height: int = 24) -> bytes:
    """A small valid PNG (a colour gradient), written by hand so the test needs no imaging library."""
    row = b"\x00" + b"".join(bytes((x * 5 % 256, 80, 160)) for x in range(width))  # filter byte, then RGB

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


EXPLORER_CELL = """
import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

attention = np.random.default_rng(0).random((2, 3, 6, 8))  # (layers, heads, steps, src_len)


def heatmap_png(layer, head, step):
    fig = Figure(figsize=(3, 2), dpi=72)
    ax = fig.subplots()
    ax.imshow(attention[layer, head, : step + 1], vmin=0, vmax=1, aspect="auto")
    ax.set_title(f"step {step}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


step = widgets.IntSlider(value=0, min=0, max=5, description="step")
step.add_class("explorer-step")
layer = widgets.Dropdown(options=[0, 1], description="layer")
head = widgets.Dropdown(options=[0, 1, 2], description="head")
image = widgets.Image(value=heatmap_png(0, 0, 0), format="png")
image.add_class("explorer-heatmap")


def redraw(change=None):
    image.value = heatmap_png(layer.value, head.value, step.value)


for control in {observed}:
    control.observe(redraw, names="value")
explorer = widgets.VBox([widgets.HBox([layer, head, step]), image])
explorer.add_class("attention-explorer")
explorer
"""

LISTENER_CELL = """
from extras_and_licenses import models
from extras_and_licenses.forward_listener import ForwardListener

model, tokenizer = models.load_model("t5-base")  # COURSE_DEMO_MODE=1 in Lab's environment: the demo T5
assert models.is_demo_model(model), "COURSE_DEMO_MODE=1 did not reach the kernel"
ForwardListener(model.encoder, name="encoder", tokenizer=tokenizer)
ForwardListener(model.decoder, name="decoder", tokenizer=tokenizer)
try:
    model.generate(**tokenizer("translate English to German: The house is small.", return_tensors="pt"),
                   max_new_tokens=4)
finally:
    ForwardListener.clear_all()
"""


CHECK_CELL = """
def check_exercise_1(answer):
    if answer is None:
        print("Exercise 1: not answered yet.")
        return False
    assert answer == 42, "Not quite."
    print("Exercise 1: correct (the answer is 42).")
    return True


check_exercise_1(None)
"""

FOLDED_SOLUTION = """
<details>
<summary><b>Solution to Exercise 1</b> (click to open)</summary>

```python
assert check_exercise_1(42)
```

</details>
"""


def write_scratch(directory: Path, name: str, *, working: bool) -> Path:
    """A scratch notebook: a figure, (working only) a ForwardListener log, and an explorer per the contract.

    The broken one links a figure that does not exist, observes only the dropdowns (so the step
    slider moves but the heatmap is never redrawn: a realistic bug), keeps its solution in a
    collapsed code cell, draws a plot to no image, and ends in a cell that raises.
    """
    import nbformat

    (directory / "figure.png").write_bytes(tiny_png())
    figure = "figure.png" if working else "no_such_figure.png"
    cells = [nbformat.v4.new_markdown_cell(f"# Scratch\n\nA figure:\n\n![a figure]({figure})")]
    cells.append(nbformat.v4.new_code_cell(CHECK_CELL.strip()))
    if working:
        cells.append(nbformat.v4.new_code_cell(LISTENER_CELL.strip()))
        # As in the lessons: a worked solution folded in a <details> block, which Run All neither runs nor shows.
        cells.append(nbformat.v4.new_markdown_cell(FOLDED_SOLUTION.strip()))
        cells.append(nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\n\nplt.plot([0, 1, 4])\nplt.show()"))
        cells.append(nbformat.v4.new_code_cell(""))
    else:
        # The old way: a solution code cell with source and outputs collapsed. Run All runs it, and Lab shows its output.
        hidden = {"jupyter": {"source_hidden": True, "outputs_hidden": True}, "tags": ["solution"]}
        cells.append(nbformat.v4.new_code_cell("assert check_exercise_1(42)", metadata=hidden))
        # A plot that never reaches the page: drawn under a backend that makes no image.
        no_image = "import matplotlib\n\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\nplt.plot([0, 1])\nplt.show()"
        cells.append(nbformat.v4.new_code_cell(no_image))
    observed = "(step, layer, head)" if working else "(layer, head)"
    cells.append(nbformat.v4.new_code_cell(EXPLORER_CELL.strip().replace("{observed}", observed)))
    if not working:
        cells.append(nbformat.v4.new_code_cell("1 / 0  # a lesson cell that raises"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path = directory / name
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("scratch")


def test_selftest_working_scratch_notebook_passes_every_check(lab, page, scratch_dir):
    notebook = write_scratch(scratch_dir, "working.ipynb", working=True)
    server = lab(scratch_dir)
    with bs.evidence_on_failure(page, "selftest_working", server=server), bs.folder_left_alone(page, scratch_dir):
        bs.restart_and_run_all(page, server, notebook, timeout=RUN_TIMEOUT)
        before, after = bs.check_heatmap_changes(page)
        log = bs.check_listener_log(page)
        images = bs.check_markdown_images(page)
        folded = bs.check_no_solution_revealed(page)
        plots = bs.check_plots_rendered(page)
        # Opened deliberately, the folded solution shows its code.
        page.locator(".jp-MarkdownOutput details summary").first.click()
        assert page.locator(".jp-MarkdownOutput details pre").first.is_visible()
    assert (before, after) == (0, 1)
    assert "#1" in log and len(images) == 1
    assert folded == 1 and len(plots) == 1

    # The guard against saving a lesson fails when the page saves the notebook.
    with pytest.raises(AssertionError, match="tried to write"), bs.folder_left_alone(page, scratch_dir):
        with page.expect_request(lambda request: request.method == "PUT"):
            page.evaluate("() => { void window.jupyterapp.commands.execute('docmanager:save'); }")


def test_selftest_broken_explorer_is_caught_with_a_screenshot(lab, page, scratch_dir, tmp_path):
    notebook = write_scratch(scratch_dir, "broken.ipynb", working=False)
    server = lab(scratch_dir)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):  # its last cell raises: reported at once
        bs.run_notebook(page, server, notebook, timeout=RUN_TIMEOUT)

    evidence = tmp_path / "evidence"
    with pytest.raises(AssertionError, match="not redrawn") as caught:
        with bs.evidence_on_failure(page, "broken_explorer", directory=evidence, server=server):
            bs.check_heatmap_changes(page, timeout=5)
    screenshot = evidence / "broken_explorer.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot was written"
    assert str(screenshot) in str(caught.value), "the failure message does not say where the screenshot is"
    assert "slider moved from 0 to 1" in str(caught.value)

    with pytest.raises(AssertionError, match="did not render"):
        bs.check_markdown_images(page, timeout=3)
    with pytest.raises(AssertionError, match="ForwardListener log"):
        bs.check_listener_log(page)
    # JupyterLab ran the collapsed solution cell and shows its output: outputs_hidden does not survive a run.
    with pytest.raises(AssertionError, match="visible after Run All"):
        bs.check_no_solution_revealed(page)
    with pytest.raises(AssertionError, match="produced no image"):
        bs.check_plots_rendered(page, timeout=3)
