"""Pre-flight check: is this machine ready for the lessons?

    python -m extras_and_licenses doctor

From a notebook (lesson 00): ``from extras_and_licenses.doctor import doctor; doctor()``;
the report shows as a coloured table there and as plain text in a terminal.

It looks at the precision setting (``COURSE_DTYPE``), the GPU (name, memory, bfloat16), each lesson's
memory need against it (and against a class's per-kernel cap, by the same rule), library
versions, which lesson models are in the cache, free disk for the missing ones, whether the
model hub can be reached, and whether demo mode is on; then gives one verdict.
Nothing here raises: every problem becomes a row that says what to do.
"""

from __future__ import annotations

import html
import os
import shutil
import warnings
from dataclasses import dataclass, field

from . import environment, models
from .banners import in_jupyter_kernel
from .hub_cache import nearest_existing

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

    @staticmethod
    def _html_words(text: str) -> str:
        """Escaped text in which `code` spans (the commands a row tells you to run) become <code>."""
        parts = html.escape(text).split("`")
        if len(parts) % 2 == 0:  # an unpaired backtick: show the text as it is
            return html.escape(text)
        return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))

    def _repr_html_(self) -> str:
        # JupyterLab right-aligns table cells by default: every header and cell is set left-aligned.
        left = "text-align:left;vertical-align:top"
        head = "".join(f"<th style='{left}'>{name}</th>" for name in ("status", "check", "detail"))
        cells = "".join(
            f'<tr style="background:{_COLOURS[r.status]}"><td style="{left}"><b>{r.status}</b></td>'
            f'<td style="{left}">{html.escape(r.check)}</td><td style="{left}">{self._html_words(r.detail)}</td></tr>'
            for r in self.rows
        )
        state, words = self.verdict
        return (
            f"<table><tr>{head}</tr>{cells}</table>"
            f"<p style='background:{_COLOURS[state]};padding:6px'><b>Verdict:</b> {self._html_words(words)}</p>"
        )

    def __str__(self) -> str:
        return self.text()


def check(cache_dir=None, probe_hub=None) -> Report:
    """Build the report (without printing it)."""
    rep = Report()

    # Libraries, against requirements.txt's ranges (the same ones the lessons' first cell checks)
    _library_rows(rep)

    # Precision: COURSE_DTYPE, when set, must be one the lessons accept (load_model refuses anything else)
    try:
        setting = models.dtype_setting()
    except ValueError as exc:
        setting = "auto"  # the rows below show what the lessons would get once it is fixed
        rep.add("precision", FAIL, str(exc))
    else:
        if setting is not None:
            rep.add("precision", OK, f"{models.DTYPE_ENV}={setting}")

    # GPU
    gpu_gb, gpu_dtype = 0.0, "float32"
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        rep.add("GPU", FAIL, f"torch does not import: {exc}")
    else:
        try:
            gpu_gb, gpu_dtype = _gpu_rows(rep, torch, setting)
        except Exception as exc:  # noqa: BLE001 - a driver or CUDA fault: say so rather than raise
            rep.add("GPU", FAIL, f"torch cannot query the GPU: {type(exc).__name__}: {exc}")

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
        elif models.cache_incomplete(spec, cache_dir):
            missing_bytes += spec.download_bytes
            rep.add(
                f"model {spec.name}",
                WARN,
                f"incomplete or wrong files ({'; '.join(models.cache_problems(spec, cache_dir))}): "
                "rerun `python -m extras_and_licenses prefetch`",
            )
        else:
            missing_bytes += spec.download_bytes
            partial = "; partial download present" if models.partial_download(spec, cache_dir) else ""
            rep.add(
                f"model {spec.name}",
                WARN,
                f"not cached ({spec.download_bytes / 1e9:.1f} GB){partial}: run `python -m extras_and_licenses prefetch`",
            )

    if os.environ.get(models.SIZE_CHECK_OFF_ENV, "").strip() == "1":
        rep.add("file sizes", WARN, f"{models.SIZE_CHECK_OFF_ENV}=1 (a test setting): tiny files count as complete")

    # Disk
    probe = nearest_existing(cache)
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

    _class_hub_rows(rep, cache_dir, gpu_gb, gpu_dtype)
    return rep


def _gpu_rows(rep: Report, torch, setting: str | None) -> tuple[float, str]:
    """The GPU and bfloat16 rows; returns the GPU's memory in GB (0 without one) and the lessons' dtype there."""
    if not torch.cuda.is_available():
        why = "torch has no CUDA build" if torch.version.cuda is None else "no CUDA device visible"
        rep.add("GPU", WARN, f"none ({why}): lessons run on the CPU, slowly with the real models")
        return 0.0, "float32"
    props = torch.cuda.get_device_properties(0)
    gpu_gb = props.total_memory / 1e9
    rep.add("GPU", OK, f"{props.name}, {gpu_gb:.1f} GB, CUDA {torch.version.cuda}")
    native, capability = models.native_bf16("cuda")
    try:
        with warnings.catch_warnings():  # COURSE_DTYPE=bfloat16 on an older GPU warns; the row says it
            warnings.simplefilter("ignore")
            placement = models.choose_device_and_dtype("cuda", setting)
    except ValueError as exc:  # bfloat16 asked for on a GPU that cannot run it at all
        rep.add("bfloat16", FAIL, f"{exc} (unset {models.DTYPE_ENV}, or set it to float32)")
        placement = models.choose_device_and_dtype("cuda", "float32")
    gpu_dtype = str(placement.dtype).replace("torch.", "")
    runs = "models run in bf16" if gpu_dtype == "bfloat16" else "models run in float32 (twice the memory)"
    if native:
        detail = f"native ({capability}): {runs}"
    else:
        detail = f"{props.name} has no native bfloat16 ({capability}, bfloat16 needs 8.0 or newer): {runs}"
        if gpu_dtype == "bfloat16":
            detail += f", emulated and slow ({models.DTYPE_ENV}=bfloat16)"
    rep.add("bfloat16", OK if native else WARN, detail)
    return gpu_gb, gpu_dtype


def lesson_need_gb(lesson: str, dtype: str = "bfloat16") -> float:
    """GPU memory lesson ``lesson`` needs in ``dtype`` (``"bfloat16"`` or ``"float32"``), from
    ``models.LESSON_MEMORY``, the one table README, lesson 00 and doctor read."""
    return models.LESSON_MEMORY[lesson].gb(dtype)


def _class_hub_rows(rep: Report, cache_dir=None, gpu_gb: float = 0.0, gpu_dtype: str = "float32") -> None:
    """Rows for a class sharing one GPU: the per-kernel cap, what other processes hold, each lesson
    against the cap, and the shared model cache (see docs/INSTRUCTORS.md). ``gpu_gb`` / ``gpu_dtype``:
    the GPU :func:`check` found (0 without one) and the precision the lessons run in there."""
    from . import gpu_cap

    try:
        cap = gpu_cap.requested_cap_gb()
    except gpu_cap.CapSettingError as exc:
        rep.add("GPU memory cap", FAIL, str(exc))
        return
    gpu = (gpu_gb, gpu_dtype) if gpu_gb else None
    if cap is None:
        rep.add("GPU memory cap", OK, f"none ({gpu_cap.CAP_ENV} is not set): a kernel may use the whole GPU")
    elif gpu is None:
        rep.add("GPU memory cap", OK, f"{cap:g} GB ({gpu_cap.CAP_ENV}); no GPU here, so nothing is capped")
    else:
        total, _ = gpu
        share = min(1.0, cap / total)
        state = "applied at the first model load" if share < 1 else "at least the whole GPU: no cap in effect"
        rep.add("GPU memory cap", OK, f"{cap:g} GB of {total:.1f} GB per kernel ({share:.3f} of the card), {state}")
    if gpu is not None:
        others, how = gpu_cap.other_processes_gb(0)
        if others is None:
            rep.add("GPU, other processes", WARN, f"memory held by other processes: {how}")
        else:
            total = gpu[0]
            status = WARN if others > 0.5 * total else OK
            rep.add(
                "GPU, other processes", status, f"{others:.1f} GB of {total:.1f} GB held by other processes ({how})"
            )
    if cap is not None:
        dtype = gpu[1] if gpu else "bfloat16"
        for lesson, memory in models.LESSON_MEMORY.items():
            need = memory.gb(dtype)
            fits = memory.fits(cap, dtype)  # the same rule, 10% margin included, as the memory rows above
            rep.add(
                f"lesson {lesson} under the cap",
                OK if fits else FAIL,
                f"needs about {need:.1f} GB in {dtype}, cap {cap:g} GB"
                + ("" if fits else f": raise {gpu_cap.CAP_ENV} for this lesson, or run it with fewer students per GPU"),
            )
    shared = models.shared_cache(cache_dir)
    if shared is not None:
        if not os.access(shared, os.R_OK | os.X_OK):
            rep.add("shared model cache", FAIL, f"{shared} cannot be read here: ask your instructor")
        elif os.access(shared, os.W_OK):
            rep.add("shared model cache", WARN, f"{shared} is writable by this user: students should only read it")
        else:
            rep.add("shared model cache", OK, f"{shared}, read-only for this user")


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
    if not in_jupyter_kernel():
        print(rep.text())
    return rep
