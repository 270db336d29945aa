"""FTS5 merges happen off the chat turn's write (``index.merging``): automerge off, slices later."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from filelock import FileLock

from index import Indexer, IndexWatcher
from index.schema import BULK_LOADING_VERSION, FTS_TABLES, INDEX_SCHEMA_VERSION, bulk_lock_path
from index.merging import (
    BULK_AUTOMERGE,
    BULK_CRISISMERGE,
    DEFERRED_AUTOMERGE,
    DEFERRED_CRISISMERGE,
    merge_settings,
    merge_slice,
    set_merge_settings,
)
from store import Message, SessionStore
from tests.hardening_helpers import wait_until
from tests.index.test_index_perf_paths import assert_equals_rebuild, indexer, search_ids, store  # noqa: F401 - fixtures

# Each turn writes two small segments: 20 turns leave ten, short of FTS5's crisis merge (16 on a level).
TURNS = 20


def automerge_settings(conn: sqlite3.Connection) -> dict[str, tuple[int | None, int | None]]:
    return {table: merge_settings(conn, table) for table in FTS_TABLES}


def deferred() -> dict[str, tuple[int | None, int | None]]:
    return {table: (DEFERRED_AUTOMERGE, DEFERRED_CRISISMERGE) for table in FTS_TABLES}


def chat_turns(store: SessionStore, indexer: Indexer, turns: int = TURNS, first: int = 0) -> None:
    """One session per turn, each indexed in its own transaction, as chat turns are."""
    for number in range(first, first + turns):
        session_id = f"s{number:03d}"
        store.create(session_id, title=f"title {number} walrus", model="kimi-k2")
        store.append_messages(
            session_id,
            [
                Message(role="user", content=f"question {number} about walrus{number} 数据库"),
                Message(role="assistant", content=f"answer {number} about the walrus"),
            ],
        )
        path = store.path_for(session_id)
        indexer.index_session(path, store.load(session_id), path.read_bytes())


def test_a_new_index_defers_merges_in_every_full_text_table(indexer: Indexer) -> None:
    assert automerge_settings(indexer.connection) == deferred()


def test_an_index_made_before_gets_merges_deferred_by_the_first_merge_pass(store: SessionStore) -> None:
    with Indexer(store.root) as first:
        set_merge_settings(first.connection, FTS_TABLES, BULK_AUTOMERGE, BULK_CRISISMERGE)
        assert set(automerge_settings(first.connection).values()) == {(BULK_AUTOMERGE, BULK_CRISISMERGE)}
    with Indexer(store.root) as reopened:
        reopened.check()  # read-only: leaves them as they are
        assert set(automerge_settings(reopened.connection).values()) == {(BULK_AUTOMERGE, BULK_CRISISMERGE)}
        reopened.merge_deferred()  # the watcher's first call after the server starts
        assert automerge_settings(reopened.connection) == deferred()


def test_small_writes_leave_merging_that_merge_deferred_finishes(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    chat_turns(store, indexer)
    before = search_ids(store.root, "walrus")
    conn = indexer.connection
    # The writes did not merge: there is merge work in the word table...
    with conn:
        assert merge_slice(conn, "messages_fts", pages=1)
    merged = indexer.merge_deferred()
    assert merged > 0
    # ... and after merge_deferred there is none anywhere.
    assert indexer.merge_deferred() == 0
    for table in FTS_TABLES:
        with conn:
            assert not merge_slice(conn, table)
    assert search_ids(store.root, "walrus") == before
    assert len(before) == 2 * TURNS
    for table in FTS_TABLES:
        conn.execute(f"INSERT INTO \"{table}\" (\"{table}\", rank) VALUES ('integrity-check', 1)")
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_merge_deferred_yields_to_a_waiting_turn_and_to_its_time_limit(store: SessionStore, indexer: Indexer) -> None:
    chat_turns(store, indexer)
    assert indexer.merge_deferred(seconds=0.0) == 0  # no time: nothing done
    waiting = threading.Event()
    release = threading.Event()

    def turn_waits() -> None:
        with indexer.turns.waiting_turn():  # what a chat turn does while it waits for the lock
            waiting.set()
            release.wait(10)

    thread = threading.Thread(target=turn_waits)
    thread.start()
    try:
        assert waiting.wait(10)
        assert indexer.merge_deferred() == 0
    finally:
        release.set()
        thread.join(10)
    assert indexer.merge_deferred() > 0


def test_an_incremental_sync_ends_merged(store: SessionStore, tmp_path: Path) -> None:
    writer = SessionStore(store.root)
    for number in range(TURNS):
        writer.create(f"w{number:03d}", title="walrus", model="kimi-k2")
    with Indexer(store.root) as ix:
        for path in sorted(store.layout.sessions.glob("*.json")):
            ix.index_paths([path])  # one transaction each, merges left undone
        writer.append_message("w000", Message(role="user", content="one more walrus"))
        ix.sync()
        assert ix.merge_deferred() == 0
        assert_equals_rebuild(ix, store.root, tmp_path)


def test_a_full_rebuild_ends_with_merges_deferred(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    chat_turns(store, indexer, turns=6)
    indexer.sync(full=True)
    assert automerge_settings(indexer.connection) == deferred()
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_the_watcher_merges_what_turns_left(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    watcher = IndexWatcher(store.root, indexer=indexer).start()
    try:
        assert watcher.wait_until_idle(20)
        chat_turns(store, indexer)
        assert watcher.wait_until_idle(20)
        assert wait_until(lambda: watcher.merges > 0, 20)
        assert wait_until(lambda: indexer.merge_deferred() == 0, 20)
    finally:
        watcher.stop()
    assert watcher.last_error is None
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_merge_deferred_costs_nothing_until_this_indexer_writes_again(store: SessionStore, indexer: Indexer) -> None:
    chat_turns(store, indexer, turns=2)
    indexer.merge_deferred()  # a complete pass
    statements: list[str] = []
    indexer.connection.set_trace_callback(statements.append)
    try:
        assert indexer.merge_deferred() == 0
        assert statements == []  # no transaction at all: an idle watcher wakes without writing
        chat_turns(store, indexer, turns=1, first=2)
        statements.clear()
        indexer.merge_deferred()
        assert any("'merge'" in sql for sql in statements)
    finally:
        indexer.connection.set_trace_callback(None)


def test_merge_deferred_leaves_a_rebuild_of_another_process_alone(store: SessionStore, indexer: Indexer) -> None:
    chat_turns(store, indexer)
    other = sqlite3.connect(indexer.db_path, isolation_level=None)
    # Another process's full rebuild: its mark on the index, and its bulk lock held.
    with FileLock(str(bulk_lock_path(indexer.layout.locks / "index.sqlite.lock"))):
        other.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
        statements: list[str] = []
        indexer.connection.set_trace_callback(statements.append)
        try:
            assert indexer.merge_deferred() == 0
        finally:
            indexer.connection.set_trace_callback(None)
        assert not any("'merge'" in sql for sql in statements)
        other.execute(f"PRAGMA user_version = {INDEX_SCHEMA_VERSION}")
    # ... and the moment it has dropped the tables to make them again.
    other.execute("DROP TABLE messages_fts")
    assert indexer.merge_deferred() == 0
    other.close()
