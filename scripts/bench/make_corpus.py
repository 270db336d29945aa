"""Write a deterministic synthetic corpus of session files for benchmarks.

Example: ``python scripts/bench/make_corpus.py --sessions 10000 --messages 10 --seed 1 --root /tmp/corpus``
writes ``/tmp/corpus/sessions/*.json``; the same arguments always give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.corpus import default_jobs, stderr_progress, write_corpus  # noqa: E402
from store.paths import resolve_root  # noqa: E402


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_corpus.py",
        description=(
            "Write a deterministic synthetic corpus of unified session files (schema v1) into "
            "<root>/sessions/: English prose, code identifiers, some Chinese, several models, "
            "model switches and tool calls. The same --sessions/--messages/--seed always give "
            "byte-identical files (timestamps derive from the seed, not the clock)."
        ),
    )
    parser.add_argument("--sessions", type=_non_negative, required=True, help="number of sessions to write")
    parser.add_argument("--messages", type=_non_negative, required=True, help="messages per session (exact)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    parser.add_argument("--root", default=None, help="session root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    parser.add_argument("--views", action="store_true", help="also create the by-model/ and by-date/ symlink views")
    parser.add_argument(
        "--jobs", type=_non_negative, default=default_jobs(), help="worker processes (default: CPU count, at most 4)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout instead of a sentence")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = resolve_root(args.root)
    progress = None if args.quiet else stderr_progress("make_corpus")
    stats = write_corpus(root, args.sessions, args.messages, args.seed, jobs=args.jobs, views=args.views, progress=progress)
    if args.json:
        print(json.dumps(stats.model_dump(mode="json"), indent=1))
    else:
        print(
            f"wrote {stats.sessions} sessions / {stats.messages} messages ({stats.bytes / 1e6:.1f} MB) "
            f"to {root / 'sessions'} in {stats.seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
