"""The prose of BENCHMARKS.md, kept apart from the code that fills in its tables (``bench.gpu_report``).

Each constant is one paragraph or block as it appears on the page; ``{command}`` and the other fields in
braces are filled in by the renderer. Edit the wording here; re-render with
``python -m bench.run_gpu_benchmarks --render``.
"""

import re

_SCRIPT = re.compile(r"\bpython3? bench/(\w+)\.py\b")


def spelled_today(command: str) -> str:
    """A recorded command in today's spelling: ``python bench/x.py ...`` became ``python -m bench.x ...``.

    The results files keep each command as it was run; the page shows one a reader can copy and run."""
    return _SCRIPT.sub(r"python -m bench.\1", command)


PAGE_HEAD = """\
# Benchmarks: what GPU does a class need?

Each lesson's run time and peak GPU memory, the ForwardListener's overhead, and decode speed
against the memory-bandwidth limit, measured by one command on one GPU (issue 8):

```bash
{command}                    # on the GPU machine: under 8 minutes
{command} --export "$OUT"    # the same, and copy BENCHMARKS.md and the results file to $OUT
{command} --smoke            # CPU, tiny models, under a minute: checks the benchmark runs (CI)
{command} --device cpu --parts lessons   # no GPU: the lessons in bfloat16, memory as live tensors
{command} --parts ladder     # lesson 03's decode ladder and CTranslate2 (issue 17), its own call
{command} --render           # re-render this file from bench/results/*.json
```

The GPU machines cannot reach the model hub, so the benchmark uses the real architectures with
random weights (`COURSE_STANDIN=random`, `extras_and_licenses/standins.py`, configs in
`extras_and_licenses/model_configs/`), generation forced to fixed lengths where it times decoding,
and the demo tokenizer padded to T5's 32,128 ids. Run time and memory depend on the shapes, not on
the weights' values. Results: `bench/results/<device>.json`, one file per device.

Goals: {goals}.
"""

NO_RESULTS = """\
**No GPU figures from the full command exist yet.** The command above has not been run on a GPU:
it was written and tested on a CPU-only machine (its `--smoke` mode runs in CI). Until it runs, the
lesson memory figures in README.md are estimates, and the only GPU measurements are the earlier
H200 figures below.
"""

NO_GPU_LESSONS = """\
**No lesson has run on a GPU yet.** No GPU was lent when the lessons' behaviour claims and real
path were added (issue 15), so the figures below are from a CPU, or from a GPU run without the
lesson part. The device call is ready: `bash bench/on_gpu_machine.sh` runs all five lessons in
bfloat16 with real-shape random weights (behaviour claims in report mode: each lesson's tally of
the claims that held is recorded, none stops a lesson), then lesson 01 again in float32, in about
8.5 minutes (`BENCH_BUDGET`, `FP32_BUDGET`). Its figures then replace the estimates in
`models.LESSON_GPU_GB`, README.md's table and lesson 01's introduction.
"""

NEEDS = """\
What the run needs: a CUDA GPU, the packages in `requirements-dev.txt` (nbclient and ipykernel run
the lessons), a C compiler and Triton for `torch.compile` (missing ones are recorded, not fatal), and
about 7.5 minutes: `--budget` (default 420 s) is shared by the parts, what does not fit is skipped
with its reason, and a watchdog stops the run 30 s after the budget, keeping what was written.
A later call with `--parts decode` (say) fills in skipped rows and keeps the other parts' results.
The lessons need the transformers range in `requirements.txt` (>= 5.24); outside it the lesson part
is skipped with the reason. The GPU machines' image has transformers 5.17 and no Jupyter kernel:
`bash bench/fetch_gpu_wheels.sh` fetches the wheels the lesson part needs, transformers 5.24.0
among them, into `.whl/`; carry that folder, and make the device command
`bash bench/on_gpu_machine.sh`, which installs them beside the image's Python and runs the benchmark.
"""

SMOKE_HEAD = "# Benchmark smoke run (tiny models on the CPU; the numbers mean nothing)"
SMOKE_RUN = "**Smoke run: tiny models on the CPU. These numbers check the benchmark, not a machine.**"
CPU_RUN = (
    "**A CPU run, made where no GPU was lent: its times are a CPU's, not a GPU's.** Its memory column is "
    "the peak of live tensor bytes in the lesson's kernel (`bench/tensor_memory.py`), the CPU's stand-in "
    "for `torch.cuda.max_memory_allocated`; a GPU adds its CUDA context, the allocator's cache and "
    "kernels' workspaces, and runs some cells the CPU skips (lesson 03 compiles only on a GPU)."
)

LESSONS = (
    "Each lesson notebook run headless (nbclient) with `COURSE_STANDIN=random`: every lesson model is its "
    "real architecture with random weights. Peak memory comes from a cell appended to the in-memory copy "
    "of the notebook (`torch.cuda.max_memory_allocated` / `max_memory_reserved`); the process peak adds "
    "the kernel's CUDA context and other memory outside PyTorch's allocator (from `torch.cuda.mem_get_info`). "
    "Random weights rarely produce `</s>`, so most generations run to their length limit: run times are "
    "upper bounds, and the lessons' checks of output quality fail where they do not skip (listed below)."
)

LISTENER = (
    "`python -m bench.bench_listener` itself, with the arguments in the last column (by default: t5-large's "
    "shape, random weights, batch 1, 32 forced new tokens, 15 interleaved pairs, ratio of medians); "
    "goal: ratio <= 1.02."
)

DECODE = (
    "Batch 1, a {source_tokens}-token source, {new_tokens} forced new "
    "tokens (`min_new_tokens = max_new_tokens`), greedy, median of {repeats} runs "
    "(`extras_and_licenses.decoding.time_generate`). The floor is the decoder's weight bytes plus the "
    "`lm_head`, read once per token, divided by the copy bandwidth "
    "({bandwidth}); each figure is ms/token "
    "and, in brackets, how many times the floor it is. The compiled path is lesson 03's: "
    "`cache_implementation='static'` with `CompileConfig()` (mode reduce-overhead, CUDA graphs)."
)

LADDER_TITLE = "### Decode ladder: from no cache to the captured step, beside CTranslate2"
LADDER = (
    "`{command} --parts ladder` (`bench/decode_ladder.py`). Each rung makes the same greedy tokens a "
    "different way; every row's tokens are checked against plain `generate()`'s. Times include the "
    "encoder, as `generate()`'s do; x floor is the multiple of decoder weight bytes / copy bandwidth; "
    "CTranslate2 runs the same random weights, converted, in the same process on the same device."
)
LADDER_CPU = " **CPU figures: CUDA graphs and compilation need a GPU, so those rungs are skipped.**"
