"""Searches with ``session_id``/``since``/``until`` walk only a rowid range of the full-text
tables (``message_time_blocks``, a session's first and last rowid): the hits must be exactly
those of the plain joined query, whatever order the messages were written in.

Real files, real SQLite. The blocks are made 4 rows wide (``TIME_BLOCK_BITS`` = 2) so a small
corpus spans many of them; times are written out of rowid order on purpose (an old session
continued later with back-dated messages, sessions indexed in a shuffled order).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from index import Indexer, SearchIndex, schema, times
from store import Message, SessionStore

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
WORDS = ("otter", "otter otter", "otter river", "a river with an otter in it", "stone")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "TIME_BLOCK_BITS", 2)


def write_corpus(store: SessionStore) -> None:
    # Session k's messages are dated from minute 100 * ((k * 7) % 10): rowid order is not time order.
    for k in range(10):
        session_id = f"s{k}"
        store.create(session_id, title=None, model="kimi-k2")
        base = 100 * ((k * 7) % 10)
        store.append_messages(
            session_id,
            [Message(role="user" if i % 2 == 0 else "assistant", content=WORDS[(k + i) % len(WORDS)], created_at=at(base + i)) for i in range(6)],
        )


def expected(root: Path, match: str, where: str, args: tuple[object, ...]) -> list[tuple[str, str]]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        rows = conn.execute(
            "SELECT m.session_id, m.message_id FROM messages_fts JOIN messages m ON m.message_rowid = messages_fts.rowid"
            f" WHERE messages_fts MATCH ?{where} ORDER BY bm25(messages_fts), m.session_id, m.position",
            (match, *args),
        ).fetchall()
    finally:
        conn.close()
    return [(row[0], row[1]) for row in rows]


def blocks_cover_every_message(root: Path) -> bool:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        uncovered = conn.execute(
            "SELECT count(*) FROM messages m LEFT JOIN message_time_blocks b ON b.block = m.message_rowid >> 2"
            " WHERE b.block IS NULL OR m.created_at < b.min_created_at OR m.created_at > b.max_created_at"
        ).fetchone()[0]
        blocks = conn.execute("SELECT count(*) FROM message_time_blocks").fetchone()[0]
    finally:
        conn.close()
    return uncovered == 0 and blocks > 5


FILTERS = [
    ({"until": at(250)}, " AND m.created_at <= ?", (times.iso(at(250)),)),
    ({"since": at(600)}, " AND m.created_at >= ?", (times.iso(at(600)),)),
    ({"since": at(300), "until": at(503)}, " AND m.created_at >= ? AND m.created_at <= ?", (times.iso(at(300)), times.iso(at(503)))),
    ({"session_id": "s4"}, " AND m.session_id = ?", ("s4",)),
    ({"session_id": "s4", "until": at(850)}, " AND m.session_id = ? AND m.created_at <= ?", ("s4", times.iso(at(850)))),
    ({"session_id": "s2", "role": "assistant", "since": at(400)}, " AND m.role = ? AND m.session_id = ? AND m.created_at >= ?",
     ("assistant", "s2", times.iso(at(400)))),
]


@pytest.mark.parametrize("full", [True, False], ids=["rebuild", "live"])
@pytest.mark.parametrize(("kwargs", "where", "args"), FILTERS)
def test_bounded_searches_find_exactly_what_the_filters_allow(
    store: SessionStore, full: bool, kwargs: dict[str, object], where: str, args: tuple[object, ...]
) -> None:
    write_corpus(store)
    with Indexer(store.root) as indexer:
        indexer.sync(full=full)
    assert blocks_cover_every_message(store.root)
    with SearchIndex(store.root) as index:
        for query in ("otter", "river", "otter OR stone", "riv*"):
            got = [(hit.session_id, hit.message_id) for hit in index.search(query, limit=100, **kwargs) if hit.message_id]  # type: ignore[arg-type]
            assert got == expected(store.root, query, where, args), (query, kwargs)
    assert expected(store.root, "otter", where, args)  # never vacuous


def test_a_continued_old_session_with_back_dated_messages_is_still_found(store: SessionStore) -> None:
    write_corpus(store)
    with Indexer(store.root) as indexer:
        indexer.sync()
        # Written last (highest rowids), dated before everything else.
        store.append_messages("s5", [Message(role="user", content="otter memo", created_at=at(-50))])
        indexer.sync()
        assert blocks_cover_every_message(store.root)
        with SearchIndex(store.root) as index:
            hits = index.search("memo", until=at(-10))
            assert [hit.session_id for hit in hits] == ["s5"]
            assert index.search("memo", since=at(0)) == []


def test_no_message_in_range_or_an_unknown_session_finds_nothing(store: SessionStore) -> None:
    write_corpus(store)
    with Indexer(store.root) as indexer:
        indexer.sync()
    with SearchIndex(store.root) as index:
        assert index.search("otter", until=at(-1)) == []
        assert index.search("otter", since=at(10_000)) == []
        assert index.search("otter", session_id="nope") == []
        assert index.search("otter", since=at(0), until=at(5))


def test_messages_rewritten_in_place_keep_their_blocks_covering(store: SessionStore) -> None:
    write_corpus(store)
    with Indexer(store.root) as indexer:
        indexer.sync()
        conn = sqlite3.connect(store.root / "index.sqlite")
        try:
            conn.execute("UPDATE messages SET created_at = ? WHERE session_id = 's1'", (times.iso(at(5000)),))
            conn.commit()
        finally:
            conn.close()
        assert blocks_cover_every_message(store.root)
        with SearchIndex(store.root) as index:
            assert {hit.session_id for hit in index.search("otter", since=at(4000))} == {"s1"}
