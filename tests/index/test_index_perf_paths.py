"""The fast paths of the index (incremental rows, ``index_session``, bulk full sync, streamed
sync, bounded watcher batching) give exactly what a from-scratch rebuild gives."""

from __future__ import annotations

import shutil
import time
import sqlite3
from pathlib import Path

import pytest

from index import Indexer, SearchIndex
from store import Message, SessionStore
from store.codec import encode_session
from tests.index.test_index_indexer import table_rows


def rebuilt_rows(root: Path, tmp_path: Path) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """The rows a fresh full rebuild of a copy of ``root``'s session files gives."""
    copy = tmp_path / f"rebuild-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(root / "sessions", copy / "sessions")
    with Indexer(copy) as fresh:
        fresh.sync(full=True)
    return table_rows(copy)


def rowids(root: Path, session_id: str) -> list[tuple[int, int]]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return conn.execute(
            "SELECT position, message_rowid FROM messages WHERE session_id = ? ORDER BY position", (session_id,)
        ).fetchall()
    finally:
        conn.close()


def assert_equals_rebuild(indexer: Indexer, root: Path, tmp_path: Path) -> None:
    assert table_rows(root) == rebuilt_rows(root, tmp_path)
    assert indexer.check() == []


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


@pytest.fixture
def indexer(store: SessionStore) -> Indexer:
    with Indexer(store.root) as ix:
        yield ix


def make_session(store: SessionStore, session_id: str = "long", messages: int = 6) -> None:
    store.create(session_id, title="walrus notes", model="kimi-k2")
    store.append_messages(
        session_id,
        [Message(role="user" if i % 2 == 0 else "assistant", content=f"message {i} about lock{i}") for i in range(messages)],
    )


def search_ids(root: Path, query: str) -> list[tuple[str, str | None]]:
    with SearchIndex(root) as index:
        return [(hit.session_id, hit.message_id) for hit in index.search(query, limit=50)]


def test_append_inserts_only_the_new_messages(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    make_session(store, "other", 3)
    indexer.sync()
    before = rowids(store.root, "long")
    store.append_messages("long", [Message(role="user", content="zebra question"), Message(role="assistant", content="zebra answer")])
    report = indexer.index_paths([store.path_for("long")])
    assert (report.indexed, report.skipped) == (1, 0)
    after = rowids(store.root, "long")
    assert after[: len(before)] == before  # the old rows were left alone
    assert len(after) == len(before) + 2
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert len(search_ids(store.root, "zebra")) == 2


def test_edit_of_an_earlier_message_replaces_from_there_on(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    indexer.sync()
    before = rowids(store.root, "long")

    def edit(session) -> None:  # type: ignore[no-untyped-def]
        session.messages[2].content = "rewritten with narwhal"

    store.update("long", edit)
    indexer.index_paths([store.path_for("long")])
    after = rowids(store.root, "long")
    assert after[:2] == before[:2]
    assert len(after) == len(before)
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert search_ids(store.root, "narwhal") and not [hit for hit in search_ids(store.root, "lock2")]


@pytest.mark.parametrize("where", ["tail", "middle", "all"])
def test_deleted_messages_leave_no_rows(store: SessionStore, indexer: Indexer, tmp_path: Path, where: str) -> None:
    make_session(store)
    indexer.sync()

    def delete(session) -> None:  # type: ignore[no-untyped-def]
        if where == "tail":
            del session.messages[-2:]
        elif where == "middle":
            del session.messages[1]
        else:
            session.messages.clear()

    store.update("long", delete)
    indexer.index_paths([store.path_for("long")])
    assert_equals_rebuild(indexer, store.root, tmp_path)
    if where != "middle":
        assert not search_ids(store.root, "lock5")
    else:
        assert not search_ids(store.root, "lock1") and search_ids(store.root, "lock5")


def test_retitle_tags_and_switches_update_the_session_row(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    indexer.sync()
    store.set_title("long", "platypus plans")
    store.set_tags("long", ["x", "y"])
    store.record_model_switch("long", "gpt-4o", warning="switched")
    indexer.index_paths([store.path_for("long")])
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert search_ids(store.root, "platypus") == [("long", None)]
    assert not search_ids(store.root, "walrus")
    store.record_model_switch("long", "kimi-k2", warning="back")
    indexer.index_paths([store.path_for("long")])
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert len(SearchIndex(store.root).model_switch_history("long")) == 2


def test_unchanged_file_is_skipped(store: SessionStore, indexer: Indexer) -> None:
    make_session(store)
    indexer.sync()
    report = indexer.index_paths([store.path_for("long")])
    assert (report.indexed, report.skipped) == (0, 1)


def test_index_session_with_data_records_the_file(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    indexer.sync()
    store.append_message("long", Message(role="user", content="okapi sighting"))
    path = store.path_for("long")
    data = path.read_bytes()
    session = store.load("long")
    report = indexer.index_session(path, session, data)
    assert (report.files_seen, report.indexed) == (1, 1)
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert indexer.signature_matches()  # the files row has the file's stat: a sync skips it
    assert indexer.sync().indexed == 0
    again = indexer.index_session(path, session, data)
    assert (again.indexed, again.skipped) == (0, 1)


def test_index_session_without_data_reads_the_stamp_from_disk(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    store.append_message("long", Message(role="user", content="okapi sighting"))
    path = store.path_for("long")
    report = indexer.index_session(str(path), store.load("long"))
    assert report.indexed == 1
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert indexer.signature_matches()


def test_index_session_falls_back_to_the_file_when_it_changed(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    indexer.sync()
    path = store.path_for("long")
    stale = store.load("long")
    stale_data = encode_session(stale)
    store.append_message("long", Message(role="user", content="newer write by someone else"))
    report = indexer.index_session(path, stale, stale_data)
    assert report.indexed == 1
    assert_equals_rebuild(indexer, store.root, tmp_path)  # the newer file's rows, not the stale session's
    # same size but other bytes: still read from disk
    current = path.read_bytes()
    other = store.load("long")
    report = indexer.index_session(path, other, current[:-1] + b" ")
    assert indexer.check() == []


def test_index_session_of_a_deleted_file_drops_its_rows(store: SessionStore, indexer: Indexer) -> None:
    make_session(store)
    indexer.sync()
    session = store.load("long")
    path = store.path_for("long")
    data = path.read_bytes()
    path.unlink()
    report = indexer.index_session(path, session, data)
    assert report.removed == 1
    assert table_rows(store.root)["messages"] == []


def test_index_session_refuses_wrong_paths(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    session = store.load("long")
    with pytest.raises(ValueError, match="not a session file"):
        indexer.index_session(tmp_path / "long.json", session)
    with pytest.raises(ValueError, match="not a session file"):
        indexer.index_session(store.root / "sessions" / ".long.json", session)
    with pytest.raises(ValueError, match="says id"):
        indexer.index_session(store.path_for("other"), session)


def test_index_session_on_a_new_index_runs_a_sync(store: SessionStore, tmp_path: Path) -> None:
    make_session(store)
    make_session(store, "other", 2)
    with Indexer(store.root) as ix:
        report = ix.index_session(store.path_for("long"), store.load("long"))
        assert report.indexed == 2
        assert_equals_rebuild(ix, store.root, tmp_path)


def test_stray_rows_without_a_session_row_are_replaced(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    make_session(store)
    indexer.sync()
    conn = indexer.connection
    conn.execute("DELETE FROM sessions WHERE session_id = 'long'")  # messages stay behind
    store.append_message("long", Message(role="user", content="one more"))
    indexer.index_paths([store.path_for("long")])
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_watcher_flushes_while_events_keep_coming(store: SessionStore) -> None:
    """A steady stream never leaves a quiet debounce window; batches still flush (max delay)."""
    from index import IndexWatcher

    make_session(store, "stream", 1)
    with IndexWatcher(store.root, debounce_seconds=30.0, max_delay_seconds=0.1) as watcher:
        assert watcher.wait_until_idle(20)  # the start-up sync is done
        first_batches = len(watcher.reports)
        deadline = time.monotonic() + 20
        written = 0
        # Keep writing (every 20 ms, well inside the 30 s debounce) until a batch lands.
        while len(watcher.reports) <= first_batches and time.monotonic() < deadline:
            store.append_message("stream", Message(role="user", content=f"tick {written}"))
            written += 1
            time.sleep(0.02)
        assert len(watcher.reports) > first_batches, "no batch was applied while events kept coming"
        assert any(report.indexed for report in watcher.reports[first_batches:])


def test_watcher_max_delay_defaults() -> None:
    from index import IndexWatcher
    from index.watcher import MAX_DELAY_SECONDS

    assert IndexWatcher("/nonexistent-root", debounce_seconds=0.01).max_delay_seconds == MAX_DELAY_SECONDS
    assert IndexWatcher("/nonexistent-root", debounce_seconds=1.0).max_delay_seconds == 1.0
    assert IndexWatcher("/nonexistent-root", max_delay_seconds=0.3).max_delay_seconds == 0.3


def corpus(store: SessionStore) -> None:
    make_session(store, "alpha", 4)
    make_session(store, "beta", 3)
    store.create("gamma", title="全文索引 notes", model="gpt-4o")
    store.append_message("gamma", Message(role="user", content="数据库 atomic rename"))
    store.record_model_switch("gamma", "kimi-k2", warning="switched")


# Three per full-text table (insert, delete, update on its content table), two for the time
# blocks, four for each of the listings' key tables (session_models, session_tags) and seven
# for listing_counts.
ALL_TRIGGERS = 32


def fts_counts(root: Path) -> dict[str, int]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return {
            "word": conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'message'").fetchone()[0],
            "trigram": conn.execute("SELECT count(*) FROM messages_trigram WHERE messages_trigram MATCH '数据库'").fetchone()[0],
            "title": conn.execute("SELECT count(*) FROM sessions_fts WHERE sessions_fts MATCH 'walrus'").fetchone()[0],
            "triggers": conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0],
            "version": conn.execute("PRAGMA user_version").fetchone()[0],
        }
    finally:
        conn.close()


def test_full_sync_bulk_load_equals_incremental_and_keeps_triggers(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    from index.schema import INDEX_SCHEMA_VERSION

    corpus(store)
    indexer.sync()
    incremental, counts = table_rows(store.root), fts_counts(store.root)
    searches = {q: search_ids(store.root, q) for q in ("message", "数据库", "walrus", "lock*")}
    indexer.sync(full=True)
    assert table_rows(store.root) == incremental
    assert fts_counts(store.root) == counts == {**counts, "triggers": ALL_TRIGGERS, "version": INDEX_SCHEMA_VERSION}
    assert {q: search_ids(store.root, q) for q in searches} == searches
    assert indexer.check() == []
    # the triggers are back: a later incremental write reaches the full-text tables
    store.append_message("beta", Message(role="user", content="quokka"))
    indexer.index_paths([store.path_for("beta")])
    assert search_ids(store.root, "quokka")
    assert_equals_rebuild(indexer, store.root, tmp_path)


def abandon_a_bulk_load(root: Path) -> None:
    """What a ``reindex.py --full`` killed mid-load leaves: the mark, no triggers, empty FTS."""
    from index.schema import BULK_LOADING_VERSION

    conn = sqlite3.connect(root / "index.sqlite")
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for table in ("messages_fts", "sessions_fts", "messages_trigram", "sessions_trigram"):
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
        conn.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
        conn.commit()
    finally:
        conn.close()


def test_an_abandoned_bulk_load_is_rebuilt_by_the_next_open(store: SessionStore, tmp_path: Path) -> None:
    corpus(store)
    with Indexer(store.root) as ix:
        ix.sync()
    before = table_rows(store.root)
    abandon_a_bulk_load(store.root)
    with Indexer(store.root) as ix:
        ix.rebuild_if_needed()
        assert ix.check() == []
    assert table_rows(store.root) == before
    assert fts_counts(store.root)["triggers"] == ALL_TRIGGERS
    assert search_ids(store.root, "数据库")


def test_an_abandoned_bulk_load_is_noticed_by_an_open_indexer(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    corpus(store)
    indexer.sync()
    abandon_a_bulk_load(store.root)
    store.append_message("alpha", Message(role="user", content="capybara"))
    indexer.index_paths([store.path_for("alpha")])  # same connection: sees the mark, rebuilds
    assert fts_counts(store.root)["triggers"] == ALL_TRIGGERS
    assert_equals_rebuild(indexer, store.root, tmp_path)
    assert search_ids(store.root, "capybara") and search_ids(store.root, "walrus")


def test_a_live_bulk_load_is_left_alone(store: SessionStore, indexer: Indexer) -> None:
    from filelock import FileLock

    from index.schema import BULK_LOADING_VERSION

    corpus(store)
    indexer.sync()
    abandon_a_bulk_load(store.root)
    loader = FileLock(str(indexer.layout.locks / "index.sqlite.lock.bulk"))
    with loader:  # another "process" is loading: nobody may drop its tables
        with Indexer(store.root) as other:
            other.connection  # noqa: B018 - opening is the point
        indexer.connection  # noqa: B018
        assert fts_counts(store.root)["version"] == BULK_LOADING_VERSION
        assert len(table_rows(store.root)["messages"]) == 8  # nothing was dropped
    # the loader "died" without finishing: the next use rebuilds
    indexer.rebuild_if_needed()
    assert fts_counts(store.root)["triggers"] == ALL_TRIGGERS
    assert indexer.check() == []


def test_a_failing_full_sync_still_restores_the_triggers(store: SessionStore, indexer: Indexer, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.schema import INDEX_SCHEMA_VERSION

    corpus(store)
    calls = {"n": 0}
    import index.rebuild as rebuild_module

    real = rebuild_module._apply_prepared  # the full sync's step for each decoded file

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rebuild_module, "_apply_prepared", failing)
    with pytest.raises(KeyboardInterrupt):
        indexer.sync(full=True)
    counts = fts_counts(store.root)
    assert counts["triggers"] == ALL_TRIGGERS and counts["version"] == INDEX_SCHEMA_VERSION
    monkeypatch.undo()
    indexer.sync()
    assert indexer.check() == []


def reference_hits(root: Path, match: str, want: int, where: str = "", args: tuple[object, ...] = ()) -> list[tuple]:  # type: ignore[type-arg]
    """The joined ranking (bm25 over every match, ties by session and position), straight from SQL."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return conn.execute(
            "SELECT m.session_id, m.message_id, snippet(messages_fts, 0, '[', ']', '…', 16), bm25(messages_fts)"
            " FROM messages_fts JOIN messages m ON m.message_rowid = messages_fts.rowid WHERE messages_fts MATCH ?"
            f"{where} ORDER BY bm25(messages_fts), m.session_id, m.position LIMIT ?",
            (match, *args, want),
        ).fetchall()
    finally:
        conn.close()


def test_ranking_on_the_fts_table_alone_equals_the_joined_ranking(store: SessionStore, indexer: Indexer) -> None:
    # Texts of several lengths and repeats (equal scores: ties the cut must not split differently).
    texts = ["heron", "heron heron", "heron wading bird", "a heron in the reeds at dawn", "no bird here"]
    for n in range(6):
        store.create(f"s{n}", title=None, model="kimi-k2")
        store.append_messages(
            f"s{n}", [Message(role="user", content=texts[(n + i) % len(texts)] + (" extra" * (i % 3))) for i in range(7)]
        )
    indexer.sync()
    with SearchIndex(store.root) as index:
        for query in ("heron", "heron bird", '"wading bird"', "heron OR reeds", "heron NOT dawn", "her*", "nothing"):
            for limit, offset in ((1, 0), (3, 0), (5, 2), (7, 0), (20, 0), (50, 3)):
                hits = index.search(query, limit=limit, offset=offset)
                want = reference_hits(store.root, query, offset + limit)[offset:]
                got = [(h.session_id, h.message_id, h.snippet, -h.score) for h in hits]
                if query == "nothing":
                    assert got == []  # (a substring fallback would find nothing either)
                else:
                    assert got == [(s, m, snip, score + 0.0) for s, m, snip, score in want], (query, limit, offset)


@pytest.mark.parametrize(
    ("kwargs", "where", "args"),
    [
        ({"role": "assistant"}, " AND m.role = ?", ("assistant",)),
        ({"model": "gpt-4o"}, " AND m.model = ?", ("gpt-4o",)),
        ({"session_id": "s3", "role": "user"}, " AND m.role = ? AND m.session_id = ?", ("user", "s3")),
    ],
)
def test_filtered_ranking_equals_the_joined_ranking(
    store: SessionStore, indexer: Indexer, kwargs: dict[str, str], where: str, args: tuple[object, ...]
) -> None:
    texts = ["heron", "heron heron", "heron wading bird", "a heron in the reeds at dawn", "no bird here"]
    for n in range(6):
        store.create(f"s{n}", title=None, model="kimi-k2")
        store.append_messages(
            f"s{n}",
            [
                Message(role=role, content=texts[(n + i) % len(texts)], model=None if role == "user" else ("gpt-4o" if i % 4 == 1 else "kimi-k2"))
                for i, role in enumerate(["user", "assistant"] * 4)
            ],
        )
    indexer.sync()
    with SearchIndex(store.root) as index:
        for query in ("heron", '"wading bird"', "heron OR reeds", "her*"):
            for limit, offset in ((1, 0), (3, 1), (20, 0)):
                hits = index.search(query, limit=limit, offset=offset, **kwargs)  # type: ignore[arg-type]
                want = reference_hits(store.root, query, offset + limit, where, args)[offset:]
                got = [(h.session_id, h.message_id, h.snippet, -h.score) for h in hits]
                assert got == [(s, m, snip, score + 0.0) for s, m, snip, score in want], (query, kwargs, limit, offset)
                assert got or query != "heron", kwargs  # never vacuous


def test_the_role_and_model_tokens_are_never_matched_by_what_a_user_types(store: SessionStore, indexer: Indexer) -> None:
    store.create("meta", title=None, model="gpt-4o")
    store.append_messages("meta", [Message(role="user", content="plain words"), Message(role="assistant", content="more words", model="gpt-4o")])
    indexer.sync()
    model_token, role_token = "m" + "gpt-4o".encode().hex(), "r" + "user".encode().hex()
    with SearchIndex(store.root) as index:
        for query in (model_token, role_token, "m6*", "r7*", f"meta : {model_token}", f'"{role_token}"'):
            assert index.search(query) == [], query
        assert [hit.role for hit in index.search("words", role="user")] == ["user"]
        assert [hit.model for hit in index.search("words", model="gpt-4o")] == ["gpt-4o"]
        assert index.search("words", model="gpt-4") == [] and index.search("words", model="") == []
    conn = sqlite3.connect(store.root / "index.sqlite")
    try:  # what the triggers wrote is what a rebuild writes
        assert conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)").fetchall() == []
    finally:
        conn.close()


def test_a_tie_group_larger_than_the_candidates_is_ranked_whole(store: SessionStore, indexer: Indexer) -> None:
    store.create("ties", title=None, model="kimi-k2")
    store.append_messages("ties", [Message(role="user", content="ibis") for _ in range(230)])
    store.create("a-first", title=None, model="kimi-k2")
    store.append_message("a-first", Message(role="user", content="ibis"))
    indexer.sync()
    with SearchIndex(store.root) as index:
        for limit, offset in ((1, 0), (5, 0), (10, 220)):
            hits = index.search("ibis", limit=limit, offset=offset)
            want = reference_hits(store.root, "ibis", offset + limit)[offset:]
            assert [(h.session_id, h.message_id) for h in hits] == [(s, m) for s, m, _, _ in want]
        assert index.search("ibis", limit=1)[0].session_id == "a-first"  # ties: by session id, then position


def test_sync_streams_the_files_table_and_drops_vanished_files(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    for name in ("a0", "m1", "m2", "m3", "z9"):
        make_session(store, name, 1)
    indexer.sync()
    for name in ("a0", "m2", "z9"):  # before the first, in the middle, after the last name
        store.path_for(name).unlink()
    from index.files import known_but_not_in, scan_names

    names = scan_names(indexer.layout.sessions)
    assert names == ["sessions/m1.json", "sessions/m3.json"]
    conn = indexer.connection
    for page in (1, 2, 100):
        assert known_but_not_in(conn, names, page=page) == ["sessions/a0.json", "sessions/m2.json", "sessions/z9.json"]
    report = indexer.sync()
    assert (report.removed, report.skipped) == (3, 2)
    assert_equals_rebuild(indexer, store.root, tmp_path)
    for name in ("m1", "m3"):
        store.path_for(name).unlink()
    assert indexer.sync().removed == 2
    assert table_rows(store.root)["files"] == []


def test_check_during_a_bulk_load_says_a_rebuild_is_under_way(store: SessionStore, indexer: Indexer) -> None:
    from index.check import index_file_problem

    corpus(store)
    indexer.sync()
    assert index_file_problem(indexer.db_path) is None
    abandon_a_bulk_load(store.root)
    problem = index_file_problem(indexer.db_path)
    assert problem is not None and problem.kind == "index" and "full rebuild" in problem.detail
