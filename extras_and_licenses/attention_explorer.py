"""The cross-attention explorer: step through one translation in a notebook widget.

What it is for: :class:`AttentionExplorer` shows a :class:`CrossAttentionCapture` one
generated token at a time, with a layer and a head to pick. This module is also lesson 02's
one import for everything about cross-attention: the capture (``cross_attention``), the eager
switch (``attention_switch``) and the figures (``attention_plots``) are re-exported here.

Used by lesson 02 (cross-attention up close)::

    capture = capture_cross_attention(model, tokenizer, "translate English to French: The black dog sees the red cat.")
    plot_cross_attention(capture, layer=2, head=5)
    display(AttentionExplorer(capture))             # slider for the step, dropdowns for layer and head

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
import time
from collections import OrderedDict

import ipywidgets as widgets

from .attention_plots import (
    NOTEBOOK_WIDTH_PX,
    OUTLINE,
    grid_layout,
    plot_attention_grid,
    plot_cross_attention,
    render_png,
)
from .attention_switch import eager_attention
from .cross_attention import (
    AVERAGE,
    CrossAttentionCapture,
    CrossAttentionOutputRecorder,
    capture_cross_attention,
    pick,
    readable_token,
    word_spans,
)

__all__ = [
    "FALLBACK_NOTE",
    "NOTEBOOK_WIDTH_PX",
    "OUTLINE",
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


def _option(value, size: int, what: str) -> int | str:
    """The dropdown value for a layer or head: the index, or "average"."""
    picked = pick(value, size, what)
    return AVERAGE if picked is None else picked


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
