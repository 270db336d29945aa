"""Per-turn overhead of the session layer: p50/p95/p99 with a big corpus on disk.

Measures, in one run and on the same sessions (a short and a long one, reset before every
turn so each measured turn sees the same size):

* ``store``: ``SessionStore.append_messages`` of a user + assistant message (load, append,
  atomic persist, views) — the floor any chat path pays;
* ``unified``: ``chat.run_turn`` with the provider call replaced by the instant
  in-process ``ScriptedAdapter`` (load + append + persist + views + index), when available;
* ``legacy``: the legacy ``kimi_chat`` path with ``LLM_UNIFIED=0``, when available;

and prints the ratio unified/legacy. With ``--warm`` it also measures the three chat paths
warm: consecutive turns on the same session without restoring the file in between (the steady
state of a conversation: the session grows by two messages per turn and the store's cache of
the bytes it last wrote stays valid); the file is restored once afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import BaseModel  # noqa: E402

from scripts.bench.chat_paths import (  # noqa: E402
    LoopRunner,
    bench_app,
    close_app,
    legacy_turn,
    unified_turn,
    write_legacy_session,
)
from scripts.bench.corpus import default_jobs, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize, time_calls  # noqa: E402
from scripts.bench.search_latency import ensure_index  # noqa: E402
from scripts.bench.workloads import (  # noqa: E402
    LARGE_TURN_INDEX,
    SMALL_TURN_INDEX,
    FileReset,
    add_turn_sessions,
    ensure_corpus,
    turn_messages,
)
from store.paths import resolve_root  # noqa: E402
from store.session_store import SessionStore  # noqa: E402
from utils.feature_flags import LLM_UNIFIED as FLAG  # noqa: E402


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


def measure_chat_turns(
    runner: LoopRunner,
    factory: Callable[[int], Coroutine[Any, Any, dict[str, Any]]],
    path: Path,
    turns: int,
    warmup: int = 5,
    *,
    restore: bool = True,
) -> list[float]:
    """Durations (s) of ``turns`` chat turns.

    ``restore=True`` (cold): the session file is reset (untimed) before each turn, so every turn
    sees the same size and a file this process did not write. ``restore=False`` (warm): the
    turns follow each other on the growing session, as in a conversation. Either way the file
    has its original bytes again when this returns.
    """
    reset = FileReset(path)
    counter = iter(range(10**9))
    try:
        return time_calls(lambda: runner.run(factory(next(counter))), turns, setup=reset if restore else None, warmup=warmup)
    finally:
        reset()


class TurnReport(BaseModel):
    sessions_on_disk: int
    results: list[Latency]
    ratios: dict[str, float]


def run_turns(
    root: Path, legacy_root: Path, sessions: int, messages: int, large: int, turns: int, seed: int, *, warm: bool = False
) -> TurnReport:
    """Measure store, unified and legacy turns on a short and a long session, in one run.

    ``warm`` adds the warm rows (no restore between turns) of the unified, unindexed and legacy
    paths and their unified/legacy ratios, after the cold rows of each session size.
    """
    ensure_corpus(root, sessions, messages, seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    turn = add_turn_sessions(root, seed, small_messages=10, large_messages=large)
    ensure_index(root)
    store = SessionStore(root)
    runner = LoopRunner()
    app = bench_app(root, legacy_root)
    # The same chat path without the inline index update (the watcher would index later):
    # the difference is what read-your-writes indexing costs per turn.
    app_unindexed = bench_app(root, legacy_root, index=False)
    results: list[Latency] = []
    ratios: dict[str, float] = {}
    previous = os.environ.get(FLAG)
    try:
        for label, session_id, legacy_index, size in (
            ("10 msgs", turn.small_id, SMALL_TURN_INDEX, 10),
            (f"{large} msgs", turn.large_id, LARGE_TURN_INDEX, large),
        ):
            path = store.path_for(session_id)
            model = store.load(session_id).current_model or "kimi-k2"
            store_figures = summarize(f"store append, {label}", measure_store_turns(root, session_id, turns))
            os.environ[FLAG] = "1"
            unified = summarize(f"unified _chat_unified, {label}", measure_chat_turns(runner, unified_turn(app, session_id, model), path, turns))
            unindexed = summarize(
                f"unified, no inline index, {label}",
                measure_chat_turns(runner, unified_turn(app_unindexed, session_id, model), path, turns),
            )
            legacy_id = write_legacy_session(legacy_root, seed, legacy_index, size)
            os.environ[FLAG] = "0"
            legacy = summarize(
                f"legacy kimi_chat (LLM_UNIFIED=0), {label}",
                measure_chat_turns(runner, legacy_turn(app, legacy_id), legacy_root / f"{legacy_id}.json", turns),
            )
            results.extend([store_figures, unified, unindexed, legacy])
            ratios[f"unified/legacy p50, {label}"] = unified.p50_ms / legacy.p50_ms
            ratios[f"unified/legacy p99, {label}"] = unified.p99_ms / legacy.p99_ms
            if warm:
                results.extend(_warm_rows(runner, app, app_unindexed, session_id, model, path, legacy_id, legacy_root, label, turns, ratios))
    finally:
        if previous is None:
            os.environ.pop(FLAG, None)
        else:
            os.environ[FLAG] = previous
        close_app(app)
        runner.close()
    return TurnReport(sessions_on_disk=sessions + 2, results=results, ratios=ratios)


def _warm_rows(
    runner: LoopRunner,
    app: Any,
    app_unindexed: Any,
    session_id: str,
    model: str,
    path: Path,
    legacy_id: str,
    legacy_root: Path,
    label: str,
    turns: int,
    ratios: dict[str, float],
) -> list[Latency]:
    """Warm rows (consecutive turns, no restore) for one session size; adds the warm ratios."""
    os.environ[FLAG] = "1"
    unified = summarize(
        f"unified warm, {label}", measure_chat_turns(runner, unified_turn(app, session_id, model), path, turns, restore=False)
    )
    unindexed = summarize(
        f"unified warm, no inline index, {label}",
        measure_chat_turns(runner, unified_turn(app_unindexed, session_id, model), path, turns, restore=False),
    )
    os.environ[FLAG] = "0"
    legacy = summarize(
        f"legacy warm, {label}",
        measure_chat_turns(runner, legacy_turn(app, legacy_id), legacy_root / f"{legacy_id}.json", turns, restore=False),
    )
    ratios[f"unified/legacy warm p50, {label}"] = unified.p50_ms / legacy.p50_ms
    ratios[f"unified/legacy warm p99, {label}"] = unified.p99_ms / legacy.p99_ms
    return [unified, unindexed, legacy]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turn_latency.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="corpus root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    parser.add_argument("--legacy-root", default=None, help="legacy folder (default: <root>-legacy)")
    parser.add_argument("--sessions", type=int, default=10_000, help="corpus sessions on disk (default: 10000)")
    parser.add_argument("--messages", type=int, default=10, help="messages per corpus session (default: 10)")
    parser.add_argument("--large", type=int, default=1000, help="messages in the long session (default: 1000)")
    parser.add_argument("--turns", type=int, default=300, help="measured turns per case (default: 300)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="also measure warm turns: consecutive turns on the same session without restoring the file between them",
    )
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 0 or args.messages < 1 or args.large < 1 or args.turns < 1:
        print("turn_latency.py: --messages, --large, --turns must be >= 1 and --sessions >= 0", file=sys.stderr)
        return 2
    machine = describe()
    root = resolve_root(args.root)
    legacy_root = Path(args.legacy_root) if args.legacy_root else root.with_name(root.name + "-legacy")
    report = run_turns(root, legacy_root, args.sessions, args.messages, args.large, args.turns, args.seed, warm=args.warm)
    print(machine.line())
    print(
        f"{report.sessions_on_disk:,} sessions on disk; each turn = user + assistant message, index updated before return"
        + "; cold rows: the file is restored before every turn"
        + ("; warm rows: consecutive turns, no restore (the session grows by 2 messages a turn)" if args.warm else "")
    )
    print(format_table([result.row() for result in report.results]))
    for name, value in report.ratios.items():
        print(f"{name}: {value:.2f}")
    if args.json:
        save_results(args.json, machine, report=report)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
