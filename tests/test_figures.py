"""The lesson figures: tools/draw_figures.py draws every PNG the lessons show, cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "draw_figures.py"
FIGURES = ["text_to_text.png", "t5_architecture.png", "decoding_with_cache.png"]


@pytest.fixture(scope="module")
def draw_figures():
    spec = importlib.util.spec_from_file_location("draw_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drawn(draw_figures, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    written = draw_figures.main(out)
    return out, written


def test_main_writes_every_figure(drawn):
    out, written = drawn
    assert sorted(p.name for p in written) == sorted(FIGURES)
    assert all(p.parent == out for p in written)


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_a_readable_png(drawn, name):
    out, _ = drawn
    path = out / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG file"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    # Wide enough to stay sharp when a notebook shows it about 800 px wide.
    assert width >= 800 and height >= 400, f"{name} is only {width} x {height} px"
    # Not blank: a drawing has both ink and background.
    assert pixels.std() > 10, f"{name} looks blank (grey-level std {pixels.std():.1f})"
    assert (pixels < 100).mean() > 0.005, f"{name} has almost no dark pixels (text, lines)"


def test_output_is_deterministic(draw_figures, drawn, tmp_path):
    out, _ = drawn
    draw_figures.main(tmp_path)
    for name in FIGURES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), f"{name} differs between two runs"


def test_text_off_the_canvas_is_refused(draw_figures, tmp_path):
    fig, ax = draw_figures._canvas(4, 3)
    ax.text(3.9, 1.5, "this label is far too long to fit", ha="left")
    with pytest.raises(ValueError, match="runs off the canvas"):
        draw_figures._save(fig, tmp_path / "clipped.png")
    assert not (tmp_path / "clipped.png").exists()


def test_cache_figure_counts_as_the_listeners_log(draw_figures, tmp_path, monkeypatch):
    """Steps from 0 and cache lengths held when each call begins, as ForwardListener prints them."""
    texts = []
    save = draw_figures._save

    def keep_texts(fig, path):
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        return save(fig, path)

    monkeypatch.setattr(draw_figures, "_save", keep_texts)
    draw_figures.draw_decoding_with_cache(tmp_path)
    steps = [t for t in texts if t.startswith("step ")]
    assert steps == ["step 0", "step 1", "step 2", "step 3"]
    assert [t for t in texts if t.startswith("self-cache:")] == [f"self-cache: {k}" for k in range(4)]
    assert [t for t in texts if t.startswith("cross-cache:")] == ["cross-cache: 0"] + ["cross-cache: 9"] * 3
    calls = [t.split(":")[0].split(",")[0] for t in texts if t.startswith("call #")]
    assert calls == ["call #1", "call #2", "call #3", "call #4", "call #5"]
