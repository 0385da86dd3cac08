"""Behaviour claims: what a trained checkpoint answers, aligns or wins, checked without stopping a class.

The lessons check two kinds of claims where they make them:

- *Structural claims* hold for any T5 (shapes, call counts, cache lengths, the hand-written loop
  equal to ``generate()``, parameter counts of the named checkpoints). Those cells ``assert``.
- *Behaviour claims* are about what a trained checkpoint does: Flan-T5 answers "Paris", a layer
  follows the word-order swap, Flan-T5 follows more instructions than T5. They hold for the real
  checkpoints in the course's tests, but a different GPU, bfloat16 rounding or greedy decoding can
  flip one of them on a given run. A failed ``assert`` would stop JupyterLab's "Run All" in front
  of a class, so these go through :func:`check`, which shows what happened and lets the lesson go on.

Used by every lesson (00-04)::

    from extras_and_licenses import claims

    claims.check(
        "Flan-T5 answers the plain question 'What is the capital of France?' with Paris",
        "paris" in answer.lower(),
        expected="an answer that mentions Paris",
        got=repr(answer),
        why="greedy decoding in bfloat16 can pick a different first word on another GPU",
        model=flan_model,  # the demo model: "not checked in demo mode" instead
    )
    ...
    claims.tally()  # the lesson's last cell: how many behaviour claims held

What it shows: a pass line (``Held on this run: ...``); or a box that cannot be mistaken for a
pass: "did not hold on this run: expected ..., got ...; why that can happen: ..."; or, for the
demo model, one line "Not checked in demo mode: ...". In JupyterLab these are HTML; in a terminal
(or a test log) plain text. Nothing is returned, so no stray ``Out[..]:`` value appears.

``COURSE_STRICT_CLAIMS=1`` (strict mode, for test runs) turns a claim that did not hold into an
:class:`ClaimNotHeld` error (an ``AssertionError``) after the box is shown.

The tally is kept per claim, by its text: running a cell again replaces that claim's outcome
instead of counting it twice.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from . import models
from .banners import in_jupyter_kernel

STRICT_ENV = "COURSE_STRICT_CLAIMS"

HELD, MISSED, NOT_CHECKED = "held", "did not hold", "not checked"


class ClaimNotHeld(AssertionError):
    """A behaviour claim did not hold and strict mode (``COURSE_STRICT_CLAIMS=1``) is on."""


@dataclass(frozen=True)
class Outcome:
    claim: str
    status: str  # HELD, MISSED or NOT_CHECKED
    detail: str  # what was seen (held), "expected ..., got ..." (missed), the reason (not checked)


_outcomes: dict[str, Outcome] = {}  # claim text -> its latest outcome, in the order first seen


def strict() -> bool:
    """True when ``COURSE_STRICT_CLAIMS`` asks for strict mode (1, true, yes or on)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def outcomes() -> list[Outcome]:
    """Every behaviour claim met in this kernel so far, with its latest outcome."""
    return list(_outcomes.values())


def reset() -> None:
    """Forget every outcome (a new lesson in the same kernel starts its own tally)."""
    _outcomes.clear()


# ------------------------------------------------------------------ display
def _show(text: str, html_body: str) -> None:
    if in_jupyter_kernel():
        from IPython.display import display

        display({"text/plain": text, "text/html": html_body}, raw=True)
    else:
        print(text, flush=True)


def _box_text(claim: str, expected: str, got: str, why: str) -> str:
    lines = [
        "!! DID NOT HOLD ON THIS RUN (a behaviour claim; the lesson goes on)",
        f"!! claim: {claim}",
        f"!! expected: {expected}",
        f"!! got: {got}",
        f"!! why that can happen: {why}",
    ]
    return "\n".join(lines)


def _box_html(claim: str, expected: str, got: str, why: str) -> str:
    e = html.escape
    return (
        '<div class="course-claim-missed" style="border:3px solid #b35c00;background:#fff4e5;color:#4a2600;'
        'padding:6px 10px;margin:4px 0;font-family:monospace">'
        "<b>Did not hold on this run</b> (a behaviour claim; the lesson goes on)<br>"
        f"<b>claim:</b> {e(claim)}<br><b>expected:</b> {e(expected)}<br><b>got:</b> {e(got)}<br>"
        f"<b>why that can happen:</b> {e(why)}</div>"
    )


# ------------------------------------------------------------------ the helpers the lessons call
def not_checked(
    claim: str,
    reason: str = "the demo model is a toy: this is a claim about the real checkpoint",
    *,
    situation: str = "in demo mode",
) -> None:
    """Record and show that ``claim`` was not checked on this run, and why.

    ``situation`` completes "Not checked ...": ``"in demo mode"`` by default, or e.g. ``"on this model"``.
    """
    _outcomes[claim] = Outcome(claim, NOT_CHECKED, reason)
    head, because = f"Not checked {situation}:", reason[:1].upper() + reason[1:]
    _show(
        f"{head} {claim}. {because}.",
        '<div class="course-claim-not-checked" style="color:#555;font-family:monospace">'
        f"<b>{html.escape(head)}</b> {html.escape(claim)}. {html.escape(because)}.</div>",
    )


def check(
    claim: str,
    held: bool,
    *,
    expected: str,
    got: str,
    why: str,
    model=None,
    demo: bool | None = None,
    demo_reason: str | None = None,
) -> None:
    """Show whether the behaviour ``claim`` held on this run; never raise outside strict mode.

    ``held`` is the verdict, computed by the caller. ``expected`` and ``got`` say what a pass
    looks like and what was seen; ``why`` says how a trained checkpoint can miss it on a given
    run. When ``model`` is the demo model (``models.is_demo_model``), or ``demo=True`` is passed
    for a model already freed, the claim is reported as not checked (with ``demo_reason`` or a
    default reason) and ``held`` is ignored.
    """
    if demo or (model is not None and models.is_demo_model(model)):
        not_checked(claim, demo_reason or "the demo model is a toy: this is a claim about the real checkpoint")
        return
    if bool(held):
        _outcomes[claim] = Outcome(claim, HELD, got)
        text = f"Held on this run: {claim} (got {got})."
        _show(
            text,
            '<div class="course-claim-held" style="color:#0a5c0a;font-family:monospace">'
            f"<b>Held on this run:</b> {html.escape(claim)} (got {html.escape(got)}).</div>",
        )
        return
    _outcomes[claim] = Outcome(claim, MISSED, f"expected {expected}, got {got}")
    _show(_box_text(claim, expected, got, why), _box_html(claim, expected, got, why))
    if strict():
        raise ClaimNotHeld(f"behaviour claim did not hold ({STRICT_ENV}=1): {claim}: expected {expected}, got {got}")


def tally_line() -> str:
    """One line counting this kernel's behaviour claims: held, did not hold, not checked."""
    seen = outcomes()
    held = sum(o.status == HELD for o in seen)
    missed = [o.claim for o in seen if o.status == MISSED]
    skipped = sum(o.status == NOT_CHECKED for o in seen)
    checked = held + len(missed)
    line = f"Behaviour claims in this lesson: {held} of {checked} checked held on this run"
    if missed:
        line += f"; {len(missed)} did not (shown in the boxes above: {'; '.join(missed)})"
    if skipped:
        line += f"; {skipped} not checked"
    return line + "."


def tally() -> None:
    """Show :func:`tally_line` (the last cell of every lesson)."""
    text = tally_line()
    missed = any(o.status == MISSED for o in outcomes())
    colour = "#b35c00" if missed else "#0a5c0a"
    _show(
        text,
        f'<div class="course-claims-tally" style="color:{colour};font-family:monospace"><b>{html.escape(text)}</b></div>',
    )
