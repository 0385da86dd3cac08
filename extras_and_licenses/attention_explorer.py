"""Cross-attention up close: capture it while T5 generates, plot it, and explore it.

What it is for: in an encoder-decoder, every decoder block has a cross-attention layer whose
queries come from the tokens generated so far and whose keys and values come from the
encoder's output. This module records what those layers did during one ``generate()`` call
and draws it as a heatmap of generated tokens (rows) against source tokens (columns).

Used by lesson 02 (cross-attention up close)::

    capture = capture_cross_attention(model, tokenizer, "translate English to French: The black dog sees the red cat.")
    capture.weights.shape         # (steps, layers, heads, src_len): one softmax row per step, layer and head
    plot_cross_attention(capture)                  # averaged over layers and heads
    plot_cross_attention(capture, layer=2, head=5)
    display(AttentionExplorer(capture))             # slider for the step, dropdowns for layer and head

Why the capture switches to eager attention: transformers 5 runs attention through fused
kernels by default (``sdpa``, or flash attention). They compute softmax(QK^T)V in one go and
never materialise the attention weights, so ``generate(output_attentions=True)`` hands back
empty per-step tuples. The capture switches the model to the plain ``eager`` implementation,
which builds the weights as a tensor, and switches it back to whatever it was before, also
when generation raises. The learner's model is never left switched.

Alongside the weights the capture records each decoder block's cross-attention *output* (the
``EncDecAttention`` module's result, one vector of the model's width per step) with forward
hooks that are removed when the capture ends, and the encoder's final states, so the lesson
can check the shapes: an n x m weight matrix per head, times m x d values, gives n x d.

The explorer is an ``ipywidgets`` box (CSS class ``attention-explorer``) holding an
``IntSlider`` (class ``explorer-step``), two dropdowns (layer and head, each with an
``average`` option) and an ``ipywidgets.Image`` (class ``explorer-heatmap``) whose PNG is
re-rendered with matplotlib's Agg backend whenever a control changes (a burst of changes from
the browser draws only its latest state). It needs nothing but ipywidgets 8 in JupyterLab 4 (no
extension to install) or ipywidgets 7.7 on Colab; a front end without widgets shows a still.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import models

__all__ = [
    "AttentionExplorer",
    "CrossAttentionCapture",
    "CrossAttentionOutputRecorder",
    "capture_cross_attention",
    "eager_attention",
    "grid_layout",
    "plot_attention_grid",
    "plot_cross_attention",
    "readable_token",
    "render_png",
    "word_spans",
]

AVERAGE = "average"  # the dropdown value (and the ``layer``/``head`` spelling) for "average over all"


# --------------------------------------------------------------------------- token labels
def readable_token(piece: str) -> str:
    """A sentencepiece piece as an axis label.

    ``▁`` marks the start of a word. A piece that starts a word is shown without it
    (``▁chien`` -> ``chien``); a piece that continues a word gets a leading ``·``
    (``ate`` in ``▁tr an s l ate`` -> ``·ate``); a lone ``▁`` (a bare word start) is shown as
    ``␣``; punctuation and special tokens (``</s>``, ``<pad>``) are shown as they are.
    """
    if piece.startswith("<") and piece.endswith(">"):
        return piece
    if piece == "▁":
        return "␣"
    if piece.startswith("▁"):
        return piece[1:]
    if any(ch.isalnum() for ch in piece):
        return "·" + piece
    return piece


def word_spans(pieces: list[str]) -> list[tuple[str, list[int]]]:
    """Group pieces into words: ``[(word, [piece indices]), ...]``; special tokens stand alone.

    ``['▁Le', '▁chi', 'en', '▁noir']`` -> ``[('Le', [0]), ('chien', [1, 2]), ('noir', [3])]``.
    Punctuation glued to a word (``cat.``) is kept apart, so the word is ``cat``.
    """
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        special = piece.startswith("<") and piece.endswith(">")
        text = piece.lstrip("▁")
        punct = bool(text) and not any(ch.isalnum() for ch in text)
        if special or punct or piece.startswith("▁") or not words or words[-1][0].startswith("<"):
            words.append((piece if special else text, [i]))
        else:
            word, idx = words[-1]
            words[-1] = (word + text, idx + [i])
    return [(w or "␣", idx) for w, idx in words]  # a lone "▁" with nothing after it stays visible


# --------------------------------------------------------------------------- the capture
@dataclass
class CrossAttentionCapture:
    """What one greedy ``generate()`` call did in its cross-attention layers (batch of one).

    Step ``k`` is the decoder call that produced ``generated_tokens[k]``: its query sits at the
    position whose *input* was the previous token (``<pad>`` at step 0).
    """

    text: str
    source_ids: list[int]
    generated_ids: list[int]  # the new tokens, without the <pad> start token
    source_tokens: list[str]  # sentencepiece pieces of the source, `</s>` included (m of them)
    generated_tokens: list[str]  # pieces of the generated tokens (n of them)
    weights: torch.Tensor  # (n, layers, heads, m) float32 on the CPU; each row sums to 1
    outputs: torch.Tensor  # (n, layers, d) float32: each block's EncDecAttention output per step
    encoder_states: torch.Tensor  # (m, d) float32: the encoder's final states (keys/values come from these)
    translation: str  # the generated text, special tokens removed
    attn_implementation: str  # the model's implementation before (and after) the capture

    @property
    def n_steps(self) -> int:
        return self.weights.shape[0]

    @property
    def n_layers(self) -> int:
        return self.weights.shape[1]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[2]

    @property
    def src_len(self) -> int:
        return self.weights.shape[3]

    @property
    def source_labels(self) -> list[str]:
        return [readable_token(p) for p in self.source_tokens]

    @property
    def generated_labels(self) -> list[str]:
        return [readable_token(p) for p in self.generated_tokens]

    def matrix(self, layer: int | str | None = None, head: int | str | None = None) -> torch.Tensor:
        """The (n, m) weight matrix of one layer and head; ``None`` or ``"average"`` averages that axis."""
        w = self.weights  # (n, layers, heads, m)
        layer, head = _pick(layer, self.n_layers, "layer"), _pick(head, self.n_heads, "head")
        w = w.mean(dim=1) if layer is None else w[:, layer]  # (n, heads, m)
        return w.mean(dim=1) if head is None else w[:, head]  # (n, m)

    def word_matrix(self, layer=None, head=None) -> tuple[list[str], list[str], torch.Tensor]:
        """The same weights between whole words: ``(generated words, source words, (words_n, words_m))``.

        A word's pieces are summed over the source (the weight a row gives to the word) and
        averaged over the generated side (one row per word), so each row still sums to 1.
        """
        matrix = self.matrix(layer, head)  # (n, m)
        gen, src = word_spans(self.generated_tokens), word_spans(self.source_tokens)
        columns = torch.stack([matrix[:, idx].sum(dim=1) for _, idx in src], dim=1)  # (n, words_m)
        rows = torch.stack([columns[idx].mean(dim=0) for _, idx in gen])  # (words_n, words_m)
        return [w for w, _ in gen], [w for w, _ in src], rows

    def describe(self, layer=None, head=None) -> str:
        layer, head = _pick(layer, self.n_layers, "layer"), _pick(head, self.n_heads, "head")
        lay = f"layer {layer}" if layer is not None else f"average of {self.n_layers} layers"
        hd = f"head {head}" if head is not None else f"average of {self.n_heads} heads"
        return f"{lay}, {hd}"

    def __repr__(self) -> str:
        return (
            f"CrossAttentionCapture({self.n_steps} generated x {self.src_len} source tokens, "
            f"{self.n_layers} layers x {self.n_heads} heads, d={self.outputs.shape[-1]}; "
            f"translation={self.translation!r})"
        )


def _pick(value, size: int, what: str) -> int | None:
    if value is None or value == AVERAGE:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -size <= value < size:
        raise ValueError(f"{what} must be an integer from 0 to {size - 1}, or None / 'average'; got {value!r}.")
    return value % size


def _option(value, size: int, what: str) -> int | str:
    """The dropdown value for a layer or head: the index, or "average"."""
    picked = _pick(value, size, what)
    return AVERAGE if picked is None else picked


# --------------------------------------------------------------------------- eager attention
def _implementation(model) -> str:
    return getattr(model.config, "_attn_implementation", None) or "eager"


@contextmanager
def eager_attention(model) -> Iterator[str]:
    """Run the body with ``model`` on eager attention; put the previous implementation back after.

    Yields the previous implementation's name (``"sdpa"``, ``"eager"``, ...). The restore runs
    even when the body raises, so an interrupted capture never leaves the model switched. Every
    config inside the model is switched (:func:`extras_and_licenses.models.switch_attention`).
    """
    previous = _implementation(model)
    saved = models.switch_attention(model, "eager")
    try:
        yield previous
    finally:
        models.restore_attention(model, saved)


# --------------------------------------------------------------------------- output hooks
def _cross_attention_modules(model) -> list[torch.nn.Module]:
    decoder = model.get_decoder()
    try:
        return [block.layer[1].EncDecAttention for block in decoder.block]
    except (AttributeError, IndexError) as exc:
        raise TypeError(
            f"{type(model).__name__} does not look like a T5 model (no decoder.block[i].layer[1].EncDecAttention); "
            "the cross-attention capture works with T5 and Flan-T5."
        ) from exc


class CrossAttentionOutputRecorder:
    """Forward hooks on every decoder block's ``EncDecAttention`` that keep its output, per call.

    ``attach()`` / ``detach()`` or ``with CrossAttentionOutputRecorder(model) as rec: ...``;
    ``detach()`` is safe to call twice. ``rec.outputs[layer]`` is a list with one (batch, d)
    tensor per decoder call (the newest position only).
    """

    def __init__(self, model):
        self.modules = _cross_attention_modules(model)
        self.outputs: list[list[torch.Tensor]] = [[] for _ in self.modules]
        self._handles: list = []

    def attach(self) -> CrossAttentionOutputRecorder:
        self.detach()
        for layer, module in enumerate(self.modules):
            self._handles.append(module.register_forward_hook(self._hook(layer)))
        return self

    def _hook(self, layer: int):
        def keep_output(module, args, output):
            attn_out = output[0]  # (batch, new positions, d); T5 returns (out, position_bias, weights)
            self.outputs[layer].append(attn_out[:, -1].detach().float().cpu())  # (batch, d)

        return keep_output

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def __enter__(self) -> CrossAttentionOutputRecorder:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def __repr__(self) -> str:
        state = f"attached to {len(self.modules)} EncDecAttention modules" if self.attached else "detached"
        return f"CrossAttentionOutputRecorder({state}, {len(self.outputs[0])} calls recorded)"


# --------------------------------------------------------------------------- capturing
def capture_cross_attention(model, tokenizer, text: str, *, max_new_tokens: int = 32) -> CrossAttentionCapture:
    """Translate (or answer) ``text`` greedily and keep every cross-attention weight and output.

    One text at a time: the plots are about one source and one output. A list with more than
    one text is refused (loop over the texts instead). The model runs on eager attention during
    the call and is switched back afterwards.
    """
    if not isinstance(text, str):
        texts = list(text)
        if len(texts) != 1 or not isinstance(texts[0], str):
            raise ValueError(
                f"capture_cross_attention takes one text (batch size 1); got {len(texts)} items. "
                "Call it once per sentence, e.g. [capture_cross_attention(model, tokenizer, t) for t in texts]."
            )
        text = texts[0]
    inputs = tokenizer(text, return_tensors="pt").to(model.device)

    with eager_attention(model) as previous, CrossAttentionOutputRecorder(model) as recorder, torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            output_attentions=True,
            output_hidden_states=True,
            return_dict_in_generate=True,
        )

    # out.cross_attentions: one tuple per step, one tensor per layer, each (batch, heads, 1, src_len)
    steps = [torch.stack([layer[0, :, -1] for layer in step]) for step in out.cross_attentions]
    if not steps or steps[0].numel() == 0:
        raise RuntimeError("generate() returned no cross-attention weights; is the model really on eager attention?")
    weights = torch.stack(steps).float().cpu()  # (steps, layers, heads, src_len)
    outputs = torch.stack([torch.cat(layer) for layer in recorder.outputs], dim=1)  # (steps, layers, d)
    encoder_states = out.encoder_hidden_states[-1][0].float().cpu()  # (src_len, d)

    source_ids = inputs["input_ids"][0].tolist()
    generated_ids = out.sequences[0, 1:].tolist()  # drop the <pad> the decoder starts from
    return CrossAttentionCapture(
        text=text,
        source_ids=source_ids,
        generated_ids=generated_ids,
        source_tokens=tokenizer.convert_ids_to_tokens(source_ids),
        generated_tokens=tokenizer.convert_ids_to_tokens(generated_ids),
        weights=weights,
        outputs=outputs,
        encoder_states=encoder_states,
        translation=tokenizer.decode(generated_ids, skip_special_tokens=True),
        attn_implementation=previous,
    )


# --------------------------------------------------------------------------- plotting
CMAP = "viridis"
LABEL_SIZE = 8
# The grids are sized for JupyterLab's output area (about 968 px at its default width) at
# matplotlib's 100 dpi, so that they are shown unscaled and their 7-point labels stay about 10 px tall.
NOTEBOOK_WIDTH_PX = 968
GRID_WIDTH = 9.4  # inches, at most
GRID_LABEL_SIZE = 7  # points
GRID_CELL = 0.16  # inches per token in a grid panel: one label's height, with a little air
OUTLINE = "#ff2d2d"


def _heatmap(
    ax,
    capture: CrossAttentionCapture,
    layer,
    head,
    step=None,
    labels=(True, True),
    colorbar=True,
    size=LABEL_SIZE,
    words=False,
    per_row=False,
    outline=(),
):
    if words:
        row_labels, column_labels, matrix = capture.word_matrix(layer, head)  # (words_n, words_m)
    else:
        row_labels, column_labels = capture.generated_labels, capture.source_labels
        matrix = capture.matrix(layer, head)  # (n, m)
    matrix = matrix.numpy()
    if per_row:  # each row against its own largest weight
        matrix = matrix / matrix.max(axis=1, keepdims=True).clip(min=1e-6)
    rows, columns = matrix.shape
    image = ax.imshow(matrix, cmap=CMAP, vmin=0.0, vmax=max(float(matrix.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(columns))
    ax.set_yticks(range(rows))
    ax.set_xticklabels(column_labels if labels[0] else [], rotation=90, fontsize=size)
    ax.set_yticklabels(row_labels if labels[1] else [], fontsize=size)
    ax.tick_params(length=0)
    if step is not None:
        ax.add_patch(Rectangle((-0.5, step - 0.5), columns, 1, fill=False, edgecolor="red", linewidth=2))
        if labels[1]:
            ax.get_yticklabels()[step].set_color("red")
            ax.get_yticklabels()[step].set_fontweight("bold")
    for r, c in outline:  # (row, column) cells to frame
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=OUTLINE, linewidth=2.5, zorder=3))
    if colorbar:
        label = "weight / largest weight in its row" if per_row else "attention weight"
        ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label=label)
    return image


def _figsize(rows: int, columns: int, extra_height: float = 0.0) -> tuple[float, float]:
    return 2.5 + 0.28 * columns, 2.0 + 0.26 * rows + extra_height


def _outline_cells(pairs, row_labels: list[str], column_labels: list[str]) -> list[tuple[int, int]]:
    """(row, column) indices of the cells named by (generated, source) label pairs; missing ones are said."""
    cells, missing = [], []
    for generated, source in pairs:
        rows = [i for i, label in enumerate(row_labels) if label == generated]
        columns = [j for j, label in enumerate(column_labels) if label == source]
        if not rows or not columns:
            missing.append(f"{generated}->{source}")
        cells += [(i, j) for i in rows for j in columns]
    if missing:
        print(f"outline: not in this picture, so not outlined: {', '.join(missing)}")
    return cells


def plot_cross_attention(
    capture: CrossAttentionCapture,
    layer=None,
    head=None,
    *,
    ax=None,
    step=None,
    words: bool = False,
    outline=(),
    per_row: bool = False,
):
    """Heatmap of generated tokens (rows) against source tokens (columns); returns the axes.

    ``layer`` / ``head``: an index, or ``None`` to average over that axis. ``step`` outlines
    that row in red. ``words=True`` draws whole words instead of pieces (see
    :meth:`CrossAttentionCapture.word_matrix`; ``step`` then counts words). ``outline``: cells
    to frame, as (generated, source) label pairs, e.g. ``[("chien", "dog"), ("noir", "black")]``.
    ``per_row=True`` scales each row's colours to its own largest weight, so that a row's
    strongest source stands out even where other rows are brighter. Without ``ax`` a new
    pyplot figure is made.
    """
    if words:
        gen_labels, src_labels, _ = capture.word_matrix(layer, head)
    else:
        gen_labels, src_labels = capture.generated_labels, capture.source_labels
    rows, columns = len(gen_labels), len(src_labels)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=_figsize(rows, columns), layout="constrained")
    cells = _outline_cells(outline, gen_labels, src_labels)
    _heatmap(ax, capture, layer, head, step, words=words, per_row=per_row, outline=cells)
    unit = "words" if words else "tokens"
    ax.set_xlabel(f"source {unit} (keys and values, from the encoder)")
    ax.set_ylabel(f"generated {unit} (queries)")
    scaled = ", each row scaled to its largest weight" if per_row else ""
    ax.set_title(f"Cross-attention: {capture.describe(layer, head)}{scaled}", fontsize=10)
    return ax


def grid_layout(count: int, src_len: int, n_steps: int, columns: int = 4) -> tuple[int, int, tuple[float, float]]:
    """(rows, columns, figsize in inches) for ``count`` panels of n_steps x src_len cells.

    As many columns (at most ``columns``) as fit in :data:`GRID_WIDTH`; the panels wrap into rows."""
    label_w = 1.1  # the left column's row labels
    panel_w = GRID_CELL * src_len + 0.25
    fit = max(1, int((GRID_WIDTH - label_w) // panel_w))
    columns = max(1, min(columns, count, fit))
    rows = -(-count // columns)
    panel_h = GRID_CELL * n_steps + 0.4  # and its title
    width = min(GRID_WIDTH, label_w + panel_w * columns + 0.2)
    return rows, columns, (width, panel_h * rows + 1.3)  # + the bottom row's labels and the title


def plot_attention_grid(capture: CrossAttentionCapture, layer=None, *, columns: int = 4):
    """Small multiples: one panel per layer (heads averaged) or, given ``layer``, one per head.

    Returns the pyplot figure. The panels wrap into rows so that the figure fits a notebook's
    width unscaled (:func:`grid_layout`). Tick labels are drawn on the left column and bottom row.
    """
    import matplotlib.pyplot as plt

    layer = _pick(layer, capture.n_layers, "layer")
    count = capture.n_layers if layer is None else capture.n_heads
    rows, columns, figsize = grid_layout(count, capture.src_len, capture.n_steps, columns)
    fig, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i >= count:
            ax.set_visible(False)
            continue
        c = i % columns
        last_row = i + columns >= count
        lay, hd = (i, None) if layer is None else (layer, i)
        _heatmap(ax, capture, lay, hd, labels=(last_row, c == 0), colorbar=False, size=GRID_LABEL_SIZE)
        ax.set_title(f"layer {i}" if layer is None else f"head {i}", fontsize=8)
    what = "each layer, heads averaged" if layer is None else f"each head of layer {layer}"
    fig.suptitle(
        f"Cross-attention of {what}\nrows: generated tokens; columns: source tokens; colours scaled per panel",
        fontsize=9,
    )
    return fig


def render_png(capture: CrossAttentionCapture, layer=None, head=None, step: int = 0, dpi: int = 90) -> bytes:
    """The explorer's picture as PNG bytes: the heatmap with ``step``'s row outlined, and below it
    that step's weights over the source tokens as bars. Drawn on a private Agg canvas (no pyplot,
    nothing left open)."""
    if not 0 <= step < capture.n_steps:
        raise ValueError(f"step must be from 0 to {capture.n_steps - 1}, got {step}.")
    w, h = _figsize(capture.n_steps, capture.src_len, extra_height=1.8)
    fig = Figure(figsize=(w, h), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=[max(capture.n_steps, 4), 4], sharex=True)
    _heatmap(top, capture, layer, head, step, labels=(False, True), colorbar=False)
    top.set_ylabel("generated tokens", fontsize=9)
    previous = "<pad>" if step == 0 else capture.generated_labels[step - 1]
    top.set_title(
        f"{capture.describe(layer, head)}\nstep {step}: fed {previous!r}, the decoder produced "
        f"{capture.generated_labels[step]!r}",
        fontsize=9,
    )

    row = capture.matrix(layer, head)[step].numpy()  # (m,)
    colors = ["tab:red" if i == row.argmax() else "tab:blue" for i in range(capture.src_len)]
    bottom.bar(range(capture.src_len), row, color=colors)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("weight", fontsize=9)
    bottom.set_xticks(range(capture.src_len))
    bottom.set_xticklabels(capture.source_labels, rotation=90, fontsize=LABEL_SIZE)
    bottom.tick_params(axis="x", length=0)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --------------------------------------------------------------------------- the explorer
IPYWIDGETS_MAJOR = int(widgets.__version__.split(".")[0])
FALLBACK_NOTE = (
    "This front end cannot show interactive widgets, so here is a still picture of the explorer "
    "(step {step}); open the lesson in JupyterLab 4 or Colab to step through it."
)


def _running_loop():
    """The event loop running this thread (the kernel's, inside Jupyter), or None in plain Python."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _slider_width(n_steps: int) -> str:
    """Room for every step: about 32 px of track per step (at least 320 px), plus label and readout."""
    return f"{90 + max(320, 32 * (n_steps - 1))}px"


class AttentionExplorer(widgets.VBox):
    """Step through the generated tokens and pick a layer and a head; the heatmap follows.

    An ``ipywidgets.VBox`` (CSS class ``attention-explorer``): a step slider (``explorer-step``),
    layer and head dropdowns (``explorer-layer``, ``explorer-head``; both offer ``average``), a
    caption, and the picture (``explorer-heatmap``, an ``ipywidgets.Image`` in PNG). Show it with
    ``display(explorer)``. From Python: ``set_step``, ``set_layer``, ``set_head``; ``png`` is the
    picture shown now. Pictures already drawn are kept (up to ``cache_size``), so going back is instant.

    Works with ipywidgets 7.7 (Colab) and 8 (JupyterLab 4). Changes made in the browser are
    coalesced: a burst of them (quick key presses, a drag) draws only the latest state once
    the burst settles (``settle_s``), and at least every ``max_wait_s`` while it lasts, instead
    of drawing every stale state in turn; while the kernel is idle, the other steps of the layer
    and head shown are drawn ahead. Changes made from Python draw at once. Where the
    front end cannot show widgets (a static viewer, a front end without the widget manager),
    the output falls back to the picture itself with a one-line note.
    """

    def __init__(
        self,
        capture: CrossAttentionCapture,
        *,
        step: int = 0,
        layer=None,
        head=None,
        cache_size: int = 256,
        settle_s: float = 0.12,
        max_wait_s: float = 0.25,
    ):
        w = widgets
        if capture.n_steps < 1:
            raise ValueError("The capture holds no generated tokens: there is nothing to explore.")
        step_slider = w.IntSlider(
            value=step,
            min=0,
            max=capture.n_steps - 1,
            description="step",
            continuous_update=True,
            style={"description_width": "initial"},
            layout=w.Layout(width=_slider_width(capture.n_steps), max_width="100%"),
        )
        layer_options = [(AVERAGE, AVERAGE)] + [(str(i), i) for i in range(capture.n_layers)]
        head_options = [(AVERAGE, AVERAGE)] + [(str(i), i) for i in range(capture.n_heads)]
        layer_dropdown = w.Dropdown(
            options=layer_options, value=_option(layer, capture.n_layers, "layer"), description="layer"
        )
        head_dropdown = w.Dropdown(
            options=head_options, value=_option(head, capture.n_heads, "head"), description="head"
        )
        step_slider.add_class("explorer-step")
        for widget, css in ((layer_dropdown, "explorer-layer"), (head_dropdown, "explorer-head")):
            widget.add_class(css)
            widget.layout.width = "200px"
        caption = w.HTML()
        caption.add_class("explorer-caption")
        heatmap = w.Image(format="png")
        heatmap.add_class("explorer-heatmap")
        super().__init__([step_slider, w.HBox([layer_dropdown, head_dropdown]), caption, heatmap])
        self.add_class("attention-explorer")

        self.capture = capture
        self.step_slider, self.layer_dropdown, self.head_dropdown = step_slider, layer_dropdown, head_dropdown
        self.caption, self.heatmap = caption, heatmap
        self.cache_size = cache_size
        self.settle_s, self.max_wait_s = settle_s, max_wait_s
        self.redraws = 0  # pictures put on screen (drawn or from the cache): one per settled state
        self._pictures: OrderedDict[tuple, bytes] = OrderedDict()
        self._timer = None  # the pending coalesced redraw, if any
        self._burst_start: float | None = None  # when the first change not yet drawn arrived
        self._prefetching = False  # a prefetch of the other steps' pictures is scheduled
        for widget in (step_slider, layer_dropdown, head_dropdown):
            widget.observe(self._on_change, names="value")
        self.redraw()

    # ------------------------------------------------ Python-side controls (each draws at once)
    @property
    def step(self) -> int:
        return self.step_slider.value

    def set_step(self, step: int) -> None:
        if not 0 <= step < self.capture.n_steps:
            raise ValueError(f"step must be from 0 to {self.capture.n_steps - 1}, got {step}.")
        self.step_slider.value = step
        self.flush()

    def set_layer(self, layer) -> None:
        """An index, or None / "average"."""
        self.layer_dropdown.value = _option(layer, self.capture.n_layers, "layer")
        self.flush()

    def set_head(self, head) -> None:
        """An index, or None / "average"."""
        self.head_dropdown.value = _option(head, self.capture.n_heads, "head")
        self.flush()

    @property
    def png(self) -> bytes:
        """The PNG bytes shown now (the Image widget keeps them as a memoryview); draws what is pending first."""
        self.flush()
        return bytes(self.heatmap.value)

    # ------------------------------------------------ drawing
    def _state(self) -> tuple:
        return (self.step_slider.value, self.layer_dropdown.value, self.head_dropdown.value)

    def _on_change(self, change) -> None:
        loop = _running_loop()
        if loop is None:  # plain Python: nothing queues up, draw now
            self.redraw()
            return
        now = time.monotonic()
        if self._burst_start is None:
            self._burst_start = now
        if self._timer is not None:
            self._timer.cancel()
        # wait for the burst to settle, but never hold a changing picture back longer than max_wait_s
        delay = min(self.settle_s, max(0.0, self._burst_start + self.max_wait_s - now))
        self._timer = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Draw the latest state now if a coalesced redraw is pending."""
        if self._timer is None and self._burst_start is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._burst_start = None, None
        self.redraw()

    def redraw(self) -> None:
        """Put the picture of the current step, layer and head on screen (from the cache when drawn before)."""
        key = self._state()
        picture = self._pictures.get(key)
        if picture is None:
            picture = render_png(self.capture, key[1], key[2], key[0])
            self._pictures[key] = picture
            while len(self._pictures) > self.cache_size:
                self._pictures.popitem(last=False)
        else:
            self._pictures.move_to_end(key)
        if self.heatmap.value != picture:
            self.heatmap.value = picture
        self.caption.value = self._caption_html(key[0])
        self.redraws += 1
        self._schedule_prefetch()

    def _schedule_prefetch(self) -> None:
        """In the kernel, while idle, draw the other steps of this layer and head ahead, nearest first,
        one picture per turn of the event loop, so that stepping through them is instant."""
        loop = _running_loop()
        if loop is not None and not self._prefetching:
            self._prefetching = True
            loop.call_later(self.settle_s, self._prefetch_one)

    def _prefetch_one(self) -> None:
        self._prefetching = False
        if self._timer is not None:  # a change is pending: it draws first, and schedules this again
            return
        step, layer, head = self._state()
        missing = [s for s in range(self.capture.n_steps) if (s, layer, head) not in self._pictures]
        if not missing or len(self._pictures) >= self.cache_size:
            return
        nearest = min(missing, key=lambda s: (abs(s - step), s))
        self._pictures[(nearest, layer, head)] = render_png(self.capture, layer, head, nearest)
        self._schedule_prefetch()

    def _caption_html(self, step: int) -> str:
        shown = []
        for i, label in enumerate(self.capture.generated_labels):
            text = html.escape(label)
            shown.append(f"<b style='color:#c00'>[{text}]</b>" if i == step else text)
        return f"<span style='font-family:monospace'>generated: {' '.join(shown)}</span>"

    # ------------------------------------------------ display, with a still picture for front ends without widgets
    def _still_bundle(self) -> dict:
        """The picture and a one-line note, for front ends that cannot render the widget view."""
        png = self.png
        note = FALLBACK_NOTE.format(step=self.step)
        encoded = base64.b64encode(png).decode("ascii")
        return {
            "text/html": (
                f"<div class='attention-explorer-still'><p><i>{html.escape(note)}</i></p>"
                f"<img src='data:image/png;base64,{encoded}' alt='cross-attention heatmap, step {self.step}'/></div>"
            ),
            "image/png": encoded,
        }

    def _repr_mimebundle_(self, **kwargs):
        """ipywidgets 8: the widget view first; a front end without the widget manager takes the still."""
        data = super()._repr_mimebundle_(**kwargs) if IPYWIDGETS_MAJOR >= 8 else None
        if data is None and IPYWIDGETS_MAJOR >= 8:
            return None
        if data is None:
            data = {"text/plain": repr(self)[:110]}
            data["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.model_id,
            }
        data.update(self._still_bundle())
        return data

    if IPYWIDGETS_MAJOR < 8:

        def _ipython_display_(self, **kwargs):
            """ipywidgets 7 displays widgets through this hook: the same bundle, then the displayed callbacks."""
            from IPython.display import display

            display(self._repr_mimebundle_(), raw=True)
            self._handle_displayed(**kwargs)

    def __repr__(self) -> str:
        return (
            f"AttentionExplorer(step={self.step}, layer={self.layer_dropdown.value}, head={self.head_dropdown.value}; "
            f"{self.capture!r})"
        )
