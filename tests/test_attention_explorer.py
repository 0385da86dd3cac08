"""attention_explorer and its siblings: the cross-attention capture, its plots and the ipywidgets explorer (lesson 02).

Run on the demo T5 (tiny_t5 fixture). The checks are structural, so they hold whatever the
demo model has learnt: shapes, softmax rows, the n x d output recomputed from the weights,
the attention implementation put back, readable labels, and an explorer that redraws.
"""

from __future__ import annotations

import ipywidgets as widgets
import pytest
import torch

from extras_and_licenses.attention_explorer import (
    AttentionExplorer,
    CrossAttentionOutputRecorder,
    capture_cross_attention,
    eager_attention,
    plot_attention_grid,
    plot_cross_attention,
    readable_token,
    render_png,
    word_spans,
)
from extras_and_licenses.forward_listener import ForwardListener

TEXT = "translate English to French: The black dog sees the red cat."
STEPS = 6


def _impl(model) -> str:
    return model.config._attn_implementation


def _hook_count(model) -> int:
    """Forward hooks the recorder put on the model. (transformers installs its own output-capturing
    hooks the first time attentions are asked for and keeps them: those are not counted.)"""
    return sum(
        "CrossAttentionOutputRecorder" in getattr(hook, "__qualname__", "")
        for module in model.modules()
        for hook in module._forward_hooks.values()
    )


@pytest.fixture()
def captured(tiny_t5):
    model, tokenizer = tiny_t5
    return model, tokenizer, capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=STEPS)


def test_weights_shape_and_rows_sum_to_one(captured):
    model, tokenizer, cap = captured
    cfg = model.config
    m = len(tokenizer(TEXT).input_ids)
    n = len(cap.generated_ids)
    assert 1 <= n <= STEPS
    assert cap.weights.shape == (n, cfg.num_decoder_layers, cfg.num_heads, m)  # (steps, layers, heads, src_len)
    assert cap.weights.dtype == torch.float32 and cap.weights.device.type == "cpu"
    torch.testing.assert_close(cap.weights.sum(-1), torch.ones(cap.weights.shape[:-1]))
    assert (cap.weights >= 0).all()
    assert cap.outputs.shape == (n, cfg.num_decoder_layers, cfg.d_model)  # (steps, layers, d)
    assert cap.encoder_states.shape == (m, cfg.d_model)
    assert len(cap.source_tokens) == m and len(cap.generated_tokens) == n
    assert cap.matrix().shape == (n, m) and cap.matrix(layer=0, head=1).shape == (n, m)
    torch.testing.assert_close(cap.matrix(layer=1, head=2), cap.weights[:, 1, 2])
    torch.testing.assert_close(cap.matrix(), cap.weights.mean(dim=(1, 2)))


def test_capture_matches_plain_generate(captured):
    model, tokenizer, cap = captured
    inputs = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        plain = model.generate(**inputs, max_new_tokens=STEPS, do_sample=False, num_beams=1)
    assert cap.generated_ids == plain[0, 1:].tolist()


def test_outputs_are_weights_times_values(captured):
    """The n x d output of each cross-attention layer is (n x m weights) @ (m x d_kv values) per head, then o."""
    model, _, cap = captured
    for layer, block in enumerate(model.decoder.block):
        attn = block.layer[1].EncDecAttention
        with torch.no_grad():
            values = attn.v(cap.encoder_states).view(cap.src_len, cap.n_heads, -1).transpose(0, 1)  # (heads, m, d_kv)
            per_head = torch.einsum("nhm,hmk->nhk", cap.weights[:, layer], values)  # (n, heads, d_kv)
            out = attn.o(per_head.reshape(cap.n_steps, -1))  # (n, d)
        torch.testing.assert_close(out, cap.outputs[:, layer], rtol=1e-4, atol=1e-5)


def test_implementation_restored_and_hooks_removed(captured):
    model, _, cap = captured
    assert cap.attn_implementation == "sdpa"
    assert _impl(model) == "sdpa"
    assert model.decoder.block[0].layer[1].EncDecAttention.config._attn_implementation == "sdpa"
    assert _hook_count(model) == 0


def test_eager_model_stays_eager(tiny_t5):
    model, tokenizer = tiny_t5
    model.set_attn_implementation("eager")
    cap = capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=2)
    assert cap.attn_implementation == "eager" and _impl(model) == "eager"


def test_implementation_restored_when_generation_raises(tiny_t5):
    model, tokenizer = tiny_t5

    def fail_on_first_decoder_call(module, args, kwargs):
        assert _impl(model) == "eager"  # switched while generating
        raise RuntimeError("simulated failure inside generate")

    handle = model.decoder.register_forward_pre_hook(fail_on_first_decoder_call, with_kwargs=True)
    try:
        with pytest.raises(RuntimeError, match="simulated failure"):
            capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=3)
    finally:
        handle.remove()
    assert _impl(model) == "sdpa"
    assert _hook_count(model) == 0


def test_sub_configs_switched_when_set_attn_implementation_stops_at_the_top(tiny_t5, monkeypatch):
    """transformers 5 before 5.24 switched only model.config, not the copies T5's stacks keep (seen on 5.17)."""
    model, tokenizer = tiny_t5
    monkeypatch.setattr(
        model, "set_attn_implementation", lambda impl: setattr(model.config, "_attn_implementation", impl)
    )
    cap = capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=2)
    assert cap.weights.shape[0] >= 1
    assert (
        _impl(model) == model.decoder.config._attn_implementation == model.encoder.config._attn_implementation == "sdpa"
    )


def test_eager_attention_context_restores_on_error(tiny_t5):
    model, _ = tiny_t5
    with pytest.raises(KeyboardInterrupt), eager_attention(model) as previous:
        assert previous == "sdpa" and _impl(model) == "eager"
        raise KeyboardInterrupt
    assert _impl(model) == "sdpa"


def test_recorder_lifetime(tiny_t5):
    model, _ = tiny_t5
    recorder = CrossAttentionOutputRecorder(model)
    assert "detached" in repr(recorder)
    recorder.attach()
    recorder.attach()  # re-attaching never stacks hooks
    assert _hook_count(model) == model.config.num_decoder_layers and "attached to 3" in repr(recorder)
    recorder.detach()
    recorder.detach()
    assert _hook_count(model) == 0


def test_the_weights_come_from_a_decoder_listener_that_is_gone_afterwards(tiny_t5, capsys):
    """One mechanism: the capture records through a quiet ForwardListener, prints nothing, and leaves none
    attached; it refuses to replace a listener the learner attached to the decoder."""
    model, tokenizer = tiny_t5
    with torch.no_grad():
        plain = model.generate(**tokenizer(TEXT, return_tensors="pt"), max_new_tokens=3, do_sample=False)
    seen = []
    with ForwardListener(model.decoder, name="decoder", quiet=True) as outer:
        with pytest.raises(RuntimeError, match="clear_all"):
            capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=3)
        seen.append(outer.attached)
    assert seen == [True] and _impl(model) == "sdpa"
    cap = capture_cross_attention(model, tokenizer, TEXT, max_new_tokens=3)
    assert capsys.readouterr().out == ""
    assert cap.generated_ids == plain[0, 1:].tolist() and cap.n_steps == len(cap.generated_ids)
    assert not ForwardListener.attached_listeners() and "forward" not in model.decoder.__dict__


def test_batch_of_one_accepted_larger_batches_refused(tiny_t5):
    model, tokenizer = tiny_t5
    cap = capture_cross_attention(model, tokenizer, [TEXT], max_new_tokens=2)
    assert cap.text == TEXT and cap.weights.shape[0] >= 1
    with pytest.raises(ValueError, match="batch size 1"):
        capture_cross_attention(model, tokenizer, [TEXT, TEXT], max_new_tokens=2)
    assert _impl(model) == "sdpa"


def test_labels_are_readable(captured):
    _, tokenizer, cap = captured
    for label in cap.source_labels + cap.generated_labels:
        assert label and "▁" not in label
    assert cap.source_labels[-1] == "</s>"
    assert readable_token("▁chien") == "chien"
    assert readable_token("ate") == "·ate"
    assert readable_token("▁") == "␣"
    assert readable_token(".") == "."
    assert readable_token("<pad>") == "<pad>"
    words = [w for w, _ in word_spans(["▁Le", "▁chi", "en", "▁noir", ".", "</s>"])]
    assert words == ["Le", "chien", "noir", ".", "</s>"]
    src_words = [w for w, _ in word_spans(cap.source_tokens)]
    assert src_words[-9:] == ["The", "black", "dog", "sees", "the", "red", "cat", ".", "</s>"]


def test_word_matrix_rows_sum_to_one(captured):
    _, _, cap = captured
    gen_words, src_words, matrix = cap.word_matrix()
    assert matrix.shape == (len(gen_words), len(src_words))
    torch.testing.assert_close(matrix.sum(-1), torch.ones(len(gen_words)))


def test_plots_have_token_labels(captured):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, cap = captured
    ax = plot_cross_attention(cap, layer=0, head=None, step=0)
    assert [t.get_text() for t in ax.get_xticklabels()] == cap.source_labels
    assert [t.get_text() for t in ax.get_yticklabels()] == cap.generated_labels
    gen_words, src_words, _ = cap.word_matrix()
    ax = plot_cross_attention(cap, words=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == src_words
    assert [t.get_text() for t in ax.get_yticklabels()] == gen_words
    assert "black" in src_words and "dog" in src_words
    fig = plot_attention_grid(cap, layer=1)
    assert sum(a.get_visible() for a in fig.axes) == cap.n_heads
    plt.close("all")


def test_explorer_contract(captured):
    _, _, cap = captured
    explorer = AttentionExplorer(cap)
    assert isinstance(explorer, widgets.Box) and "attention-explorer" in explorer._dom_classes

    def all_children(box):
        for child in box.children:
            yield child
            if isinstance(child, widgets.Box):
                yield from all_children(child)

    kids = list(all_children(explorer))
    sliders = [k for k in kids if isinstance(k, widgets.IntSlider) and "explorer-step" in k._dom_classes]
    images = [k for k in kids if isinstance(k, widgets.Image) and "explorer-heatmap" in k._dom_classes]
    dropdowns = [k for k in kids if isinstance(k, widgets.Dropdown)]
    assert len(sliders) == 1 and sliders[0].min == 0 and sliders[0].max == cap.n_steps - 1
    assert len(images) == 1 and images[0].format == "png"
    assert len(dropdowns) == 2 and all("average" in d.options[0] for d in dropdowns)
    assert explorer.png.startswith(b"\x89PNG") and explorer.png == bytes(images[0].value)


def test_explorer_redraws_on_every_control(captured):
    _, _, cap = captured
    assert cap.n_steps >= 2, "the demo model must generate at least two tokens for this test"
    explorer = AttentionExplorer(cap)
    first = explorer.png

    explorer.set_step(1)
    assert explorer.step == 1 and explorer.png != first
    after_step = explorer.png

    explorer.set_layer(0)
    assert explorer.png != after_step
    after_layer = explorer.png

    explorer.set_head(1)
    assert explorer.png != after_layer

    explorer.step_slider.value = 0  # the slider itself (what a learner drags) redraws too
    assert explorer.png == render_png(cap, layer=0, head=1, step=0)

    explorer.set_layer("average")
    explorer.set_head(None)
    assert explorer.png == first  # back where it started: the same picture, from the cache

    with pytest.raises(ValueError, match="step must be"):
        explorer.set_step(cap.n_steps)
    with pytest.raises(ValueError, match="layer must be"):
        explorer.set_layer(99)


def _synthetic_capture(layers=12, heads=12, src_len=20, steps=16):
    """A capture with t5-base's 12 layers x 12 heads and random softmax rows (for the plot layout only)."""
    from extras_and_licenses.attention_explorer import CrossAttentionCapture

    torch.manual_seed(0)
    src = [f"▁w{i}" for i in range(src_len - 1)] + ["</s>"]
    gen = [f"▁g{i}" for i in range(steps - 1)] + ["</s>"]
    weights = torch.rand(steps, layers, heads, src_len).softmax(-1)  # (n, layers, heads, m)
    return CrossAttentionCapture(
        "x",
        [0] * src_len,
        [0] * steps,
        src,
        gen,
        weights,
        torch.zeros(steps, layers, 8),
        torch.zeros(src_len, 8),
        "",
        "eager",
    )


@pytest.mark.parametrize("shape", ["demo", "t5-base"])
@pytest.mark.parametrize("per", ["layer", "head"])
def test_grids_fit_the_notebook_and_labels_stay_readable(captured, shape, per):
    """Shown in JupyterLab (about 968 px wide, matplotlib's 100 dpi) the grid is not shrunk much,
    its labels are at least 8 px tall after any shrinking, and neighbouring labels do not overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from extras_and_licenses.attention_explorer import NOTEBOOK_WIDTH_PX

    cap = captured[2] if shape == "demo" else _synthetic_capture()
    fig = plot_attention_grid(cap, layer=None if per == "layer" else 0)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    width_px = fig.get_tightbbox(renderer).width * fig.dpi  # what the inline backend saves (bbox_inches="tight")
    scale = min(1.0, NOTEBOOK_WIDTH_PX / width_px)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == (cap.n_layers if per == "layer" else cap.n_heads)
    if len(panels) == 12:
        assert len({round(ax.get_position().y0, 3) for ax in panels}) >= 3  # wrapped into rows
    labelled = 0
    for ax in panels:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            shown = [t for t in ticks if t.get_text()]
            labelled += len(shown)
            for t in shown:
                assert t.get_fontsize() * fig.dpi / 72 * scale >= 8, (t.get_text(), t.get_fontsize(), scale)
            boxes = [t.get_window_extent(renderer) for t in shown]
            for a, b in zip(boxes, boxes[1:]):
                assert not a.overlaps(b), f"labels {a} and {b} overlap"
    assert labelled >= cap.src_len + cap.n_steps
    plt.close("all")


def test_word_plot_outlines_the_named_cells_and_scales_rows(captured, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from extras_and_licenses.attention_explorer import OUTLINE

    _, _, cap = captured
    gen_words, src_words, matrix = cap.word_matrix()
    pairs = [(gen_words[0], "dog"), (gen_words[0], "black"), ("no-such-word", "dog")]
    ax = plot_cross_attention(cap, words=True, outline=pairs, per_row=True)
    frames = [p for p in ax.patches if matplotlib.colors.to_hex(p.get_edgecolor()) == OUTLINE]
    corners = sorted((round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in frames)
    assert corners == sorted([(src_words.index("dog"), 0), (src_words.index("black"), 0)])  # (column, row)
    assert "no-such-word->dog" in capsys.readouterr().out  # said, not raised
    shown = ax.images[0].get_array()
    assert float(abs(shown.max(axis=1) - 1).max()) < 1e-6  # every row's largest weight is the top colour
    assert "each row scaled" in ax.get_title()
    plt.close("all")
