"""Switching a model's attention implementation ("sdpa", "eager", ...) for a while, and back.

Fused kernels such as ``sdpa`` compute softmax(QK^T)V in one step and never keep the attention weights;
``eager`` does. So the tools that show attention switch a model to ``eager`` while they record, then put
it back: ``forward_listener`` (lessons 01-03) and ``attention_explorer`` (lesson 02). Re-exported by
``models``.
"""

from __future__ import annotations


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
