"""A full rebuild killed while it drops the old tables leaves an index the next run repairs."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from index import Indexer, SearchIndex
from index.schema import BULK_LOADING_VERSION, FTS_TABLES
from scripts import reindex
from store import Message, SessionStore


def _store_with_index(tmp_path: Path) -> SessionStore:
    store = SessionStore(tmp_path / "root")
    for number in range(3):
        store.create(f"s{number}", title=f"title {number}")
        store.append_message(f"s{number}", Message(role="user", content=f"the quokka number {number}"))
    with Indexer(store.root) as indexer:
        indexer.sync()
    return store


def _check(root: Path) -> int:
    return reindex.run_check(root, False, io.StringIO())


def _hits(root: Path) -> int:
    index = SearchIndex(root)
    try:
        return len(index.search("quokka"))
    finally:
        index.close()


@pytest.mark.parametrize("dropped", [FTS_TABLES[:1], FTS_TABLES, (*FTS_TABLES, "messages")])
def test_a_kill_among_the_drops_of_a_full_rebuild_is_repaired_by_the_next_run(tmp_path: Path, dropped: tuple[str, ...]) -> None:
    store = _store_with_index(tmp_path)
    # What bulk_load leaves if killed after marking the index and dropping some tables
    # (the drops commit one by one; the bulk lock dies with the process).
    conn = sqlite3.connect(store.layout.index)
    conn.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
    for table in dropped:
        conn.execute(f'DROP TABLE "{table}"')
    conn.commit()
    conn.close()

    assert reindex.main(["--root", str(store.root)], out=io.StringIO(), err=io.StringIO()) == 0
    assert _check(store.root) == 0
    assert _hits(store.root) == 3


def test_a_current_version_index_missing_a_full_text_table_is_rebuilt_on_open(tmp_path: Path) -> None:
    store = _store_with_index(tmp_path)
    conn = sqlite3.connect(store.layout.index)
    conn.execute(f'DROP TABLE "{FTS_TABLES[-1]}"')
    conn.commit()
    conn.close()

    with Indexer(store.root) as indexer:
        indexer.sync()
    assert _check(store.root) == 0
    assert _hits(store.root) == 3
