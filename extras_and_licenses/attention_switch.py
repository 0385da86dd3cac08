"""Switching a model's attention implementation ("sdpa", "eager", ...) for a while, and back.

What it is for: transformers 5 runs attention through fused kernels by default (``sdpa``, or
flash attention). They compute softmax(QK^T)V in one go and never materialise the attention
weights, so asking for ``output_attentions`` gets nothing back. The plain ``eager``
implementation builds the weights as a tensor. Every way to switch here puts the previous
implementation back on every config inside the model (:func:`switch_attention`,
:func:`restore_attention`; re-exported by ``models``), so the learner's model is never left switched:

- :func:`eager_attention`, a context manager, for one ``with`` block (lesson 02 shows it;
  ``cross_attention.capture_cross_attention`` runs generation inside it);
- :func:`switch_to_eager`, for a longer lifetime: a ``ForwardListener`` with
  ``capture_cross_attention=True`` switches when it is attached and calls
  :meth:`EagerSwitch.restore` when it is cleared.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotations: models and doctor import this module, and stay quick without torch
    from torch import nn

__all__ = [
    "EagerSwitch",
    "eager_attention",
    "implementation",
    "restore_attention",
    "switch_attention",
    "switch_to_eager",
]


def switch_attention(module, implementation: str) -> list:
    """Put ``module`` (a model or a part of one) on attention ``implementation``; return what to restore.

    Hugging Face models read the implementation from their config at run time, and T5's encoder
    and decoder keep copies of the config, which releases of transformers 5 before 5.24 leave
    alone in ``set_attn_implementation``. So every distinct config inside ``module`` is switched.
    Give the returned list to :func:`restore_attention` to put everything back.
    """
    configs = {}
    for sub in module.modules():
        config = getattr(sub, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            configs.setdefault(id(config), config)
    saved = [(config, config._attn_implementation) for config in configs.values()]
    top = getattr(module, "config", None)
    if top is not None and top._attn_implementation != implementation and hasattr(module, "set_attn_implementation"):
        module.set_attn_implementation(implementation)
    for config, _ in saved:
        config._attn_implementation = implementation
    return saved


def restore_attention(module, saved: list) -> None:
    """Undo :func:`switch_attention`: every config back to the implementation it had."""
    top = getattr(module, "config", None)
    for config, implementation in saved:
        if (
            config is top
            and config._attn_implementation != implementation
            and hasattr(module, "set_attn_implementation")
        ):
            module.set_attn_implementation(implementation)
    for config, implementation in saved:
        config._attn_implementation = implementation


def implementation(model: nn.Module) -> str:
    """The attention implementation ``model`` runs now (``"sdpa"``, ``"eager"``, ...)."""
    return getattr(model.config, "_attn_implementation", None) or "eager"


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[str]:
    """Run the body with ``model`` on eager attention; put the previous implementation back after.

    Yields the previous implementation's name (``"sdpa"``, ``"eager"``, ...). The restore runs
    even when the body raises, so an interrupted capture never leaves the model switched. Every
    config inside the model is switched (:func:`switch_attention`).
    """
    previous = implementation(model)
    saved = switch_attention(model, "eager")
    try:
        yield previous
    finally:
        restore_attention(model, saved)


@dataclass
class EagerSwitch:
    """A model that :func:`switch_to_eager` switched; :meth:`restore` puts it back (once)."""

    model: nn.Module
    previous: str  # the implementation it ran before
    saved: list  # what restore_attention needs
    restored: bool = False

    def restore(self) -> None:
        if not self.restored:
            self.restored = True
            restore_attention(self.model, self.saved)


def switch_to_eager(model: nn.Module, who: str, until: str, file=None) -> EagerSwitch | None:
    """Switch ``model`` to eager attention until :meth:`EagerSwitch.restore`; ``None`` if it already was.

    Says so first (``who`` switches it; it is switched back ``until``). Raises ``RuntimeError``,
    leaving the model as it was, when the switch does not take.
    """
    previous = implementation(model)
    if previous == "eager":
        return None
    print(
        f"{who}: switching {type(model).__name__} from {previous!r} to 'eager' attention to record "
        f"cross-attention weights ({previous} kernels compute softmax(QK^T)V in one fused step and never "
        f"keep the weights); it is switched back {until}.",
        file=file if file is not None else sys.stdout,
    )
    saved = switch_attention(model, "eager")
    if implementation(model) != "eager":
        restore_attention(model, saved)
        raise RuntimeError(
            f"Could not switch {type(model).__name__} to eager attention. Load the model with "
            'attn_implementation="eager" and try again.'
        )
    return EagerSwitch(model, previous, saved)
