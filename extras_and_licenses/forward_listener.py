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
``listener.to_dataframe()``); the records and the log's columns live in ``forward_calls``.

Used by lesson 01 (seeing generation happen), lesson 02 (``capture_cross_attention`` in
``cross_attention`` records the weights with a quiet decoder listener and
``capture_cross_attention=True``) and lesson 03 (cache length per step). Lesson 01 attaches it so::

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
- ``quiet=True`` only records: it decodes nothing, predicts nothing and never waits for the GPU.
  On CUDA each call is timed with two CUDA events on the current stream, read only when the
  records are (``listener.calls``), so quiet listeners add no synchronisation per token. A
  printing listener waits for each call to print its line: fine for a demo, wrong for a
  benchmark. The log shows times only with ``show_time=True`` (a few ms per call is mostly noise).
- For the top next token, a printing decoder listener finds the model that called it (the
  ``model`` argument, or the caller of its first call) and puts a forward hook that only reads
  the logits on that model's output layer (``lm_head``). The hook goes when the listener does.
- Cache lengths are read from the ``cache`` keyword (transformers 5) or ``past_key_values``
  (transformers 4) at the start of the call: the cache object is updated in place.
- ``capture_cross_attention=True`` records the cross-attention weights of every decoder call.
  The fused sdpa and flash kernels never materialise the weights, so it switches the model to
  eager attention first, says so, and switches it back when cleared (``attention_switch``).
"""

from __future__ import annotations

import inspect
import sys
import time
import weakref
from typing import ClassVar

import torch
from torch import nn

from .attention_switch import EagerSwitch, switch_to_eager
from .forward_calls import ROW_COLUMNS, ForwardCall, PendingCall, TopTokenHook, cache_lengths, fed_tensor, header

__all__ = ["ForwardCall", "ForwardListener"]

_MISSING = object()  # "the module had no instance attribute `forward`"


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
        self.quiet, self.timing, self.show_time = quiet, timing, show_time
        self.width, self.file = width, file
        self._name_width = max(8, len(self.name))
        self._calls: list[ForwardCall] = []
        self._pending: list[PendingCall] = []  # calls whose records are not written yet
        self._steps = 0
        self._notes_shown: set[str] = set()
        self._active = False
        self._replaced = False
        self._switched: EagerSwitch | None = None  # set while capturing on a model switched to eager
        self._top = TopTokenHook(model, on_scored=self._flush)  # a printing decoder's "→ top next token"

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
            target = model if model is not None else module
            try:
                if getattr(getattr(target, "config", None), "_attn_implementation", None) is None:
                    raise TypeError(
                        f"capture_cross_attention=True needs a Hugging Face model with a config; "
                        f"{type(target).__name__} has none. Pass model=pipe.model."
                    )
                self._switched = switch_to_eager(target, "ForwardListener", "when the listener is cleared", file)
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
        if self._top.awaiting is not None:  # the output layer never ran after the previous call
            self._top.awaiting = None
            self._flush()
        fed = fed_tensor(args, kwargs)
        cache = kwargs.get("cache") if kwargs.get("cache") is not None else kwargs.get("past_key_values")
        pending = PendingCall(ForwardListener._next_index, self._steps, fed, *cache_lengths(cache))
        ForwardListener._next_index += 1
        self._steps += 1

        capture = self.capture_cross_attention and kwargs.get("return_dict") is not False
        if capture:
            kwargs["output_attentions"] = True
        if self.timing and isinstance(fed, torch.Tensor) and fed.is_cuda:
            stream = torch.cuda.current_stream(fed.device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            out = self._wrapped(*args, **kwargs)
            end.record(stream)
            pending.cuda_events = (start, end)
        elif self.timing:
            t0 = time.perf_counter()
            out = self._wrapped(*args, **kwargs)
            pending.seconds = time.perf_counter() - t0
        else:
            out = self._wrapped(*args, **kwargs)
        if capture:
            pending.cross_attentions = self._weights_of(out)

        self._pending.append(pending)
        if not self.quiet:
            if cache is not None or kwargs.get("encoder_hidden_states") is not None:  # a decoder call
                self._top.attach(self.module)
            if self._top.attached:
                self._top.awaiting = pending.index  # printed once the output layer has scored the next token
            else:
                self._flush()
        return out

    def _weights_of(self, out) -> tuple[torch.Tensor, ...] | None:
        """The cross-attention weights a decoder call returned, one (rows, heads, query_len, src_len) per layer."""
        weights = getattr(out, "cross_attentions", None) or ()
        kept = tuple(w.detach().float().cpu() for w in weights if w is not None) or None
        if kept is None:
            self._note(
                "no-xattn",
                f"note: {self.name} returned no cross-attention weights (is this an encoder-decoder's decoder?).",
            )
        return kept

    # ------------------------------------------------------------------ records

    @property
    def calls(self) -> list[ForwardCall]:
        """The recorded calls, oldest first (reading them waits for any pending GPU timings)."""
        self._top.awaiting = None
        self._flush()
        return self._calls

    def to_dataframe(self):
        """The records as a pandas DataFrame, one row per call (``ms`` is the time in milliseconds)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the course requirements
            raise ImportError("to_dataframe() needs pandas: `pip install pandas`, or use listener.calls") from exc
        return pd.DataFrame([call.as_row() for call in self.calls], columns=list(ROW_COLUMNS))

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
        """Write the records of the calls still pending (and print them, unless quiet)."""
        pending, self._pending = self._pending, []
        for item in pending:
            if item.kind == "token ids" and self.tokenizer is None:
                self._note(
                    "no-tokenizer",
                    f"note: no tokenizer given to the {self.name} listener, so it shows token ids. "
                    f"Pass tokenizer=pipe.tokenizer to see the pieces.",
                )
            elif item.kind == "float tensor":
                self._note(
                    "float",
                    f"note: {self.name} is fed {item.fed.dtype} tensors, not token ids: showing their shapes only.",
                )
            call = item.record(self.name, self.tokenizer, self._top.pop(item.index))
            self._calls.append(call)
            if not self.quiet:
                self._print(call)

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
            print(header(self.width, self._name_width, self.show_time), file=self._out())
        print(call.line(self.width, self._name_width, self.show_time), file=self._out())

    # ------------------------------------------------------------------ lifetime

    @property
    def attached(self) -> bool:
        """True while this listener is the module's forward."""
        return self._active and self.module.__dict__.get("forward") is self

    def _release(self, replaced: bool = False) -> None:
        """Stop recording, give back the attention implementation; the module's forward is not touched."""
        self._top.awaiting = None
        self._flush()
        self._top.remove()
        self._active = False
        self._replaced = self._replaced or replaced
        if self._switched is not None:
            self._switched.restore()
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
