"""Kernel-side checks of the AttentionExplorer widget, runnable under any ipywidgets (7.7 or 8).

Imported by tests/test_explorer_widget.py, and run as a script inside the Colab-like
environment (transformers 5.15, ipywidgets 7.7.1) by tests/test_colab_like.py:

    python tests/explorer_checks.py     # prints one line per check, exits non-zero on a failure

The capture is synthetic (random softmax rows with real shapes), so no model is needed.
"""

from __future__ import annotations

import asyncio
import base64
import sys

import torch


def synthetic_capture(steps: int = 9, layers: int = 2, heads: int = 4, src: int = 12, d: int = 16):
    from extras_and_licenses.attention_explorer import CrossAttentionCapture

    g = torch.Generator().manual_seed(0)
    weights = torch.softmax(torch.randn(steps, layers, heads, src, generator=g) * 3, dim=-1)
    source = [
        "▁translate",
        "▁English",
        "▁to",
        "▁French",
        ":",
        "▁The",
        "▁black",
        "▁dog",
        "▁sees",
        "▁the",
        "▁cat",
        "</s>",
    ]
    generated = ["▁Le", "▁chien", "▁noir", "▁voit", "▁le", "▁chat", ".", "▁!", "</s>"]
    return CrossAttentionCapture(
        text="translate English to French: The black dog sees the cat",
        source_ids=list(range(src)),
        generated_ids=list(range(steps)),
        source_tokens=(source * 2)[:src],
        generated_tokens=(generated * 2)[:steps],
        weights=weights,
        outputs=torch.randn(steps, layers, d, generator=g),
        encoder_states=torch.randn(src, d, generator=g),
        translation="Le chien noir voit le chat.",
        attn_implementation="sdpa",
    )


def check_builds_and_redraws() -> str:
    from extras_and_licenses.attention_explorer import AttentionExplorer, render_png

    cap = synthetic_capture()
    explorer = AttentionExplorer(cap)
    first = explorer.png
    assert first.startswith(b"\x89PNG"), "the explorer's picture is not a PNG"
    explorer.set_step(4)
    assert explorer.step == 4 and explorer.png != first, "set_step did not redraw the picture"
    explorer.set_layer(1)
    explorer.set_head(2)
    assert explorer.png == render_png(cap, layer=1, head=2, step=4), "the picture is not the current state's"
    explorer.step_slider.value = 0  # the slider itself, as a learner moves it (no event loop here: draws at once)
    assert explorer.png == render_png(cap, layer=1, head=2, step=0)
    return "the explorer builds and redraws for every control"


def check_slider_is_wide_enough() -> str:
    from extras_and_licenses.attention_explorer import AttentionExplorer

    explorer = AttentionExplorer(synthetic_capture(steps=9))
    width = int(explorer.step_slider.layout.width.removesuffix("px"))
    track = width - 90  # description and readout
    assert track >= 32 * 8, f"the step slider's track is {track} px for 9 steps"
    assert explorer.step_slider.style.description_width == "initial"
    return f"the step slider is {width} px wide for 9 steps ({track / 8:.0f} px per step)"


def check_bursts_draw_only_the_latest_state() -> str:
    """Twenty changes arriving together, as queued front-end messages do, draw once, the last state."""
    from extras_and_licenses.attention_explorer import AttentionExplorer, render_png

    cap = synthetic_capture()

    async def burst():
        explorer = AttentionExplorer(cap)
        before = explorer.redraws
        for k in [1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 5, 4, 3, 2, 3, 4, 5, 6, 7, 8]:
            explorer.step_slider.value = k  # in the event loop: coalesced, nothing drawn yet
        assert explorer.redraws == before, "a change in a burst was drawn at once"
        await asyncio.sleep(explorer.max_wait_s + 0.2)
        return explorer, explorer.redraws - before

    explorer, drawn = asyncio.run(burst())
    assert drawn == 1, f"a burst of 20 changes drew {drawn} pictures"
    assert bytes(explorer.heatmap.value) == render_png(cap, step=8), "the picture shown is not the latest state"
    return "a burst of 20 step changes drew 1 picture, of the latest step"


def check_python_side_reads_are_current() -> str:
    from extras_and_licenses.attention_explorer import AttentionExplorer, render_png

    cap = synthetic_capture()

    async def inside_loop():
        explorer = AttentionExplorer(cap)
        explorer.step_slider.value = 3  # pending
        return explorer.png  # reading the picture draws what is pending

    assert asyncio.run(inside_loop()) == render_png(cap, step=3)
    return "explorer.png draws a pending change before answering"


def check_idle_kernel_draws_the_other_steps_ahead() -> str:
    from extras_and_licenses.attention_explorer import AttentionExplorer

    cap = synthetic_capture()

    async def idle():
        explorer = AttentionExplorer(cap)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(explorer._pictures) < cap.n_steps and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return explorer

    explorer = asyncio.run(idle())
    assert sorted(explorer._pictures) == [(s, "average", "average") for s in range(cap.n_steps)]
    return f"while idle, the explorer drew the other {cap.n_steps - 1} steps ahead"


def check_still_picture_for_front_ends_without_widgets() -> str:
    from extras_and_licenses.attention_explorer import FALLBACK_NOTE, AttentionExplorer

    explorer = AttentionExplorer(synthetic_capture())
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle, "the widget view is missing"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id
    assert base64.b64decode(bundle["image/png"]) == explorer.png
    note = FALLBACK_NOTE.format(step=0)
    assert note in bundle["text/html"] and bundle["text/html"].count("<p>") == 1
    return "the display bundle carries the widget view and, for front ends without widgets, the still and its note"


CHECKS = [
    check_builds_and_redraws,
    check_slider_is_wide_enough,
    check_bursts_draw_only_the_latest_state,
    check_python_side_reads_are_current,
    check_idle_kernel_draws_the_other_steps_ahead,
    check_still_picture_for_front_ends_without_widgets,
]


def main() -> int:
    import ipywidgets

    print(f"ipywidgets {ipywidgets.__version__}")
    for check in CHECKS:
        print(f"ok: {check()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
