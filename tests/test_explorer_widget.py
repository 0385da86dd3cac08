"""The AttentionExplorer widget (lesson 02): redraws, slider width, coalesced bursts, the still fallback.

The checks live in tests/explorer_checks.py so that the same ones also run under ipywidgets 7.7.1
in the Colab-like environment (tests/test_colab_like.py); here they run on this environment's
ipywidgets, plus a display through a real kernel.
"""

from __future__ import annotations

import pytest

from tests import explorer_checks


@pytest.mark.parametrize("check", explorer_checks.CHECKS, ids=[c.__name__ for c in explorer_checks.CHECKS])
def test_explorer(check):
    assert check()


def test_display_in_a_kernel_sends_the_widget_and_the_still(tmp_path):
    """What a front end receives from `display(explorer)`: the widget view, and the still beside it."""
    import nbformat
    from nbclient import NotebookClient

    code = (
        "from IPython.display import display\n"
        "from tests.explorer_checks import synthetic_capture\n"
        "from extras_and_licenses.attention_explorer import AttentionExplorer\n"
        "explorer = AttentionExplorer(synthetic_capture())\n"
        "display(explorer)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    root = str(explorer_checks.__file__).rsplit("/tests/", 1)[0]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": root}}).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    data = outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["image/png"] and "cannot show interactive widgets" in data["text/html"]
