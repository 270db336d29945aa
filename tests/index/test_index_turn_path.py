"""A chat turn's index update costs O(new messages): ``Indexer.on_written(receipt)``.

The store tells the indexer how its write extended the previous file (``WriteReceipt.appended``);
when the index rows are those of that previous file, the turn updates the session row and inserts
the new rows only: no read-back of the file, no whole-file hash, no read of the other rows. Any
other writer in between sends it down the safe path. Every test ends with the live index equal to
a rebuild (and ``check()`` clean).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import index.file_sync as file_sync_module
import index.prepare as prepare_module
import index.turn as turn_module
from index import Indexer, IndexWatcher
from index.schema import PENDING_HASH
from store import Message, SessionStore
from store import WriteReceipt, switch_model
from tests.index.test_index_indexer import table_rows


def turn(store: SessionStore, session_id: str, text: str, model: str = "gpt-4o") -> WriteReceipt[None]:
    """One chat exchange as the server records it: maybe a model switch, a user and an assistant message."""

    def change(session):  # type: ignore[no-untyped-def]
        switch_model(session, model, "switched")
        session.note_model(model)
        session.messages.append(Message(role="user", content=f"question {text}"))
        session.messages.append(Message(role="assistant", content=f"answer {text}", model=model))

    return store.update_shared(session_id, change)


def index_turn(indexer: Indexer, written: WriteReceipt[None]) -> object:
    return indexer.index_session(written.path, written.session, written.data, written.appended)  # on_written's report


def rows_without_digest(root: Path) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    rows = table_rows(root)
    rows["files"] = [(path, session_id, status) for path, session_id, _digest, status in rows["files"]]
    return rows


def assert_equals_rebuild(indexer: Indexer, root: Path, tmp_path: Path) -> None:
    copy = tmp_path / f"rebuild-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(root / "sessions", copy / "sessions")
    with Indexer(copy) as fresh:
        fresh.sync(full=True)
    assert rows_without_digest(root) == rows_without_digest(copy)
    assert indexer.check() == []


def digest_of(root: Path, session_id: str) -> str:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return conn.execute("SELECT sha256 FROM files WHERE session_id = ?", (session_id,)).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


@pytest.fixture
def indexer(store: SessionStore) -> Iterator[Indexer]:
    with Indexer(store.root) as ix:
        ix.sync()
        yield ix


@pytest.fixture
def statements(indexer: Indexer) -> list[str]:
    seen: list[str] = []
    indexer.connection.set_trace_callback(seen.append)
    return seen


def test_a_turn_after_the_first_inserts_only_the_new_rows(
    store: SessionStore, indexer: Indexer, statements: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create("chat", title="walrus", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "first"))  # the first turn of the process: the safe path
    reads: list[Path] = []
    real_read = turn_module.read_file_no_follow
    for module in (turn_module, file_sync_module, prepare_module):  # the turn path's own reads, and decoding
        monkeypatch.setattr(module, "read_file_no_follow", lambda path: reads.append(path) or real_read(path))
    statements.clear()
    written = turn(store, "chat", "second")
    assert written.appended is not None and (written.appended.messages, written.appended.switches) == (2, 0)
    report = index_turn(indexer, written)
    assert report.indexed == 1  # type: ignore[attr-defined]
    assert reads == []  # neither read back nor hashed
    assert not [sql for sql in statements if "FROM messages" in sql or "FROM model_switches" in sql]
    inserted = [sql for sql in statements if sql.startswith("INSERT INTO messages (")]
    # (the trace repeats a statement for each trigger it fires: count distinct ones)
    assert len(set(inserted)) == 2  # the two new messages, nothing else rewritten
    assert digest_of(store.root, "chat") == PENDING_HASH
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_a_model_switch_on_the_append_path_inserts_the_switch_row(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    store.create("chat", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "one", model="kimi-k2"))
    written = turn(store, "chat", "two", model="claude-sonnet-4-5")
    assert written.appended is not None and written.appended.switches == 1
    index_turn(indexer, written)
    assert digest_of(store.root, "chat") == PENDING_HASH
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_a_write_by_someone_else_between_turns_takes_the_safe_path(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    store.create("chat", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "one"))
    other = SessionStore(store.root)
    other.set_title("chat", "renamed elsewhere")
    other.append_message("chat", Message(role="user", content="typed in another process"))
    indexer.index_paths([store.path_for("chat")])  # what the watcher does for that write
    index_turn(indexer, turn(store, "chat", "two"))
    assert digest_of(store.root, "chat") != PENDING_HASH  # hashed: the safe path
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_a_write_after_ours_but_before_the_index_update_is_what_gets_indexed(
    store: SessionStore, indexer: Indexer, tmp_path: Path
) -> None:
    store.create("chat", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "one"))
    written = turn(store, "chat", "two")
    SessionStore(store.root).append_message("chat", Message(role="user", content="sneaked in"))
    index_turn(indexer, written)
    assert_equals_rebuild(indexer, store.root, tmp_path)
    conn = sqlite3.connect(store.root / "index.sqlite")
    assert conn.execute("SELECT count(*) FROM messages WHERE text = 'sneaked in'").fetchone() == (1,)
    conn.close()


def test_rows_rebuilt_or_dropped_by_another_indexer_stay_right(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    store.create("chat", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "one"))
    with Indexer(store.root) as elsewhere:  # e.g. scripts/reindex.py --full in another process
        elsewhere.sync(full=True)  # same file, same stat: the same rows again
    index_turn(indexer, turn(store, "chat", "two"))
    assert_equals_rebuild(indexer, store.root, tmp_path)
    conn = sqlite3.connect(store.root / "index.sqlite")
    conn.execute("DELETE FROM files")  # another indexer forgot the file (then it is indexed afresh)
    conn.commit()
    conn.close()
    index_turn(indexer, turn(store, "chat", "three"))
    assert digest_of(store.root, "chat") != PENDING_HASH
    assert_equals_rebuild(indexer, store.root, tmp_path)


def test_the_watcher_stamps_the_digest_of_an_appended_file(store: SessionStore, tmp_path: Path) -> None:
    with Indexer(store.root) as shared, IndexWatcher(store.root, debounce_seconds=0.02, indexer=shared) as watcher:
        store.create("chat", model="kimi-k2")
        index_turn(shared, turn(store, "chat", "one"))
        index_turn(shared, turn(store, "chat", "two"))
        assert watcher.wait_until_idle(10.0)
        for _ in range(250):  # the stamp comes with the watcher's batch for the write event
            if digest_of(store.root, "chat") != PENDING_HASH:
                break
            watcher.wait_until_idle(0.05)
        expected = hashlib.sha256(store.path_for("chat").read_bytes()).hexdigest()
        assert digest_of(store.root, "chat") == expected
        assert watcher.last_error is None
        assert_equals_rebuild(shared, store.root, tmp_path)


def test_a_pending_digest_whose_file_changed_is_reported_stale_by_check(store: SessionStore, indexer: Indexer) -> None:
    store.create("chat", model="kimi-k2")
    index_turn(indexer, turn(store, "chat", "one"))
    index_turn(indexer, turn(store, "chat", "two"))
    SessionStore(store.root).append_message("chat", Message(role="user", content="not indexed yet"))
    assert [difference.kind for difference in indexer.check()] == ["stale"]
    indexer.sync()
    assert indexer.check() == []


_run = itertools.count()
step = st.one_of(
    st.tuples(st.just("turn"), st.sampled_from(["gpt-4o", "kimi-k2"])),
    st.tuples(st.just("other-append"), st.just("")),
    st.tuples(st.just("other-title"), st.sampled_from(["walrus", "全文索引", ""])),
    st.tuples(st.just("watcher"), st.just("")),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_any_mix_of_turns_and_other_writers_leaves_the_index_equal_to_a_rebuild(tmp_path: Path, steps: list) -> None:  # type: ignore[type-arg]
    root = tmp_path / f"run{next(_run)}"
    copies = root.parent / f"{root.name}-copies"
    copies.mkdir(parents=True)
    ours, theirs = SessionStore(root), SessionStore(root)
    ours.create("chat", model="kimi-k2")
    with Indexer(root) as indexer:
        indexer.sync()
        for number, (kind, value) in enumerate(steps):
            if kind == "turn":
                index_turn(indexer, turn(ours, "chat", f"t{number}", model=value))
                # Right after every turn of ours, whatever others wrote before it.
                assert_equals_rebuild(indexer, root, copies)
            elif kind == "other-append":
                theirs.append_message("chat", Message(role="user", content=f"other {number}"))
            elif kind == "other-title":
                theirs.set_title("chat", value or None)
            else:
                indexer.index_paths([ours.path_for("chat")])  # the watcher's event for the last write
        indexer.sync()
        assert_equals_rebuild(indexer, root, copies)


def test_a_turn_gets_the_shared_indexer_between_two_chunks_of_a_long_sync(store: SessionStore, tmp_path: Path) -> None:
    import threading

    from index.sync import SYNC_CHUNK
    from store.codec import encode_session
    from store.schema import Session

    store.create("chat", model="kimi-k2")
    for number in range(SYNC_CHUNK + 50):  # two chunks of files the sync has to index
        other = Session(id=f"bulk-{number:04d}", title=f"bulk {number}")
        store.path_for(other.id).write_bytes(encode_session(other))
    written = turn(store, "chat", "during the sync")
    done_at: list[int] = []
    with Indexer(store.root) as shared:
        worker: list[threading.Thread] = []

        def progress(done: int, total: int) -> None:
            if done == 10:  # the turn arrives while the first chunk's transaction is open
                thread = threading.Thread(target=lambda: (index_turn(shared, written), done_at.append(progress.last)))
                worker.append(thread)
                thread.start()
                while not shared.turns.waiting:
                    pass
            progress.last = done  # type: ignore[attr-defined]

        progress.last = 0  # type: ignore[attr-defined]
        report = shared.sync(progress=progress)
        worker[0].join(10)
        # It was let in at the end of the first chunk, not after the whole sync.
        assert done_at and done_at[0] <= SYNC_CHUNK + 1
        assert report.indexed >= SYNC_CHUNK + 50
        assert_equals_rebuild(shared, store.root, tmp_path)


def test_on_written_takes_the_receipt_of_a_turn_through_the_append_path(store: SessionStore, indexer: Indexer, tmp_path: Path) -> None:
    store.create("chat", title="walrus", model="kimi-k2")
    indexer.on_written(turn(store, "chat", "first"))  # the first turn of the process: the safe path
    assert digest_of(store.root, "chat") != PENDING_HASH
    indexer.on_written(turn(store, "chat", "second"))
    assert digest_of(store.root, "chat") == PENDING_HASH  # appended, not read back
    assert_equals_rebuild(indexer, store.root, tmp_path)
