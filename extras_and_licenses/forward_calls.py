"""What a ForwardListener keeps of each call, and the log line it prints for it.

What it is for: :class:`ForwardCall` is the record of one call of a listened-to module (what it
was fed, how full the caches were, how long it took, the top next token, the cross-attention
weights when asked for). :data:`COLUMNS` names the log's columns and their widths once; the
header and every call's line are both written from it. :class:`PendingCall` holds what a call
left behind until its record is written: reading a GPU timer or decoding tokens waits for the
GPU, so a quiet listener does it only when the records are read. :class:`TopTokenHook` is the
forward hook on the model's output layer that finds each call's top next token; its listener
attaches it and removes it with its own hooks.

Used through :mod:`extras_and_licenses.forward_listener` (lessons 01-03); ``listener.calls``
is a list of these records.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["COLUMNS", "ROW_COLUMNS", "Column", "ForwardCall", "PendingCall", "TopTokenHook", "cache_lengths", "header"]

ARROW = " → "  # between what a call was fed and the token the output layer scored highest


# --------------------------------------------------------------------------- the log's columns
@dataclass(frozen=True)
class Column:
    """One column of the log: its title, its width in characters and how its values line up."""

    title: str
    width: int | None  # None: as wide as the longest listener name (at least 8 characters)
    align: str  # "<" left, ">" right
    gap: str = "  "  # what follows the column
    optional: bool = False  # shown only with show_time=True


COLUMNS = (
    Column("call", 6, "<", gap=""),
    Column("module", None, "<"),
    Column("input", 10, "<", gap=""),
    Column("self-cache", 10, ">"),
    Column("cross-cache", 11, ">"),
    Column("time", 8, ">", optional=True),
)
LAST_COLUMN = "fed in → top next token"  # what each call was fed, as wide as the line allows


def _cells(values, name_width: int, show_time: bool) -> str:
    """The fixed columns of one line, one value per column in :data:`COLUMNS`."""
    return "".join(
        f"{value:{col.align}{col.width or name_width}}{col.gap}"
        for col, value in zip(COLUMNS, values, strict=True)
        if show_time or not col.optional
    )


def header(width: int, name_width: int, show_time: bool = False) -> str:
    """The log's first line: every column's title."""
    return (_cells([col.title for col in COLUMNS], name_width, show_time) + LAST_COLUMN)[:width]


def _format_tokens(tokens: list, budget: int) -> str:
    """A list repr that fits ``budget`` characters, ending with '… N more]' when cut."""
    parts: list[str] = []
    used = 2  # the brackets
    for i, tok in enumerate(tokens):
        piece = repr(tok)
        rest = len(tokens) - i - 1
        tail = f", … {rest} more" if rest else ""
        if parts and used + len(piece) + 2 + len(tail) > budget:
            return "[" + ", ".join(parts) + f", … {len(tokens) - i} more]"
        parts.append(piece)
        used += len(piece) + 2
    return "[" + ", ".join(parts) + "]"


# --------------------------------------------------------------------------- the records
ROW_COLUMNS = ("index", "step", "name", "input_shape", "rows", "tokens", "self_cache_len", "cross_cache_len", "ms")


@dataclass
class ForwardCall:
    """One call of a listened-to module."""

    index: int  # order among all listeners' calls, 1 = first since clear_all()/reset_all()
    step: int  # this listener's own count, 0 = its first call (for the decoder: the generation step)
    name: str  # the listener's name, e.g. "decoder"
    input_kind: str  # "token ids", "float tensor" or "no tensor"
    input_shape: tuple[int, ...] | None  # e.g. (batch * beams, 1) for a cached decoder step
    rows: int | None  # batch rows fed (batch * beams under beam search)
    token_ids: list[int] | None  # the first row's ids
    tokens: list[str] | None  # the first row decoded piece by piece (None without a tokenizer)
    self_cache_len: int | None  # decoder self-attention cache length when the call began
    cross_cache_len: int | None  # cross-attention cache length when the call began
    seconds: float | None  # time the call took (GPU time between CUDA events on a GPU)
    # The token the output layer scored highest after this call (first row, last position);
    # only printing decoder listeners read it.
    predicted_id: int | None = None
    predicted: str | None = None
    # One tensor per decoder layer, (rows, heads, query_len, src_len), float32 on the CPU.
    cross_attentions: tuple[torch.Tensor, ...] | None = field(default=None, repr=False)

    def as_row(self) -> dict:
        """The record as one row of ``listener.to_dataframe()`` (columns: :data:`ROW_COLUMNS`)."""
        shown = self.tokens if self.tokens is not None else self.token_ids
        ms = None if self.seconds is None else self.seconds * 1e3
        values = (
            self.index,
            self.step,
            self.name,
            self.input_shape,
            self.rows,
            shown,
            self.self_cache_len,
            self.cross_cache_len,
            ms,
        )
        return dict(zip(ROW_COLUMNS, values, strict=True))

    def line(self, width: int = 110, name_width: int = 8, show_time: bool = False) -> str:
        """The log line for this call: the columns of :data:`COLUMNS`, tokens last, at most ``width`` characters."""
        took = "" if self.seconds is None else f"{self.seconds * 1e3:.1f} ms"
        values = (
            f"#{self.index}",
            self.name,
            "?" if self.input_shape is None else str(tuple(self.input_shape)),
            "-" if self.self_cache_len is None else str(self.self_cache_len),
            "-" if self.cross_cache_len is None else str(self.cross_cache_len),
            took,
        )
        head = _cells(values, name_width, show_time)
        more = f"  +{self.rows - 1} row{'s' if self.rows > 2 else ''}" if self.rows and self.rows > 1 else ""
        if self.predicted is not None:
            nxt = ARROW + repr(self.predicted)
        elif self.predicted_id is not None:
            nxt = ARROW + str(self.predicted_id)
        else:
            nxt = ""
        shown = self.tokens if self.tokens is not None else self.token_ids
        if shown is None:
            body = "(shape only)" if self.input_kind == "float tensor" else ""
        else:
            body = _format_tokens(shown, max(20, width - len(head) - len(more) - len(nxt)))
        return (head + body + nxt + more).rstrip()


@dataclass
class PendingCall:
    """What one call left behind, kept as it was until its :class:`ForwardCall` is written."""

    index: int
    step: int
    fed: Any  # what the call was fed: token ids, embeddings, or None
    self_cache_len: Any  # as the cache reported it: an int, or a 0-d tensor for a static cache
    cross_cache_len: Any
    seconds: float | None = None  # measured on the CPU
    cuda_events: tuple[torch.cuda.Event, torch.cuda.Event] | None = None  # (start, end), read when written
    cross_attentions: tuple[torch.Tensor, ...] | None = None

    @property
    def kind(self) -> str:
        """What the call was fed: "token ids", "float tensor" or "no tensor"."""
        if is_token_tensor(self.fed):
            return "token ids"
        return "float tensor" if isinstance(self.fed, torch.Tensor) else "no tensor"

    def elapsed(self) -> float | None:
        """Seconds the call took; with CUDA events this waits for the GPU to reach the end event."""
        if self.cuda_events is None:
            return self.seconds
        start, end = self.cuda_events
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def record(self, name: str, tokenizer, predicted: torch.Tensor | None = None) -> ForwardCall:
        """The record, with the fed ids and the ``predicted`` top next token id decoded by ``tokenizer`` (if any)."""
        fed, kind, token_ids = self.fed, self.kind, None
        if kind == "token ids":
            token_ids = (fed if fed.dim() < 2 else fed[0]).reshape(-1).tolist()
        shape = tuple(fed.shape) if isinstance(fed, torch.Tensor) else None
        predicted_id = None if predicted is None else int(predicted)
        decode = tokenizer is not None
        return ForwardCall(
            index=self.index,
            step=self.step,
            name=name,
            input_kind=kind,
            input_shape=shape,
            rows=None if shape is None else (shape[0] if len(shape) >= 2 else 1),
            token_ids=token_ids,
            tokens=pieces(tokenizer, token_ids) if decode and token_ids is not None else None,
            self_cache_len=_as_int(self.self_cache_len),
            cross_cache_len=_as_int(self.cross_cache_len),
            seconds=self.elapsed(),
            predicted_id=predicted_id,
            predicted=pieces(tokenizer, [predicted_id])[0] if decode and predicted_id is not None else None,
            cross_attentions=self.cross_attentions,
        )


class TopTokenHook:
    """The "→ top next token" of the log: a forward hook on a model's output layer (``lm_head``).

    It only reads the logits. ``attach(decoder)`` hooks the output layer of ``model``, or else of
    the model found calling ``decoder`` (looked for once). ``awaiting`` names the call whose
    logits come next; once they are read, ``on_scored()`` runs and ``pop(index)`` hands over the
    token id. ``remove()`` takes the hook off (safe to call twice).
    """

    def __init__(self, model: nn.Module | None, on_scored):
        self.model, self.on_scored = model, on_scored
        self.awaiting: int | None = None
        self._handle = None
        self._gave_up = False  # looked for an output layer and found none
        self._scored: dict[int, torch.Tensor] = {}

    @property
    def attached(self) -> bool:
        return self._handle is not None

    def attach(self, decoder: nn.Module) -> None:
        if self._handle is not None or self._gave_up:
            return
        owner = self.model if self.model is not None else calling_model(decoder)
        head = owner.get_output_embeddings() if owner is not None and hasattr(owner, "get_output_embeddings") else None
        if isinstance(head, nn.Module):
            self.model, self._handle = owner, head.register_forward_hook(self._on_logits)
        else:
            self._gave_up = True

    def _on_logits(self, module, args, output) -> None:
        index, self.awaiting = self.awaiting, None
        if index is None or not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        logits = output if output.dim() == 3 else output.unsqueeze(1)  # (rows, positions, vocab)
        self._scored[index] = logits[0, -1].argmax().detach()
        self.on_scored()

    def pop(self, index: int) -> torch.Tensor | None:
        return self._scored.pop(index, None)

    def remove(self) -> None:
        self.awaiting = None
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __repr__(self) -> str:
        state = "attached" if self.attached else ("no output layer found" if self._gave_up else "not attached")
        owner = type(self.model).__name__ if self.model is not None else "no model yet"
        return f"<TopTokenHook on {owner}'s output layer: {state}>"


# --------------------------------------------------------------------------- reading a call's arguments
def fed_tensor(args, kwargs):
    """What a call was fed: ``input_ids``, else the first positional argument or ``inputs_embeds``, else any tensor."""
    fed = kwargs.get("input_ids")
    if fed is None:
        fed = args[0] if args else kwargs.get("inputs_embeds")
    if fed is None:
        fed = next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
    return fed


def is_token_tensor(x) -> bool:
    return isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool


def _as_int(value) -> int | None:
    # get_seq_length() returns an int for dynamic caches and a 0-d tensor for static ones.
    return None if value is None else int(value)


def cache_lengths(cache) -> tuple[Any, Any]:
    """(self-attention length, cross-attention length) held by a decoder cache, before the call."""
    if cache is None:
        return None, None
    self_cache = getattr(cache, "self_attention_cache", None)
    if self_cache is not None:  # EncoderDecoderCache (transformers 4.4x+ and 5)
        return self_cache.get_seq_length(), cache.cross_attention_cache.get_seq_length()
    if hasattr(cache, "get_seq_length"):  # a decoder-only cache
        return cache.get_seq_length(), None
    if isinstance(cache, (tuple, list)) and cache and isinstance(cache[0], (tuple, list)):
        layer0 = cache[0]  # legacy tuples: (self_k, self_v[, cross_k, cross_v]) per layer
        cross = layer0[2].shape[-2] if len(layer0) >= 4 else None
        return layer0[0].shape[-2], cross
    return None, None


def pieces(tokenizer, token_ids: list[int]) -> list[str]:
    """The token pieces of ``token_ids`` (sentencepiece pieces such as '▁Haus'), an id where there is none."""
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        found = tokenizer.convert_ids_to_tokens(token_ids)
        return [p if p is not None else str(i) for p, i in zip(found, token_ids, strict=True)]
    return [tokenizer.decode([i]) for i in token_ids]


def calling_model(module: nn.Module, depth: int = 30) -> nn.Module | None:
    """The model whose forward called ``module`` (e.g. T5ForConditionalGeneration for its decoder).

    Walks up the Python call stack, from two frames above this function (the listener's call),
    for a ``self`` that contains ``module`` and has an output layer."""
    frame = sys._getframe(2)
    while frame is not None and depth > 0:
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and owner is not module and hasattr(owner, "get_output_embeddings"):
            head = owner.get_output_embeddings()
            if isinstance(head, nn.Module) and any(m is module for m in owner.modules()):
                return owner
        frame, depth = frame.f_back, depth - 1
    return None
