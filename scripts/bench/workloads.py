"""Corpus set-up shared by the benchmark scripts and the pytest-benchmark suites.

A workload is a session root holding a synthetic corpus (``scripts.bench.corpus``) plus the
two sessions a per-turn benchmark talks to: a short one and a long one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from scripts.bench.corpus import generate_session, write_corpus
from store.codec import encode_session
from store.paths import Layout
from store.schema import Message

# Session indexes far above any corpus size, so the turn sessions never collide with corpus files.
SMALL_TURN_INDEX = 10_000_000
LARGE_TURN_INDEX = 10_000_001
COMPLETE_MARKER = ".bench-corpus-complete"


class TurnSessions(BaseModel):
    """The sessions a per-turn benchmark appends to, with their pristine bytes for resetting."""

    small_id: str
    large_id: str
    small_messages: int
    large_messages: int


def ensure_corpus(
    root: Path,
    sessions: int,
    messages: int,
    seed: int,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the corpus into ``root`` unless a complete one with the same parameters is there.

    A marker file records the parameters once writing finished, so an interrupted run is
    redone rather than trusted.
    """
    marker = root / COMPLETE_MARKER
    wanted = f"{sessions} {messages} {seed}\n"
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return root
    write_corpus(root, sessions, messages, seed, jobs=jobs, progress=progress)
    marker.write_text(wanted, encoding="utf-8")
    return root


def add_turn_sessions(root: Path, seed: int, small_messages: int = 10, large_messages: int = 1000) -> TurnSessions:
    """Write (or overwrite) the short and the long session used by per-turn benchmarks."""
    layout = Layout(root)
    layout.sessions.mkdir(parents=True, exist_ok=True)
    small = generate_session(seed, SMALL_TURN_INDEX, small_messages)
    large = generate_session(seed, LARGE_TURN_INDEX, large_messages)
    for session in (small, large):
        layout.session_file(session.id).write_bytes(encode_session(session))
    return TurnSessions(small_id=small.id, large_id=large.id, small_messages=small_messages, large_messages=large_messages)


class FileReset:
    """Puts a session file back to the bytes it had when this object was made.

    Per-turn benchmarks append to a session; resetting it (untimed) before each turn keeps
    every measured turn at the same session size.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()

    def __call__(self) -> None:
        self.path.write_bytes(self.data)


def turn_messages(turn: int, model: str = "kimi-k2") -> list[Message]:
    """A user message and an assistant answer, as one chat turn appends them."""
    return [
        Message(role="user", content=f"Benchmark turn {turn}: does the watcher debounce atomic renames? 索引"),
        Message(role="assistant", content=f"Turn {turn}: yes, events are batched.", model=model, provider="moonshot"),
    ]


def add_corpus_arguments(parser: argparse.ArgumentParser, *, sessions: int = 10_000) -> None:
    """The options every corpus-based bench script takes: --root, --sessions, --messages, --seed."""
    parser.add_argument("--root", default=None, help="corpus root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    parser.add_argument("--sessions", type=int, default=sessions, help=f"sessions in the corpus (default: {sessions})")
    parser.add_argument("--messages", type=int, default=10, help="messages per session (default: 10)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
