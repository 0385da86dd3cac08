"""The demo banner: in full once per kernel (a red box in Jupyter, a text box elsewhere), then one line.

The lessons load models several times; only the first load shows the whole notice.
"""

from __future__ import annotations

import html

from extras_and_licenses import models, standins

FULL = "DEMO MODEL - NOT THE REAL ONE"


def test_second_load_prints_only_the_reminder(hf_cache, capsys):
    models.load_model("t5-base", device="cpu")
    first = capsys.readouterr().out
    assert FULL in first and "Standing in for: t5-base" in first
    assert sum(set(line) == {"#"} for line in first.splitlines()) == 2  # one text box
    assert first.count("No GPU found") == 1  # the device line follows the full banner

    models.load_model("t5-large", device="cpu")
    second = capsys.readouterr().out
    assert second.splitlines() == [
        "DEMO MODEL again: the toy T5 stands in for t5-large (see this kernel's first banner), "
        "running on the CPU in float32."
    ]


def test_quiet_loads_keep_the_banner_but_drop_the_device_line(hf_cache, capsys):
    models.load_model("t5-base", device="cpu", verbose=False)
    first = capsys.readouterr().out
    assert FULL in first and "No GPU found" not in first
    models.load_model("t5-base", device="cpu", verbose=False)
    assert capsys.readouterr().out.splitlines() == [
        "DEMO MODEL again: the toy T5 stands in for t5-base (see this kernel's first banner)."
    ]


def test_the_standin_banner_also_shows_in_full_once(monkeypatch, capsys):
    monkeypatch.setenv(standins.STANDIN_ENV, "random")
    models.load_model("t5-base", device="meta", verbose=False)
    assert "RANDOM WEIGHTS (benchmark stand-in) - NOT THE REAL MODEL" in capsys.readouterr().out
    models.load_model("t5-base", device="meta", verbose=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RANDOM WEIGHTS again: the benchmark stand-in for t5-base")


def test_in_jupyter_the_full_banner_is_one_red_box_then_one_line(tmp_path, monkeypatch):
    """A real kernel loads the demo model twice: a red HTML box (no '#' box beside it), then the reminder."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import sys; sys.path.insert(0, {str(models.DEMO_MODEL_DIR.parents[1])!r})\n"
            "from extras_and_licenses import models\n"
            "model, tokenizer = models.load_model('t5-base', device='cpu')"
        ),
        nbformat.v4.new_code_cell("model, tokenizer = models.load_model('t5-large', device='cpu')"),
    ]
    monkeypatch.setenv("COURSE_DEMO_MODE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("COURSE_STANDIN", raising=False)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    first, second = (cell.outputs for cell in nb.cells)
    boxes = [out for out in first if "course-demo-banner" in out.get("data", {}).get("text/html", "")]
    streams = "".join(out.get("text", "") for out in first if out.output_type == "stream")
    assert len(boxes) == 1 and FULL in boxes[0].data["text/html"] and "course-demo-banner" in boxes[0].data["text/html"]
    assert "#" not in html.unescape(boxes[0].data["text/html"].split(">", 1)[1])  # no '#' framing in the red box
    assert FULL in boxes[0].data["text/plain"]  # text-only front ends get the text box instead
    assert FULL not in streams and "####" not in streams  # not both
    assert "No GPU found" in streams
    assert not any("course-demo-banner" in out.get("data", {}).get("text/html", "") for out in second)
    printed = "".join(out.text for out in second if out.output_type == "stream" and out.name == "stdout")
    assert printed.splitlines() == [
        "DEMO MODEL again: the toy T5 stands in for t5-large (see this kernel's first banner), "
        "running on the CPU in float32."
    ]
