"""The notices a learner must not miss: the banners shown when a stand-in replaces a lesson model.

- The demo banner (:func:`show_demo_banner`): the bundled toy T5 is standing in, why, and how to get
  the real model. The stand-in banner (``standins``, framed by :func:`banner_box`): random weights.
- Each kind shows in full the first time in a kernel (a red box in Jupyter, a ``#`` box elsewhere),
  then as one reminder line. :func:`forget_banners` starts over, as a fresh kernel would.
- :func:`jupyter_shell` / :func:`in_jupyter_kernel`: the one test of "are we in a Jupyter kernel",
  used here, by ``claims``, ``gpu_cap`` and ``doctor``.

Used by ``models.load_model`` (every lesson, when a stand-in loads); re-exported by ``models``.
"""

from __future__ import annotations

import sys

from .catalog import DEMO_ENV, demo_requested
from .hub_cache import shared_cache
from .placement import Placement

_BANNERS_SHOWN: set[str] = set()  # kinds of banner already shown in full in this kernel (process)


def banner_box(lines: list[str]) -> str:
    """``lines`` framed in ``#``: the stand-in banners are meant to be impossible to miss."""
    width = max(len(line) for line in lines) + 4
    bar = "#" * width
    return "\n".join([bar] + [f"# {line.ljust(width - 4)} #" for line in lines] + [bar])


def forget_banners() -> None:
    """Show every banner in full again at its next load, as in a fresh kernel (used by the tests)."""
    _BANNERS_SHOWN.clear()


def jupyter_shell(shell=None):
    """The IPython shell of the Jupyter kernel this code runs in; None in a terminal, a script or plain IPython.

    ``shell``: a shell to test instead of IPython's current one (None when it belongs to no kernel)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return None
        shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (where rich output such as HTML boxes and tables can be shown)."""
    return jupyter_shell() is not None


def show_banner(text: str, css_class: str, reminder: str | None = None, note: str | None = None) -> str:
    """Show a stand-in banner: in full the first time in this kernel, as one ``reminder`` line after that.

    In full: inside Jupyter a red box (its plain-text form, for text-only front ends, is the
    ``#`` box); elsewhere the ``#`` box. ``note`` (the device line) follows the full banner.
    Without a ``reminder`` the banner is shown in full every time. Returns what was shown, as text."""
    first = css_class not in _BANNERS_SHOWN
    _BANNERS_SHOWN.add(css_class)
    if not first and reminder:
        print(reminder, file=sys.stdout, flush=True)
        return reminder
    if in_jupyter_kernel():
        import html

        from IPython.display import display

        body = "<br>".join(html.escape(line[2:-2].rstrip()) for line in text.splitlines()[1:-1])
        box = (
            '<div style="border:4px solid #c00;background:#fee;color:#600;padding:8px 12px;'
            f'font-weight:bold;font-family:monospace" class="{css_class}">{body}</div>'
        )
        sys.stdout.flush()  # so that earlier prints stay above the box
        display({"text/html": box, "text/plain": text}, raw=True)
    else:
        print(text, file=sys.stdout, flush=True)
    if note:
        print(note, file=sys.stdout, flush=True)
    return text + (f"\n{note}" if note else "")


def demo_banner_text(stands_in_for: str, reason: str) -> str:
    if demo_requested():
        leave = f"To use the real model: unset {DEMO_ENV} (and fetch it: python -m extras_and_licenses prefetch)."
    elif shared_cache() is not None:
        leave = f"Fix: ask your instructor to run prefetch (python -m extras_and_licenses prefetch --cache-dir {shared_cache()})."
    else:
        leave = "To use the real model: fetch it with network access: python -m extras_and_licenses prefetch"
    return banner_box(
        [
            "DEMO MODEL - NOT THE REAL ONE",
            f"Standing in for: {stands_in_for}",
            f"Why: {reason}",
            "This is a tiny toy T5 trained on templated English->French/German sentences.",
            "Its outputs are a toy's: they show the mechanics, not the quality of the real model.",
            leave,
        ]
    )


def _placement_words(placement) -> str:
    where = "the CPU" if placement.device == "cpu" else placement.device
    return f"running on {where} in {str(placement.dtype).replace('torch.', '')}."


def show_demo_banner(stands_in_for: str, reason: str, placement: Placement | None = None) -> str:
    """The demo banner: in full once per kernel (a red box in Jupyter), then a one-line reminder.

    With ``placement``, its device line follows the full banner and is folded into the reminder.
    Returns what was shown, as text."""
    reminder = f"DEMO MODEL again: the toy T5 stands in for {stands_in_for} (see this kernel's first banner)"
    reminder += "." if placement is None else f", {_placement_words(placement)}"
    note = None if placement is None else placement.note
    return show_banner(demo_banner_text(stands_in_for, reason), "course-demo-banner", reminder, note)
