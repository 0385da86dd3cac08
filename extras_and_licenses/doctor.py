"""Pre-flight check: is this machine ready for the lessons?

    python -m extras_and_licenses doctor

From a notebook (lesson 00): ``from extras_and_licenses.doctor import doctor; doctor()``;
the report shows as a coloured table there and as plain text in a terminal.

It looks at the GPU (name, memory, bfloat16), each lesson's memory need against it, library
versions, which lesson models are in the cache, free disk for the missing ones, whether the
model hub can be reached, and whether demo mode is on; then gives one verdict.
Nothing here raises: every problem becomes a row that says what to do.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field

from . import environment, models

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_COLOURS = {OK: "#d8f5d0", WARN: "#fff2c2", FAIL: "#ffd6d6"}


@dataclass
class Row:
    check: str
    status: str
    detail: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, check: str, status: str, detail: str) -> None:
        self.rows.append(Row(check, status, detail))

    @property
    def verdict(self) -> tuple[str, str]:
        states = {r.status for r in self.rows}
        if FAIL in states:
            bad = [r.check for r in self.rows if r.status == FAIL]
            return FAIL, f"NOT READY: fix {', '.join(bad)} (see the rows marked FAIL)."
        if WARN in states:
            return WARN, "READY WITH CAVEATS: the lessons run; read the rows marked WARN before class."
        return OK, "READY: every lesson can run on this machine with the real models."

    def text(self) -> str:
        width = max(len(r.check) for r in self.rows)
        lines = ["Course pre-flight check", "=" * 23]
        for r in self.rows:
            lines.append(f"[{r.status:^4}] {r.check:<{width}}  {r.detail}")
        state, words = self.verdict
        lines += ["", f"Verdict: {words}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<tr style="background:{_COLOURS[r.status]}"><td><b>{r.status}</b></td><td>{html.escape(r.check)}</td>'
            f"<td style='text-align:left'>{html.escape(r.detail)}</td></tr>"
            for r in self.rows
        )
        state, words = self.verdict
        return (
            "<table><tr><th>status</th><th>check</th><th>detail</th></tr>"
            f"{cells}</table><p style='background:{_COLOURS[state]};padding:6px'><b>Verdict:</b> {html.escape(words)}</p>"
        )

    def __str__(self) -> str:
        return self.text()


def check(cache_dir=None, probe_hub=None) -> Report:
    """Build the report (without printing it)."""
    rep = Report()

    # Libraries, against requirements.txt's ranges (the same ones the lessons' first cell checks)
    _library_rows(rep)

    # GPU
    gpu_gb, gpu_dtype = 0.0, "float32"
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            gpu_gb = props.total_memory / 1e9
            rep.add("GPU", OK, f"{props.name}, {gpu_gb:.1f} GB, CUDA {torch.version.cuda}")
            placement = models.choose_device_and_dtype("cuda")
            gpu_dtype = str(placement.dtype).replace("torch.", "")
            native = gpu_dtype == "bfloat16"
            rep.add(
                "bfloat16",
                OK if native else WARN,
                "native: models run in bf16"
                if native
                else f"{placement.note.split('; ', 1)[-1].rstrip('.')}: models run in float32 (twice the memory)",
            )
        else:
            why = "torch has no CUDA build" if torch.version.cuda is None else "no CUDA device visible"
            rep.add("GPU", WARN, f"none ({why}): lessons run on the CPU, slowly with the real models")
    except Exception as exc:  # noqa: BLE001
        rep.add("GPU", FAIL, f"torch does not import: {exc}")

    # Lesson memory needs, in the precision this GPU runs (models.LESSON_MEMORY)
    if gpu_gb:
        for lesson, need in models.LESSON_MEMORY.items():
            status = OK if need.fits(gpu_gb, gpu_dtype) else FAIL
            rep.add(
                f"lesson {lesson} memory",
                status,
                f"needs about {need.gb(gpu_dtype):.1f} GB in {gpu_dtype} of {gpu_gb:.1f} GB "
                f"(bf16 {need.bfloat16:g} GB, fp32 {need.float32:g} GB; "
                f"{'fits' if need.fits(models.T4_GB, 'float32') else 'does not fit'} a 16 GB T4 in float32)",
            )
    else:
        needs = ", ".join(f"{k} {v.bfloat16:g}/{v.float32:g}" for k, v in models.LESSON_MEMORY.items())
        t4 = all(v.fits(models.T4_GB, "float32") for v in models.LESSON_MEMORY.values())
        rep.add(
            "lesson memory",
            OK,
            f"on a GPU, about (bf16/fp32 GB): {needs}; "
            + ("every lesson fits a 16 GB T4 in float32" if t4 else "not every lesson fits a 16 GB T4 in float32"),
        )

    # Models in the cache
    cache = models.hub_cache_dir(cache_dir)
    missing_bytes = 0
    for spec in models.LESSON_MODELS.values():
        files = models.cached_files(spec, cache_dir)
        if models.is_cached(spec, cache_dir):
            rep.add(f"model {spec.name}", OK, f"cached, {sum(files.values()) / 1e9:.2f} GB")
        else:
            missing_bytes += spec.download_bytes
            partial = "; partial download present" if models.partial_download(spec, cache_dir) else ""
            rep.add(
                f"model {spec.name}",
                WARN,
                f"not cached ({spec.download_bytes / 1e9:.1f} GB){partial}: run `python -m extras_and_licenses prefetch`",
            )

    # Disk
    probe = cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if missing_bytes and free < missing_bytes * 1.1:
        rep.add(
            "disk", FAIL, f"{free / 1e9:.1f} GB free at {probe}, {missing_bytes / 1e9:.1f} GB needed for missing models"
        )
    else:
        rep.add("disk", OK, f"{free / 1e9:.1f} GB free at {probe}")

    # Hub
    reachable, where = (probe_hub or models.hub_reachable)()
    if reachable:
        rep.add("model hub", OK, f"reachable ({where})")
    elif missing_bytes:
        rep.add("model hub", WARN, f"unreachable ({where}): missing models fall back to the demo model")
    else:
        rep.add("model hub", OK, f"unreachable ({where}), but every lesson model is cached")

    # Demo mode
    if models.demo_requested():
        rep.add(
            "demo mode", WARN, f"{models.DEMO_ENV}=1: lessons use the toy demo model. Unset it for the real models."
        )
    elif missing_bytes and not reachable:
        rep.add("demo mode", WARN, "lessons will fall back to the toy demo model for models not cached")
    else:
        rep.add("demo mode", OK, "off")
    return rep


def _library_rows(rep: Report) -> None:
    """One row per requirement: OK in range, FAIL outside it or missing, with the command that fixes it."""
    try:
        states = environment.survey(kernel_side=False)
    except environment.RequirementsNotFound as exc:
        rep.add("libraries", FAIL, str(exc))
        return
    hosted = environment.hosted_runtime()
    for state in states:
        if state.found is None and hosted and state.name in environment.FRONT_END_ONLY:
            continue  # Colab and Kaggle bring their own front end
        if state.ok:
            rep.add(state.name, OK, state.found + (f" ({state.note})" if state.note else ""))
            continue
        have = "not installed" if state.found is None else state.note or f"{state.found} is outside {state.spec}"
        fix = environment.pip_command([state], magic=False)
        rep.add(state.name, FAIL, f"{have} (requirements.txt): run `{fix}`")


def doctor(cache_dir=None) -> Report:
    """Run the checks; print the report in a terminal, show it as a table in Jupyter."""
    rep = check(cache_dir)
    try:
        from IPython import get_ipython

        in_kernel = get_ipython() is not None and getattr(get_ipython(), "kernel", None) is not None
    except ImportError:
        in_kernel = False
    if not in_kernel:
        print(rep.text())
    return rep
