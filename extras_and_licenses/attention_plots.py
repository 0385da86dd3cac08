"""Cross-attention drawn with matplotlib: heatmaps, small multiples, and the explorer's picture.

What it is for: a :class:`~extras_and_licenses.cross_attention.CrossAttentionCapture` holds
one translation's cross-attention weights; these functions draw them as generated tokens
(rows) against source tokens (columns), averaged over layers and heads or for one of each.

Used by lesson 02, through ``attention_explorer``::

    plot_cross_attention(capture)                  # averaged over layers and heads
    plot_cross_attention(capture, layer=2, head=5)
    plot_cross_attention(capture, words=True, outline=[("chien", "dog")])
    plot_attention_grid(capture)                   # one panel per layer

:func:`render_png` draws the explorer's picture on a private Agg canvas (no pyplot), so the
explorer can redraw it without leaving figures open.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .cross_attention import CrossAttentionCapture, pick

__all__ = [
    "GRID_CELL",
    "GRID_LABEL_SIZE",
    "GRID_WIDTH",
    "NOTEBOOK_WIDTH_PX",
    "OUTLINE",
    "grid_layout",
    "plot_attention_grid",
    "plot_cross_attention",
    "render_png",
]

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

    layer = pick(layer, capture.n_layers, "layer")
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
