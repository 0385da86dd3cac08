"""The lesson 02 explorer in JupyterLab (Chromium): a step slider wide enough to use, and quick key
presses that end on the latest step's picture without a queue of stale redraws.

Uses the same harness as tests/test_browser.py (tests/browser_support.py) on a scratch notebook
with the real AttentionExplorer on a synthetic capture (9 steps, as lesson 02's translation).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import pytest

from tests import browser_support as bs
from tests.explorer_checks import synthetic_capture

ROOT = Path(__file__).resolve().parents[1]
STEPS = 9

CELL = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.explorer_checks import synthetic_capture
from extras_and_licenses.attention_explorer import AttentionExplorer

explorer = AttentionExplorer(synthetic_capture(steps={STEPS}))
explorer
"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    bs.skip_unless_ready(bs.chromium_available())
    import nbformat

    folder = tmp_path_factory.mktemp("explorer")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL.strip())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = folder / "explorer.ipynb"
    nbformat.write(nb, notebook)
    browser = bs.Chromium(tmp_path_factory.mktemp("chromium")).start()
    server = bs.LabServer(folder, tmp_path_factory.mktemp("lab")).start()
    page = browser.new_page()
    try:
        with bs.evidence_on_failure(page, "explorer_widget", server=server):
            bs.run_notebook(page, server, notebook, timeout=180)
            page.locator(bs.EXPLORER).first.wait_for(state="visible", timeout=60_000)
            yield page
    finally:
        page.context.close()
        server.shutdown_kernels()
        server.stop()
        browser.close()


def test_the_widget_is_shown_not_the_still(browser_page):
    assert browser_page.locator(bs.EXPLORER).count() == 1
    assert browser_page.locator(".attention-explorer-still").count() == 0, "Lab showed the fallback picture"


def test_the_step_slider_has_room_for_every_step(browser_page):
    track = browser_page.locator(".explorer-step .noUi-target").first.bounding_box()
    per_step = track["width"] / (STEPS - 1)
    print(f"step slider track: {track['width']:.0f} px for {STEPS} steps ({per_step:.0f} px per step)")
    assert per_step >= 28, f"the step slider's track is {track['width']:.0f} px for {STEPS} steps"


def test_quick_key_presses_end_on_the_last_step(browser_page):
    page = browser_page
    handle = page.locator(bs.EXPLORER).first.locator(bs.STEP_HANDLE).first
    caption = page.locator(".explorer-caption").first
    handle.focus()
    start = time.monotonic()
    for _ in range(STEPS - 1):
        page.keyboard.press("ArrowRight", delay=0)
    pressed = time.monotonic()
    assert int(float(handle.get_attribute("aria-valuenow"))) == STEPS - 1

    last = html.escape(synthetic_capture(steps=STEPS).generated_labels[-1])

    def settled():  # the caption, redrawn with the picture, marks the step shown as [token]
        shown = caption.inner_html()
        return shown if f"[{last}]" in shown else None

    done = bs._poll(page, settled, 30, interval=0.05)
    end = time.monotonic()
    print(
        f"{STEPS - 1} key presses in {pressed - start:.2f} s; the explorer showed the last step {end - pressed:.2f} s later"
    )
    assert done, "the caption never showed the last step after the key presses"
