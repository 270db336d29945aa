"""Store-level costs of one chat turn: the floor under every chat path.

A turn appends a user and an assistant message: lock, read + decode, append, encode,
atomic write (fsync), views. The session is reset (untimed) before every round so each
measured turn sees the same size, with ``turn_sessions`` other sessions on disk.
"""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

from scripts.bench.workloads import FileReset, TurnSessions, turn_messages
from store.codec import decode_session, encode_session
from store.session_store import SessionStore


@pytest.mark.parametrize("size", ["small", "large"])
def test_store_turn(benchmark, turn_root: Path, turn_sessions: TurnSessions, size: str) -> None:  # type: ignore[no-untyped-def]
    store = SessionStore(turn_root)
    session_id = turn_sessions.small_id if size == "small" else turn_sessions.large_id
    reset = FileReset(store.path_for(session_id))
    turns = count()
    benchmark.group = "turn: store append (user + assistant)"
    benchmark.extra_info["messages_in_session"] = len(store.load(session_id).messages)
    try:
        benchmark.pedantic(
            lambda: store.append_messages(session_id, turn_messages(next(turns))),
            setup=reset,
            rounds=200 if size == "small" else 60,
            warmup_rounds=3,
        )
    finally:
        reset()
    assert len(store.load(session_id).messages) == benchmark.extra_info["messages_in_session"]


@pytest.mark.parametrize("size", ["small", "large"])
def test_decode_and_encode(benchmark, turn_root: Path, turn_sessions: TurnSessions, size: str) -> None:  # type: ignore[no-untyped-def]
    """Where a turn's time goes: decoding and encoding the session file (no I/O)."""
    store = SessionStore(turn_root)
    session_id = turn_sessions.small_id if size == "small" else turn_sessions.large_id
    path = store.path_for(session_id)
    data = path.read_bytes()
    benchmark.group = "turn: decode + encode only"

    def round_trip() -> bytes:
        return encode_session(decode_session(data, path))

    assert benchmark(round_trip) == data
