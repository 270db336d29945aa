"""``reindex.py --check`` never creates, upgrades or drops an index: it only reports."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from index import Indexer
from scripts import reindex
from store import Message, SessionStore


def _check(root: Path) -> tuple[int, str]:
    out = io.StringIO()
    return reindex.run_check(root, False, out), out.getvalue()


def test_check_without_an_index_reports_it_and_creates_nothing(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("a")
    code, text = _check(store.root)
    assert code == 1 and "no index yet" in text
    assert not store.layout.index.exists()


def test_check_on_another_schema_version_keeps_every_row(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("a")
    store.append_message("a", Message(role="user", content="keep me"))
    with Indexer(store.root) as indexer:
        indexer.sync()
    conn = sqlite3.connect(store.layout.index)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    before = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()

    code, text = _check(store.root)

    assert code == 1 and "schema version 99" in text
    conn = sqlite3.connect(store.layout.index)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == before == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


def test_check_on_garbage_reports_it_without_touching_it(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    store.layout.index.write_bytes(b"not a database at all" * 100)
    code, text = _check(store.root)
    assert code == 1 and "reindex.py --full" in text
    assert store.layout.index.read_bytes() == b"not a database at all" * 100


def test_check_on_a_current_index_still_compares(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("a")
    with Indexer(store.root) as indexer:
        indexer.sync()
    assert _check(store.root) == (0, "0 difference(s) between the index and the files\n")
