"""The decode ladder (issue 17): every way of making T5's greedy tokens, fastest last, beside CTranslate2.

For t5-base, t5-large and flan-t5-large (their real shapes with random weights, ``standins``), in
bfloat16 and float32, at batch 1 with a forced length (``min_new_tokens = max_new_tokens``), one row per rung:

1. ``no cache``: ``generate(use_cache=False)``, every step re-runs the decoder over the whole prefix;
2. ``dynamic cache``: plain ``generate()``, the reference every other row's tokens are checked against;
3. ``static cache``: ``generate(cache_implementation="static", disable_compile=True)``;
4. ``static cache + compile``: the same with ``CompileConfig()`` (a CUDA GPU only: ``generate()`` compiles only there);
5. ``static step``: ``extras_and_licenses.fast_decode``'s step, uncaptured (what the CPU runs);
6. ``captured step``: that step recorded once as a CUDA graph and replayed per token (GPU only);
7. ``compiled step``: that step under ``torch.compile(mode="reduce-overhead", fullgraph=True)`` (GPU only);
8. ``CTranslate2``: the same random weights converted with CTranslate2's Transformers converter, run in this
   process on the same device (if it cannot run, the row says why);

and ``floor``: decoder weight bytes / copy bandwidth (``extras_and_licenses.decoding``), the time no batch-1
step can beat. Each timed row has its median ms per token over ``repeats`` runs (each run includes the
encoder, as ``generate()`` does), how many times the floor it is, its ratio to CTranslate2 and to plain
``generate()``, and whether its tokens equal plain ``generate()``'s (and, for the static rungs,
``generate()`` with a static cache: in bfloat16 a static cache's masked, full-length attention rounds
differently from the dynamic cache's, so with random weights the two can part after some tokens).

    python bench/decode_ladder.py --smoke                  # CPU, tiny shapes, seconds: checks it runs
    python bench/decode_ladder.py --device cuda            # the whole ladder on a GPU
    python bench/decode_ladder.py --device cpu --models t5-base --dtypes float32 --new-tokens 16
    python bench/run_gpu_benchmarks.py --parts ladder      # the same, into bench/results/ and BENCHMARKS.md

``ladder(...)`` returns the rows (a list of dicts); ``markdown(...)`` renders them.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from extras_and_licenses import fast_decode, standins  # noqa: E402
from extras_and_licenses.decoding import copy_bandwidth, floor_ms_per_token, synchronize, time_generate  # noqa: E402

MODELS = ("t5-large", "flan-t5-large", "t5-base")  # t5-large first: it carries the goal
MODEL_IDS = {"t5-base": "t5-base", "t5-large": "t5-large", "flan-t5-large": "google/flan-t5-large"}
RUNGS = (
    "no cache",
    "dynamic cache",
    "static cache",
    "static cache + compile",
    "static step",
    "captured step",
    "compiled step",
    "CTranslate2",
)
FLOOR = "floor"
GOALS_MS = {"t5-base": 0.5, "t5-large": 1.0, "flan-t5-large": 1.0}  # bfloat16, batch 1, H100/H200
COMPILE_GUESS_S = 90  # a first torch.compile of a t5-large step, until one has been timed
SOURCE_TEXT = "translate English to German: The house is wonderful and the garden is big."


def _status(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ""
    return f"failed: {type(exc).__name__}: {text}"


def _time_runs(run, device, repeats: int, warmup: int) -> tuple[list[float], object]:
    """Wall seconds of ``repeats`` calls of ``run()`` after ``warmup`` untimed ones; and the last result."""
    result, seconds = None, []
    for index in range(warmup + repeats):
        synchronize(device)
        started = time.perf_counter()
        result = run()
        synchronize(device)
        if index >= warmup:
            seconds.append(time.perf_counter() - started)
    return seconds, result


def _generate_rungs(device):
    """The four generate() rungs: (rung, kwargs, warm-up runs), the dynamic cache first (the reference)."""
    rungs = [
        ("dynamic cache", {}, 1),
        ("no cache", {"use_cache": False}, 1),
        ("static cache", {"cache_implementation": "static", "disable_compile": True}, 1),
    ]
    if device.type == "cuda":
        from transformers import CompileConfig

        rungs.append(
            ("static cache + compile", {"cache_implementation": "static", "compile_config": CompileConfig()}, 2)
        )
    return rungs


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


def ladder(
    models=MODELS,
    dtypes=("bfloat16", "float32"),
    device="cuda",
    *,
    new_tokens: int = 32,
    repeats: int = 5,
    smoke: bool = False,
    deadline: float | None = None,
    bandwidth: float | None = None,
    log=print,
    on_rows=None,
) -> list[dict]:
    """Measure the ladder; returns one row dict per (model, dtype, rung), the floor included.

    ``smoke``: tiny versions of each shape (``standins.tiny_config``). ``deadline`` (a ``time.perf_counter()``
    value): rungs that would not finish by then are recorded as skipped (the compiled rungs are guessed
    at ``COMPILE_GUESS_S`` until one has been timed). ``bandwidth`` in bytes per second (measured here when
    not given). ``on_rows(rows)`` is called with each model and dtype's finished rows. The dtypes loop
    outside the models: the bfloat16 rows, which carry the goals, come first.
    """
    device = torch.device(device)
    if bandwidth is None:
        bandwidth = copy_bandwidth(device, megabytes=64 if smoke else None, repeats=3 if smoke else 5)
    state = _Ladder(device, new_tokens, repeats, smoke, deadline, bandwidth, log)
    rows: list[dict] = []
    for dtype in dtypes:
        for name in models:
            model_rows = state.measure(name, dtype)
            rows += model_rows
            if on_rows is not None:
                on_rows(model_rows)
    return rows


class _Ladder:
    """What every model's rungs share: the device, the prompt, the clock, the guess of a compile's cost."""

    def __init__(self, device, new_tokens, repeats, smoke, deadline, bandwidth, log):
        self.device, self.new_tokens, self.repeats, self.smoke = device, new_tokens, repeats, smoke
        self.deadline, self.bandwidth, self.log = deadline, bandwidth, log
        self.tokenizer = standins.build_tokenizer()
        self.inputs = self.tokenizer(SOURCE_TEXT, return_tensors="pt", truncation=True, max_length=24).to(device)
        self.compile_guess_s = COMPILE_GUESS_S * (0.1 if smoke else 1.0)  # updated once a compile is timed

    def out_of_time(self, needed_s: float = 0.0) -> bool:
        return self.deadline is not None and time.perf_counter() + needed_s > self.deadline

    def timed_compile(self, started: float) -> None:
        self.compile_guess_s = max(self.compile_guess_s, 1.1 * (time.perf_counter() - started))

    def measure(self, name: str, dtype: str) -> list[dict]:
        """Every rung for one model and dtype; the rows, with their ratios and token identity filled in."""
        device, inputs, new_tokens, repeats = self.device, self.inputs, self.new_tokens, self.repeats
        config = standins.read_config(MODEL_IDS[name])
        config = standins.tiny_config(config) if self.smoke else config
        base = {"model": name, "dtype": dtype, "device": str(device), "new_tokens": new_tokens}
        base["source_tokens"] = inputs["input_ids"].shape[1]
        rows: list[dict] = []

        def add(rung, **fields):
            row = {**base, "rung": rung, **fields}
            rows.append(row)
            shown = f"{row['ms_per_token']:.3f} ms/token" if row.get("ms_per_token") is not None else row["status"]
            self.log(f"   ladder {name} {dtype} {rung}: {shown}")

        if dtype == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            add(FLOOR, status="skipped: this GPU has no bfloat16")
            return rows
        model = standins.build_model(config, device, getattr(torch, dtype))
        add(
            FLOOR,
            status="ok",
            ms_per_token=floor_ms_per_token(model, self.bandwidth),
            bandwidth_gb_s=self.bandwidth / 1e9,
        )
        outputs = {}

        # rungs 1-4: generate()
        for rung, kwargs, warmup in _generate_rungs(device):
            compiled = "compile_config" in kwargs
            if self.out_of_time(self.compile_guess_s if compiled else 0.0):
                add(rung, status="skipped: out of time")
                continue
            started = time.perf_counter()
            try:
                if compiled:
                    torch._dynamo.reset()  # each model and dtype compiles afresh
                warmup = 0 if self.smoke else warmup
                timing = time_generate(model, inputs, new_tokens, repeats=repeats, warmup=warmup, **kwargs)
                outputs[rung] = timing.output_ids
                add(rung, status="ok", ms_per_token=timing.ms_per_token, runs_ms=_ms(timing.seconds))
                if compiled:
                    self.timed_compile(started)
            except Exception as exc:  # noqa: BLE001 - recorded, and the ladder goes on
                add(rung, status=_status(exc))
            finally:
                if compiled:
                    torch._dynamo.reset()
        if device.type != "cuda":
            add("static cache + compile", status="skipped: generate() compiles only on a CUDA device")

        # rungs 5-7: the hand-written static step, uncaptured, captured, compiled
        problem = fast_decode.capture_problem(device)
        for rung, method in (("static step", "static"), ("captured step", "graph"), ("compiled step", "compile")):
            if method != "static" and problem:
                add(rung, status=f"skipped: {problem}")
                continue
            if self.out_of_time(self.compile_guess_s if method == "compile" else 0.0):
                add(rung, status="skipped: out of time")
                continue
            started = time.perf_counter()
            try:
                add(rung, **_time_static_step(model, inputs, new_tokens, repeats, method, device, outputs))
                if method == "compile":
                    self.timed_compile(started)
            except Exception as exc:  # noqa: BLE001
                add(rung, status=_status(exc))
            finally:
                if method == "compile":
                    torch._dynamo.reset()

        # rung 8: CTranslate2
        if self.out_of_time():
            add("CTranslate2", status="skipped: out of time")
        else:
            add("CTranslate2", **_time_ct2(model, self.tokenizer, inputs, new_tokens, repeats, dtype, device, outputs))

        _ratios(rows, outputs)
        del model
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return rows


def _ms(seconds: list[float]) -> list[float]:
    return [round(s * 1e3, 3) for s in seconds]


def _time_static_step(model, inputs, new_tokens, repeats, method, device, outputs) -> dict:
    started = time.perf_counter()
    decoder = fast_decode.StaticT5Decoder(model, *inputs["input_ids"].shape, new_tokens, new_tokens)
    decoder.load(inputs["input_ids"], inputs["attention_mask"])
    step = decoder.step
    if method == "graph":
        step = fast_decode.capture_cuda_graph(decoder).replay
    elif method == "compile":
        step = fast_decode.compile_step(decoder)
        for _ in range(3):
            step()
    prepare_s = time.perf_counter() - started

    def run():  # as generate() does per call: encode, then decode
        decoder.load(inputs["input_ids"], inputs["attention_mask"])
        return decoder.decode(step, check_every=new_tokens)

    seconds, ids = _time_runs(run, device, repeats, warmup=1)
    outputs[method] = ids
    made = ids.shape[1] - 1
    if made != new_tokens:
        raise RuntimeError(f"the step made {made} tokens, not {new_tokens}")
    return {
        "status": "ok",
        "ms_per_token": statistics.median(seconds) / new_tokens * 1e3,
        "runs_ms": _ms(seconds),
        "prepare_s": round(prepare_s, 2),
        "cache_mb": round(decoder.cache_bytes() / 1e6, 2),
    }


def _time_ct2(model, tokenizer, inputs, new_tokens, repeats, dtype, device, outputs) -> dict:
    peer = None
    try:
        with tempfile.TemporaryDirectory(prefix="ct2-") as workdir:
            started = time.perf_counter()
            peer = CT2Peer(model, tokenizer, dtype, device, Path(workdir))
            convert_s = time.perf_counter() - started
            seconds, ids = _time_runs(lambda: peer.run(inputs["input_ids"], new_tokens), device, repeats, warmup=1)
        outputs["ct2"] = ids.to(inputs["input_ids"].device)
        return {
            "status": "ok",
            "ms_per_token": statistics.median(seconds) / new_tokens * 1e3,
            "runs_ms": _ms(seconds),
            "prepare_s": round(convert_s, 2),
            "version": peer.version,
        }
    except ImportError as exc:
        return {"status": f"skipped: ctranslate2 is not installed ({exc})"}
    except Exception as exc:  # noqa: BLE001 - CUDA library versions, compute types: recorded
        return {"status": _status(exc)}
    finally:
        if peer is not None:
            peer.close()


OUTPUT_KEYS = {"static step": "static", "captured step": "graph", "compiled step": "compile", "CTranslate2": "ct2"}


def _ratios(model_rows: list[dict], outputs: dict) -> None:
    """Fill in each row's multiples of the floor, of CTranslate2 and of generate(), and its token identity."""
    by_rung = {row["rung"]: row for row in model_rows}
    floor = by_rung.get(FLOOR, {}).get("ms_per_token")
    ct2 = by_rung.get("CTranslate2", {}).get("ms_per_token")
    eager = by_rung.get("dynamic cache", {}).get("ms_per_token")
    reference, static = outputs.get("dynamic cache"), outputs.get("static cache")
    for row in model_rows:
        ms = row.get("ms_per_token")
        if ms is None or row["rung"] == FLOOR:
            continue
        row["x_floor"] = ms / floor if floor else None
        row["x_ct2"] = ms / ct2 if ct2 else None
        row["x_generate"] = ms / eager if eager else None
        ids = outputs.get(OUTPUT_KEYS.get(row["rung"], row["rung"]))
        if ids is not None and reference is not None:
            row["same_tokens_as_generate"] = bool(ids.shape == reference.shape and torch.equal(ids, reference))
            if not row["same_tokens_as_generate"] and ids.shape == reference.shape:
                row["first_difference"] = int((ids != reference).any(0).nonzero()[0])
        if ids is not None and static is not None and row["rung"] in ("static step", "captured step", "compiled step"):
            row["same_tokens_as_static_generate"] = bool(ids.shape == static.shape and torch.equal(ids, static))


# ------------------------------------------------------------------ reporting
def _fmt_ms(value) -> str:
    return "-" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}")


def _fmt_x(value) -> str:
    return "-" if value is None else (f"{value:.2f}x" if value < 10 else f"{value:,.0f}x")


def _identity(row: dict) -> str:
    same = row.get("same_tokens_as_generate")
    if same is None:
        return "-"
    text = "yes" if same else f"no (from token {row.get('first_difference', '?')})"
    if row.get("same_tokens_as_static_generate") is not None:
        text += "; static generate(): " + ("yes" if row["same_tokens_as_static_generate"] else "no")
    return text


def table(rows: list[dict]) -> list[str]:
    """Markdown lines: one table per model and dtype, the rungs in order, the floor last."""
    out = []
    keys = []
    for row in rows:
        if (row["model"], row["dtype"]) not in keys:
            keys.append((row["model"], row["dtype"]))
    for model, dtype in keys:
        group = {r["rung"]: r for r in rows if r["model"] == model and r["dtype"] == dtype}
        first = next(iter(group.values()))
        out += [
            "",
            f"**{model}, {dtype}** (batch 1, {first.get('source_tokens', '?')}-token source, "
            f"{first.get('new_tokens', '?')} forced new tokens, {first.get('device', '?')})",
            "",
            "| rung | ms/token | x floor | x CTranslate2 | x generate() | same tokens as generate() | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for rung in (*RUNGS, FLOOR):
            row = group.get(rung)
            if row is None:
                continue
            note = "" if row.get("status") == "ok" else row.get("status", "")
            if rung == FLOOR:
                note = (
                    f"decoder weights / {row.get('bandwidth_gb_s', 0):,.0f} GB/s" if row.get("status") == "ok" else note
                )
            elif row.get("prepare_s") is not None:
                note = f"prepare {row['prepare_s']:.1f} s" + (
                    f"; CTranslate2 {row['version']}" if row.get("version") else ""
                )
            out.append(
                f"| {rung} | {_fmt_ms(row.get('ms_per_token'))} | {_fmt_x(row.get('x_floor'))} | "
                f"{_fmt_x(row.get('x_ct2'))} | {_fmt_x(row.get('x_generate'))} | {_identity(row)} | "
                f"{note.replace('|', '/')} |"
            )
    return out


def goal_lines(rows: list[dict], device_name: str) -> list[str]:
    """The issue's goals against the fastest hand-written rung, bfloat16, batch 1."""
    out = []
    gpu = any(tag in device_name for tag in ("H100", "H200"))
    for model, goal in GOALS_MS.items():
        mine = [
            r
            for r in rows
            if r["model"] == model and r["dtype"] == "bfloat16" and r["rung"] in ("captured step", "compiled step")
        ]
        mine = [r for r in mine if r.get("ms_per_token") is not None]
        ct2 = next(
            (r for r in rows if r["model"] == model and r["dtype"] == "bfloat16" and r["rung"] == "CTranslate2"), {}
        )
        if not mine:
            out.append(f"- {model}, bfloat16: <= {goal} ms/token: not measured (no captured step ran here)")
            continue
        best = min(mine, key=lambda r: r["ms_per_token"])
        verdict = ("met" if best["ms_per_token"] <= goal else "NOT met") if gpu else "goal is for an H100/H200"
        peer = ""
        if ct2.get("ms_per_token"):
            peer = (
                "; faster than CTranslate2"
                if best["ms_per_token"] < ct2["ms_per_token"]
                else "; NOT faster than CTranslate2"
            )
        out.append(
            f"- {model}, bfloat16: <= {goal} ms/token: {best['ms_per_token']:.3f} ({best['rung']}): {verdict}{peer}"
        )
    return out


def markdown(rows: list[dict], device_name: str = "") -> str:
    lines = ["Goals (issue 17):", *goal_lines(rows, device_name), *table(rows)]
    return "\n".join(lines) + "\n"


def cpu_ratio(rows: list[dict]) -> list[str]:
    """On the CPU: the static step against generate(), as a ratio, per model and dtype."""
    out = []
    for row in rows:
        if row["rung"] == "static step" and row.get("x_generate"):
            out.append(f"{row['model']} {row['dtype']}: static step / generate() = {row['x_generate']:.3f}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, 4 tokens, 1 repeat: checks it runs")
    parser.add_argument("--device", default=None, help="cuda (default when there is one), cpu")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--dtypes", nargs="+", choices=["bfloat16", "float32"], default=None)
    parser.add_argument("--new-tokens", type=int, default=None, help="forced new tokens (default 32; smoke 4)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per rung (default 5; smoke 1)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.smoke else "cpu"))
    dtypes = args.dtypes or (["float32"] if args.smoke else ["bfloat16", "float32"])
    rows = ladder(
        args.models,
        dtypes,
        device,
        new_tokens=args.new_tokens or (4 if args.smoke else 32),
        repeats=args.repeats or (1 if args.smoke else 5),
        smoke=args.smoke,
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(markdown(rows, name))
    for line in cpu_ratio(rows) if device.type == "cpu" else []:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
