"""IndexWatcher with a real watchdog observer: debounced batches, renames, bursts, deleted index."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index import Indexer, IndexWatcher, SearchIndex
from store import Message, Session, SessionStore
from tests.hardening_helpers import wait_until
from tests.index.test_index_indexer import table_rows
from tests.index.test_index_search import build_corpus

SETTLE = 20.0  # seconds: upper bound of every bounded wait below


@pytest.fixture
def watcher(store: SessionStore) -> IndexWatcher:
    with IndexWatcher(store.root, debounce_seconds=0.05) as running:
        yield running


def test_initial_sync_then_live_changes(store: SessionStore) -> None:
    build_corpus(store)
    with IndexWatcher(store.root, debounce_seconds=0.05) as watcher:
        assert watcher.running
        assert watcher.wait_until_idle(SETTLE)
        with SearchIndex(store.root) as index:
            assert index.search("全文索引")[0].session_id == "中文会话"
            store.append_message("code-ids", Message(role="assistant", content="zebra crossing", model="gpt-4o"))
            store.set_title("eng-review", "Quokka review")
            store.delete("deepseek-one")
            assert watcher.wait_until_idle(SETTLE)
            assert index.search("zebra")[0].session_id == "code-ids"
            assert ("eng-review", None) in [(h.session_id, h.message_id) for h in index.search("quokka")]
            assert index.search("pytest") == []
        assert Indexer(store.root).check() == []
        assert watcher.last_error is None
    assert not watcher.running


def test_editor_writes_via_rename(store: SessionStore, watcher: IndexWatcher) -> None:
    store.create("edited", title="before")
    assert watcher.wait_until_idle(SETTLE)
    path = store.path_for("edited")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["title"] = "after the editor saved"
    swap = store.layout.sessions / ".edited.json.swp"
    swap.write_text(json.dumps(document), encoding="utf-8")
    os.replace(swap, path)
    assert watcher.wait_until_idle(SETTLE)
    assert table_rows(store.root)["sessions"][0][1] == "after the editor saved"
    # vim-style: move the original to a backup name, then write a new file
    backup = store.layout.sessions / "edited.json~"
    os.replace(path, backup)
    document["title"] = "written fresh"
    path.write_text(json.dumps(document), encoding="utf-8")
    backup.unlink()
    assert watcher.wait_until_idle(SETTLE)
    assert table_rows(store.root)["sessions"][0][1] == "written fresh"
    # renamed away to a non-session name: its rows go
    os.replace(path, store.layout.sessions / "edited.json.bak")
    assert watcher.wait_until_idle(SETTLE)
    assert table_rows(store.root)["sessions"] == []


def test_burst_of_files_is_applied_in_few_transactions(store: SessionStore, watcher: IndexWatcher) -> None:
    assert watcher.wait_until_idle(SETTLE)
    count = 600
    for number in range(count):
        store.save_new(Session(id=f"burst-{number:04d}", title=f"burst number {number}",
                               messages=[Message(role="user", content=f"payload {number} walrus")]))
    assert watcher.wait_until_idle(60)
    with SearchIndex(store.root) as index:
        assert index.stats().sessions == count
        assert len(index.search("walrus", limit=1000)) == count
    batches = [report for report in watcher.reports if report.indexed]
    assert len(batches) < count / 4  # batched, not one transaction per file (loose: CI machines stall)
    assert Indexer(store.root).check() == []


def test_index_deleted_while_running_is_rebuilt(store: SessionStore, watcher: IndexWatcher) -> None:
    build_corpus(store)
    assert watcher.wait_until_idle(SETTLE)
    with SearchIndex(store.root) as index:
        before = [hit.model_dump() for hit in index.search("session")]
    db = store.layout.index
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db}{suffix}"):
            os.unlink(f"{db}{suffix}")
    wait_until(db.exists)
    assert watcher.wait_until_idle(SETTLE)
    with SearchIndex(store.root) as index:
        assert [hit.model_dump() for hit in index.search("session")] == before
    store.create("after-rebuild", title="still watching")
    assert watcher.wait_until_idle(SETTLE)
    assert "after-rebuild" in {row[0] for row in table_rows(store.root)["sessions"]}


def test_unreadable_file_is_quarantined_by_the_watcher(store: SessionStore, watcher: IndexWatcher) -> None:
    (store.layout.sessions / "junk.json").write_text("{ truncated", encoding="utf-8")
    wait_until(lambda: any(report.quarantined for report in watcher.reports))
    assert watcher.wait_until_idle(SETTLE)
    assert not (store.layout.sessions / "junk.json").exists()
    assert list(store.layout.quarantine.glob("junk.json*"))


def test_lost_events_are_repaired_by_the_periodic_sync(store: SessionStore) -> None:
    with IndexWatcher(store.root, debounce_seconds=0.05, reconcile_seconds=0.1) as watcher:
        assert watcher.wait_until_idle(SETTLE)
        watcher._observer.stop()  # from now on every event is lost, as after a queue overflow
        watcher._observer.join(5)
        store.create("unseen", title="written while deaf")
        wait_until(lambda: "unseen" in {row[0] for row in table_rows(store.root)["sessions"]})


def test_a_failing_batch_is_logged_and_the_watcher_goes_on(store: SessionStore, watcher: IndexWatcher) -> None:
    assert watcher.wait_until_idle(SETTLE)
    real = watcher.indexer.index_paths
    failures = {"left": 1}

    def flaky(paths):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("disk hiccup")
        return real(paths)

    watcher.indexer.index_paths = flaky  # type: ignore[method-assign]
    store.create("first")
    wait_until(lambda: watcher.last_error is not None)
    assert "disk hiccup" in str(watcher.last_error)
    store.create("second")
    wait_until(lambda: {"first", "second"} <= {row[0] for row in table_rows(store.root)["sessions"]})


def test_lifecycle(store: SessionStore) -> None:
    watcher = IndexWatcher(store.root, debounce_seconds=0.05)
    assert not watcher.running
    assert watcher.wait_until_idle(0.1) is False  # not started: never idle
    watcher.start()
    with pytest.raises(RuntimeError, match="already running"):
        watcher.start()
    watcher.stop()
    watcher.stop()  # twice is harmless
    assert not watcher.running


def test_non_session_events_are_ignored(store: SessionStore, watcher: IndexWatcher) -> None:
    assert watcher.wait_until_idle(SETTLE)
    (store.layout.sessions / "notes.txt").write_text("hello", encoding="utf-8")
    (store.layout.sessions / "subdir.json").mkdir()
    assert watcher.wait_until_idle(SETTLE)
    assert table_rows(store.root)["files"] == []
