"""Small pure pieces of index/: searchable text, query cleaning, snippets, busy retries."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import index.watcher as watcher_module
from index import Indexer, IndexWatcher, InvalidQuery
from index.database import retry_busy, write_transaction
from index.fts_query import has_cjk, substring_query
from index.files import session_id_of
from index.snippets import make_snippet
from index.rows import searchable_text
from store import Message, SessionStore, ToolCall


def test_searchable_text_covers_parts_tool_calls_and_results() -> None:
    message = Message(
        role="assistant",
        content=[
            {"type": "text", "text": "visible"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}},
            {"type": "tool_result", "content": [{"type": "text", "text": "nested result"}], "output": 42, "result": None},
            {"type": "text", "text": "   "},
            {"type": "text", "text": "bare string part"},
            {"type": "document", "content": Path("report.pdf")},
            {"type": "custom", "input": {"flag": True, "ratio": 0.5, "items": ["a1", "b2"], "obj": object.__name__}},
        ],
        tool_calls=[
            ToolCall(id="1", name="grep", arguments='{"pattern": "needle"}'),
            ToolCall(id="2", name="ls", arguments={}),
            ToolCall(id="3", name="cat", arguments={"path": "日本語.txt"}),
        ],
    )
    text = searchable_text(message)
    for expected in ("visible", "nested result", "42", "bare string part", "report.pdf", "true", "0.5", "a1", "grep", "needle", "ls", "日本語.txt"):
        assert expected in text
    assert "example.invalid" not in text  # urls are not searchable text
    tool = Message(role="tool", name="read_file", content=None)
    assert searchable_text(tool) == "read_file"


def test_has_cjk() -> None:
    assert has_cjk("查找 全文索引") and has_cjk("カタカナ") and has_cjk("한국어")
    assert not has_cjk("plain ascii éà")


def test_substring_query_parts() -> None:
    query = substring_query('"全文索引" 索 abc')
    assert query.match == '"全文索引" AND "abc"' and query.short_terms == ["索"]
    assert substring_query("ab").match is None
    with pytest.raises(InvalidQuery):
        substring_query('"" !!')


def testmake_snippet() -> None:
    long_text = "x" * 100 + "needle" + "y" * 100
    snippet = make_snippet(long_text, ["needle"])
    assert snippet.startswith("…") and snippet.endswith("…") and "[needle]" in snippet
    assert make_snippet("no match here", ["zzz"]) == "no match here"
    assert make_snippet("Ab ab", ["ab"]) == "[Ab] [ab]"


def test_retry_busy_retries_only_busy_errors() -> None:
    attempts = {"n": 0}

    def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert retry_busy(flaky) == "done" and attempts["n"] == 3

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: nope")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_busy(broken)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        retry_busy(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")), deadline_seconds=0.05)


def test_write_transaction_rolls_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(RuntimeError):
        with write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert not conn.in_transaction


def test_sync_drops_rows_that_have_no_file_entry(store: SessionStore) -> None:
    store.create("real")
    with Indexer(store.root) as indexer:
        indexer.sync()
        indexer.connection.execute(
            "INSERT INTO sessions (session_id, created_at, updated_at, models_used, tags, message_count, switch_count,"
            " file_path) VALUES ('stray', '2026', '2026', '[]', '[]', 0, 0, 'sessions/stray.json')"
        )
        indexer.sync()
        ids = [row[0] for row in indexer.connection.execute("SELECT session_id FROM sessions")]
        assert ids == ["real"]


def test_a_large_batch_is_followed_by_a_sync(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "BURST_SIZE", 1)
    with IndexWatcher(store.root, debounce_seconds=0.02) as watcher:
        assert watcher.wait_until_idle(20)
        store.create("one")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.files_seen and r.skipped for r in watcher.reports):
            time.sleep(0.02)
        assert any(r.files_seen and r.skipped for r in watcher.reports)  # the sync after the batch
        assert watcher.wait_until_idle(20)


def test_roots_with_spaces_and_uri_characters(tmp_path: Path) -> None:
    root = tmp_path / "my sessions?#%和中文" / ".llm_sessions"
    SessionStore(root).create("x", title="odd path")
    with Indexer(root) as indexer:
        assert indexer.signature_matches() is False
        indexer.sync()
        assert indexer.signature_matches() is True
    with IndexWatcher(root, debounce_seconds=0.02) as watcher:
        assert watcher.wait_until_idle(20)


@given(st.text(alphabet="ab.-_/", max_size=12))
def test_session_id_of_is_the_path_stem(name: str) -> None:
    for rel in (name, f"sessions/{name}", f"sessions/{name}.json"):
        assert session_id_of(rel) == Path(rel).stem
