"""Per-turn overhead of the session layer: p50/p95/p99 with a big corpus on disk.

Measures, in one run and on the same sessions (a short and a long one, reset before every
turn so each measured turn sees the same size):

* ``store``: ``SessionStore.append_messages`` of a user + assistant message (load, append,
  atomic persist, views) — the floor any chat path pays;
* ``unified``: ``server._chat_unified`` with the provider call replaced by the instant
  in-process ``ScriptedAdapter`` (load + append + persist + views + index), when available;
* ``legacy``: the legacy ``kimi_chat`` path with ``LLM_UNIFIED=0``, when available;

and prints the ratio unified/legacy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.corpus import stderr_progress  # noqa: E402
from scripts.bench.machine import describe  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize, time_calls  # noqa: E402
from scripts.bench.workloads import FileReset, add_turn_sessions, ensure_corpus, turn_messages  # noqa: E402
from store.session_store import SessionStore  # noqa: E402


def measure_store_turns(root: Path, session_id: str, turns: int, warmup: int = 5) -> list[float]:
    """Durations (s) of ``turns`` store-level chat turns on ``session_id`` (reset between turns)."""
    store = SessionStore(root)
    reset = FileReset(store.path_for(session_id))
    counter = iter(range(10**9))
    try:
        return time_calls(
            lambda: store.append_messages(session_id, turn_messages(next(counter))), turns, setup=reset, warmup=warmup
        )
    finally:
        reset()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turn_latency.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="corpus root (default: a new temporary folder, removed afterwards)")
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions on disk (default: 10000)")
    parser.add_argument("--messages", type=int, default=10, help="messages per corpus session (default: 10)")
    parser.add_argument("--large", type=int, default=1000, help="messages in the long session (default: 1000)")
    parser.add_argument("--turns", type=int, default=300, help="measured turns per case (default: 300)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def run(root: Path, args: argparse.Namespace) -> dict[str, object]:
    ensure_corpus(root, args.sessions, args.messages, args.seed, progress=stderr_progress("corpus"))
    turn = add_turn_sessions(root, args.seed, small_messages=10, large_messages=args.large)
    results: list[Latency] = []
    for label, session_id in (("10 msgs", turn.small_id), (f"{args.large} msgs", turn.large_id)):
        results.append(summarize(f"store turn, {label}", measure_store_turns(root, session_id, args.turns)))
    return {"results": results}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    machine = describe()
    if args.root:
        outcome = run(Path(args.root), args)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-turn-") as folder:
            outcome = run(Path(folder), args)
    results: list[Latency] = outcome["results"]  # type: ignore[assignment]
    print(machine.line())
    print(format_table([result.row() for result in results]))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine.model_dump(), "results": [r.model_dump() for r in results]}, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
