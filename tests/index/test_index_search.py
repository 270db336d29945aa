"""SearchIndex over a small real corpus: English, code identifiers, Chinese, filters, bad queries."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from index import Indexer, InvalidQuery, SearchHit, SearchIndex
from store import Message, SessionStore, ToolCall
from store.errors import UserFacingError

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def build_corpus(store: SessionStore) -> None:
    """Four sessions exercising every kind of searchable text (used by several test files)."""
    store.create("eng-review", title="API review", model="kimi-k2")
    store.append_messages(
        "eng-review",
        [
            Message(role="user", content="How should the session store handle concurrent writers?", created_at=at(0)),
            Message(role="assistant", content="Use a file lock per session and atomic renames.", model="kimi-k2", created_at=at(1)),
        ],
    )
    store.record_model_switch("eng-review", "claude-sonnet-4-5", warning="context may be re-tokenised")
    store.append_message(
        "eng-review",
        Message(role="assistant", content="I agree; also fsync the directory.", model="claude-sonnet-4-5", created_at=at(2)),
    )
    store.create("code-ids", title="Finding identifiers", model="gpt-4o")
    store.append_messages(
        "code-ids",
        [
            Message(role="user", content="Where is parse_session_id defined?", created_at=at(10)),
            Message(
                role="assistant",
                content=[{"type": "text", "text": "Let me look in the store package."}],
                model="gpt-4o",
                tool_calls=[ToolCall(id="call_1", name="read_file", arguments={"path": "store/ids.py"})],
                created_at=at(11),
            ),
            Message(
                role="tool", name="read_file", tool_call_id="call_1",
                content="def validate_session_id(raw: str) -> str: ...", created_at=at(12),
            ),
        ],
    )
    store.create("中文会话", title="中文会话", model="moonshot-v1-128k")
    store.append_messages(
        "中文会话",
        [
            Message(role="user", content="请解释一下：我们需要为会话建立全文索引", created_at=at(20)),
            Message(role="assistant", content="FTS5 是 SQLite 的全文检索扩展，支持 bm25 排序。", model="moonshot-v1-128k", created_at=at(21)),
        ],
    )
    store.create("deepseek-one", title="Flaky tests", model="deepseek-chat")
    store.append_message(
        "deepseek-one",
        Message(
            role="user",
            content=[{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "exit status 3 from pytest"}]}],
            created_at=at(30),
        ),
    )


@pytest.fixture
def corpus(store: SessionStore) -> SearchIndex:
    build_corpus(store)
    index = SearchIndex(store.root)  # no index yet: built on open
    yield index
    index.close()


def ids(hits: list[SearchHit]) -> list[tuple[str, str | None]]:
    return [(hit.session_id, hit.message_id) for hit in hits]


def test_english_words_ranked_with_highlighted_snippets(corpus: SearchIndex) -> None:
    hits = corpus.search("atomic renames")
    assert hits and hits[0].session_id == "eng-review"
    assert hits[0].role == "assistant" and hits[0].model == "kimi-k2"
    assert "[atomic]" in hits[0].snippet and "[renames]" in hits[0].snippet
    assert hits[0].created_at == at(1)
    assert all(isinstance(hit.score, float) for hit in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_code_identifier_found_in_message_and_tool_result(corpus: SearchIndex) -> None:
    hits = corpus.search("parse_session_id")
    assert ids(hits)[0][0] == "code-ids"
    assert "parse_session_id" in hits[0].snippet
    assert corpus.search("validate_session_id")[0].role == "tool"


def test_tool_call_names_arguments_and_parts_are_searchable(corpus: SearchIndex) -> None:
    assert corpus.search("read_file", role="assistant")[0].session_id == "code-ids"
    assert corpus.search("store/ids.py")[0].session_id == "code-ids"
    assert corpus.search('"exit status 3"')[0].session_id == "deepseek-one"
    assert corpus.search("package")[0].session_id == "code-ids"  # text inside a content part


def test_chinese_query_finds_the_chinese_session(corpus: SearchIndex) -> None:
    hits = corpus.search("全文索引")
    assert [h.session_id for h in hits] == ["中文会话"]
    assert "[全文索引]" in hits[0].snippet
    two_chars = corpus.search("索引")  # shorter than a trigram: substring scan
    assert [h.session_id for h in two_chars] == ["中文会话"]
    assert "[索引]" in two_chars[0].snippet
    mixed = corpus.search("全文检索 bm25")
    assert [h.message_id is not None and h.session_id for h in mixed] == ["中文会话"]


def test_title_hits_are_included_unless_a_role_is_asked(corpus: SearchIndex) -> None:
    hits = corpus.search("identifiers")
    assert ("code-ids", None) in ids(hits)
    title_hit = next(h for h in hits if h.message_id is None)
    assert title_hit.role is None and "[identifiers]" in title_hit.snippet
    assert corpus.search("identifiers", role="user") == [] or all(h.message_id for h in corpus.search("identifiers", role="user"))
    assert ("中文会话", None) in ids(corpus.search("中文会话"))


def test_substring_fallback_when_no_word_matches(corpus: SearchIndex) -> None:
    hits = corpus.search("sess")  # a part of "session"
    assert {h.session_id for h in hits} >= {"eng-review", "code-ids"}
    assert corpus.search("zzzqqq") == []
    assert corpus.search("qq") == []


@pytest.mark.parametrize("query", ['"unbalanced', "AND OR", "NOT", "foo AND", "(session", "NEAR(", 'session"s', "AND OR ("])
def test_broken_fts_syntax_is_refused_with_the_literal_query(corpus: SearchIndex, query: str) -> None:
    """A query that uses search syntax and breaks it is an error, never an empty result."""
    with pytest.raises(InvalidQuery) as excinfo:
        corpus.search(query)
    message = str(excinfo.value)
    literal = '"' + query.replace('"', '""') + '"'
    assert f"{query!r} is not valid search syntax" in message and message.endswith(literal)
    assert isinstance(corpus.search(literal), list)  # what the message suggests is a valid query


@pytest.mark.parametrize("query", ["title:x", "a:b:c", "foo-bar", "file.py", "what's", "C++"])
def test_plain_text_with_punctuation_is_searched_as_a_phrase(corpus: SearchIndex, query: str) -> None:
    assert isinstance(corpus.search(query), list)


def test_the_suggested_literal_query_finds_the_text(corpus: SearchIndex) -> None:
    with pytest.raises(InvalidQuery) as excinfo:
        corpus.search('"concurrent writers')
    literal = str(excinfo.value).rsplit(": ", 1)[1]
    assert corpus.search(literal)[0].session_id == "eng-review"
    assert corpus.search("concurrent-writers")[0].session_id == "eng-review"


@pytest.mark.parametrize("query", ["", "   ", "*", '""', "!!!", "(", "x" * 1001])
def test_empty_or_wordless_queries_raise_invalid_query(corpus: SearchIndex, query: str) -> None:
    with pytest.raises(InvalidQuery) as excinfo:
        corpus.search(query)
    assert isinstance(excinfo.value, ValueError) and isinstance(excinfo.value, UserFacingError)
    assert str(excinfo.value)


def test_non_string_query_is_invalid(corpus: SearchIndex) -> None:
    with pytest.raises(InvalidQuery):
        corpus.search(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limit", "offset"), [(0, 0), (-1, 0), (1001, 0), (10, -1), (10, 10**9), (True, 0), ("5", 0), (5, 1.5)]
)
def test_bad_limit_or_offset(corpus: SearchIndex, limit: object, offset: object) -> None:
    with pytest.raises(InvalidQuery, match="limit|offset"):
        corpus.search("session", limit=limit, offset=offset)  # type: ignore[arg-type]


def test_filters(corpus: SearchIndex) -> None:
    assert {h.model for h in corpus.search("session", model="kimi-k2")} == {"kimi-k2"}
    assert {h.role for h in corpus.search("session", role="user")} == {"user"}
    assert {h.session_id for h in corpus.search("session", session_id="code-ids")} == {"code-ids"}
    late = corpus.search("session", since=at(5))
    assert late and all(h.created_at >= at(5) for h in late)
    early = corpus.search("session", until=at(5))
    assert early and all(h.created_at <= at(5) for h in early)
    assert corpus.search("全文索引", model="gpt-4o") == []
    assert corpus.search("全文索引", session_id="中文会话", since=at(20), until=at(20))[0].session_id == "中文会话"
    assert corpus.search("检索", model="moonshot-v1-128k", since=at(0), until=at(60))
    titles = corpus.search("review", model="claude-sonnet-4-5", since=T0 - timedelta(days=365), until=T0 + timedelta(days=3650))
    assert ("eng-review", None) in ids(titles)
    with pytest.raises(InvalidQuery, match="since"):
        corpus.search("session", since=at(10), until=at(0))


def test_paging_is_consistent(corpus: SearchIndex) -> None:
    everything = corpus.search("session", limit=100)
    assert len(everything) >= 3
    paged = corpus.search("session", limit=1) + corpus.search("session", limit=1, offset=1) + corpus.search(
        "session", limit=100, offset=2
    )
    assert ids(paged) == ids(everything)


def test_model_switches_and_counts(corpus: SearchIndex) -> None:
    history = corpus.model_switch_history()
    assert [(s.session_id, s.from_model, s.to_model, s.at_message) for s in history] == [
        ("eng-review", "kimi-k2", "claude-sonnet-4-5", 2)
    ]
    assert history[0].warning == "context may be re-tokenised"
    assert corpus.model_switch_history(model="kimi-k2") == history
    assert corpus.model_switch_history(session_id="code-ids") == []
    assert corpus.model_switch_history(session_id="eng-review", model="claude-sonnet-4-5") == history
    assert corpus.sessions_by_model() == {
        "claude-sonnet-4-5": 1, "deepseek-chat": 1, "gpt-4o": 1, "kimi-k2": 1, "moonshot-v1-128k": 1,
    }
    stats = corpus.stats()
    assert (stats.sessions, stats.messages, stats.model_switches, stats.files, stats.refused_files) == (4, 9, 1, 4, 0)
    assert stats.size_bytes > 0 and stats.last_indexed_at is not None


def test_index_deleted_under_an_open_search_index_is_rebuilt(corpus: SearchIndex, store: SessionStore) -> None:
    before = corpus.search("session")
    db = store.layout.index
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db}{suffix}"):
            os.unlink(f"{db}{suffix}")
    assert ids(corpus.search("session")) == ids(before)
    assert db.exists()


def test_rebuilt_index_gives_identical_results(corpus: SearchIndex, store: SessionStore) -> None:
    queries = ["session", "parse_session_id", "全文索引", "索引", "identifiers", "sess"]
    before = {q: [h.model_dump() for h in corpus.search(q)] for q in queries}
    corpus.close()
    os.unlink(store.layout.index)
    with Indexer(store.root) as indexer:
        report = indexer.sync()
    assert report.indexed == 4
    with SearchIndex(store.root) as fresh:
        after = {q: [h.model_dump() for h in fresh.search(q)] for q in queries}
    assert after == before


def test_empty_store_searches_fine(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "nothing-here") as index:
        assert index.search("anything") == []
        assert index.sessions_by_model() == {}
        assert index.stats().last_indexed_at is None


def test_search_over_the_migrated_shared_fixtures(tmp_path: Path) -> None:
    """The legacy fixtures, migrated, then indexed: English, code identifiers and Chinese are found."""
    import shutil

    from store.legacy.migration import migrate_folder
    from tests.conftest import SHARED_FIXTURES

    legacy = tmp_path / "legacy"
    shutil.copytree(SHARED_FIXTURES / "legacy_kimi_sessions", legacy)
    root = tmp_path / ".llm_sessions"
    migrate_folder(legacy, root)
    with SearchIndex(root) as index:
        assert index.search("全文索引")[0].session_id == "中文会话_20250615_1010"
        assert "[全文索引]" in index.search("全文索引")[0].snippet
        assert index.search("get_weather")[0].session_id == "tool-calls_20250705_1400"
        assert index.search("weather Paris")[0].session_id == "tool-calls_20250705_1400"
        assert index.stats().sessions >= 5
