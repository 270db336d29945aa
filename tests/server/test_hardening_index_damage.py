"""Hardening: ``index.sqlite`` truncated, deleted or replaced by garbage while the server runs.

The index is derived data: damage is detected on the next use, the file is dropped and rebuilt
from the session files, searches answer again, and the session files are never touched.
"""

from __future__ import annotations

import os
import time
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from index import Indexer, SearchIndex
from index.database import discard_damaged, file_identity, is_damaged
from store import Message, SessionStore
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import mcp_server, run_script, session_files, subprocess_env, wait_until


def _checkpoint(db: Path) -> None:
    """Move everything from the -wal into the main file, so damage to the file is real damage."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _truncate_half(db: Path) -> None:
    # A third, in fact: the tables a search reads must lie in the lost part for the damage to
    # show (with the listing tables of index schema 6, half of a small index kept them all).
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 3)


def _truncate_zero(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.truncate(0)


def _garbage_in_place(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.write(b"\x00garbage\xff" * (size // 10 + 1))


def _replace_with_garbage(db: Path) -> None:
    temp = db.with_name("garbage.tmp")
    temp.write_bytes(os.urandom(16384))
    os.replace(temp, db)


def _delete(db: Path) -> None:
    db.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated to half": _truncate_half,
    "truncated to zero": _truncate_zero,
    "overwritten with garbage": _garbage_in_place,
    "replaced by a garbage file": _replace_with_garbage,
    "deleted": _delete,
}


def test_index_damage_while_the_server_runs_is_rebuilt_and_sessions_are_untouched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        with mcp_server(root, env, tmp_path / "server.log") as client:
            sids = [client.call("chat", prompt=f"quokkafish number {i} ahoy", model="gpt-4o")["session_id"] for i in range(3)]
            assert len(client.call("search_sessions", query="quokkafish")["hits"]) >= 3
            before = session_files(root)
            db = root / "index.sqlite"
            for name, damage in DAMAGES.items():
                _checkpoint(db)
                damage(db)
                # Answered at once from what is indexed (index_pending > 0 while the watcher
                # rebuilds in the background), then complete.
                deadline = time.monotonic() + 60
                while True:
                    result = client.call("search_sessions", query="quokkafish", role="user")
                    if sorted(hit["session_id"] for hit in result["hits"]) == sorted(sids):
                        break
                    assert result["index_pending"] > 0, (name, result)
                    assert time.monotonic() < deadline, f"{name}: the index was not rebuilt"
                    time.sleep(0.1)
                assert session_files(root) == before, f"{name}: session files changed"
                # The server keeps working after the repair: a new chat lands in the index too.
                sid = client.call("chat", prompt=f"wombatquill after {name}", model="gpt-4o")["session_id"]
                assert client.call("search_sessions", query="wombatquill", session_id=sid)["hits"], name
                before = session_files(root)
            assert "is damaged" in client.log()
    quarantine = root / "quarantine"
    assert not quarantine.exists() or list(quarantine.iterdir()) == []  # no session file was touched
    check = run_script("reindex.py", "--root", str(root), "--check")
    assert check.returncode == 0, check.output


@pytest.mark.parametrize("name", list(DAMAGES))
def test_indexer_and_search_recover_in_process(tmp_path: Path, name: str) -> None:
    store = SessionStore(tmp_path)
    store.create("s1", model="gpt-4o")
    store.append_message("s1", Message(role="user", content="narwhalbyte"))
    search = SearchIndex(tmp_path)
    assert len(search.search("narwhalbyte")) == 1
    before = session_files(tmp_path)
    db = tmp_path / "index.sqlite"
    _checkpoint(db)
    DAMAGES[name](db)
    assert [hit.session_id for hit in search.search("narwhalbyte")] == ["s1"]
    assert session_files(tmp_path) == before
    with Indexer(tmp_path) as indexer:
        assert indexer.check() == []
    search.close()


def test_check_reports_a_damaged_index_without_changing_it(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.create("s1", model="gpt-4o")
    with Indexer(tmp_path) as indexer:
        indexer.sync()
    db = tmp_path / "index.sqlite"
    _checkpoint(db)
    _replace_with_garbage(db)
    garbage = db.read_bytes()
    result = run_script("reindex.py", "--root", str(tmp_path), "--check")
    assert result.returncode == 1 and "index.sqlite" in result.stdout and "reindex.py" in result.stdout, result.output
    assert db.read_bytes() == garbage  # --check is read-only
    assert run_script("reindex.py", "--root", str(tmp_path)).returncode == 0
    assert run_script("reindex.py", "--root", str(tmp_path), "--check").returncode == 0


def test_sync_and_index_paths_recover_from_a_damaged_file(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.create("s1", model="gpt-4o")
    db = tmp_path / "index.sqlite"
    with Indexer(tmp_path) as indexer:
        indexer.sync()
        _checkpoint(db)
        _garbage_in_place(db)
        report = indexer.index_paths([store.path_for("s1")])
        assert report.indexed == 1
        _checkpoint(db)
        _truncate_zero(db)
        assert indexer.sync().indexed == 1
        assert indexer.check() == []


def test_damage_detection_rules(tmp_path: Path) -> None:
    assert is_damaged(sqlite3.DatabaseError("file is not a database"))
    assert is_damaged(sqlite3.DatabaseError("database disk image is malformed"))
    assert not is_damaged(sqlite3.OperationalError("database is locked"))
    assert not is_damaged(sqlite3.OperationalError("no such table: x"))
    assert not is_damaged(ValueError("file is not a database"))
    # Only the file that failed is deleted: a replacement made meanwhile is kept.
    db = tmp_path / "index.sqlite"
    db.write_bytes(b"fresh")
    lock = tmp_path / "lock"
    assert not discard_damaged(db, lock, (0, 0))
    assert not discard_damaged(db, lock, None)
    assert db.exists()
    assert discard_damaged(db, lock, file_identity(db))
    assert not db.exists()
    assert not discard_damaged(db, lock, (1, 2))


def test_a_non_damage_error_is_not_swallowed(tmp_path: Path) -> None:
    with Indexer(tmp_path) as indexer:

        def fail() -> None:
            raise sqlite3.OperationalError("no such table: nothing")

        with pytest.raises(sqlite3.OperationalError):
            indexer.recovering(fail)


def test_an_index_path_that_cannot_be_opened_is_a_clear_tool_error(tmp_path: Path) -> None:
    import anyio
    from mcp.server.mcpserver.exceptions import ToolError

    import server
    from tests.chat_helpers import make_indexed_app

    app, _ = make_indexed_app(tmp_path)
    mcp = server.build_server(app)
    try:
        sid = anyio.run(lambda: mcp.call_tool("chat", {"prompt": "okapiwhistle", "model": "gpt-test"})).structured_content["session_id"]
        root = app.store.root
        for path in root.glob("index.sqlite*"):
            path.unlink()
        (root / "index.sqlite").mkdir()  # a folder where the index belongs: nothing to open
        with pytest.raises(ToolError) as caught:
            anyio.run(lambda: mcp.call_tool("search_sessions", {"query": "okapiwhistle"}))
        assert "index.sqlite" in str(caught.value) and "rebuilt from the session files" in str(caught.value)
        assert "internal error" not in str(caught.value)
        # Chats still work meanwhile (indexing is best effort), and once the folder is gone
        # the index is rebuilt and searches answer again.
        anyio.run(lambda: mcp.call_tool("chat", {"prompt": "still chatting", "model": "gpt-test", "session_id": sid}))
        (root / "index.sqlite").rmdir()
        hits = anyio.run(lambda: mcp.call_tool("search_sessions", {"query": "okapiwhistle"})).structured_content["hits"]
        assert {hit["session_id"] for hit in hits} == {sid}
    finally:
        for close in app.extra["closers"]:
            close()
