"""CTranslate2 beside the decode ladder (``bench.decode_ladder``): the same random weights, converted.

``CT2Peer`` saves the model, converts it with CTranslate2's Transformers converter and loads it on the same
device, in this process; ``time_ct2`` times its greedy decoding as the ladder times its own rungs
(``extras_and_licenses.decoding.time_calls``) and returns the row, or a row saying why it could not run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from extras_and_licenses.decoding import time_calls


class CT2Peer:
    """CTranslate2 on the same random weights: the model saved, converted, loaded on the same device."""

    def __init__(self, model, tokenizer, dtype: str, device: torch.device, workdir: Path):
        import ctranslate2
        from ctranslate2.converters import TransformersConverter

        self.version = ctranslate2.__version__
        hf_dir, ct2_dir = workdir / "hf", workdir / "ct2"
        model.save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        TransformersConverter(str(hf_dir)).convert(str(ct2_dir), quantization=dtype, force=True)
        kwargs = {"device": device.type, "compute_type": dtype}
        if device.type == "cuda":
            kwargs["device_index"] = device.index or 0
        else:
            kwargs["intra_threads"] = torch.get_num_threads()
        self.translator = ctranslate2.Translator(str(ct2_dir), **kwargs)
        self.tokenizer, self.start = tokenizer, model.config.decoder_start_token_id

    def run(self, input_ids, new_tokens: int) -> torch.Tensor:
        source = [self.tokenizer.convert_ids_to_tokens(row.tolist()) for row in input_ids.cpu()]
        results = self.translator.translate_batch(
            source, beam_size=1, max_decoding_length=new_tokens, min_decoding_length=new_tokens
        )
        ids = [[self.start] + self.tokenizer.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
        return torch.tensor(ids)

    def close(self) -> None:
        del self.translator


def time_ct2(model, tokenizer, inputs, new_tokens, repeats, dtype, device) -> dict:
    """The CTranslate2 row: its ms per token, and its last output as ``output_ids`` (for the token check).

    Without the ctranslate2 package the row says so ("skipped: ..."); other failures (CUDA library
    versions, compute types) raise, for the ladder to record as the row's status."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError as exc:
        return {"status": f"skipped: ctranslate2 is not installed ({exc})"}
    peer = None
    try:
        with tempfile.TemporaryDirectory(prefix="ct2-") as workdir:
            started = time.perf_counter()
            peer = CT2Peer(model, tokenizer, dtype, device, Path(workdir))
            convert_s = time.perf_counter() - started
            timing = time_calls(lambda: peer.run(inputs["input_ids"], new_tokens), device, new_tokens, repeats=repeats)
        return {
            "status": "ok",
            "ms_per_token": timing.ms_per_token,
            "runs_ms": [round(s * 1e3, 3) for s in timing.seconds],
            "prepare_s": round(convert_s, 2),
            "version": peer.version,
            "output_ids": timing.output_ids.to(inputs["input_ids"].device),
        }
    finally:
        if peer is not None:
            peer.close()
