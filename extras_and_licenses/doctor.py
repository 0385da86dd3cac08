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
import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata

from . import models

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_COLOURS = {OK: "#d8f5d0", WARN: "#fff2c2", FAIL: "#ffd6d6"}

# Tested ranges (see requirements.txt); outside them a row turns yellow.
TESTED = {
    "torch": ("2.4", "2.15"),
    "transformers": ("4.57", "6"),
    "sentencepiece": ("0.2", "0.3"),
    "jupyterlab": ("4.2", "5"),
    "ipywidgets": ("8.1", "9"),
}


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


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _in_range(v: str, lo: str, hi: str) -> bool:
    def key(s: str):
        out = []
        for part in s.split("+")[0].split(".")[:3]:
            digits = "".join(ch for ch in part if ch.isdigit())
            out.append(int(digits or 0))
        return tuple(out)

    return key(lo) <= key(v) < key(hi)


def check(cache_dir=None, probe_hub=None) -> Report:
    """Build the report (without printing it)."""
    rep = Report()

    # Libraries
    for pkg, (lo, hi) in TESTED.items():
        v = _version(pkg)
        if v is None:
            rep.add(pkg, FAIL, "not installed: run `make lab` or `pip install -r requirements.txt`")
        elif _in_range(v, lo, hi):
            rep.add(pkg, OK, v)
        else:
            rep.add(pkg, WARN, f"{v} is outside the tested range [{lo}, {hi})")

    # GPU
    gpu_gb = 0.0
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            gpu_gb = props.total_memory / 1e9
            bf16 = torch.cuda.is_bf16_supported()
            rep.add("GPU", OK, f"{props.name}, {gpu_gb:.1f} GB, CUDA {torch.version.cuda}")
            rep.add(
                "bfloat16",
                OK if bf16 else WARN,
                "supported: models run in bf16" if bf16 else "not supported: models run in float32 (twice the memory)",
            )
        else:
            why = "torch has no CUDA build" if torch.version.cuda is None else "no CUDA device visible"
            rep.add("GPU", WARN, f"none ({why}): lessons run on the CPU, slowly with the real models")
    except Exception as exc:  # noqa: BLE001
        rep.add("GPU", FAIL, f"torch does not import: {exc}")

    # Lesson memory needs
    if gpu_gb:
        for lesson, need in models.LESSON_GPU_GB.items():
            if need == 0:
                continue
            status = OK if need * 1.1 <= gpu_gb else FAIL
            rep.add(f"lesson {lesson} memory", status, f"needs about {need:.1f} GB of {gpu_gb:.1f} GB")

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
