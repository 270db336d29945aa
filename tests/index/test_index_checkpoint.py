"""WAL checkpoints run off the committing thread (``index.checkpointer``) and keep the WAL bounded."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from index import Indexer, IndexWatcher
from index.checkpointer import WalCheckpointer
from store import Message, SessionStore
from tests.hardening_helpers import wait_until
from tests.index.test_index_perf_paths import assert_equals_rebuild

SETTLE = 20.0


def wal_bytes(root: Path) -> int:
    try:
        return os.path.getsize(root / "index.sqlite-wal")
    except FileNotFoundError:
        return 0


def messages_in_main_file(root: Path, scratch: Path) -> int:
    """Message rows in ``index.sqlite`` alone (its WAL left out): what checkpoints copied in."""
    scratch.mkdir(exist_ok=True)
    copy = scratch / f"main-{len(list(scratch.iterdir()))}.sqlite"
    copy.write_bytes((root / "index.sqlite").read_bytes())
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.OperationalError:
        return -1  # not even the tables were checkpointed yet
    finally:
        conn.close()


def live_messages(indexer: Indexer) -> int:
    return indexer.connection.execute("SELECT count(*) FROM messages").fetchone()[0]


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


def turn(store: SessionStore, indexer: Indexer, session_id: str, number: int) -> None:
    store.append_messages(
        session_id,
        [Message(role="user", content=f"question {number} about walrus{number}"), Message(role="assistant", content=f"answer {number}")],
    )
    path = store.path_for(session_id)
    indexer.index_session(path, store.load(session_id), path.read_bytes())


def test_indexer_connection_does_not_checkpoint_inside_commit(store: SessionStore) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with Indexer(store.root) as indexer:
        indexer.sync()
        conn = indexer.connection
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Other connections keep SQLite's default.
    other = sqlite3.connect(store.root / "index.sqlite")
    try:
        assert other.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        other.close()


def test_background_thread_checkpoints_after_every_n_commits(store: SessionStore, tmp_path: Path) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with Indexer(store.root) as indexer:
        indexer.sync()
        indexer.checkpointer = WalCheckpointer(indexer.db_path, every_commits=3, limit_commits=1000)
        for number in range(2):
            turn(store, indexer, "s1", number)
        assert indexer.checkpointer.checkpoints == 0
        assert indexer.checkpointer._thread is None  # not woken before the third commit
        turn(store, indexer, "s1", 2)
        wait_until(lambda: indexer.checkpointer.checkpoints >= 1)
        assert indexer.checkpointer.inline_checkpoints == 0
        thread = indexer.checkpointer._thread
        assert thread is not None and thread.name == "index-checkpoint"
        assert messages_in_main_file(store.root, tmp_path / "scratch") == live_messages(indexer) == 6
        assert_equals_rebuild(indexer, store.root, tmp_path)
    assert thread is not None and not thread.is_alive()  # close() stopped it


def test_wal_stays_bounded_after_many_commits(store: SessionStore, tmp_path: Path) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with Indexer(store.root) as indexer:
        indexer.sync()
        indexer.checkpointer = WalCheckpointer(indexer.db_path, every_commits=4, limit_commits=32)
        for number in range(150):
            turn(store, indexer, "s1", number)
        bounded = wal_bytes(store.root)
        assert indexer.checkpointer.checkpoints >= 1
        assert_equals_rebuild(indexer, store.root, tmp_path)
    # The same commits with no checkpoints at all leave a far larger WAL.
    other = SessionStore(tmp_path / "other")
    other.create("s1", title="t", model="kimi-k2")
    with Indexer(other.root) as indexer:
        indexer.sync()
        indexer.checkpointer = WalCheckpointer(indexer.db_path, every_commits=10**9, limit_commits=10**9)
        for number in range(150):
            turn(other, indexer, "s1", number)
        unbounded = wal_bytes(other.root)
    assert bounded * 2 < unbounded, (bounded, unbounded)


def test_inline_checkpoint_when_the_limit_is_reached(store: SessionStore, tmp_path: Path) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with Indexer(store.root) as indexer:
        indexer.sync()
        indexer.checkpointer = WalCheckpointer(indexer.db_path, every_commits=2, limit_commits=2)
        turn(store, indexer, "s1", 0)
        assert indexer.checkpointer.inline_checkpoints == 0
        assert messages_in_main_file(store.root, tmp_path / "scratch") != live_messages(indexer) == 2
        turn(store, indexer, "s1", 1)
        assert indexer.checkpointer.inline_checkpoints == 1
        assert messages_in_main_file(store.root, tmp_path / "scratch") == live_messages(indexer) == 4


def test_the_watcher_checkpoints_its_own_commits(store: SessionStore) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with IndexWatcher(store.root, debounce_seconds=0.02) as watcher:
        assert watcher.wait_until_idle(SETTLE)
        watcher.indexer.checkpointer = WalCheckpointer(watcher.indexer.db_path, every_commits=2, limit_commits=1000)
        for number in range(6):
            store.append_messages("s1", [Message(role="user", content=f"note {number}")])
            assert watcher.wait_until_idle(SETTLE)
        wait_until(lambda: watcher.indexer.checkpointer.checkpoints >= 1)
        assert watcher.indexer.checkpointer.inline_checkpoints == 0


def test_a_missing_index_file_is_not_created_by_the_checkpointer(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(tmp_path / "index.sqlite", every_commits=1, limit_commits=1)
    assert checkpointer._checkpoint_once() is False
    assert not (tmp_path / "index.sqlite").exists()
    checkpointer.close()  # never started: a no-op


def test_failures_are_logged_not_raised(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(tmp_path / "index.sqlite", every_commits=1, limit_commits=1)
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    conn.close()
    checkpointer.after_commit(conn)  # a closed connection: the inline checkpoint fails quietly
    assert checkpointer.checkpoints == 0


def test_background_failure_is_not_counted_and_the_thread_stops_on_close(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(tmp_path / "missing.sqlite", every_commits=1, limit_commits=10)
    conn = sqlite3.connect(":memory:")
    try:
        checkpointer.after_commit(conn)
        thread = checkpointer._thread
        assert thread is not None
        wait_until(lambda: not checkpointer._wanted)
        checkpointer.close()
        assert not thread.is_alive()
        assert checkpointer.checkpoints == 0
        assert not (tmp_path / "missing.sqlite").exists()
    finally:
        conn.close()


@pytest.mark.parametrize(("every", "limit"), [(0, 5), (5, 4)])
def test_bad_settings_are_refused(tmp_path: Path, every: int, limit: int) -> None:
    with pytest.raises(ValueError):
        WalCheckpointer(tmp_path / "index.sqlite", every_commits=every, limit_commits=limit)


def test_an_incomplete_inline_checkpoint_is_retried_on_the_next_commit(store: SessionStore, tmp_path: Path) -> None:
    store.create("s1", title="t", model="kimi-k2")
    with Indexer(store.root) as indexer:
        indexer.sync()
        indexer.checkpointer = WalCheckpointer(indexer.db_path, every_commits=2, limit_commits=2)
        turn(store, indexer, "s1", 0)
        reader = sqlite3.connect(store.root / "index.sqlite", isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM messages").fetchone()  # pins the WAL as of now
            turn(store, indexer, "s1", 1)
            turn(store, indexer, "s1", 2)
            assert indexer.checkpointer.inline_checkpoints == 0  # frames after the reader's mark stay
        finally:
            reader.close()
        turn(store, indexer, "s1", 3)
        assert indexer.checkpointer.inline_checkpoints == 1
        assert messages_in_main_file(store.root, tmp_path / "scratch") == live_messages(indexer) == 8
