"""The ranking window: a query with more matches than ``rank_window`` is ranked by bm25 among its
newest ``rank_window`` matches only; with fewer matches the ranking is exact.

Real files, real SQLite; the window is made small (``SearchIndex(root, rank_window=N)``) so a
handful of messages cross it. "Newest" is the highest rowid, i.e. the most recently indexed row
(a rebuild indexes sessions in file-name order, which for the server's ids is creation order).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from index import Indexer, SearchHit, SearchIndex
from index.ranking import RANK_WINDOW, configured_rank_window
from store import Message, SessionStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
MODELS = ("kimi-k2", "gpt-4o")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _content(index: int) -> str:
    # The oldest messages say "beacon" most often in the fewest words, so they rank best overall;
    # every message also has a CJK part and "harbor" in one message out of two (for OR and mixed).
    repeats = 1 + max(0, 6 - index // 4)
    extra = " harbor" if index % 2 else ""
    return " ".join(["beacon"] * repeats) + extra + f" 灯塔信号 {FILLER[: 10 + 3 * (index % 7)]}"


def build(store: SessionStore, sessions: int = 8, per_session: int = 6) -> None:
    """``sessions`` sessions (ids sort in creation order) of ``per_session`` matching messages each."""
    minute = 0
    for s in range(sessions):
        session_id = f"2026030{1 + s // 9}-08{s:02d}00-00000{s % 10}"
        store.create(session_id, title=f"beacon log {s}", model=MODELS[s % 2])
        messages = []
        for i in range(per_session):
            role = "user" if i % 2 == 0 else "assistant"
            model = None if role == "user" else MODELS[s % 2]
            messages.append(Message(role=role, content=_content(s * per_session + i), model=model, created_at=at(minute)))
            minute += 1
        store.append_messages(session_id, messages)


@pytest.fixture
def root(store: SessionStore) -> Path:
    build(store)
    with Indexer(store.root) as indexer:
        indexer.sync(full=True)
    return store.root


def ids(hits: list[SearchHit]) -> list[tuple[str, str | None]]:
    return [(hit.session_id, hit.message_id) for hit in hits]


def _exact(root: Path, fts: str, match: str, where: str = "", args: tuple[object, ...] = (), window: int | None = None) -> list[tuple[str, str]]:
    """What the ranking must be, straight from SQLite: every match ranked by bm25 (then session,
    position), or, with ``window``, only the ``window`` newest matches (by rowid)."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        rows = conn.execute(
            f"SELECT m.message_rowid, m.session_id, m.message_id FROM {fts}"
            f" JOIN messages m ON m.message_rowid = {fts}.rowid WHERE {fts} MATCH ?{where}"
            f" ORDER BY bm25({fts}), m.session_id, m.position",
            (match, *args),
        ).fetchall()
    finally:
        conn.close()
    if window is not None:
        newest = set(sorted((row[0] for row in rows), reverse=True)[:window])
        rows = [row for row in rows if row[0] in newest]
    return [(row[1], row[2]) for row in rows]


def _messages_only(hits: list[SearchHit]) -> list[tuple[str, str | None]]:
    return [pair for pair in ids(hits) if pair[1] is not None]


def test_default_window_is_the_documented_twenty_thousand() -> None:
    assert RANK_WINDOW == 20_000


def test_below_the_window_the_ranking_is_exact(root: Path) -> None:
    with SearchIndex(root, rank_window=48) as index:  # 48 matches: all ranked
        hits = index.search("beacon", limit=100)
    assert _messages_only(hits) == _exact(root, "messages_fts", "beacon")
    assert len(_messages_only(hits)) == 48


def test_above_the_window_only_the_newest_matches_are_ranked(root: Path) -> None:
    exact = _exact(root, "messages_fts", "beacon")
    with SearchIndex(root, rank_window=10) as index:
        hits = index.search("beacon", limit=100)
    got = _messages_only(hits)
    assert got == _exact(root, "messages_fts", "beacon", window=10)
    assert len(got) == 10
    # The best match overall is one of the oldest: outside the window, so not found.
    assert exact[0] not in got
    newest_sessions = {session_id for session_id, _ in got}
    assert newest_sessions <= {"20260301-080600-000006", "20260301-080700-000007"}
    # Scores still come best first.
    scores = [hit.score for hit in hits if hit.message_id is not None]
    assert scores == sorted(scores, reverse=True)


def test_the_window_also_applies_to_session_titles(root: Path) -> None:
    with SearchIndex(root, rank_window=3) as index:
        titles = [hit.session_id for hit in index.search("beacon", limit=100) if hit.message_id is None]
    assert sorted(titles) == ["20260301-080500-000005", "20260301-080600-000006", "20260301-080700-000007"]


def test_paging_walks_the_same_window(root: Path) -> None:
    with SearchIndex(root, rank_window=10) as index:
        whole = ids(index.search("beacon", role="user", limit=10))
        pages = ids(index.search("beacon", role="user", limit=4)) + ids(index.search("beacon", role="user", limit=4, offset=4))
    assert pages == whole[:8]


@pytest.mark.parametrize("query", ["beac*", "beacon OR harbor", "harbor"])
def test_prefix_and_or_queries_use_the_window_too(root: Path, query: str) -> None:
    with SearchIndex(root, rank_window=7) as windowed, SearchIndex(root, rank_window=RANK_WINDOW) as exact:
        assert _messages_only(windowed.search(query, limit=100)) == _exact(root, "messages_fts", query, window=7)
        assert _messages_only(exact.search(query, limit=100)) == _exact(root, "messages_fts", query)


def test_mixed_cjk_and_latin_queries_use_the_window_on_the_trigram_table(root: Path) -> None:
    # Both terms are 3+ characters: one trigram MATCH, ranked there.
    match = '"灯塔信号" AND "harbor"'
    with SearchIndex(root, rank_window=5) as index:
        got = _messages_only(index.search("灯塔信号 harbor", limit=100))
    assert got == _exact(root, "messages_trigram", match, window=5)
    assert len(got) == 5
    with SearchIndex(root, rank_window=1000) as index:
        assert _messages_only(index.search("灯塔信号 harbor", limit=100)) == _exact(root, "messages_trigram", match)


def test_a_short_cjk_term_with_a_latin_one_counts_the_window_after_the_instr_check(root: Path) -> None:
    # "灯塔" is shorter than a trigram: matched with instr, which must count towards the window.
    with SearchIndex(root, rank_window=4) as index:
        got = _messages_only(index.search("灯塔 harbor", limit=100))
    expected = _exact(root, "messages_trigram", '"harbor"', " AND instr(lower(m.text), lower(?)) > 0", ("灯塔",), window=4)
    assert got == expected and len(got) == 4


@pytest.mark.parametrize(
    ("kwargs", "where", "args"),
    [
        ({"model": "gpt-4o"}, " AND m.model = ?", ("gpt-4o",)),
        ({"role": "assistant"}, " AND m.role = ?", ("assistant",)),
        ({"session_id": "20260301-080000-000000"}, " AND m.session_id = ?", ("20260301-080000-000000",)),
        ({"until": at(11)}, " AND m.created_at <= ?", ("2026-03-01T08:11:00.000000Z",)),
        ({"since": at(20), "until": at(30)}, " AND m.created_at >= ? AND m.created_at <= ?",
         ("2026-03-01T08:20:00.000000Z", "2026-03-01T08:30:00.000000Z")),
    ],
)
def test_filters_are_applied_before_the_window(root: Path, kwargs: dict[str, object], where: str, args: tuple[object, ...]) -> None:
    # The window holds the newest *filtered* matches: old messages picked by a filter are found.
    with SearchIndex(root, rank_window=5) as index:
        got = _messages_only(index.search("beacon", limit=100, **kwargs))  # type: ignore[arg-type]
    expected = _exact(root, "messages_fts", "beacon", where, args, window=5)
    assert got == expected and got


def test_new_messages_enter_the_window_and_push_the_oldest_out(root: Path, store: SessionStore) -> None:
    with SearchIndex(root, rank_window=10) as index:
        before = _messages_only(index.search("beacon", limit=100))
        store.create("20260302-090000-aaaaaa", model="kimi-k2")
        store.append_messages("20260302-090000-aaaaaa", [Message(role="user", content="beacon beacon beacon beacon", created_at=at(500))])
        with Indexer(root) as indexer:
            indexer.sync()
        after = _messages_only(index.search("beacon", limit=100))
    assert after[0][0] == "20260302-090000-aaaaaa"
    assert len(after) == 10 and set(after) - {after[0]} < set(before)
    assert after == _exact(root, "messages_fts", "beacon", window=10)


def test_a_bad_window_is_refused(root: Path) -> None:
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="rank_window must be a positive integer"):
            SearchIndex(root, rank_window=bad)  # type: ignore[arg-type]


def test_the_window_comes_from_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_rank_window({}) == RANK_WINDOW and configured_rank_window({"LLM_SEARCH_RANK_WINDOW": " 7 "}) == 7
    for bad in ("abc", "0", "-1", "1e3"):
        with pytest.raises(ValueError, match="LLM_SEARCH_RANK_WINDOW must be a positive whole number"):
            configured_rank_window({"LLM_SEARCH_RANK_WINDOW": bad})
    monkeypatch.setenv("LLM_SEARCH_RANK_WINDOW", "7")
    with SearchIndex(root) as index:
        assert index.rank_window == 7
        assert _messages_only(index.search("beacon", limit=100)) == _exact(root, "messages_fts", "beacon", window=7)
    with SearchIndex(root, rank_window=3) as index:  # an explicit window wins
        assert index.rank_window == 3
