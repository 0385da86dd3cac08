"""ForwardListener: watch an encoder-decoder generate, one call at a time.

What it is for: during ``generate()`` the encoder runs once over the whole prompt, then the
decoder runs once per new token, fed only the newest token while its key/value cache grows
by one position per step. A ``ForwardListener`` stands in for a module's ``forward``, passes
every call through unchanged, and writes one line per call::

    call  module    input     self-cache  cross-cache  fed in → top next token
    #1    encoder   (1, 9)             -            -  ['▁translate', '▁English', '▁to', … 6 more]
    #2    decoder   (1, 1)             0            0  ['<pad>'] → '▁Das'
    #3    decoder   (1, 1)             1            9  ['▁Das'] → '▁Haus'
    ...
    #9    decoder   (1, 1)             7            9  ['.'] → '</s>'

"self-cache" is how many earlier target positions the decoder's self-attention cache held when
the call began; "cross-cache" is how many source positions its cross-attention cache held (0 on
the first step, which fills it). "fed in" is what the call was given (the first sequence of the
batch; "+N rows" counts the others). After ``→`` comes the token the model's output layer
scored highest for the next position: with greedy decoding that is the token generation picks,
so the last line shows the ``</s>`` that ends it. (Sampling, beam search or a rule such as
``min_new_tokens`` may pick another token; the next line's "fed in" shows the one picked.)
The same events are kept as :class:`ForwardCall` records (``listener.calls``,
``listener.to_dataframe()``) for plots and checks.

Used by lesson 01 (seeing generation happen), lesson 02 (``capture_cross_attention=True``) and
lesson 03 (cache length per step). The lessons attach it like this::

    pipe.model.encoder.forward = ForwardListener(pipe.model.encoder, name="encoder", tokenizer=pipe.tokenizer)
    pipe.model.decoder.forward = ForwardListener(pipe.model.decoder, name="decoder", tokenizer=pipe.tokenizer)
    pipe("translate English to German: The house is wonderful.")
    ForwardListener.clear_all()  # every module back as it was

Creating a listener attaches it (the assignment above spells out what already happened), so
``with ForwardListener(model.decoder, name="decoder") as dec: ...`` works too and detaches on exit.

Rules it keeps, so that it is safe in a notebook:

- It never changes results. The listener carries the wrapped forward's signature, because
  ``generate()`` inspects ``inspect.signature(encoder.forward)`` and silently drops
  ``attention_mask`` for a bare ``(*args, **kw)`` wrapper (padded batches then change).
- Re-running the attach cell replaces the listener on that module; it never nests.
  ``ForwardListener.clear_all()`` restores every module any listener touched, also after an
  exception or a keyboard interrupt inside generation, and does nothing when called twice.
- ``quiet=True`` only records. The quiet path decodes nothing, predicts nothing and never waits for the GPU:
  on CUDA each call is timed with a pair of CUDA events recorded on the current stream, and
  the events are read only when the records are (``listener.calls``). So quiet listeners do
  not add a synchronisation per token. A printing listener waits for each call to finish
  (to print its line), which is fine for a live demo and wrong for a benchmark. The log leaves
  the time out unless ``show_time=True``: per-call times of a few milliseconds are mostly noise.
- To show the top next token, a printing decoder listener finds the model that called it (the
  ``model`` argument, or the caller of its first call) and puts a forward hook on that model's
  output layer (``lm_head``) which only reads the logits. The hook goes when the listener does.
- Cache lengths are read from the ``cache`` keyword (transformers 5) or ``past_key_values``
  (transformers 4) at the start of the call: the cache object is updated in place.
- ``capture_cross_attention=True`` records the cross-attention weights of every decoder call.
  It switches the model to eager attention first and says so: the fused sdpa and flash
  kernels compute softmax(QK^T)V in one step and never materialise the weights. The previous
  implementation is restored when the listener is cleared.
"""

from __future__ import annotations

import inspect
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from . import models

__all__ = ["ForwardCall", "ForwardListener"]

_MISSING = object()  # "the module had no instance attribute `forward`"
_HEADER_FIELDS = ("call", "module", "input", "self-cache", "cross-cache", "time", "fed in → top next token")
_ARROW = " → "
_NO_OWNER = object()  # "looked for the calling model and found none"


def _calling_model(module: nn.Module, depth: int = 30) -> nn.Module | None:
    """The model whose forward called ``module`` (e.g. T5ForConditionalGeneration for its decoder).

    Walks up the Python call stack for a ``self`` that contains ``module`` and has an output layer."""
    frame = sys._getframe(2)
    while frame is not None and depth > 0:
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and owner is not module and hasattr(owner, "get_output_embeddings"):
            head = owner.get_output_embeddings()
            if isinstance(head, nn.Module) and any(m is module for m in owner.modules()):
                return owner
        frame, depth = frame.f_back, depth - 1
    return None


def _is_token_tensor(x) -> bool:
    return isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool


def _as_int(value) -> int | None:
    # get_seq_length() returns an int for dynamic caches and a 0-d tensor for static ones.
    return None if value is None else int(value)


def _cache_lengths(cache) -> tuple[Any, Any]:
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
        return {
            "index": self.index,
            "step": self.step,
            "name": self.name,
            "input_shape": self.input_shape,
            "rows": self.rows,
            "tokens": self.tokens if self.tokens is not None else self.token_ids,
            "self_cache_len": self.self_cache_len,
            "cross_cache_len": self.cross_cache_len,
            "ms": None if self.seconds is None else self.seconds * 1e3,
        }

    def line(self, width: int = 110, name_width: int = 8, show_time: bool = False) -> str:
        """The log line for this call: aligned columns, tokens last, at most ``width`` characters."""
        shape = "?" if self.input_shape is None else str(tuple(self.input_shape))
        self_len = "-" if self.self_cache_len is None else str(self.self_cache_len)
        cross_len = "-" if self.cross_cache_len is None else str(self.cross_cache_len)
        head = f"{'#' + str(self.index):<6}{self.name:<{name_width}}  {shape:<10}{self_len:>10}  {cross_len:>11}  "
        if show_time:
            took = "" if self.seconds is None else f"{self.seconds * 1e3:.1f} ms"
            head += f"{took:>8}  "
        more = f"  +{self.rows - 1} row{'s' if self.rows > 2 else ''}" if self.rows and self.rows > 1 else ""
        if self.predicted is not None:
            nxt = _ARROW + repr(self.predicted)
        elif self.predicted_id is not None:
            nxt = _ARROW + str(self.predicted_id)
        else:
            nxt = ""
        shown = self.tokens if self.tokens is not None else self.token_ids
        if shown is None:
            body = "(shape only)" if self.input_kind == "float tensor" else ""
        else:
            body = _format_tokens(shown, max(20, width - len(head) - len(more) - len(nxt)))
        return (head + body + nxt + more).rstrip()


def _header(width: int, name_width: int, show_time: bool = False) -> str:
    call, module, inp, self_c, cross_c, took, toks = _HEADER_FIELDS
    took = f"{took:>8}  " if show_time else ""
    return f"{call:<6}{module:<{name_width}}  {inp:<10}{self_c:>10}  {cross_c:>11}  {took}{toks}"[:width]


class ForwardListener:
    """Stands in for ``module.forward``: passes each call through and logs/records it.

    ``ForwardListener(module, name=None, tokenizer=None, *, quiet=False, timing=True,
    show_time=False, capture_cross_attention=False, model=None, width=110, file=None)``

    - ``module``: any ``torch.nn.Module``, e.g. ``pipe.model.encoder`` or ``pipe.model.decoder``
      (BART and Marian: ``model.get_encoder()`` / ``model.get_decoder()``).
    - ``tokenizer``: shows the token pieces fed to each call; without one you see token ids.
    - ``quiet``: record only, print nothing per call.
    - ``timing``: measure each call (on a GPU with CUDA events, read when the records are).
    - ``show_time``: add a time column to the printed log (off by default; records keep the time).
    - ``capture_cross_attention``: record the decoder's cross-attention weights per call,
      switching ``model`` (default: ``module`` itself) to eager attention until cleared.
    - ``model``: the model ``module`` belongs to; a printing decoder listener reads the top next
      token off its output layer. Found from the call stack when not given.
    """

    _registry: ClassVar[weakref.WeakSet] = weakref.WeakSet()
    _next_index: ClassVar[int] = 1
    _header_shown: ClassVar[bool] = False

    def __init__(
        self,
        module: nn.Module,
        name: str | None = None,
        tokenizer=None,
        *,
        quiet: bool = False,
        timing: bool = True,
        show_time: bool = False,
        capture_cross_attention: bool = False,
        model: nn.Module | None = None,
        width: int = 110,
        file=None,
    ):
        if inspect.ismethod(module) and isinstance(module.__self__, nn.Module):
            raise TypeError(
                "ForwardListener wraps a module, not its forward method: write "
                "`ForwardListener(pipe.model.encoder, ...)`, not `ForwardListener(pipe.model.encoder.forward, ...)`."
            )
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"ForwardListener wraps a torch.nn.Module (e.g. pipe.model.encoder); got {type(module).__name__}. "
                "If you have a pipeline, wrap one of its model's parts: pipe.model.encoder or pipe.model.decoder."
            )
        if type(module).forward is nn.Module.forward and "forward" not in module.__dict__:
            raise TypeError(
                f"{type(module).__name__} has no forward method of its own, so there is nothing to listen to."
            )
        self.module = module
        self.name = name or type(module).__name__
        self.tokenizer = tokenizer
        self.quiet = quiet
        self.timing = timing
        self.show_time = show_time
        self.width = width
        self.file = file
        self._name_width = max(8, len(self.name))
        self._calls: list[ForwardCall] = []
        self._pending: list[tuple] = []
        self._steps = 0
        self._notes_shown: set[str] = set()
        self._active = False
        self._replaced = False
        self._attn_restore: tuple[nn.Module, list] | None = None  # (module, what switch_attention saved)
        self._owner = model  # the model whose output layer gives the top next token (None: not looked yet)
        self._head_hook = None  # the forward hook on that output layer, while attached
        self._awaiting: int | None = None  # index of a printed-later call waiting for its top next token
        self._predictions: dict[int, torch.Tensor] = {}

        # Re-running an attach cell: take over from the listener already there, never wrap it.
        current = module.__dict__.get("forward", _MISSING)
        if isinstance(current, ForwardListener):
            self._previous_attr, wrapped = current._previous_attr, current._wrapped
        else:
            self._previous_attr = current  # _MISSING, or someone's own instance attribute
            wrapped = module.forward
        if not callable(wrapped):
            raise TypeError(f"{type(module).__name__}.forward is not callable, so there is nothing to listen to.")
        self._wrapped = wrapped

        # Look like the wrapped forward to anyone inspecting it (generate() does).
        self.__wrapped__ = wrapped
        self.__signature__ = inspect.signature(wrapped)
        self.__name__ = getattr(wrapped, "__name__", "forward")
        self.__qualname__ = getattr(wrapped, "__qualname__", self.__name__)
        self.__doc__ = getattr(wrapped, "__doc__", None)

        self.capture_cross_attention = capture_cross_attention
        if capture_cross_attention:
            params = self.__signature__.parameters.values()
            if not any(p.name == "output_attentions" or p.kind is p.VAR_KEYWORD for p in params):
                raise TypeError(
                    f"capture_cross_attention=True needs a Hugging Face decoder (its forward takes "
                    f"output_attentions); {type(module).__name__}.forward does not."
                )
        if isinstance(current, ForwardListener):
            current._release(replaced=True)
        if capture_cross_attention:
            try:
                self._switch_to_eager(model if model is not None else module)
            except Exception:
                module.forward = self  # so that clear() gives the module what it had before any listener
                self.clear()
                raise

        module.forward = self
        self._active = True
        ForwardListener._registry.add(self)

    # ------------------------------------------------------------------ the call itself

    def __call__(self, *args, **kwargs):
        if not self._active:  # cleared, but still referenced from somewhere: pass straight through
            return self._wrapped(*args, **kwargs)
        if self._awaiting is not None:  # the output layer never ran after the previous call
            self._awaiting = None
            self._flush()
        ids = kwargs.get("input_ids")
        if ids is None:
            ids = args[0] if args else kwargs.get("inputs_embeds")
            if ids is None:
                ids = next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
        cache = kwargs.get("cache")
        if cache is None:
            cache = kwargs.get("past_key_values")
        self_len, cross_len = _cache_lengths(cache)
        index = ForwardListener._next_index
        ForwardListener._next_index += 1
        step = self._steps
        self._steps += 1

        capture = self.capture_cross_attention and kwargs.get("return_dict") is not False
        if capture:
            kwargs["output_attentions"] = True

        timer = None
        if self.timing:
            if isinstance(ids, torch.Tensor) and ids.is_cuda:
                stream = torch.cuda.current_stream(ids.device)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record(stream)
                out = self._wrapped(*args, **kwargs)
                end.record(stream)
                timer = (start, end)
            else:
                t0 = time.perf_counter()
                out = self._wrapped(*args, **kwargs)
                timer = time.perf_counter() - t0
        else:
            out = self._wrapped(*args, **kwargs)

        xattn = None
        if capture:
            weights = getattr(out, "cross_attentions", None)
            if weights:
                xattn = tuple(w.detach().float().cpu() for w in weights if w is not None) or None
            if xattn is None:
                self._note(
                    "no-xattn",
                    f"note: {self.name} returned no cross-attention weights (is this an encoder-decoder's decoder?).",
                )

        shape = ids.shape if isinstance(ids, torch.Tensor) else None
        self._pending.append((index, step, ids, shape, self_len, cross_len, timer, xattn))
        if not self.quiet:
            if cache is not None or self_len is not None or self._is_decoder_call(kwargs):
                self._hook_output_layer()
            if self._head_hook is not None:
                self._awaiting = index  # printed once the output layer has scored the next token
            else:
                self._flush()
        return out

    # ------------------------------------------------------------------ the top next token

    @staticmethod
    def _is_decoder_call(kwargs) -> bool:
        return kwargs.get("encoder_hidden_states") is not None

    def _hook_output_layer(self) -> None:
        if self._head_hook is not None or self._owner is _NO_OWNER:
            return
        owner = self._owner if self._owner is not None else _calling_model(self.module)
        head = owner.get_output_embeddings() if owner is not None and hasattr(owner, "get_output_embeddings") else None
        if not isinstance(head, nn.Module):
            self._owner = _NO_OWNER
            return
        self._owner = owner
        self._head_hook = head.register_forward_hook(self._on_logits)

    def _on_logits(self, module, args, output) -> None:
        index, self._awaiting = self._awaiting, None
        if index is None or not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        logits = output if output.dim() == 3 else output.unsqueeze(1)  # (rows, positions, vocab)
        self._predictions[index] = logits[0, -1].argmax().detach()
        self._flush()

    # ------------------------------------------------------------------ records

    @property
    def calls(self) -> list[ForwardCall]:
        """The recorded calls, oldest first (reading them waits for any pending GPU timings)."""
        self._awaiting = None
        self._flush()
        return self._calls

    def to_dataframe(self):
        """The records as a pandas DataFrame, one row per call (``ms`` is the time in milliseconds)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the course requirements
            raise ImportError("to_dataframe() needs pandas: `pip install pandas`, or use listener.calls") from exc
        rows = [call.as_row() for call in self.calls]
        columns = ["index", "step", "name", "input_shape", "rows", "tokens", "self_cache_len", "cross_cache_len", "ms"]
        return pd.DataFrame(rows, columns=columns)

    def cross_attention(self) -> torch.Tensor:
        """Captured cross-attention of every decoder call, for the newest position of each call.

        Returns a tensor of shape (calls, layers, rows, heads, src_len); rows are batch * beams.
        """
        captured = [c.cross_attentions for c in self.calls if c.cross_attentions]
        if not captured:
            raise ValueError(
                f"{self!r} recorded no cross-attention: create it on the decoder with capture_cross_attention=True, "
                "then run generation."
            )
        # each layer: (rows, heads, query_len, src_len); the last query is the newest token
        return torch.stack([torch.stack([layer[:, :, -1, :] for layer in call]) for call in captured])

    def reset(self) -> None:
        """Forget this listener's records; it stays attached."""
        self._flush()
        self._calls = []
        self._steps = 0

    @classmethod
    def reset_all(cls) -> None:
        """Forget every listener's records and number calls from #1 again (e.g. before a new generation)."""
        for listener in list(cls._registry):
            listener.reset()
        cls._next_index = 1
        cls._header_shown = False

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for item in pending:
            call = self._make_record(*item)
            self._calls.append(call)
            if not self.quiet:
                self._print(call)

    def _make_record(self, index, step, ids, shape, self_len, cross_len, timer, xattn) -> ForwardCall:
        token_ids = tokens = None
        if _is_token_tensor(ids):
            kind = "token ids"
            row = ids if ids.dim() < 2 else ids[0]
            token_ids = row.reshape(-1).tolist()
            tokens = self._decode(token_ids)
        elif isinstance(ids, torch.Tensor):
            kind = "float tensor"
            self._note(
                "float", f"note: {self.name} is fed {ids.dtype} tensors, not token ids: showing their shapes only."
            )
        else:
            kind = "no tensor"
        if isinstance(timer, tuple):
            start, end = timer
            end.synchronize()
            seconds = start.elapsed_time(end) / 1e3
        else:
            seconds = timer
        predicted_id = self._predictions.pop(index, None)
        predicted_id = None if predicted_id is None else int(predicted_id)
        predicted = None
        if predicted_id is not None and self.tokenizer is not None:
            predicted = (self._decode([predicted_id]) or [None])[0]
        return ForwardCall(
            index=index,
            step=step,
            name=self.name,
            input_kind=kind,
            input_shape=None if shape is None else tuple(shape),
            rows=None if shape is None else (shape[0] if len(shape) >= 2 else 1),
            token_ids=token_ids,
            tokens=tokens,
            self_cache_len=_as_int(self_len),
            cross_cache_len=_as_int(cross_len),
            seconds=seconds,
            predicted_id=predicted_id,
            predicted=predicted,
            cross_attentions=xattn,
        )

    def _decode(self, token_ids: list[int]) -> list[str] | None:
        tok = self.tokenizer
        if tok is None:
            self._note(
                "no-tokenizer",
                f"note: no tokenizer given to the {self.name} listener, so it shows token ids. "
                f"Pass tokenizer=pipe.tokenizer to see the pieces.",
            )
            return None
        if hasattr(tok, "convert_ids_to_tokens"):
            pieces = tok.convert_ids_to_tokens(token_ids)
            return [p if p is not None else str(i) for p, i in zip(pieces, token_ids, strict=True)]
        return [tok.decode([i]) for i in token_ids]

    # ------------------------------------------------------------------ printing

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def _note(self, key: str, text: str) -> None:
        if key not in self._notes_shown and not self.quiet:
            self._notes_shown.add(key)
            print(text, file=self._out())

    def _print(self, call: ForwardCall) -> None:
        if not ForwardListener._header_shown:
            ForwardListener._header_shown = True
            print(_header(self.width, self._name_width, self.show_time), file=self._out())
        print(call.line(self.width, self._name_width, self.show_time), file=self._out())

    # ------------------------------------------------------------------ attention implementation

    def _switch_to_eager(self, target: nn.Module) -> None:
        config = getattr(target, "config", None)
        previous = getattr(config, "_attn_implementation", None)
        if config is None or previous is None:
            raise TypeError(
                f"capture_cross_attention=True needs a Hugging Face model with a config; {type(target).__name__} "
                "has none. Pass model=pipe.model."
            )
        if previous == "eager":
            return
        print(
            f"ForwardListener: switching {type(target).__name__} from {previous!r} to 'eager' attention to record "
            f"cross-attention weights ({previous} kernels compute softmax(QK^T)V in one fused step and never "
            "keep the weights); it is switched back when the listener is cleared.",
            file=self._out(),
        )
        saved = models.switch_attention(target, "eager")
        if config._attn_implementation != "eager":
            models.restore_attention(target, saved)
            raise RuntimeError(
                f"Could not switch {type(target).__name__} to eager attention. Load the model with "
                'attn_implementation="eager" and try again.'
            )
        self._attn_restore = (target, saved)

    # ------------------------------------------------------------------ lifetime

    @property
    def attached(self) -> bool:
        """True while this listener is the module's forward."""
        return self._active and self.module.__dict__.get("forward") is self

    def _release(self, replaced: bool = False) -> None:
        """Stop recording, give back the attention implementation; the module's forward is not touched."""
        self._awaiting = None
        self._flush()
        if self._head_hook is not None:
            self._head_hook.remove()
            self._head_hook = None
        self._active = False
        self._replaced = self._replaced or replaced
        if self._attn_restore is not None:
            target, saved = self._attn_restore
            self._attn_restore = None
            models.restore_attention(target, saved)
        ForwardListener._registry.discard(self)

    def clear(self) -> None:
        """Detach: give the module its own forward back. Records stay readable. Safe to call twice."""
        module = self.module
        if module.__dict__.get("forward") is self:
            if self._previous_attr is _MISSING:
                del module.forward
            else:
                module.forward = self._previous_attr
        self._release()

    @classmethod
    def clear_all(cls) -> int:
        """Detach every listener, restoring every module it touched; returns how many were attached."""
        cleared = 0
        for listener in list(cls._registry):
            cleared += listener.attached
            listener.clear()
        cls._next_index = 1
        cls._header_shown = False
        return cleared

    @classmethod
    def attached_listeners(cls) -> list[ForwardListener]:
        """Every listener currently attached to a module."""
        return [listener for listener in cls._registry if listener.attached]

    def __enter__(self) -> ForwardListener:
        return self

    def __exit__(self, *exc) -> bool:
        self.clear()
        return False

    def __repr__(self) -> str:
        if self.attached:
            state = "attached"
        elif self._replaced:
            state = "detached (replaced by a newer listener)"
        else:
            state = "detached"
        extras = [state, "quiet" if self.quiet else "printing", f"{len(self._calls) + len(self._pending)} calls"]
        if self.capture_cross_attention:
            extras.append("capturing cross-attention")
        return f"<ForwardListener {self.name!r} on {type(self.module).__name__}: {', '.join(extras)}>"
