"""Indexer: incremental and full sync, index_paths, quarantine, newer-schema files, check()."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from index import IndexDifference, Indexer, ReindexReport, SearchIndex
from index.database import open_database
from index.schema import INDEX_SCHEMA_VERSION
from store import Message, SessionStore
from tests.index.test_index_search import build_corpus


def table_rows(root: Path) -> dict[str, list[tuple]]:
    """Every row of the mirrored tables (rowids and stamps left out), for comparisons."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return {
            "sessions": conn.execute(
                "SELECT session_id, title, created_at, updated_at, current_model, models_used, tags,"
                " message_count, switch_count, file_path FROM sessions ORDER BY session_id"
            ).fetchall(),
            "messages": conn.execute(
                "SELECT session_id, position, message_id, role, model, provider, created_at, text, tool_names,"
                " tool_call_id, input_tokens, output_tokens FROM messages ORDER BY session_id, position"
            ).fetchall(),
            "model_switches": conn.execute("SELECT * FROM model_switches ORDER BY session_id, position").fetchall(),
            "files": conn.execute("SELECT path, session_id, sha256, status FROM files ORDER BY path").fetchall(),
        }
    finally:
        conn.close()


@pytest.fixture
def indexer(store: SessionStore) -> Indexer:
    with Indexer(store.root) as ix:
        yield ix


def test_sync_is_incremental(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    first = indexer.sync()
    assert (first.files_seen, first.indexed, first.skipped, first.removed) == (4, 4, 0, 0)
    second = indexer.sync()
    assert (second.files_seen, second.indexed, second.skipped) == (4, 0, 4)
    store.append_message("code-ids", Message(role="user", content="one more question"))
    third = indexer.sync()
    assert (third.indexed, third.skipped) == (1, 3)
    assert "4 files seen, 1 indexed, 3 skipped, 0 removed, 0 quarantined" in third.summary()


def test_touched_but_unchanged_file_is_hashed_not_reindexed(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    path = store.path_for("eng-review")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    report = indexer.sync()
    assert (report.indexed, report.skipped) == (0, 4)
    # the new stat was remembered: a third sync skips without reading
    conn = indexer.connection
    assert conn.execute("SELECT mtime_ns FROM files WHERE path = 'sessions/eng-review.json'").fetchone()[0] == 1_000_000_000


def test_full_sync_rewrites_everything_and_equals_incremental(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    incremental = table_rows(store.root)
    progress: list[tuple[int, int]] = []
    report = indexer.sync(full=True, progress=lambda done, total: progress.append((done, total)))
    assert report.full and report.indexed == 4
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert table_rows(store.root) == incremental
    assert indexer.check() == []


def test_deleted_file_rows_removed(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    store.delete("deepseek-one")
    report = indexer.sync()
    assert report.removed == 1
    rows = table_rows(store.root)
    assert "deepseek-one" not in {row[0] for row in rows["sessions"]}
    assert "deepseek-one" not in {row[0] for row in rows["messages"]}
    assert SearchIndex(store.root).search("pytest") == []


def test_index_paths_indexes_exactly_those_files(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    store.set_title("eng-review", "Renamed title")
    store.create("fresh", title="Brand new")
    store.delete("code-ids")
    report = indexer.index_paths(
        [
            store.path_for("eng-review"),
            str(store.path_for("fresh")),
            store.path_for("code-ids"),
            store.path_for("fresh"),  # duplicate: once
            store.root / "sessions" / ".tmp-x.json",  # temp file: ignored
            store.root / "elsewhere.json",  # not in sessions/: ignored
            store.root / "sessions" / "notes.txt",
        ]
    )
    assert (report.files_seen, report.indexed, report.removed) == (3, 2, 1)
    titles = dict((row[0], row[1]) for row in table_rows(store.root)["sessions"])
    assert titles["eng-review"] == "Renamed title" and titles["fresh"] == "Brand new" and "code-ids" not in titles
    assert indexer.check() == []
    # the same content again is hashed and skipped
    again = indexer.index_paths([store.path_for("fresh")])
    assert (again.indexed, again.skipped) == (0, 1)


def test_index_paths_on_a_missing_index_rebuilds_everything(store: SessionStore) -> None:
    build_corpus(store)
    with Indexer(store.root) as ix:
        report = ix.index_paths([store.path_for("eng-review")])
    assert report.indexed == 4


def test_unreadable_file_is_quarantined_and_reported(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    bad = store.layout.sessions / "eng-review.json"
    bad.write_text("{ not json", encoding="utf-8")
    report = indexer.sync()
    assert len(report.quarantined) == 1
    record = report.quarantined[0]
    assert "invalid JSON" in record.reason
    assert not bad.exists() and Path(record.quarantined_path).exists()
    assert Path(record.quarantined_path + ".reason.txt").exists()
    assert "eng-review" not in {row[0] for row in table_rows(store.root)["sessions"]}
    assert indexer.check() == []


def test_mismatched_id_and_symlink_are_quarantined(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    build_corpus(store)
    data = json.loads(store.path_for("code-ids").read_text(encoding="utf-8"))
    (store.layout.sessions / "other-name.json").write_text(json.dumps(data), encoding="utf-8")
    target = tmp_path / "outside.json"
    target.write_text(json.dumps({**data, "id": "linked"}), encoding="utf-8")
    os.symlink(target, store.layout.sessions / "linked.json")
    report = indexer.sync()
    reasons = sorted(record.reason for record in report.quarantined)
    assert len(reasons) == 2
    assert any("file name says id" in r for r in reasons) and any("symlink" in r for r in reasons)
    assert target.exists()  # the link's target is never touched
    assert report.indexed == 4


def test_newer_schema_file_is_skipped_not_quarantined(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    path = store.path_for("code-ids")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schema_version"] = 99
    path.write_text(json.dumps(document), encoding="utf-8")
    report = indexer.sync()
    assert report.quarantined == [] and report.skipped == 4 and len(report.refused) == 1
    assert "schema_version 99" in report.refused[0]
    assert path.exists()
    assert "code-ids" not in {row[0] for row in table_rows(store.root)["sessions"]}
    assert SearchIndex(store.root).stats().refused_files == 1
    assert indexer.check() == []
    assert indexer.sync().skipped == 4  # remembered: not re-read


def test_file_in_flux_is_left_for_the_next_event(store: SessionStore, indexer: Indexer, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("busy")
    path = store.path_for("busy")
    path.write_text("{ half written", encoding="utf-8")
    real_lstat = os.lstat
    calls = {"n": 0}

    def changing_lstat(p: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_lstat(p, *args, **kwargs)
        if str(p) == str(path):
            calls["n"] += 1
            if calls["n"] >= 3:  # a writer appended after our read
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(" more")
                result = real_lstat(p, *args, **kwargs)
        return result

    monkeypatch.setattr(os, "lstat", changing_lstat)
    report = indexer.index_paths([path])
    assert report.quarantined == [] and report.skipped == 1
    assert path.exists()


def test_quarantine_failure_is_reported_not_raised(store: SessionStore, indexer: Indexer, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("broken")
    store.path_for("broken").write_text("[]", encoding="utf-8")

    def refuse(self: SessionStore, path: Path, reason: str) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(SessionStore, "quarantine", refuse)  # the rule the indexer hands the file to
    report = indexer.sync()
    assert report.errors and "could not be quarantined" in report.errors[0]


def test_file_vanishing_during_indexing(store: SessionStore, indexer: Indexer, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("ghost")
    indexer.sync()
    store.set_title("ghost", "changed")
    import index.prepare as module  # where files are read and decoded

    def vanished(path: Path) -> bytes:
        raise FileNotFoundError(path)

    monkeypatch.setattr(module, "read_file_no_follow", vanished)
    report = indexer.sync()
    assert report.removed == 1
    assert table_rows(store.root)["sessions"] == []


def test_check_reports_every_kind_of_difference(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    assert indexer.check() == []
    conn = sqlite3.connect(store.layout.index)
    conn.execute("DELETE FROM messages WHERE session_id = 'eng-review' AND position = 1")
    conn.execute("UPDATE sessions SET title = 'tampered' WHERE session_id = 'code-ids'")
    conn.execute(
        "INSERT INTO sessions (session_id, title, created_at, updated_at, models_used, tags, message_count,"
        " switch_count, file_path) VALUES ('phantom', 'x', '2026', '2026', '[]', '[]', 0, 0, 'sessions/phantom.json')"
    )
    conn.commit()
    conn.close()
    path = store.path_for("deepseek-one")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["title"] = "edited by hand"
    path.write_text(json.dumps(document), encoding="utf-8")
    store.create("unindexed")
    (store.layout.sessions / "garbage.json").write_text("nope", encoding="utf-8")
    differences = indexer.check()
    kinds = {(d.kind, d.session_id) for d in differences}
    assert ("rows", "eng-review") in kinds
    assert ("rows", "code-ids") in kinds
    assert ("extra", "phantom") in kinds
    assert ("stale", "deepseek-one") in kinds
    assert ("missing", "unindexed") in kinds
    assert ("unreadable", "garbage") in kinds
    described = "\n".join(d.describe() for d in differences)
    assert "messages: 2 rows in the index, 3 in the file" in described
    assert "title is 'tampered' in the index" in described
    assert (store.layout.sessions / "garbage.json").exists()  # check never quarantines
    indexer.sync(full=True)
    assert indexer.check() == []


def test_check_reports_missing_file_and_orphan_rows(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    os.replace(store.path_for("code-ids"), store.layout.trash / "moved-away.json")
    conn = sqlite3.connect(store.layout.index)
    conn.execute(
        "INSERT INTO messages (session_id, position, message_id, role, created_at, text)"
        " VALUES ('nobody', 0, 'm', 'user', '2026', 'orphan')"
    )
    conn.commit()
    conn.close()
    kinds = {(d.kind, d.session_id, d.detail) for d in indexer.check()}
    assert ("extra", "code-ids", "the file no longer exists") in kinds
    assert ("extra", "nobody", "orphan message rows") in kinds


def test_check_detects_a_broken_fulltext_table(store: SessionStore, indexer: Indexer) -> None:
    build_corpus(store)
    indexer.sync()
    conn = sqlite3.connect(store.layout.index)
    conn.execute("DELETE FROM messages_fts_data WHERE id > 10")  # damage the FTS b-tree itself
    conn.commit()
    conn.close()
    assert any(d.kind == "fts" for d in indexer.check())
    indexer.sync(full=True)
    assert [d for d in indexer.check() if d.kind == "fts"] == []


def test_check_newer_schema_not_recorded_is_missing(store: SessionStore, indexer: Indexer) -> None:
    (store.layout.sessions / "future.json").write_text(json.dumps({"schema_version": 7, "id": "future"}), encoding="utf-8")
    assert [(d.kind, d.session_id) for d in indexer.check()] == [("missing", "future")]


def test_old_index_schema_is_rebuilt(store: SessionStore) -> None:
    build_corpus(store)
    with Indexer(store.root) as ix:
        ix.sync()
    conn = sqlite3.connect(store.layout.index)
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with Indexer(store.root) as ix:
        report = ix.rebuild_if_needed()
        assert report is not None and report.indexed == 4
        assert ix.rebuild_if_needed() is None
    conn = sqlite3.connect(store.layout.index)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == INDEX_SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_stale_wal_of_a_deleted_index_is_not_replayed(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    Path(f"{db}-wal").write_bytes(b"garbage from an older file" * 100)
    conn, created = open_database(db, tmp_path / "lock")
    assert created
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    conn.close()


def test_concurrent_indexers_never_fail_with_database_locked(store: SessionStore) -> None:
    for number in range(30):
        store.create(f"s{number}", title=f"title {number}")
    errors: list[BaseException] = []
    reports: list[ReindexReport] = []

    def work(full: bool) -> None:
        try:
            with Indexer(store.root) as ix:
                for _ in range(3):
                    reports.append(ix.sync(full=full))
                    reports.append(ix.index_paths(store.iter_session_files()))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with Indexer(store.root) as ix:
        assert ix.check() == []


def test_difference_model_describe() -> None:
    difference = IndexDifference(kind="missing", path="sessions/a.json", session_id="a", detail="file is not indexed")
    assert difference.describe() == "missing: sessions/a.json (session a): file is not indexed"
    assert IndexDifference(kind="fts", path="index.sqlite", detail="x").describe() == "fts: index.sqlite: x"


def test_signature_matches(store: SessionStore, indexer: Indexer) -> None:
    assert indexer.signature_matches() is False  # no index file yet
    store.create("one")
    indexer.sync()
    assert indexer.signature_matches() is True
    store.set_title("one", "changed")
    assert indexer.signature_matches() is False
    indexer.sync()
    store.create("two")
    assert indexer.signature_matches() is False
