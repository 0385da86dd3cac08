"""Helper package for the encoder-decoder lessons (T5 and Flan-T5).

Modules, one purpose each:

- ``models``            model ids, pinned revisions, device/dtype choice, loading, demo fallback
- ``prefetch``          download the lesson models ahead of class (``python -m extras_and_licenses prefetch``)
- ``doctor``            pre-flight report (``python -m extras_and_licenses doctor``)
- ``environment``       the tested version ranges (requirements.txt) and every lesson's first-cell check
- ``pipelines``         seq2seq pipelines for transformers 5 (lesson 01)
- ``forward_listener``  log every encoder/decoder call during generation (lessons 01-03)
- ``fast_decode``       greedy T5 decoding with a static cache and one captured decoder step (lesson 03)

Licence notices for the models and libraries live in ``extras_and_licenses/licenses/``.
"""

__version__ = "0.1.0"
