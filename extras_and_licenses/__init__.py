"""Helper package for the encoder-decoder lessons (T5 and Flan-T5).

The three things most lessons use, importable from the top::

    from extras_and_licenses import pipeline, ForwardListener, load_model

Modules, one purpose each:

- ``models``              loading a lesson model, demo fallback (every lesson); re-exports the next five
- ``catalog``             the lesson models' ids, pinned revisions and sizes; demo mode
- ``placement``           device and dtype choice, each lesson's GPU memory need (``LESSON_MEMORY``)
- ``hub_cache``           is a model complete in the cache, is the hub reachable, why a download failed
- ``banners``             the demo and stand-in banners, once per kernel; "are we in a Jupyter kernel"
- ``attention_switch``    another attention implementation for a while, and back (eager, to read the weights)
- ``prefetch``            download the lesson models ahead of class (``python -m extras_and_licenses prefetch``)
- ``doctor``              pre-flight report (``python -m extras_and_licenses doctor``; lesson 00)
- ``environment``         the library versions the lessons need, checked at the top of every lesson
- ``gpu_cap``             the per-kernel GPU memory cap for a class sharing one GPU
- ``pipelines``           seq2seq pipelines for transformers 5: the classes, their stages, ``pipeline()`` (lesson 01)
- ``pipeline_checks``     the pipelines' input checks, messages and generation settings
- ``forward_listener``    log every encoder/decoder call during generation (lessons 01-03)
- ``forward_calls``       the listener's call records and the columns of its log
- ``cross_attention``     capture one translation's cross-attention weights and outputs (lesson 02)
- ``attention_plots``     draw captured cross-attention with matplotlib (lesson 02)
- ``attention_explorer``  step through captured cross-attention in a widget; re-exports the capture and plots
- ``decoding``            time per new token and the memory-bandwidth floor (lesson 03, bench/)
- ``fast_decode``         lesson 03's static, replayed T5 decoder step
- ``fast_decode_checks``  what that step refuses (models, settings, machines) and why
- ``claims``              behaviour claims about trained checkpoints, checked without stopping a class
- ``standins``            the lesson models' architectures with random weights, for the GPU benchmark

Licence notices for the models and libraries live in ``extras_and_licenses/licenses/``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The top-level names, imported on first use: ``import extras_and_licenses`` (and the doctor and
# prefetch commands) stays quick, without torch or transformers.
_LAZY = {
    "pipeline": "pipelines",
    "ForwardListener": "forward_listener",
    "load_model": "models",
}
__all__ = ["ForwardListener", "load_model", "pipeline"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
