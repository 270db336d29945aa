"""A full sync decoded by worker processes (``index.prepare``) writes exactly what a sync in one
process writes: the same rows (rowids included), full-text tables and search results; corrupt
files are quarantined and reported, newer-schema files refused; a file changed between its
decoding and its writing, and another writer during the load, are both handled."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import index.prepare as prepare_module
import index.rebuild as rebuild_module
import index.sync as sync_module
from index import Indexer, SearchIndex
from index.prepare import default_workers
from index.schema import FTS_TABLES
from store import Message, SessionStore
from tests.index.test_index_indexer import table_rows

REPO_ROOT = Path(__file__).resolve().parents[2]

QUERIES = ("walrus", "lock*", "数据库", "message OR zebra", "narwhal", "quokka")


def corpus(store: SessionStore, sessions: int = 12) -> None:
    for number in range(sessions):
        session_id = f"s{number:02d}"
        store.create(session_id, title=f"walrus {number}", model="kimi-k2")
        store.append_messages(
            session_id,
            [
                Message(role="user", content=f"message {number} about lock{number} 数据库"),
                Message(role="assistant", content=f"answer {number} zebra", model="gpt-4o", provider="openai"),
            ],
        )
        if number % 3 == 0:
            store.record_model_switch(session_id, "claude-sonnet-4-5", warning="switched")


def add_bad_files(store: SessionStore) -> None:
    (store.layout.sessions / "s03b-broken.json").write_text("{not json", encoding="utf-8")
    future = {"schema_version": 99, "id": "s05b-future"}
    (store.layout.sessions / "s05b-future.json").write_text(json.dumps(future), encoding="utf-8")


def everything(root: Path) -> dict[str, object]:
    """Every row with its rowid, the full-text tables' integrity, and what searches find."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        for table in FTS_TABLES:
            conn.execute(f"INSERT INTO \"{table}\" (\"{table}\", rank) VALUES ('integrity-check', 1)")
        found: dict[str, object] = {
            "sessions": conn.execute("SELECT * FROM sessions ORDER BY session_rowid").fetchall(),
            "messages": conn.execute("SELECT * FROM messages ORDER BY message_rowid").fetchall(),
            "switches": conn.execute("SELECT * FROM model_switches ORDER BY session_id, position").fetchall(),
            "files": [
                (path, sha256, status, detail and detail.replace(str(root), "<root>"))
                for path, sha256, status, detail in conn.execute("SELECT path, sha256, status, detail FROM files ORDER BY path")
            ],
            "schema": sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str),
            "fts": conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'lock*' ORDER BY rowid").fetchall(),
        }
    finally:
        conn.close()
    with SearchIndex(root) as index:
        for query in QUERIES:
            found[query] = [(hit.session_id, hit.message_id, hit.snippet) for hit in index.search(query, limit=50)]
    return found


def copy_root(store: SessionStore, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(store.layout.sessions, copy / "sessions")
    return copy


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 2 files, the full-text tables filled every 2 chunks: every path runs."""
    monkeypatch.setattr(sync_module, "SYNC_CHUNK", 2)
    monkeypatch.setattr(rebuild_module, "FTS_BATCH_CHUNKS", 2)


def test_workers_write_what_one_process_writes(store: SessionStore, tmp_path: Path, small_chunks: None) -> None:
    corpus(store)
    add_bad_files(store)
    one, two = copy_root(store, tmp_path, "one"), copy_root(store, tmp_path, "two")
    with Indexer(one) as indexer:
        alone = indexer.sync(full=True, workers=1)
    with Indexer(two) as indexer:
        pooled = indexer.sync(full=True, workers=2)
    for report in (alone, pooled):
        assert (report.files_seen, report.indexed, report.skipped) == (14, 12, 1)
        assert [record.reason for record in report.quarantined] == [alone.quarantined[0].reason]
        assert "invalid JSON" in alone.quarantined[0].reason
        assert report.refused and "schema_version 99" in report.refused[0]
    for root in (one, two):
        assert (root / "quarantine" / "s03b-broken.json").exists()
        assert (root / "sessions" / "s05b-future.json").exists()  # refused files stay in place
    assert everything(one) == everything(two)
    with Indexer(two) as indexer:
        assert indexer.check() == []


def test_a_full_sync_equals_an_incremental_one_from_empty(store: SessionStore, tmp_path: Path, small_chunks: None) -> None:
    corpus(store)
    full, incremental = copy_root(store, tmp_path, "full"), copy_root(store, tmp_path, "incremental")
    with Indexer(full) as indexer:
        indexer.sync(full=True, workers=2)
    with Indexer(incremental) as indexer:
        indexer.sync()  # row by row, through the triggers
    assert everything(full) == everything(incremental)


def test_workers_are_spawned_when_other_threads_run(store: SessionStore, tmp_path: Path, small_chunks: None) -> None:
    corpus(store, 6)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert prepare_module._start_method() is multiprocessing.get_context("spawn")
        with Indexer(store.root) as indexer:
            report = indexer.sync(full=True, workers=2)
    finally:
        stop.set()
        other.join()
    assert report.indexed == 6
    reference = copy_root(store, tmp_path, "reference")
    with Indexer(reference) as indexer:
        indexer.sync(full=True, workers=1)
    assert everything(store.root) == everything(reference)


def after_decoding(monkeypatch: pytest.MonkeyPatch, action: Callable[[list[str]], None]) -> None:
    """Call ``action(names decoded)`` after each chunk is decoded, before it is written."""
    real = prepare_module.prepare_files

    def prepare(*args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = real(*args, **kwargs)
        action([Path(item.rel).stem for item in prepared])
        return prepared

    monkeypatch.setattr(prepare_module, "prepare_files", prepare)


def change_and_remove(store: SessionStore, changed: str, removed: str) -> Callable[[list[str]], None]:
    """An ``after_decoding`` action: once decoded, ``changed`` gets a "narwhal" message and
    ``removed`` is deleted."""

    def meanwhile(names: list[str]) -> None:
        if changed in names:
            store.append_message(changed, Message(role="user", content="narwhal late"))
        if removed in names:
            store.path_for(removed).unlink()

    return meanwhile


def test_a_file_changed_or_removed_after_it_was_decoded_is_read_again(
    store: SessionStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus(store, 6)
    after_decoding(monkeypatch, change_and_remove(store, "s02", "s03"))
    with Indexer(store.root) as indexer:
        report = indexer.sync(full=True, workers=1)
        assert indexer.check() == []
    assert (report.files_seen, report.indexed, report.removed) == (6, 5, 0)
    monkeypatch.undo()
    found = everything(store.root)
    assert [hit[0] for hit in found["narwhal"]] == ["s02"]  # type: ignore[index]
    reference = copy_root(store, tmp_path, "reference")
    with Indexer(reference) as indexer:
        indexer.sync(full=True, workers=1)
    assert found == everything(reference)


def test_another_writer_during_the_load_is_covered(
    store: SessionStore, tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus(store)
    written = {"done": False}

    def another_writer(names: list[str]) -> None:
        # By the 4th chunk s00's rows are in the full-text tables; another process rewrites
        # them now, and its deletes cannot reach the full-text tables (their triggers are off).
        if "s06" in names and not written["done"]:
            written["done"] = True
            store.update("s00", lambda session: setattr(session.messages[0], "content", "quokka instead"))
            with Indexer(store.root) as other:
                assert other.index_paths([store.path_for("s00")]).indexed == 1

    after_decoding(monkeypatch, another_writer)
    with Indexer(store.root) as indexer:
        report = indexer.sync(full=True, workers=1)
        assert indexer.check() == []
    assert written["done"] and report.indexed == 12
    monkeypatch.undo()
    found = everything(store.root)  # the full-text tables' integrity-check passes
    assert [hit[0] for hit in found["quokka"]] == ["s00"]  # type: ignore[index]
    reference = copy_root(store, tmp_path, "reference")
    with Indexer(reference) as indexer:
        indexer.sync(full=True, workers=1)
    assert table_rows(store.root) == table_rows(reference)
    expected = everything(reference)
    for query in QUERIES:  # the same hits (s00's rows have other rowids: ties may order otherwise)
        assert sorted(found[query]) == sorted(expected[query]), query  # type: ignore[type-var]


def test_an_error_in_a_worker_stops_the_sync_and_restores_the_index(
    store: SessionStore, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus(store, 8)

    def unreadable(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(prepare_module, "read_file_no_follow", unreadable)  # inherited by forked workers
    with Indexer(store.root) as indexer:
        with pytest.raises(PermissionError):
            indexer.sync(full=True, workers=2)
    monkeypatch.undo()
    with Indexer(store.root) as indexer:
        indexer.sync()
        assert indexer.check() == []


def test_default_workers_start_only_for_enough_files() -> None:
    assert default_workers(100, 500) == 1
    assert default_workers(100_000, 500) >= 1


# A full sync with slow workers (each chunk of one file takes 0.2 s), in a process of its own.
SLOW_SYNC = """
import sys, time
sys.path.insert(0, sys.argv[1])
import index.prepare as prepare_module
import index.sync as sync_module
from index import Indexer
sync_module.SYNC_CHUNK = 1
real = prepare_module.prepare_files
def slow(*args, **kwargs):
    time.sleep(0.2)
    return real(*args, **kwargs)
prepare_module.prepare_files = slow
Indexer(sys.argv[2]).sync(full=True, workers=3)
"""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_leave_when_the_rebuild_is_killed_and_the_next_run_repairs(store: SessionStore) -> None:
    corpus(store, 30)
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SYNC, str(REPO_ROOT), str(store.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while len(workers := children_of(process.pid)) < 2:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        time.sleep(0.5)  # the load is under way
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 20
    while [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]]:
        assert time.monotonic() < deadline, "orphaned workers are still running"
        time.sleep(0.1)
    with Indexer(store.root) as indexer:  # the killed load is noticed (its lock is free) and redone
        indexer.sync()
        assert indexer.check() == []
    assert len(everything(store.root)["sessions"]) == 30  # type: ignore[arg-type]
