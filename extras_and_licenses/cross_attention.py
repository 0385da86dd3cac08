"""Cross-attention captured while T5 generates: one translation's weights, outputs and labels.

What it is for: in an encoder-decoder, every decoder block has a cross-attention layer whose
queries come from the tokens generated so far and whose keys and values come from the
encoder's output. :func:`capture_cross_attention` records what those layers did during one
greedy ``generate()`` call and returns a :class:`CrossAttentionCapture`, which the figures
(``attention_plots``) and the explorer (``attention_explorer``) draw.

Used by lesson 02 (cross-attention up close), through ``attention_explorer``::

    capture = capture_cross_attention(model, tokenizer, "translate English to French: The black dog sees the red cat.")
    capture.weights.shape         # (steps, layers, heads, src_len): one softmax row per step, layer and head

How it records: the weights come from a quiet :class:`~extras_and_licenses.forward_listener.ForwardListener`
on the decoder with ``capture_cross_attention=True``, the same listener lesson 01 uses to watch
generation call by call. Generation runs inside :func:`eager_attention`: the fused kernels
(``sdpa``, flash attention) never materialise the weights, the plain ``eager`` implementation
does, and the model is switched back to what it ran before, also when generation raises.

Alongside the weights the capture records each decoder block's cross-attention *output* (the
``EncDecAttention`` module's result, one vector of the model's width per step) with forward
hooks (:class:`CrossAttentionOutputRecorder`), and the encoder's final states, so the lesson
can check the shapes: an n x m weight matrix per head, times m x d values, gives n x d. The
listener and the hooks are removed when the capture ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attention_switch import eager_attention
from .forward_listener import ForwardListener

__all__ = [
    "AVERAGE",
    "CrossAttentionCapture",
    "CrossAttentionOutputRecorder",
    "capture_cross_attention",
    "eager_attention",
    "pick",
    "readable_token",
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
        layer, head = pick(layer, self.n_layers, "layer"), pick(head, self.n_heads, "head")
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
        layer, head = pick(layer, self.n_layers, "layer"), pick(head, self.n_heads, "head")
        lay = f"layer {layer}" if layer is not None else f"average of {self.n_layers} layers"
        hd = f"head {head}" if head is not None else f"average of {self.n_heads} heads"
        return f"{lay}, {hd}"

    def __repr__(self) -> str:
        return (
            f"CrossAttentionCapture({self.n_steps} generated x {self.src_len} source tokens, "
            f"{self.n_layers} layers x {self.n_heads} heads, d={self.outputs.shape[-1]}; "
            f"translation={self.translation!r})"
        )


def pick(value, size: int, what: str) -> int | None:
    """A layer or head index checked against ``size`` (negative ones count from the end); None to average."""
    if value is None or value == AVERAGE:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -size <= value < size:
        raise ValueError(f"{what} must be an integer from 0 to {size - 1}, or None / 'average'; got {value!r}.")
    return value % size


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
    the call and is switched back afterwards; the weights are recorded by a quiet decoder
    ``ForwardListener`` (``capture_cross_attention=True``), detached when the call ends.
    """
    if not isinstance(text, str):
        texts = list(text)
        if len(texts) != 1 or not isinstance(texts[0], str):
            raise ValueError(
                f"capture_cross_attention takes one text (batch size 1); got {len(texts)} items. "
                "Call it once per sentence, e.g. [capture_cross_attention(model, tokenizer, t) for t in texts]."
            )
        text = texts[0]
    decoder = model.get_decoder()
    if isinstance(decoder.__dict__.get("forward"), ForwardListener):
        raise RuntimeError(
            f"{decoder.forward!r} is attached to this model's decoder, and the capture would replace it. "
            "Run ForwardListener.clear_all() first, then capture again."
        )
    inputs = tokenizer(text, return_tensors="pt").to(model.device)

    with (
        eager_attention(model) as previous,
        CrossAttentionOutputRecorder(model) as recorder,
        ForwardListener(
            decoder, "decoder", quiet=True, timing=False, capture_cross_attention=True, model=model
        ) as listener,
        torch.no_grad(),
    ):
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            output_hidden_states=True,
            return_dict_in_generate=True,
        )

    calls = listener.calls  # one per generated token; each keeps one (batch, heads, 1, src_len) tensor per layer
    if not calls or not all(call.cross_attentions for call in calls):
        raise RuntimeError("The decoder returned no cross-attention weights; is the model really on eager attention?")
    weights = listener.cross_attention()[:, :, 0]  # (steps, layers, heads, src_len): the batch's one row
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
