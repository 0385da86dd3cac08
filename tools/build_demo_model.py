"""Build the course's demo model: a tiny T5 that really translates templated English.

    python tools/build_demo_model.py            # writes extras_and_licenses/demo_model/
    python tools/build_demo_model.py --steps 200 --out /tmp/demo   # a quick trial

The shipped model came from the defaults: the cosine schedule is laid out over 8,000 steps, and the
run stopped at the first check (every 500 steps) where all held-out sentences, the greetings and the
cola answers were right, after 5,001 steps (the card's ``train_steps``). At 0.16 s a step on two idle
CPU cores that is about 13 minutes; the run that made it shared the cores and took 22.

Steps: write the corpus (``tools/demo_corpus.py``), train a sentencepiece unigram
tokenizer on it, build a T5 with the real T5 architecture at a tiny size, train it with
teacher forcing on all four task formats, check it on held-out sentences, and save
safetensors weights plus tokenizer files that transformers 5.x and 4.57 both read.

The result stands in for t5-base, t5-large and flan-t5-large when those cannot be had
(no cache, no network) or when COURSE_DEMO_MODE=1. Its outputs are a toy's.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_corpus as corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "extras_and_licenses" / "demo_model"

TASK_SPECIFIC_PARAMS = {
    "translation_en_to_fr": {"prefix": corpus.FR_PREFIX, "max_length": 64, "num_beams": 1},
    "translation_en_to_de": {"prefix": corpus.DE_PREFIX, "max_length": 64, "num_beams": 1},
}


SAMPLE_TEXT = "translate English to German: Hello, my name is Zoe. <extra_id_0> The red cat sees the dog."


WORDS_FILE = Path(__file__).resolve().parent / "demo_vocab_words.txt"
# English prose the project ships: the lessons' own words become whole pieces.
PROSE_FILES = ("README.md", "notebooks/*.ipynb")
# Every character a learner is likely to type, so that none of them becomes <unk>.
ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 "
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ "
    "àâäçéèêëîïôöùûüÿœæß ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ áíóúñ €£°«»–—…’“”"
)
VOCAB_PIECES = 4000  # sentencepiece pieces; the 100 sentinels <extra_id_n> come on top


def word_lines(words_file: Path = WORDS_FILE, scale: int = 3000) -> list[str]:
    """The word list, each word repeated by Zipf's law on its rank inside its section.

    Rank 1 appears ``scale`` times, rank r about ``scale / r`` times (at least twice), and a
    capitalised copy a quarter as often, as at the start of a sentence."""
    lines: list[str] = []
    rank = 0
    for raw in words_file.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        if raw.startswith("["):  # a new section: ranks start again
            rank = 0
            continue
        for word in raw.split():
            rank += 1
            n = max(2, scale // rank)
            cap = word[0].upper() + word[1:]
            lines.append(" ".join([word] * n))
            if cap != word:
                lines.append(" ".join([cap] * max(1, n // 4)))
    return lines


# Words the lessons show being cut into pieces (pig latin, a made-up word): left out of the prose, so
# that they stay rare to the tokenizer, as they are to T5's. tests/test_demo_model.py checks they split.
SHOWN_AS_RARE = (
    "ananabay",
    "ellohay",
    "ingstray",
    "ogday",
    "eessay",
    "ethay",
    "atcay",
    "floccinaucinihilipilification",
)


def prose_lines(root: Path = ROOT) -> list[str]:
    """Every line of the lessons (markdown and code cells) and of README.md, without ``SHOWN_AS_RARE``."""
    lines: list[str] = []
    for pattern in PROSE_FILES:
        for path in sorted(root.glob(pattern)):
            if path.suffix == ".ipynb":
                cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
                text = "\n".join("".join(cell["source"]) for cell in cells)
            else:
                text = path.read_text(encoding="utf-8")
            for word in SHOWN_AS_RARE:
                text = text.replace(word, " ")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())
    return lines


def tokenizer_lines(pairs: list[tuple[str, str]]) -> list[str]:
    """The text the tokenizer is trained on: the task pairs, common words, the lessons' prose.

    The task pairs (English, French, German) come in full, so their words are frequent; the
    word list spreads the rest of the vocabulary over ordinary English the way T5's 32k
    vocabulary does; the prose adds the words the lessons use."""
    lines = [s for pair in pairs for s in pair]
    lines += word_lines()
    lines += prose_lines() * 3
    lines += [ALPHABET] * 20
    return lines


def train_tokenizer(pairs: list[tuple[str, str]], workdir: Path, vocab_size: int = VOCAB_PIECES) -> Path:
    text = workdir / "corpus.txt"
    text.write_text("\n".join(tokenizer_lines(pairs)) + "\n", encoding="utf-8")
    prefix = workdir / "spiece"
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        hard_vocab_limit=True,
        max_sentence_length=1 << 16,
        num_threads=2,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def make_tokenizer(spiece_model: Path, out: Path) -> T5TokenizerFast:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(spiece_model, out / "spiece.model")
    tok = T5TokenizerFast.from_pretrained(str(out), extra_ids=100, model_max_length=512, legacy=False)
    return tok


def make_readable_by_transformers4(tokenizer_config: Path) -> None:
    """transformers 5 writes ``extra_special_tokens``; 4.57 only reads ``additional_special_tokens``.

    Both versions accept the older key, so the saved tokenizer loads identically in each
    (tests/test_demo_model.py checks the ids match)."""
    data = json.loads(tokenizer_config.read_text())
    if "extra_special_tokens" in data:
        data["additional_special_tokens"] = data.pop("extra_special_tokens")
    tokenizer_config.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def batches(pairs, tok, batch_size, rng):
    order = list(range(len(pairs)))
    while True:
        rng.shuffle(order)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [pairs[j] for j in order[i : i + batch_size]]
            enc = tok([s for s, _ in chunk], padding=True, return_tensors="pt")
            labels = tok([t for _, t in chunk], padding=True, return_tensors="pt").input_ids
            labels[labels == tok.pad_token_id] = -100
            yield enc.input_ids, enc.attention_mask, labels


@torch.no_grad()
def translate(model, tok, sources: list[str]) -> list[str]:
    enc = tok(sources, padding=True, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=48, num_beams=1, do_sample=False)
    return tok.batch_decode(out, skip_special_tokens=True)


def heldout_accuracy(model, tok) -> tuple[float, list[tuple[str, str, str]]]:
    clauses = corpus.heldout_clauses()
    sources = [corpus.FR_PREFIX + c.en() for c in clauses] + [corpus.DE_PREFIX + c.en() for c in clauses]
    wanted = [c.fr() for c in clauses] + [c.de() for c in clauses]
    got = translate(model, tok, sources)
    misses = [(s, w, g) for s, w, g in zip(sources, wanted, got) if w != g]
    return 1 - len(misses) / len(sources), misses


def other_tasks_right(model, tok) -> bool:
    """The greetings and cola answers the tests ask for, plus 32 cola sentences drawn afresh."""
    rng = random.Random(2024)
    cola = [corpus.cola_pair(rng) for _ in range(32)]
    sources = [corpus.FR_PREFIX + "Hello, my name is Marie.", corpus.DE_PREFIX + "Good morning, Leo."]
    sources += [corpus.COLA_PREFIX + "The cat the dog sees."] + [src for src, _ in cola]
    wanted = ["Bonjour, je m'appelle Marie.", "Guten Morgen, Leo.", "unacceptable"] + [tgt for _, tgt in cola]
    return translate(model, tok, sources) == wanted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--pairs", type=int, default=60000)
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--check-every",
        type=int,
        default=500,
        help="check the held-out sentences every N steps and stop once all are right (0: never)",
    )
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    pairs = corpus.training_pairs(args.pairs, seed=args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        sp_model = train_tokenizer(pairs, Path(tmp))
        tok = make_tokenizer(sp_model, Path(tmp) / "tok")
        sp_bytes = sp_model.read_bytes()

    config = T5Config(
        vocab_size=len(tok),
        d_model=128,
        d_ff=512,
        d_kv=32,
        num_heads=4,
        num_layers=3,
        num_decoder_layers=3,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        decoder_start_token_id=tok.pad_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        task_specific_params=TASK_SPECIFIC_PARAMS,
        n_positions=512,
    )
    model = T5ForConditionalGeneration(config)
    print(f"tokenizer: {len(tok)} tokens; model: {model.num_parameters():,} parameters")

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    start = time.time()
    stream = batches(pairs, tok, args.batch, rng)
    for step in range(args.steps):
        ids, mask, labels = next(stream)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:6.0f}s", flush=True)
        if args.check_every and step > 0 and step % args.check_every == 0:
            model.eval()
            acc, _ = heldout_accuracy(model, tok)
            others = acc == 1.0 and other_tasks_right(model, tok)
            model.train()
            print(f"step {step:5d}  held-out exact match {acc:.1%}; greetings and cola right: {others}", flush=True)
            if others:
                args.steps = step + 1  # what the card records
                break

    model.eval()
    acc, misses = heldout_accuracy(model, tok)
    print(f"held-out translation accuracy (exact match): {acc:.1%}")
    for s, w, g in misses[:10]:
        print(f"  MISS {s!r}\n       want {w!r}\n       got  {g!r}")

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    make_readable_by_transformers4(out / "tokenizer_config.json")
    (out / "spiece.model").write_bytes(sp_bytes)
    card = {
        "what": "Tiny T5 demo model built by tools/build_demo_model.py; outputs are a toy's.",
        "parameters": model.num_parameters(),
        "train_steps": args.steps,
        "heldout_exact_match": round(acc, 4),
        # Checked by tests on transformers 5 and 4.57: both must encode this identically.
        "sample_text": SAMPLE_TEXT,
        "sample_ids": tok(SAMPLE_TEXT).input_ids,
    }
    (out / "demo_model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"saved to {out}")


if __name__ == "__main__":
    main()
