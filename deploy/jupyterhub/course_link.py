"""Print the link to hand out to a class: it logs the student in, copies the lessons into their home, opens a lesson.

    python deploy/jupyterhub/course_link.py --hub https://hub.example.org
    python deploy/jupyterhub/course_link.py --hub https://hub.example.org --lesson 01 --branch main

The link is an nbgitpuller link (``/hub/user-redirect/git-pull?...``). Opening it logs the
student in (if needed), starts their server, and pulls the course repository into
``~/<target>`` of their own home: the first time a clone, later a merge that keeps their own
edits and brings back any file they deleted. It then opens ``--lesson`` in JupyterLab (the
lessons folder without one). The same link works for the whole course: hand it out once.

``--repo`` defaults to this checkout's ``origin`` remote; any git URL the hub machine can
clone works (https://..., or file:///srv/course/repo.git for a copy on the machine itself).
Standard library only: it runs with any Python 3.10+.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TARGET = "encoder-decoders"


def lesson_path(lesson: str | None, root: Path = ROOT) -> str:
    """``notebooks`` or ``notebooks/<file>`` for a lesson given as "01", "01_encoder_decoders" or a file name."""
    if not lesson:
        return "notebooks"
    matches = sorted((root / "notebooks").glob(f"{lesson.removesuffix('.ipynb')}*.ipynb"))
    if not matches:
        known = ", ".join(p.stem for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"error: no lesson matches {lesson!r}; the lessons are: {known}")
    return f"notebooks/{matches[0].name}"


def origin_url(root: Path = ROOT) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(
            "error: this checkout has no 'origin' remote: pass --repo <git URL the hub can clone>"
        ) from None
    return out.stdout.strip()


def course_link(
    hub: str, repo: str, branch: str = "main", lesson: str | None = None, target: str = DEFAULT_TARGET
) -> str:
    """The nbgitpuller link for ``hub`` (its public base URL) that opens ``lesson`` from ``repo``."""
    if not hub.startswith(("http://", "https://")):
        raise SystemExit(f"error: --hub must be the hub's address, starting with https:// (got {hub!r})")
    query = urllib.parse.urlencode(
        {
            "repo": repo,
            "branch": branch,
            "targetpath": target,
            "urlpath": f"lab/tree/{target}/{lesson_path(lesson)}",
        },
        quote_via=urllib.parse.quote,
    )
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the hub's public address, e.g. https://hub.example.org")
    parser.add_argument("--repo", help="git URL of the course repository (default: this checkout's origin)")
    parser.add_argument("--branch", default="main", help="branch to hand out (default: main)")
    parser.add_argument("--lesson", help="lesson to open, e.g. 01 (default: the lessons folder)")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"folder in each home (default: {DEFAULT_TARGET})")
    args = parser.parse_args(argv)
    print(course_link(args.hub, args.repo or origin_url(), args.branch, args.lesson, args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
