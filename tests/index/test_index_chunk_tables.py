"""``index.chunk_tables``: rows handed over as a small SQLite database and copied inside SQLite
land in the index exactly as the same rows bound one by one (values, types, rowids, order)."""

from __future__ import annotations

import multiprocessing

import sqlite3
from pathlib import Path

import pytest

import index.rebuild as rebuild_module
import index.prepare as prepare_module
import index.sync as sync_module
from index import Indexer
from index.chunk_tables import SCHEMA, ChunkTables, pack
from index.database import open_database, write_transaction
from index.rows import MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS
from store import SessionStore
from tests.index.test_index_full_sync_workers import after_decoding, change_and_remove, copy_root, corpus, everything


def session(number: int) -> tuple[object, ...]:
    return (f"s{number}", None if number % 2 else f"title {number}", "2025-01-02T00:00:00.000000Z",
            "2025-01-02T00:00:01.000000Z", "gpt-4o", '["gpt-4o"]', "[]", 2, number % 2, f"sessions/s{number}.json",
            0.5 if number % 2 else None, number % 3, None if number % 2 else "grp_1", None)


def message(number: int, position: int) -> tuple[object, ...]:
    # Every kind of value a row holds: text, None, ints (one beyond 32 bits), an integral float.
    return (f"s{number}", position, f"m{number}-{position}", "assistant", "gpt-4o", None, "2025-01-02T00:00:00.000000Z",
            f"text {number} {position} 数据库", None, None, 2**40 + position, 7, 0.25, 8393.0, "answered", "gpt-4o", None, position % 2)


def switch(number: int) -> tuple[object, ...]:
    return (f"s{number}", 0, 1, None, "claude-sonnet-4-5", "2025-01-02T00:00:00.000000Z", "switched")


def files(numbers: list[int]) -> list[tuple[int, tuple[object, ...], list[tuple[object, ...]], list[tuple[object, ...]]]]:
    return [(number, session(number), [message(number, 0), message(number, 1)], [switch(number)] if number % 2 else []) for number in numbers]


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    typed = ", ".join(f"{column}, typeof({column})" for column in MESSAGE_COLUMNS)
    return {
        "sessions": conn.execute("SELECT * FROM sessions ORDER BY session_rowid").fetchall(),
        "messages": conn.execute(f"SELECT message_rowid, {typed} FROM messages ORDER BY message_rowid").fetchall(),
        "switches": conn.execute("SELECT * FROM model_switches ORDER BY session_id, position").fetchall(),
    }


def fresh_index(path: Path) -> sqlite3.Connection:
    conn, _ = open_database(path / "index.sqlite", path / "index.lock")
    return conn


def test_copied_rows_equal_bound_rows(tmp_path: Path) -> None:
    (tmp_path / "bound").mkdir()
    (tmp_path / "copied").mkdir()
    bound, copied = fresh_index(tmp_path / "bound"), fresh_index(tmp_path / "copied")
    chunk = files([0, 1, 2, 3, 4, 5])
    with write_transaction(bound):
        for _, session_row, messages, switches in [item for item in chunk if item[0] != 3]:
            bound.execute(f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({', '.join('?' * len(SESSION_COLUMNS))})", session_row)
            bound.executemany(f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})", messages)
            bound.executemany(f"INSERT INTO model_switches ({', '.join(SWITCH_COLUMNS)}) VALUES ({', '.join('?' * len(SWITCH_COLUMNS))})", switches)
    tables = ChunkTables(copied)
    tables.attach()
    tables.attach()  # attaching twice is harmless (a failed load may have left it attached)
    data = pack(chunk)
    with write_transaction(copied):
        tables.load(data)
        tables.copy(0, 2)  # a run of files, then one left out (file 3), then the rest
        tables.copy(4, 5)
    tables.detach()
    tables.detach()
    assert dump(copied) == dump(bound)
    assert SCHEMA not in {row[1] for row in copied.execute("PRAGMA database_list")}
    bound.close()
    copied.close()


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


def test_workers_rows_around_a_file_changed_after_decoding(
    store: SessionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk from a worker whose middle file changed meanwhile: the rows before it and after it
    are copied from the worker's tables, the changed file is decoded again, in file order."""
    monkeypatch.setattr(sync_module, "SYNC_CHUNK", 4)
    monkeypatch.setattr(rebuild_module, "FTS_BATCH_CHUNKS", 2)
    monkeypatch.setattr(prepare_module, "LOCAL_CHUNKS_AHEAD", 0)  # every chunk through a worker's tables
    corpus(store, 12)
    after_decoding(monkeypatch, change_and_remove(store, "s05", "s09"))  # forked workers inherit it
    # ... only forked ones: a thread another test left running would make the pool spawn instead.
    monkeypatch.setattr(prepare_module, "_start_method", lambda: multiprocessing.get_context("fork"))
    with Indexer(store.root) as indexer:
        report = indexer.sync(full=True, workers=2)
        assert indexer.check() == []
    assert (report.files_seen, report.indexed) == (12, 11)
    monkeypatch.undo()
    found = everything(store.root)
    assert [hit[0] for hit in found["narwhal"]] == ["s05"]  # type: ignore[index]
    reference = copy_root(store, tmp_path, "reference")
    with Indexer(reference) as indexer:
        indexer.sync(full=True, workers=1)  # one process: rows bound from Python
    assert found == everything(reference)

