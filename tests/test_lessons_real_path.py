"""Every lesson on the path real users take: the lesson models loaded from the cache, not demo mode.

``tests/test_notebooks.py`` runs the lessons in demo mode. Here a Hugging Face cache in the real
layout (blobs, snapshots/<pinned revision>, refs/main; ``tests/hubcache.py``) holds all three
lesson models, built offline from the demo model's weights: t5-base and t5-large with T5's real
``task_specific_params``, Flan-T5 in Flan's layout (gated-GELU, its own ``lm_head``). The lessons
run with ``HF_HUB_OFFLINE=1`` and no demo flag, so every ``is_demo_model`` branch takes its
real-checkpoint side.

- No cell may raise. Structural claims assert as always; behaviour claims only report.
- The behaviour claims that the demo weights do not meet are listed exactly
  (``EXPECTED_MISSES``): a claim that starts or stops failing changes the list and fails the test.
  With ``COURSE_STRICT_CLAIMS=1`` in the environment the lessons run in strict mode instead: each
  miss raises ``ClaimNotHeld`` in its cell (execution goes on), and the test checks that exactly
  those cells raised and nothing else did.
- A second test runs lessons 01-03 on a randomly initialised T5 of another shape (layers, heads,
  width), so that no lesson depends on the demo model's shape. Its behaviour claims report. Lesson 01
  stops before its exercises, whose checks judge what a trained model writes (see ``STOP_AT``).

The caches hold megabytes, not gigabytes: the test-only ``COURSE_TEST_ONLY_ACCEPT_SMALL_FILES=1``
lets them count as complete (``models.min_file_bytes``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from extras_and_licenses import claims, models
from tests import hubcache

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {p.stem[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}

# The behaviour claims that the demo model's weights, stored under the lesson models' names, do not
# meet on this path (CPU, float32, greedy). Each is a claim about what the trained checkpoints do.
EXPECTED_MISSES: dict[str, list[str]] = {
    "00": [],
    "01": [
        "Flan-T5 answers the plain question 'What is the capital of France?' with Paris",
    ],
    "02": [],
    "03": [],
    "04": [
        "reworded into SQuAD's format, t5-large finds 'Paris'",
        "Flan-T5 follows more plain instructions than T5, and at least half of them",
        "at least one wording gets Flan-T5 to say that a spider has eight legs",
        "with four examples, every answer uses our labels and at least 2 of 3 are right",
        "given the right note, flan-t5-large answers all three questions from it",
    ],
}

# Claims about timings: with the tiny demo weights, whether the cache beats no cache depends on the
# machine's speed and load, so they may hold or not; they are left out of the exact comparison.
TIMING_CLAIMS = {"03": {"at 64 new tokens the cache makes each token cheaper"}}

MISS_LINE = re.compile(r"^!! claim: (.*)$", re.M)


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("display_data", "execute_result"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


def run_lesson(path: Path, env: dict[str, str], monkeypatch, *, allow_errors: bool = False, stop_at: str | None = None):
    """Execute a lesson in a fresh kernel with ``env`` added; return (cell texts, [(cell index, ename)] of errors).

    ``stop_at``: leave out the cells from the first one whose source contains this text.
    """
    import nbformat
    from nbclient import NotebookClient

    for name in ("COURSE_DEMO_MODE", "COURSE_STANDIN", "COURSE_DTYPE", claims.STRICT_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    if stop_at is not None:
        nb.cells = nb.cells[: next(i for i, cell in enumerate(nb.cells) if stop_at in cell.source)]
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    texts = [_outputs(cell) if cell.cell_type == "code" else "" for cell in nb.cells]
    errors = [
        (i, out["ename"])
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    return texts, errors


@pytest.fixture(scope="module")
def lesson_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real-path")
    return hubcache.lesson_cache(root / "hf-cache", root / "build")


def _env(cache: Path) -> dict[str, str]:
    return {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", models.SIZE_CHECK_OFF_ENV: "1"}


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", sorted(LESSONS), ids=[LESSONS[k].stem for k in sorted(LESSONS)])
def test_lesson_runs_on_the_real_path(lesson, lesson_cache, monkeypatch):
    # COURSE_STRICT_CLAIMS=1 for this pytest run: strict mode in the lessons too
    _run_on_the_real_path(lesson, lesson_cache, monkeypatch, strict=claims.strict())


@pytest.mark.notebook
def test_strict_mode_raises_exactly_where_the_recorded_claims_miss(lesson_cache, monkeypatch):
    """Strict mode, always run here on the lesson with the most misses: each recorded miss raises
    ClaimNotHeld in its own cell, and nothing else raises."""
    lesson = max(EXPECTED_MISSES, key=lambda k: len(EXPECTED_MISSES[k]))
    assert EXPECTED_MISSES[lesson] and not TIMING_CLAIMS.get(lesson)
    _run_on_the_real_path(lesson, lesson_cache, monkeypatch, strict=True)


def _run_on_the_real_path(lesson, lesson_cache, monkeypatch, strict: bool):
    env = _env(lesson_cache)
    if strict:
        env[claims.STRICT_ENV] = "1"
    texts, errors = run_lesson(LESSONS[lesson], env, monkeypatch, allow_errors=strict)
    text = "\n".join(texts)
    assert "DEMO MODEL - NOT THE REAL ONE" not in text, f"lesson {lesson} fell back to the demo model"
    assert "Behaviour claims in this lesson:" in text, f"lesson {lesson} has no tally line"
    misses = MISS_LINE.findall(text)
    print(f"lesson {lesson}: behaviour claims the demo weights do not meet: {misses}")
    if strict:
        raised = [(i, ename) for i, ename in errors]
        assert all(ename == "ClaimNotHeld" for _, ename in raised), f"cells raised other errors: {raised}"
        assert len(raised) == len(misses)
    else:
        assert not errors  # nbclient raises first; this keeps the intent visible
    timing = TIMING_CLAIMS.get(lesson, set())
    assert [m for m in misses if m not in timing] == EXPECTED_MISSES[lesson], (
        f"lesson {lesson}: the behaviour claims that do not hold changed.\n got: {misses}\n recorded: "
        f"{EXPECTED_MISSES[lesson]}\nRead each one; update EXPECTED_MISSES only if the miss is the demo weights' fault."
    )


@pytest.fixture(scope="module")
def shaped_cache(tmp_path_factory) -> tuple[Path, str]:
    """A cache whose t5-base and t5-large are one random T5 of another shape; and how the lessons print its size."""
    root = tmp_path_factory.mktemp("shaped")
    cache = root / "hf-cache"
    shaped = hubcache.shaped_t5(
        root / "shaped-t5"
    )  # 2 + 2 layers, 6 heads of 16, d_model 96 (the demo: 3 + 3, 4 of 32, 128)
    for name in ("t5-base", "t5-large"):
        hubcache.populate(cache, models.LESSON_MODELS[name], shaped)
    hubcache.populate(cache, models.LESSON_MODELS["google/flan-t5-large"], hubcache.flan_layout(root / "flan-t5-large"))
    from transformers import AutoModelForSeq2SeqLM

    n_params = AutoModelForSeq2SeqLM.from_pretrained(str(shaped), use_safetensors=True).num_parameters()
    return cache, f"{n_params:,} parameters"


SHAPE_MARK = {"01": "{params}", "02": "2 layers x 6 heads", "03": "{params}"}
# Lesson 01's exercise checks judge what a trained model writes (an answer in each T5 format, a word in a
# rephrased answer): a random model cannot meet them, and their solutions run in the other tests. The lesson's
# sections up to the exercises are what could depend on the demo model's shape.
STOP_AT = {"01": "## Exercises"}


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", ["01", "02", "03"])
def test_lessons_do_not_depend_on_the_demo_models_shape(lesson, shaped_cache, monkeypatch):
    cache, params = shaped_cache
    texts, _ = run_lesson(LESSONS[lesson], _env(cache), monkeypatch, stop_at=STOP_AT.get(lesson))
    text = "\n".join(texts)
    assert "DEMO MODEL - NOT THE REAL ONE" not in text
    mark = SHAPE_MARK[lesson].format(params=params)
    assert mark in text, f"lesson {lesson} did not run on the shaped model ({mark!r} not in its output)"
    print(f"lesson {lesson} on a random T5 of another shape; reported as not holding: {MISS_LINE.findall(text)}")
