"""Draw the lesson figures into ``imgs/`` as PNG, with matplotlib only.

    python tools/draw_figures.py              # writes imgs/*.png
    python tools/draw_figures.py --out /tmp/figs

Every figure is drawn here from patches, arrows and text; nothing is copied from a paper
or a website. The output is deterministic: the same matplotlib gives the same bytes.

Figures and the lessons that use them:

- ``text_to_text.png`` (Lesson 01, section 5 "Experimenting with T5"): four inputs, each
  with its task prefix, flow into one T5 and come out as text; colours pair each input
  with its output.
- ``t5_architecture.png`` (Lesson 01, section 3 "Interpreting the T5 architecture"): the
  encoder and decoder stacks, the encoder output feeding the cross-attention of every
  decoder block, the relative position bias in block 0 of each stack, the tied embedding
  and LM head, and the n x m shape story of cross-attention.
- ``decoding_with_cache.png`` (Lesson 01, section 4 "Seeing generation happen"; also
  Lesson 03): the encoder runs once, then one decoder call per generated token, with the
  self-attention cache growing by one position per step and the cross-attention cache
  fixed at m positions. It counts as ``ForwardListener``'s log does: calls from #1, decoder
  steps from 0, and cache lengths as held when a call begins.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "imgs"
DPI = 150

# Okabe-Ito colours (readable with the common colour-vision deficiencies), with light tints.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
)
INK = "#222222"
GREY = "#666666"
LIGHT_GREY = "#EEEEEE"
MONO = "DejaVu Sans Mono"


def _tint(color: str, amount: float) -> tuple[float, float, float]:
    """Mix ``color`` with white: ``amount`` 0 is white, 1 is the colour itself."""
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return tuple(1 - amount * (1 - c) for c in rgb)


def _canvas(width: float, height: float) -> tuple[Figure, object]:
    """A figure whose data coordinates are inches, origin bottom left, no axes drawn."""
    fig = Figure(figsize=(width, height), facecolor="white")
    FigureCanvasAgg(fig)  # no pyplot: nothing global is touched
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG after checking that no text runs off the canvas."""
    fig.set_dpi(DPI)
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    for ax in fig.axes:
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            inside = box.x0 >= canvas.x0 and box.y0 >= canvas.y0 and box.x1 <= canvas.x1 and box.y1 <= canvas.y1
            if text.get_text() and not inside:
                raise ValueError(
                    f"{path.name}: the text {text.get_text()!r} runs off the canvas; move it or widen the figure"
                )
    # No "Software" key: the bytes then depend only on what was drawn.
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    return path


def _box(ax, x, y, w, h, *, fc, ec, lw=1.4, radius=0.08, ls="-", z=2):
    """A rounded rectangle with its lower-left corner at (x, y)."""
    patch = FancyBboxPatch(
        (x, y),
        w,
        h,
        boxstyle=f"round,pad=0,rounding_size={radius}",
        facecolor=fc,
        edgecolor=ec,
        linewidth=lw,
        linestyle=ls,
        zorder=z,
    )
    ax.add_patch(patch)
    return patch


def _text(ax, x, y, s, *, size=11, color=INK, ha="center", va="center", z=5, **kw):
    return ax.text(x, y, s, fontsize=size, color=color, ha=ha, va=va, zorder=z, **kw)


def _arrow(ax, start, end, *, color=INK, lw=1.6, head=14, ls="-", conn="arc3", z=3, style="-|>"):
    arrow = FancyArrowPatch(
        start,
        end,
        arrowstyle=style,
        mutation_scale=head,
        color=color,
        linewidth=lw,
        linestyle=ls,
        connectionstyle=conn,
        shrinkA=0,
        shrinkB=0,
        zorder=z,
    )
    ax.add_patch(arrow)
    return arrow


def _line(ax, xs, ys, *, color=INK, lw=1.6, ls="-", z=3):
    ax.plot(xs, ys, color=color, linewidth=lw, linestyle=ls, zorder=z, solid_capstyle="butt")


def _rich_line(ax, x, y, segments, *, size=12):
    """Left-aligned text made of (string, colour, bold) segments, laid end to end."""
    first, *rest = segments
    s, color, bold = first
    text = ax.text(x, y, s, fontsize=size, color=color, fontweight="bold" if bold else "normal", va="center", zorder=5)
    for s, color, bold in rest:
        text = ax.annotate(
            s,
            xy=(1, 0),
            xycoords=text,
            va="bottom",
            fontsize=size,
            color=color,
            fontweight="bold" if bold else "normal",
            zorder=5,
        )
    return text


def _chip_width(s: str, size: float) -> float:
    """Width in inches of a token chip in the monospace font (0.6 em per character)."""
    return len(s) * 0.6 * size / 72 + 0.16


def _chips(ax, x_center, y, tokens, *, size=10, fc="white", ec=GREY, gap=0.06, h=0.3, highlight=()):
    """A centred row of token chips; returns the x centre of each chip."""
    widths = [_chip_width(t, size) for t in tokens]
    total = sum(widths) + gap * (len(tokens) - 1)
    x = x_center - total / 2
    centres = []
    for i, (t, w) in enumerate(zip(tokens, widths)):
        face, edge = highlight[i] if i < len(highlight) and highlight[i] else (fc, ec)
        _box(ax, x, y - h / 2, w, h, fc=face, ec=edge, lw=1.1, radius=0.05)
        _text(ax, x + w / 2, y, t, size=size, family=MONO)
        centres.append(x + w / 2)
        x += w + gap
    return centres


# --------------------------------------------------------------------------------------
# Figure 1: text to text
# --------------------------------------------------------------------------------------

TEXT_TO_TEXT_TASKS = [
    {
        "task": "Translation",
        "color": BLUE,
        "lines": [[("translate English to German:", True), (" That is good.", False)]],
        "output": ["Das ist gut."],
    },
    {
        "task": "Grammatical acceptability (CoLA)",
        "color": VERMILLION,
        "lines": [[("cola sentence:", True), (" The course is jumping well.", False)]],
        "output": ["unacceptable"],
    },
    {
        "task": "Sentence similarity, 0 to 5 (STS-B)",
        "color": GREEN,
        "lines": [
            [("stsb sentence1:", True), (" A cat sits on the mat.", False)],
            [("sentence2:", True), (" A cat is sitting on a rug.", False)],
        ],
        "output": ["3.8"],
    },
    {
        "task": "Summarization",
        "color": "#B8588E",
        "lines": [
            [("summarize:", True), (" Heavy rain flooded the town on Monday.", False)],
            [("Schools closed early and trains ran hours late.", False)],
        ],
        "output": ["Floods closed schools", "and delayed trains."],
    },
]


def draw_text_to_text(out_dir: Path) -> Path:
    """Several prefixed inputs -> one T5 -> text outputs, colour-coded by task."""
    width, height = 12.0, 6.9
    fig, ax = _canvas(width, height)
    _text(ax, width / 2, height - 0.38, "Text-to-text: every task is text in, text out", size=17, weight="bold")

    in_x, in_w = 0.3, 5.4
    t5_x, t5_w = 6.55, 1.3
    out_x, out_w = 8.75, 2.95
    box_h, pitch = 0.86, 1.26
    top = height - 1.75

    centres = [top - i * pitch for i in range(len(TEXT_TO_TEXT_TASKS))]
    t5_bottom = centres[-1] - box_h / 2 - 0.05
    t5_top = centres[0] + box_h / 2 + 0.05
    _box(ax, t5_x, t5_bottom, t5_w, t5_top - t5_bottom, fc="#37474F", ec="#263238", lw=2, radius=0.15)
    _text(ax, t5_x + t5_w / 2, (t5_top + t5_bottom) / 2 + 0.35, "T5", size=30, color="white", weight="bold")
    _text(
        ax,
        t5_x + t5_w / 2,
        (t5_top + t5_bottom) / 2 - 0.45,
        "one model\none set of\nweights\none loss",
        size=11.5,
        color="white",
        linespacing=1.35,
    )

    for task, yc in zip(TEXT_TO_TEXT_TASKS, centres):
        color = task["color"]
        # Task name above the input box.
        _text(ax, in_x + 0.02, yc + box_h / 2 + 0.14, task["task"], size=11.5, color=color, ha="left", weight="bold")
        _box(ax, in_x, yc - box_h / 2, in_w, box_h, fc=_tint(color, 0.12), ec=color, lw=1.8)
        lines = task["lines"]
        spacing = 0.3
        y0 = yc + spacing * (len(lines) - 1) / 2
        for j, line in enumerate(lines):
            segments = [(s, color if bold else INK, bold) for s, bold in line]
            _rich_line(ax, in_x + 0.15, y0 - j * spacing, segments, size=12.5)
        _arrow(ax, (in_x + in_w + 0.05, yc), (t5_x - 0.05, yc), color=color, lw=2.2, head=18)

        _arrow(ax, (t5_x + t5_w + 0.05, yc), (out_x - 0.05, yc), color=color, lw=2.2, head=18)
        _box(ax, out_x, yc - box_h / 2, out_w, box_h, fc=_tint(color, 0.12), ec=color, lw=1.8)
        _text(ax, out_x + out_w / 2, yc, "\n".join(task["output"]), size=13, linespacing=1.3)

    _text(ax, in_x + in_w / 2, top + box_h / 2 + 0.52, "input text (prefix in bold)", size=12, color=GREY)
    _text(ax, out_x + out_w / 2, top + box_h / 2 + 0.52, "output text", size=12, color=GREY)
    _text(
        ax,
        width / 2,
        0.3,
        "The prefix selects the task. Labels and scores come out as text too: one model, one training objective.",
        size=12,
        color=GREY,
    )
    return _save(fig, out_dir / "text_to_text.png")


# --------------------------------------------------------------------------------------
# Figure 2: the T5 architecture
# --------------------------------------------------------------------------------------

SELF_ATTN = (_tint(BLUE, 0.18), BLUE)
CROSS_ATTN = (_tint(ORANGE, 0.25), "#B87F00")
FEED_FWD = (_tint(GREEN, 0.18), GREEN)
NORM = (LIGHT_GREY, "#999999")
BIAS = (_tint(PURPLE, 0.25), "#A0527F")
EMBED = (_tint(YELLOW, 0.45), "#A89B00")
BUS = "#C77800"


def _sublayer(ax, cx, y, w, label, colors, *, lane_x, query_label=""):
    """Pre-norm sublayer with residual, drawn bottom to top: RMSNorm -> op -> (+).

    Returns the op box as (x, y, w, h) and the y just above the (+).
    """
    stub, norm_h, gap_in, op_h, gap_out, r = 0.1, 0.2, 0.18, 0.38, 0.08, 0.09
    branch_y = y + stub / 2
    _line(ax, [cx, cx], [y, y + stub])
    ax.add_patch(Circle((cx, branch_y), 0.028, color=INK, zorder=4))
    yn = y + stub
    _box(ax, cx - w / 2, yn, w, norm_h, fc=NORM[0], ec=NORM[1], lw=1, radius=0.04)
    _text(ax, cx, yn + norm_h / 2, "RMSNorm", size=8.5, color="#444444")
    yo = yn + norm_h + gap_in
    _arrow(ax, (cx, yn + norm_h), (cx, yo), lw=1.2, head=9)
    if query_label:
        _text(ax, cx + 0.07, yo - gap_in / 2, query_label, size=9, ha="left", weight="bold")
    _box(ax, cx - w / 2, yo, w, op_h, fc=colors[0], ec=colors[1], lw=1.5, radius=0.05)
    _text(ax, cx, yo + op_h / 2, label, size=10.5)
    yp = yo + op_h + gap_out + r
    _arrow(ax, (cx, yo + op_h), (cx, yp - r), lw=1.2, head=8)
    ax.add_patch(Circle((cx, yp), r, facecolor="white", edgecolor=INK, lw=1.2, zorder=4))
    _text(ax, cx, yp - 0.005, "+", size=10, weight="bold")
    # the residual: from the branch point, up the right-hand lane, into the (+)
    _line(ax, [cx, lane_x, lane_x], [branch_y, branch_y, yp], lw=1.1, color="#555555")
    _arrow(ax, (lane_x, yp), (cx + r, yp), lw=1.1, head=8, color="#555555")
    return (cx - w / 2, yo, w, op_h), yp + r


def _compact_block(ax, x, y, w, name, rows):
    """A block drawn as its name plus one thin row per sublayer (bottom to top).

    Returns ({row label: (x, y, w, h)}, top y).
    """
    row_h, row_gap, pad = 0.27, 0.06, 0.09
    h = pad * 2 + row_h * len(rows) + row_gap * (len(rows) - 1)
    _box(ax, x, y, w, h, fc="white", ec="#888888", lw=1.3, radius=0.1)
    rx, rw = x + 0.92, w - 1.02
    boxes = {}
    for i, (label, colors) in enumerate(rows):
        ry = y + pad + i * (row_h + row_gap)
        _box(ax, rx, ry, rw, row_h, fc=colors[0], ec=colors[1], lw=1.1, radius=0.04)
        _text(ax, rx + rw / 2, ry + row_h / 2, label, size=9.5)
        boxes[label] = (rx, ry, rw, row_h)
    _text(ax, x + 0.1, y + h - pad - row_h / 2, name, size=9.5, ha="left", weight="bold", color="#444444")
    return boxes, y + h


def _stack(ax, x, w, y, *, sublayers, rows):
    """One stack: block 0 in full, then blocks 1 and N-1 compact, then the final RMSNorm.

    Returns a dict of the drawn pieces' positions.
    """
    op_w = 2.3
    cx = x + 0.15 + op_w / 2
    lane = x + w - 0.2
    drawn = {"cx": cx, "op_w": op_w}
    y0 = y
    ops = []
    for label, colors, qlabel in sublayers:
        op, y = _sublayer(ax, cx, y, op_w, label, colors, lane_x=lane, query_label=qlabel)
        ops.append(op)
    top = y + 0.3
    _box(ax, x, y0 - 0.08, w, top - y0 + 0.08, fc="none", ec="#888888", lw=1.3, radius=0.1, z=1)
    _text(ax, x + 0.1, top - 0.17, "block 0", size=9.5, ha="left", weight="bold", color="#444444")
    drawn["block0"] = ops

    y = top + 0.28
    _arrow(ax, (cx, top), (cx, y), lw=1.3, head=10)
    drawn["block1"], top = _compact_block(ax, x, y, w, "block 1", rows)
    drawn["dots_y"] = top + 0.27
    _text(ax, cx, drawn["dots_y"], "⋮", size=16, color="#555555")
    drawn["blockN"], top = _compact_block(ax, x, top + 0.58, w, "block N−1", rows)

    y = top + 0.28
    _arrow(ax, (cx, top), (cx, y), lw=1.3, head=10)
    _box(ax, cx - op_w / 2, y, op_w, 0.26, fc=NORM[0], ec=NORM[1], lw=1, radius=0.04)
    _text(ax, cx, y + 0.13, "final RMSNorm", size=9)
    drawn["top"] = y + 0.26
    return drawn


def _position_bias(ax, chip_x, self_attn_box, shared_rows, *, side):
    """The relative-position-bias chip beside block 0's self-attention, shared upwards."""
    w, h = 1.0, 0.72
    ox, oy, ow, oh = self_attn_box
    mid = oy + oh / 2
    chip_y = oy - 0.75
    _box(ax, chip_x, chip_y, w, h, fc=BIAS[0], ec=BIAS[1], lw=1.5)
    _text(ax, chip_x + w / 2, chip_y + h / 2, "relative\nposition bias\n(block 0)", size=9, linespacing=1.15)
    # solid arrow into block 0's self-attention
    if side == "left":
        start, end, rad = (chip_x + w, chip_y + h * 0.75), (ox, mid), 0.3
        lane = chip_x + 0.25
    else:
        start, end, rad = (chip_x, chip_y + h * 0.75), (ox + ow, mid), -0.3
        lane = chip_x + w - 0.25
    _arrow(ax, start, end, color=BIAS[1], lw=1.5, head=11, conn=f"arc3,rad={rad}")
    # dashed: the same table, used by the self-attention of every later block
    dash = (0, (3, 2))
    top_row = shared_rows[-1]
    _line(ax, [lane, lane], [chip_y + h, top_row[1] + top_row[3] / 2], color=BIAS[1], lw=1.4, ls=dash)
    for rx, ry, rw, rh in shared_rows:
        end_x = rx if side == "left" else rx + rw
        _arrow(ax, (lane, ry + rh / 2), (end_x, ry + rh / 2), color=BIAS[1], lw=1.4, head=10, ls=dash)
    return chip_y, lane


def draw_t5_architecture(out_dir: Path) -> Path:
    """Encoder and decoder stacks of T5 with cross-attention, position bias and tied embedding."""
    width, height = 10.2, 12.65
    fig, ax = _canvas(width, height)
    _text(ax, width / 2, height - 0.35, "The T5 encoder-decoder", size=17, weight="bold")
    _text(
        ax,
        width / 2,
        height - 0.72,
        "N blocks per stack, width d.   t5-base: N = 12, d = 768.   t5-large: N = 24, d = 1024.",
        size=10.5,
        color=GREY,
    )

    enc_x, dec_x, stack_w = 1.4, 5.55, 3.0
    bus_x = (enc_x + stack_w + dec_x) / 2

    # ---- tokens and the shared embedding ----------------------------------------------
    src = ["translate", "English", "to", "German", ":", "Good", "morning", "!", "</s>"]
    tgt_in = ["<pad>", "Guten", "Morgen", "!"]
    outs = ["Guten", "Morgen", "!", "</s>"]
    enc_cx = enc_x + 0.15 + 1.15
    dec_cx = dec_x + 0.15 + 1.15
    y_tok = 0.62
    _chips(ax, enc_cx + 0.15, y_tok, src, size=9.5)
    _chips(ax, dec_cx, y_tok, tgt_in, size=9.5, highlight=[(_tint(GREY, 0.2), INK)])
    _text(ax, enc_cx + 0.15, y_tok - 0.38, "encoder input: m = 9 tokens", size=9.5, color=GREY)
    _text(ax, dec_cx, y_tok - 0.38, "decoder input: n = 4, starts with <pad>", size=9.5, color=GREY)

    y_emb, emb_h = 1.2, 0.42
    emb_x0, emb_x1 = enc_x - 0.05, dec_x + stack_w + 0.05
    _box(ax, emb_x0, y_emb, emb_x1 - emb_x0, emb_h, fc=EMBED[0], ec=EMBED[1], lw=1.6)
    _text(
        ax,
        (emb_x0 + emb_x1) / 2,
        y_emb + emb_h / 2,
        "shared token embedding E  (32,128 × d), used by both stacks",
        size=10.5,
    )
    y_in = y_emb + emb_h + 0.33
    for cx, shape in ((enc_cx, "m × d"), (dec_cx, "n × d")):
        _arrow(ax, (cx, y_tok + 0.15), (cx, y_emb), lw=1.3, head=10)
        _arrow(ax, (cx, y_emb + emb_h), (cx, y_in), lw=1.3, head=10)
        _text(ax, cx + 0.08, y_emb + emb_h + 0.13, shape, size=9.5, ha="left", color=GREY)

    # ---- the two stacks ---------------------------------------------------------------
    enc = _stack(
        ax,
        enc_x,
        stack_w,
        y_in,
        sublayers=[("Self-attention", SELF_ATTN, ""), ("Feed-forward", FEED_FWD, "")],
        rows=[("self-attention", SELF_ATTN), ("feed-forward", FEED_FWD)],
    )
    dec = _stack(
        ax,
        dec_x,
        stack_w,
        y_in,
        sublayers=[
            ("Causal self-attention", SELF_ATTN, ""),
            ("Cross-attention", CROSS_ATTN, "Q"),
            ("Feed-forward", FEED_FWD, ""),
        ],
        rows=[("causal self-attn", SELF_ATTN), ("cross-attention", CROSS_ATTN), ("feed-forward", FEED_FWD)],
    )

    # ---- encoder output: into the cross-attention of every decoder block ----------------
    y_out = enc["top"] + 0.5
    _line(ax, [enc_cx, enc_cx], [enc["top"], y_out], color=BUS, lw=2.6)
    _text(
        ax,
        enc_cx - 0.1,
        y_out + 0.06,
        "encoder output  (m × d)",
        size=10.5,
        ha="right",
        va="bottom",
        color=BUS,
        weight="bold",
    )
    _text(ax, enc_cx + 0.1, y_out + 0.06, "to every decoder block", size=9.5, ha="left", va="bottom", color=BUS)
    _text(ax, enc_x + stack_w / 2, y_out + 0.6, "ENCODER", size=13, weight="bold", color="#444444")
    cross = [dec["block0"][1], dec["block1"]["cross-attention"], dec["blockN"]["cross-attention"]]
    targets = [(bx, by + bh / 2) for bx, by, _, bh in cross]
    _line(ax, [enc_cx, bus_x], [y_out, y_out], color=BUS, lw=2.6)
    ys = [ty for _, ty in targets] + [y_out]
    _line(ax, [bus_x, bus_x], [min(ys), max(ys)], color=BUS, lw=2.6)
    for tx, ty in targets:
        _arrow(ax, (bus_x, ty), (tx, ty), color=BUS, lw=2.2, head=14)
    _arrow(ax, (bus_x, dec["dots_y"]), (dec["cx"] - 0.25, dec["dots_y"]), color=BUS, lw=1.6, head=10, ls=(0, (2, 2)))
    _text(ax, bus_x + 0.1, targets[0][1] + 0.06, "K, V", size=9.5, color=BUS, ha="left", va="bottom", weight="bold")

    # ---- relative position bias ---------------------------------------------------------
    enc_rows = [enc["block1"]["self-attention"], enc["blockN"]["self-attention"]]
    cy, lane = _position_bias(ax, 0.2, enc["block0"][0], enc_rows, side="left")
    _text(
        ax, lane + 0.07, (cy + enc_rows[0][1]) / 2 + 0.55, "shared\nby later\nblocks", size=9, color=BIAS[1], ha="left"
    )
    dec_rows = [dec["block1"]["causal self-attn"], dec["blockN"]["causal self-attn"]]
    cy, lane = _position_bias(ax, dec_x + stack_w + 0.35, dec["block0"][0], dec_rows, side="right")
    _text(
        ax, lane - 0.07, (cy + dec_rows[0][1]) / 2 + 0.55, "shared\nby later\nblocks", size=9, color=BIAS[1], ha="right"
    )

    # ---- LM head and output distribution ----------------------------------------------
    op_w, cx = dec["op_w"], dec["cx"]
    y_head = dec["top"] + 0.28
    _arrow(ax, (cx, dec["top"]), (cx, y_head), lw=1.3, head=10)
    head_h = 0.42
    _box(ax, cx - op_w / 2, y_head, op_w, head_h, fc=EMBED[0], ec=EMBED[1], lw=1.6)
    _text(ax, cx, y_head + head_h / 2, "LM head = Eᵀ (tied)", size=10.5)
    _text(
        ax,
        dec_x + stack_w + 0.1,
        y_head + head_h / 2,
        "Flan-T5 unties\nit: a separate\nhead matrix",
        size=9,
        ha="left",
        color=GREY,
        linespacing=1.15,
    )
    y_dist = y_head + head_h + 0.3
    _arrow(ax, (cx, y_head + head_h), (cx, y_dist), lw=1.3, head=10)
    _text(ax, cx + 0.08, y_head + head_h + 0.14, "n × 32,128", size=9.5, ha="left", color=GREY)
    bars = [
        [0.1, 0.05, 0.42, 0.08, 0.12, 0.06],
        [0.07, 0.12, 0.05, 0.42, 0.1, 0.04],
        [0.05, 0.42, 0.09, 0.06, 0.04, 0.13],
        [0.12, 0.05, 0.06, 0.04, 0.08, 0.42],
    ]
    cell_w, cell_h = op_w / 4, 0.9
    for k, (tok, hs) in enumerate(zip(outs, bars)):
        x0 = cx - op_w / 2 + k * cell_w
        last = k == len(outs) - 1
        _box(
            ax,
            x0 + 0.03,
            y_dist,
            cell_w - 0.06,
            cell_h,
            fc=_tint(VERMILLION, 0.12) if last else "white",
            ec=VERMILLION if last else "#AAAAAA",
            lw=1,
            radius=0.04,
        )
        bw = (cell_w - 0.2) / len(hs)
        for b, bh in enumerate(hs):
            ax.add_patch(
                Rectangle(
                    (x0 + 0.1 + b * bw, y_dist + 0.07),
                    bw * 0.8,
                    bh,
                    facecolor=VERMILLION if bh == max(hs) else "#BBBBBB",
                    edgecolor="none",
                    zorder=4,
                )
            )
        _text(ax, x0 + cell_w / 2, y_dist + cell_h - 0.2, tok, size=9.5, family=MONO)
    _text(
        ax,
        dec_x + stack_w + 0.1,
        y_dist + cell_h / 2,
        "softmax over the\nvocabulary at each\nof the n positions;\ngeneration stops\nat </s>",
        size=9,
        ha="left",
        linespacing=1.15,
    )
    _text(ax, dec_x + stack_w / 2, y_dist + cell_h + 0.3, "DECODER", size=13, weight="bold", color="#444444")

    # ---- the shape story ----------------------------------------------------------------
    sx, sw, sh = 0.15, 4.65, 2.6
    sy = y_out + 1.05
    _box(ax, sx, sy, sw, sh, fc=_tint(ORANGE, 0.08), ec=BUS, lw=1.5)
    _text(
        ax,
        sx + 0.15,
        sy + sh - 0.25,
        "Cross-attention shapes, in every decoder block",
        size=10.5,
        ha="left",
        weight="bold",
    )
    rows = [
        ("queries Q", "from the decoder", "n × d"),
        ("keys K", "from the encoder", "m × d"),
        ("values V", "from the encoder", "m × d"),
        ("weights = softmax(Q Kᵀ)", "", "n × m"),
        ("result = weights · V", "", "n × d"),
    ]
    for i, (a, b, c) in enumerate(rows):
        yy = sy + sh - 0.62 - i * 0.3
        _text(ax, sx + 0.2, yy, a, size=10, ha="left")
        _text(ax, sx + 1.4, yy, b, size=10, ha="left", color=GREY)
        _text(ax, sx + sw - 0.2, yy, c, size=10.5, ha="right", weight="bold", family=MONO)
    _text(
        ax,
        sx + 0.2,
        sy + 0.33,
        "Each of the n decoder positions mixes all m source\npositions. Per head, d is split across the heads.\nCross-attention adds no position bias.",
        size=9,
        ha="left",
        color=GREY,
    )
    return _save(fig, out_dir / "t5_architecture.png")


# --------------------------------------------------------------------------------------
# Figure 3: decoding with the KV cache
# --------------------------------------------------------------------------------------


def draw_decoding_with_cache(out_dir: Path) -> Path:
    """Encoder once (call #1); decoder steps 0..3 (calls #2..#5) with a growing self-attention cache.

    The numbers match the listener's log: "self-cache" and "cross-cache" are the positions held
    when the call begins; the dark squares are the ones the call adds."""
    width, height = 12.0, 7.9
    fig, ax = _canvas(width, height)
    _text(ax, width / 2, height - 0.38, "Generating token by token with a KV cache", size=17, weight="bold")
    _text(
        ax,
        width / 2,
        height - 0.75,
        "translate English to German: Good morning!   →   Guten Morgen!",
        size=11.5,
        color=GREY,
        family=MONO,
    )
    src = ["translate", "English", "to", "German", ":", "Good", "morning", "!", "</s>"]
    m = len(src)
    fed = ["<pad>", "Guten", "Morgen", "!"]
    made = ["Guten", "Morgen", "!", "</s>"]

    # geometry shared by the columns
    y_fed, y_dec, dec_h = 1.45, 2.2, 3.0
    y_made = y_dec + dec_h + 0.55
    y_self = y_dec + 2.1  # centre of the self-attention cache row
    y_cross = y_dec + 1.15  # centre of the cross-attention cache row
    sq, sq_gap = 0.155, 0.035

    # ---- encoder panel --------------------------------------------------------------
    ex, ew = 0.2, 2.25
    _text(ax, ex + ew / 2, height - 1.3, "call #1, once, before step 0", size=11.5, weight="bold", color="#444444")
    src_top = y_made - 0.35
    for i, tok in enumerate(src):
        yy = src_top - i * 0.27
        _box(ax, ex, yy - 0.115, 0.95, 0.23, fc="white", ec=GREY, lw=1, radius=0.04)
        _text(ax, ex + 0.475, yy, tok, size=9.5, family=MONO)
    src_mid = src_top - (m - 1) * 0.27 / 2
    _text(ax, ex + 0.475, src_top - (m - 1) * 0.27 - 0.33, f"m = {m} source\ntokens", size=10, color=GREY)
    enc_bx = ex + 1.2
    _box(ax, enc_bx, src_mid - 1.0, 1.0, 2.0, fc=_tint(BLUE, 0.1), ec="#666666", lw=1.6)
    _text(ax, enc_bx + 0.5, src_mid + 0.15, "encoder", size=11, weight="bold")
    _text(ax, enc_bx + 0.5, src_mid - 0.4, "1 call,\nall m\ntokens", size=10, color=GREY)
    for i in range(m):
        yy = src_top - i * 0.27
        _line(ax, [ex + 0.95, enc_bx], [yy, src_mid + (yy - src_mid) * 0.8], lw=0.8, color="#999999")

    # encoder output band feeding every column's cross-attention cache
    band_x0 = enc_bx + 1.0
    _line(ax, [band_x0, band_x0 + 0.15, band_x0 + 0.15], [src_mid, src_mid, y_cross], color=BUS, lw=2.4)
    _text(ax, band_x0 + 0.22, src_mid + 0.1, "encoder\noutput\nm × d", size=10, color=BUS, ha="left", va="center")

    # ---- decoder steps --------------------------------------------------------------
    col0, col_w, col_gap = 3.3, 1.96, 0.24
    for t in range(4):
        cx0 = col0 + t * (col_w + col_gap)
        cxm = cx0 + col_w / 2
        _text(ax, cxm, height - 1.3, f"step {t}", size=13, weight="bold")
        # decoder box
        _box(ax, cx0, y_dec, col_w, dec_h, fc="#F7F7F7", ec="#888888", lw=1.4)
        _text(ax, cxm, y_dec + dec_h - 0.25, "decoder (N blocks)", size=11, weight="bold", color="#444444")
        # fed token
        feed_face = (_tint(GREY, 0.15), INK) if t == 0 else (_tint(SKY, 0.35), BLUE)
        w = _chip_width(fed[t], 11)
        _box(ax, cxm - w / 2, y_fed - 0.18, w, 0.36, fc=feed_face[0], ec=feed_face[1], lw=1.3, radius=0.05)
        _text(ax, cxm, y_fed, fed[t], size=11, family=MONO)
        _arrow(ax, (cxm, y_fed + 0.18), (cxm, y_dec), lw=1.4, head=11)
        _text(
            ax, cxm, y_fed - 0.42, f"call #{t + 2}: fed 1 token" + (" (start)" if t == 0 else ""), size=10.5, color=GREY
        )
        # produced token
        last = t == 3
        face = (_tint(VERMILLION, 0.2), VERMILLION) if last else (_tint(SKY, 0.35), BLUE)
        w = _chip_width(made[t], 11)
        _arrow(ax, (cxm, y_dec + dec_h), (cxm, y_made - 0.18), lw=1.4, head=11)
        _box(ax, cxm - w / 2, y_made - 0.18, w, 0.36, fc=face[0], ec=face[1], lw=1.3, radius=0.05)
        _text(ax, cxm, y_made, made[t], size=11, family=MONO)
        if last:
            _text(ax, cxm, y_made + 0.42, "end of sequence: stop", size=10.5, color=VERMILLION)
        else:
            # feed the produced token into the next step, through the gutter
            gx = cx0 + col_w + col_gap / 2
            nxt = cx0 + col_w + col_gap + col_w / 2
            wn = _chip_width(fed[t + 1], 11)
            _line(ax, [cxm + w / 2, gx, gx], [y_made, y_made, y_fed], color=SKY, lw=1.5)
            _arrow(ax, (gx, y_fed), (nxt - wn / 2, y_fed), color=SKY, lw=1.5, head=11)

        # self-attention cache: t positions held when the call begins, plus the one it adds (dark)
        n_self = t + 1
        _text(ax, cx0 + 0.12, y_self + 0.33, f"self-cache: {t}", size=10.5, ha="left", color=BLUE, weight="bold")
        for k in range(n_self):
            new = k == t
            ax.add_patch(
                Rectangle(
                    (cx0 + 0.14 + k * (0.26 + 0.06), y_self - 0.13),
                    0.26,
                    0.26,
                    facecolor=BLUE if new else _tint(BLUE, 0.3),
                    edgecolor=BLUE,
                    linewidth=1.8 if new else 1,
                    zorder=4,
                )
            )
        self_note = "empty; +1 new" if t == 0 else f"{t} kept; +1 new"
        _text(ax, cx0 + 0.12, y_self - 0.34, self_note, size=10, ha="left", color=BLUE)

        # cross-attention cache: empty when step 0 begins, which fills its m slots; then reused
        held = 0 if t == 0 else m
        _text(ax, cx0 + 0.12, y_cross + 0.3, f"cross-cache: {held}", size=10.5, ha="left", color=BUS, weight="bold")
        for k in range(m):
            ax.add_patch(
                Rectangle(
                    (cx0 + 0.12 + k * (sq + sq_gap), y_cross - sq / 2),
                    sq,
                    sq,
                    facecolor=ORANGE if t == 0 else _tint(ORANGE, 0.35),
                    edgecolor=BUS,
                    linewidth=1,
                    zorder=4,
                )
            )
        cross_note = f"empty; +{m} from encoder" if t == 0 else f"{m} kept; none new"
        _text(ax, cx0 + 0.12, y_cross - 0.3, cross_note, size=10, ha="left", color=BUS)
        _line(ax, [cx0 + 0.1, cx0 + col_w - 0.1], [y_dec + 0.55, y_dec + 0.55], color="#CCCCCC", lw=1)
        _text(ax, cxm, y_dec + 0.28, f"scores 1×{n_self} and 1×{m}", size=10.5, color="#444444")
    _arrow(ax, (band_x0 + 0.15, y_cross), (col0, y_cross), color=BUS, lw=2.4, head=14)

    _text(
        ax,
        width / 2,
        0.35,
        "Each square: the keys and values of one position, kept in every decoder block. Dark: added by this call; "
        "pale: kept.\nCache numbers count what the cache holds when the call begins, as in the listener's log. "
        "At step t the new query\nscores t + 1 target keys (the cached t and its own) and the m source keys.",
        size=10.5,
        linespacing=1.5,
        color=GREY,
    )
    return _save(fig, out_dir / "decoding_with_cache.png")


def main(out_dir: Path | str = DEFAULT_OUT) -> list[Path]:
    """Draw every figure into ``out_dir`` (created if missing); return the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [draw_text_to_text(out), draw_t5_architecture(out), draw_decoding_with_cache(out)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNG files (default: imgs/)")
    for written in main(parser.parse_args().out):
        print(written)
