"""The trigram table holds only the messages whose text has CJK characters (``cjk`` = 1), on
every write path (rebuild, incremental sync, edits that add or remove CJK text, deletions), and
a Latin-script query that finds no word is retried with its words as prefixes."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from index.models import InvalidQuery

from index import Indexer, SearchIndex
from store import Message, SessionStore
from tests.index.test_index_search import build_corpus

T0 = datetime(2026, 4, 2, 10, 0, tzinfo=timezone.utc)


def _trigram_rowids(root: Path) -> tuple[set[int], set[int]]:
    """(rowids in messages_trigram, rowids of messages flagged cjk = 1)."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        # A trigram every CJK message of the tests holds, and one every message holds.
        indexed = {row[0] for row in conn.execute("SELECT rowid FROM messages_trigram WHERE messages_trigram MATCH '\"会话\" OR \"FTS\" OR \"会\"'")}
        everything = {row[0] for row in conn.execute("SELECT rowid FROM messages_trigram")}
        flagged = {row[0] for row in conn.execute("SELECT message_rowid FROM messages WHERE cjk = 1")}
        conn.execute("INSERT INTO messages_trigram(messages_trigram, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()
    assert indexed <= everything
    return everything, flagged


def _docsize_rows(root: Path) -> int:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return conn.execute("SELECT count(*) FROM messages_trigram_docsize").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def store_with_corpus(store: SessionStore) -> SessionStore:
    build_corpus(store)
    return store


@pytest.mark.parametrize("full", [True, False])
def test_only_messages_with_cjk_text_get_trigram_rows(store_with_corpus: SessionStore, full: bool) -> None:
    root = store_with_corpus.root
    with Indexer(root) as indexer:
        indexer.sync(full=full)
        assert indexer.check() == []  # integrity-check included: the view is the table's content
    _, flagged = _trigram_rowids(root)
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        by_flag = dict(conn.execute("SELECT cjk, count(*) FROM messages GROUP BY cjk").fetchall())
    finally:
        conn.close()
    assert by_flag == {0: 7, 1: 2}  # the two messages of the Chinese session
    assert len(flagged) == 2 and _docsize_rows(root) == 2


def test_edits_that_add_or_remove_cjk_text_keep_the_trigram_table_in_step(store: SessionStore, tmp_path: Path) -> None:
    store.create("mixed", model="kimi-k2")
    store.append_messages(
        "mixed",
        [
            Message(role="user", content="plain english only", created_at=T0),
            Message(role="assistant", content="回答：数据库索引", model="kimi-k2", created_at=T0 + timedelta(minutes=1)),
        ],
    )
    with Indexer(store.root) as indexer, SearchIndex(store.root) as index:
        indexer.sync()
        assert [hit.message_id is not None for hit in index.search("数据库")] == [True]
        assert _docsize_rows(store.root) == 1
        # Rewrite the file: the CJK message becomes English, the English one gets CJK text.
        session = store.load("mixed")
        first, second = session.messages
        session.messages = [
            first.model_copy(update={"content": "现在有中文了 hello"}),
            second.model_copy(update={"content": "no more chinese here"}),
        ]
        path = store.path_for("mixed")
        from store.codec import encode_session

        path.write_bytes(encode_session(session))
        os.utime(path, ns=(1, 1))  # a new stat: the sync re-reads it
        indexer.sync()
        assert indexer.check() == []
        assert index.search("数据库") == []
        assert [hit.role for hit in index.search("现在有中文") if hit.message_id] == ["user"]
        everything, flagged = _trigram_rowids(store.root)
        assert everything == flagged and len(flagged) == 1
        os.unlink(path)
        indexer.sync()
        assert _trigram_rowids(store.root) == (set(), set())
        assert indexer.check() == []


def test_a_raw_insert_without_the_flag_is_a_latin_message(store_with_corpus: SessionStore) -> None:
    with Indexer(store_with_corpus.root) as indexer:
        indexer.sync()
    conn = sqlite3.connect(store_with_corpus.root / "index.sqlite")
    try:
        conn.execute(
            "INSERT INTO messages (session_id, position, message_id, role, created_at, text)"
            " VALUES ('x', 0, 'm', 'user', '2026', 'words')"
        )
        assert conn.execute("SELECT cjk FROM messages WHERE session_id = 'x'").fetchone() == (0,)
    finally:
        conn.close()


def test_latin_words_that_match_nothing_are_retried_as_prefixes(store_with_corpus: SessionStore) -> None:
    with SearchIndex(store_with_corpus.root) as index:
        assert {hit.session_id for hit in index.search("sess")} >= {"eng-review", "code-ids"}
        assert [hit.session_id for hit in index.search("parse_sess")] == ["code-ids"]
        assert "[parse_session]_id" in index.search("parse_sess")[0].snippet  # the matched words
        assert [hit.session_id for hit in index.search("concur writ")] == ["eng-review"]  # every word a prefix
        assert {hit.session_id for hit in index.search("valid", role="tool")} == {"code-ids"}  # filters kept
        assert index.search("ession") == []  # not a prefix of any word: no substring search in Latin text
        assert index.search("sess", role="system") == []
        assert index.search("qq") == []
        # A query that uses search syntax and breaks it is refused, with the query that finds the text.
        with pytest.raises(InvalidQuery, match='"""parse_sess"'):
            index.search('"parse_sess')
        assert [hit.session_id for hit in index.search('"""parse_sess"')] == ["code-ids"]


def test_cjk_queries_still_match_latin_terms_as_substrings_in_cjk_messages(store_with_corpus: SessionStore) -> None:
    with SearchIndex(store_with_corpus.root) as index:
        hits = index.search("全文检索 bm2")  # "bm2" is a substring of "bm25", inside a CJK message
        assert [hit.session_id for hit in hits if hit.message_id] == ["中文会话"]
        assert [hit.session_id for hit in index.search("请解释") if hit.message_id] == ["中文会话"]
        assert [hit.session_id for hit in index.search("索引") if hit.message_id] == ["中文会话"]  # instr, CJK rows only
