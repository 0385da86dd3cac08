"""Command line: ``python -m extras_and_licenses {doctor,prefetch}``.

python -m extras_and_licenses doctor              # pre-flight report and verdict
python -m extras_and_licenses prefetch            # fetch every lesson model
python -m extras_and_licenses prefetch t5-base    # fetch one
python -m extras_and_licenses prefetch --check    # what is cached, download nothing
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m extras_and_licenses", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    doc = sub.add_parser("doctor", help="check GPU, memory, versions, cached models, disk and network")
    doc.add_argument("--cache-dir", help="Hugging Face hub cache (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)")
    pre = sub.add_parser("prefetch", help="download the lesson models into the Hugging Face cache")
    pre.add_argument("models", nargs="*", help="model ids (default: all lesson models)")
    pre.add_argument("--check", action="store_true", help="only report what is cached; download nothing")
    pre.add_argument("--cache-dir", help="Hugging Face hub cache (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)")
    args = parser.parse_args(argv)

    from . import models

    if args.command == "doctor":
        from .doctor import FAIL, doctor

        report = doctor(cache_dir=args.cache_dir)
        return 1 if report.verdict[0] == FAIL else 0

    from .prefetch import prefetch

    try:
        results = prefetch(args.models or None, cache_dir=args.cache_dir, check_only=args.check)
    except models.UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.status in ("cached", "downloaded") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
