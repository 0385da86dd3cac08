"""Every lesson runs top to bottom, headless, on the CPU in demo mode; and is committed clean.

A lesson's check cells raise AssertionError when a claim fails, so executing the notebook
is also testing it. Cells that need a GPU or the real checkpoints print why they skip.

Worked solutions live in markdown cells, folded in a ``<details>`` block, so that Run All
neither runs nor shows them (JupyterLab drops a code cell's ``outputs_hidden`` when it runs
the cell: a collapsed solution's output would show right under its exercise). The run here
puts each solution's code in a cell of its own right after it, as a learner who copies it
would, and asserts that the exercise's check then says the answer is correct.

The kernel draws with the inline backend, as in JupyterLab: every cell that plots must
leave an image in its outputs (under ``MPLBACKEND=Agg`` ``plt.show()`` draws nothing, and a
broken plot would pass unseen).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.browser_support import PLOT_PATTERN

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# A worked solution: <details><summary><b>Solution to Exercise N</b> ...</summary> ... ```python CODE ``` ... </details>
SOLUTION = re.compile(
    r"<summary><b>Solution to Exercise (\d+)</b>.*?</summary>.*?```python\n(.*?)\n```.*?</details>", re.S
)
CHECK_DEF = re.compile(r"^def check_exercise_(\d+)\(", re.M)
PLOTS = PLOT_PATTERN  # a cell that draws (the browser test finds them the same way)
INLINE = "module://matplotlib_inline.backend_inline"
TEST_CELL_TAG = "course-test-solution"


def _ids(paths):
    return [p.stem for p in paths]


def source(cell) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def solutions(cells) -> list[tuple[int, int, str]]:
    """(cell index, exercise number, code) of every worked solution, in order."""
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            found += [(i, int(n), code) for n, code in SOLUTION.findall(source(cell))]
    return found


def output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_there_are_lessons():
    assert NOTEBOOKS, "no lesson notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} carries widget state in its metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_exercise_has_a_folded_solution_that_run_all_cannot_reach(path):
    """Each check_exercise_N has one worked solution N after it, in a closed <details> block, never in a code cell."""
    cells = json.loads(path.read_text())["cells"]
    checks = {int(n): i for i, c in enumerate(cells) if c["cell_type"] == "code" for n in CHECK_DEF.findall(source(c))}
    found = solutions(cells)
    numbers = [n for _, n, _ in found]
    assert sorted(numbers) == sorted(checks) and len(set(numbers)) == len(numbers), (
        f"{path.name}: exercises with a check {sorted(checks)}, worked solutions {numbers}"
    )
    for i, n, code in found:
        assert i > checks[n], f"{path.name}: the solution to exercise {n} comes before its check"
        assert f"check_exercise_{n}(" in code, f"{path.name}: the solution to exercise {n} does not call its check"
        assert "<details open" not in source(cells[i]), f"{path.name}: the solution to exercise {n} starts open"
        compile(code, f"{path.name} solution {n}", "exec")
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            assert "solution" not in tags, (
                f"{path.name} cell {i}: a solution in a code cell runs (and shows) on Run All"
            )


_WRONG_GREEDY = """
@torch.no_grad()
def wrong_greedy(model, inputs, max_new_tokens):
    encoder_outputs = model.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    tokens = torch.tensor([[model.config.decoder_start_token_id]], device=model.device)
    for _ in range(max_new_tokens):
        out = model(encoder_outputs=encoder_outputs, attention_mask=inputs["attention_mask"],
                    decoder_input_ids=tokens, use_cache=False)
        next_token = out.logits[:, 0, :].argmax(dim=-1, keepdim=True)  # the classic bug: position 0's scores
        tokens = torch.cat([tokens, next_token], dim=1)
        if next_token.item() == model.config.eos_token_id:
            break
    return tokens


check_exercise_1(wrong_greedy)
"""
_NEW_PROMPT = (
    "Write a long poem about the sea, the sky and the stars, in the voice of an old sailor who has crossed every "
    "ocean and wants to tell you all about it in rhyme, one verse per ocean."
)
# Wrong answers each check must refuse, and what its message must say (lesson, exercise): [(call, message), ...]
WRONG_ANSWERS = {
    ("00_setup_and_preflight", 2): [("check_exercise_2(1)", r"True or False")],
    ("01_encoder_decoders", 1): [
        (
            "check_exercise_1(['question: Why?', 'sst2 sentence: Fine.', 'mnli hypothesis: A cat. premise: A dog.'])",
            r"also needs \['context:'\]",
        ),
        (
            "check_exercise_1(['sst2 sentence: Fine.', 'sst2 sentence: Bad.', 'summarize: A text.'])",
            r"prefix from T5_FORMATS",
        ),
    ],
    ("01_encoder_decoders", 2): [
        ("check_exercise_2('blue?', 'Say blue.', 'blue')", r"already in your rephrased prompt")
    ],
    ("01_encoder_decoders", 4): [
        (f"check_exercise_4(support_prompt, {_NEW_PROMPT!r})", r"one small change, not a new prompt")
    ],
    ("02_cross_attention", 2): [("check_exercise_2(1.0)", r"an int")],
    ("03_kv_cache_and_decoding", 1): [
        (_WRONG_GREEDY, r"first differ from generate\(\)'s at position \d+.*LAST position"),
        ("check_exercise_1(lambda model, inputs, n: greedy_by_hand(model, inputs, n)[0])", r"were fed \[1, 1, 1"),
    ],
    ("03_kv_cache_and_decoding", 2): [("check_exercise_2(1)", r"times the cache's real size")],
    ("04_prompt_lab", 1): [("check_exercise_1(['a', 'b'], lambda answer: True)", r"passes an empty answer")],
    ("04_prompt_lab", 3): [
        ("check_exercise_3('Pixel is a robot.', 'Is Pixel a robot?', 'Pixel')", r"in your question")
    ],
    ("04_prompt_lab", 4): [("check_exercise_4(solution_whole, 'a b c d')", r"not one word")],
}


# Lines a lesson must print on a fresh demo run: its structural checks ran and said what they checked.
EXPECTED_LINES = {
    "01_encoder_decoders": ["unchanged (causal)", "(bidirectional)"],
    "02_cross_attention": ["transformers warned: `sdpa` attention does not support `output_attentions=True`"],
}


def refused(call: str) -> str:
    """Code that runs a check on a wrong answer and prints whether the check refused it, and why."""
    body = "\n".join("    " + line for line in call.strip().splitlines())
    return f"try:\n{body}\nexcept AssertionError as exc:\n    print('REFUSED:', exc)\nelse:\n    print('ACCEPTED')"


CITED = {
    "01_encoder_decoders": ["arxiv.org/abs/1910.10683", "arxiv.org/abs/2210.11416", "huggingface.co/docs/transformers"]
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_lesson_says_where_to_read_further(path):
    """A "Further reading" part with links in every lesson; lesson 01 cites the T5 and Flan-T5 papers and the docs."""
    markdown = "\n".join(source(c) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert "### Further reading" in markdown, f"{path.name} has no Further reading part"
    part = markdown.split("### Further reading", 1)[1].split("\n#", 1)[0]
    assert re.search(r"\]\(https://[^)\s]+\)", part), f"{path.name}: its Further reading holds no link"
    for address in CITED.get(path.stem, []):
        assert address in markdown, f"{path.name} does not cite {address}"


def with_solutions(nb, lesson: str):
    """A copy of `nb` with each worked solution's code in a tagged code cell right after its markdown,
    followed by the wrong answers of WRONG_ANSWERS for that exercise."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    for i, n, code in reversed(solutions(nb.cells)):
        added = [nbformat.v4.new_code_cell(code, metadata={"tags": [TEST_CELL_TAG], "exercise": n})]
        for call, message in WRONG_ANSWERS.get((lesson, n), []):
            meta = {"tags": [TEST_CELL_TAG], "exercise": n, "refusal": message}
            added.append(nbformat.v4.new_code_cell(refused(call), metadata=meta))
        nb.cells[i + 1 : i + 1] = added
    return nb


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_in_demo_mode(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_DEMO_MODE", "1")
    monkeypatch.delenv("COURSE_STANDIN", raising=False)  # a benchmark setting must not leak into the tests
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("MPLBACKEND", INLINE)  # as in JupyterLab: plt.show() puts a PNG in the cell's outputs
    monkeypatch.setenv("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))
    nb = with_solutions(nbformat.read(path, as_version=4), path.stem)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        if os.environ.get("COURSE_EXECUTED_DIR"):  # keep the executed copy, to read what each cell printed
            nbformat.write(nb, Path(os.environ["COURSE_EXECUTED_DIR"]) / path.name)
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    text = "\n".join(output_text(c) for _, c in code_cells)
    assert "DEMO MODEL - NOT THE REAL ONE" in text, f"{path.name}: ran in demo mode but the banner never showed"
    # A cell that raised has already failed client.execute(). What it cannot see: a cell that ran but wrote to
    # stderr (a warning, a logged or printed traceback), which JupyterLab shows as a pink band a learner takes
    # for an error. A lesson that means to show a warning captures it and prints it as its own output.
    stderr = {i: "".join(o["text"]) for i, c in code_cells for o in c.get("outputs", []) if o.get("name") == "stderr"}
    assert not stderr, f"{path.name}: cells wrote to stderr: " + "; ".join(
        f"cell {i}: {t[:300]!r}" for i, t in stderr.items()
    )
    for line in EXPECTED_LINES.get(path.stem, []):
        assert line in text, f"{path.name} never printed {line!r}"

    lesson_cells = [(i, c) for i, c in code_cells if TEST_CELL_TAG not in c.metadata.get("tags", [])]
    for i, cell in lesson_cells:
        for n in CHECK_DEF.findall(source(cell)):
            assert f"Exercise {n}: not answered yet" in output_text(cell), (
                f"{path.name} cell {i}: the check of exercise {n} did not report the unanswered exercise"
            )
    wrong = [c for _, c in code_cells if "refusal" in c.metadata]
    assert len(wrong) == sum(len(v) for (lesson, _), v in WRONG_ANSWERS.items() if lesson == path.stem)
    for cell in wrong:
        said = output_text(cell)
        assert re.search(r"REFUSED:.*" + cell.metadata["refusal"], said, re.S), (
            f"{path.name}: the check of exercise {cell.metadata['exercise']} did not refuse a wrong answer as expected "
            f"(wanted {cell.metadata['refusal']!r}):\n{said}"
        )
    for _, cell in code_cells:
        if TEST_CELL_TAG in cell.metadata.get("tags", []) and "refusal" not in cell.metadata:
            n, said = cell.metadata["exercise"], output_text(cell)
            assert re.search(rf"Exercise {n}: (correct|done)\b", said), (
                f"{path.name}: the worked solution to exercise {n}, followed by its check, did not pass:\n{said}"
            )

    plotting = [(i, c) for i, c in lesson_cells if PLOTS.search(source(c))]
    if path.stem.startswith(("01_", "02_", "03_")):
        assert plotting, f"{path.name}: no plotting cell found (the pattern that finds them is out of date)"
    for i, cell in plotting:
        images = [out for out in cell.outputs if "image/png" in out.get("data", {})]
        assert images, f"{path.name} cell {i} plots but produced no image:\n{source(cell)[:300]}"

    stderr = "\n".join(out.get("text", "") for _, c in code_cells for out in c.outputs if out.get("name") == "stderr")
    assert "sdpa" not in stderr, (
        f"{path.name}: a warning the lesson expects reached stderr (a pink band): {stderr[:500]}"
    )


def _cleanup_lessons():
    return [
        p
        for p in NOTEBOOKS
        if any("cleanup" in c.get("metadata", {}).get("tags", []) for c in json.loads(p.read_text())["cells"])
    ]


@pytest.mark.notebook
@pytest.mark.parametrize("path", _cleanup_lessons(), ids=_ids(_cleanup_lessons()))
def test_cleanup_cells_run_when_the_sections_before_them_were_skipped(path, tmp_path, monkeypatch):
    """A learner runs the imports, skips every section, then the clean-up cells (each twice): none may raise.

    The clean-up cells are the ones tagged ``cleanup``; "the imports" are the code cells up to and including
    the one that imports the course's ``models`` module (every lesson's import cell).
    """
    import copy

    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_DEMO_MODE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("MPLBACKEND", INLINE)
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if re.search(r"from extras_and_licenses import .*\bmodels\b", source(c)))
    cleanup = [c for c in code if "cleanup" in c.metadata.get("tags", [])]
    assert cleanup
    twice = []
    for cell in cleanup:
        for k in (1, 2):
            again = copy.deepcopy(cell)
            again["id"] = f"{cell.get('id', 'cleanup')}-run{k}"
            twice.append(again)
    nb.cells = code[: first + 1] + twice
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, with the traceback, when a clean-up cell fails
    assert all(c.outputs or not source(c).strip() for c in nb.cells[first + 1 :]), "a clean-up cell printed nothing"
