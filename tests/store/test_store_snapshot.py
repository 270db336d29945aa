"""``SessionStore.snapshot`` / ``update_shared``: decode once per turn, never miss another writer.

Real files in tmp_path; "another process" is a real subprocess with its own ``SessionStore``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from store import Message, Session, SessionNotFound, SessionStore, ToolCall
from store.codec import decode_session, encode_session
from store.write_cache import as_decoded, view_key, working_copy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "root")


def append_one(text: str, model: str | None = None) -> Callable[[Session], int]:
    """A change for ``update_shared`` that appends one user message; it returns the new count."""

    def change(session: Session) -> int:
        session.note_model(model)
        session.messages.append(Message(role="user", content=text, model=model))
        return len(session.messages)

    return change


def test_snapshot_reuses_the_decoded_session_while_the_file_is_unchanged(store: SessionStore) -> None:
    store.create("s", model="m1")
    written = store.update_shared("s", append_one("hello"))
    assert written.result == 1
    assert written.data == store.path_for("s").read_bytes()
    first = store.snapshot("s")
    assert first.session is written.session and first.data == written.data
    assert store.snapshot("s").session is first.session


def test_update_shared_returns_exactly_what_a_decode_of_the_file_gives(store: SessionStore) -> None:
    store.create("d")

    def change(session: Session) -> None:
        # Values whose in-memory form differs from their JSON form: a naive time, a tuple, unknown keys.
        session.messages.append(
            Message(role="assistant", content="x", created_at=datetime(2026, 1, 2, 3, 4, 5),
                    tool_calls=[ToolCall(id="c1", name="t", arguments={"a": (1, 2)})], extra={"k": (3,)})
        )
        session.extra["note"] = ("a", "b")
        session.title = "t"

    written = store.update_shared("d", change)
    decoded = decode_session(store.path_for("d").read_bytes(), store.path_for("d"))
    assert written.session == decoded
    assert encode_session(written.session) == written.data


def test_a_snapshot_held_by_a_reader_does_not_change_when_the_session_is_written(store: SessionStore) -> None:
    store.create("r", model="m1")
    store.update_shared("r", append_one("one"))
    held = store.snapshot("r").session
    before = held.model_dump()
    store.update_shared("r", append_one("two", model="m2"))
    store.append_message("r", Message(role="user", content="three"))
    store.set_tags("r", ["x"])
    assert held.model_dump() == before
    assert [m.content for m in store.load("r").messages] == ["one", "two", "three"]


def test_another_process_writing_between_two_turns_is_seen_and_kept(store: SessionStore) -> None:
    store.create("p")
    store.update_shared("p", append_one("turn 1"))
    store.snapshot("p")  # cached
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from store import SessionStore, Message\n"
        "SessionStore(sys.argv[2]).append_message('p', Message(role='user', content='from another process', model='other'))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(REPO), str(store.root)], check=True, timeout=60)
    seen = store.snapshot("p").session
    assert [m.content for m in seen.messages] == ["turn 1", "from another process"]
    written = store.update_shared("p", append_one("turn 2"))
    assert [m.content for m in written.session.messages] == ["turn 1", "from another process", "turn 2"]
    assert written.session.models_used == ["other"]
    assert [m.content for m in store.load("p").messages] == ["turn 1", "from another process", "turn 2"]


def test_an_external_edit_with_the_same_size_and_mtime_invalidates_the_cached_decode(store: SessionStore) -> None:
    store.create("e")
    written = store.update_shared("e", append_one("AAAA"))
    path = store.path_for("e")
    st = os.stat(path)
    edited = written.data.replace(b'"AAAA"', b'"BBBB"')
    assert len(edited) == len(written.data) and edited != written.data
    with open(path, "r+b") as handle:  # in place: same inode, same size
        handle.write(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns and os.stat(path).st_ino == st.st_ino
    assert store.snapshot("e").session.messages[0].content == "BBBB"
    after = store.update_shared("e", append_one("CCCC"))
    assert [m.content for m in after.session.messages] == ["BBBB", "CCCC"]


def test_another_store_object_on_the_same_root_is_noticed(store: SessionStore) -> None:
    other = SessionStore(store.root)
    store.create("o")
    for index in range(4):
        writer = store if index % 2 == 0 else other
        writer.update_shared("o", append_one(f"m{index}"))
        assert [m.content for m in other.snapshot("o").session.messages] == [f"m{i}" for i in range(index + 1)]
        assert [m.content for m in store.snapshot("o").session.messages] == [f"m{i}" for i in range(index + 1)]


def test_views_follow_model_changes_and_are_repaired_after_another_writer(store: SessionStore) -> None:
    store.create("v", model="m1")
    link_m1 = store.layout.by_model / "m1" / "v.json"
    link_m2 = store.layout.by_model / "m2" / "v.json"
    store.update_shared("v", append_one("a"))
    assert os.path.islink(link_m1)
    store.update_shared("v", append_one("b", model="m2"))  # a new model: views checked and made
    assert os.path.islink(link_m2)
    link_m2.unlink()
    store.update_shared("v", append_one("c"))  # same models, file as this store wrote it: no check
    assert not os.path.lexists(link_m2)
    SessionStore(store.root).set_title("v", "changed elsewhere")
    store.update_shared("v", append_one("d"))  # the file changed: views checked again
    assert os.path.islink(link_m2) and os.path.islink(link_m1)


def test_update_shared_errors_write_nothing(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound):
        store.update_shared("missing", append_one("x"))
    with pytest.raises(SessionNotFound):
        store.snapshot("missing")
    store.create("f")
    before = store.path_for("f").read_bytes()

    def boom(session: Session) -> None:
        session.messages.append(Message(role="user", content="lost"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update_shared("f", boom)

    def rename(session: Session) -> None:
        session.id = "other"

    with pytest.raises(ValueError, match="must not change the session id"):
        store.update_shared("f", rename)
    assert store.path_for("f").read_bytes() == before
    assert store.snapshot("f").session.messages == []


def test_a_garbage_file_is_quarantined_by_snapshot_and_update_shared(store: SessionStore) -> None:
    from store import CorruptSession

    store.create("g")
    store.snapshot("g")
    store.path_for("g").write_bytes(b"{garbage")
    with pytest.raises(CorruptSession):
        store.snapshot("g")
    store.create("h")
    store.snapshot("h")
    store.path_for("h").unlink()
    store.path_for("h").mkdir()
    with pytest.raises(CorruptSession, match="not a regular file"):
        store.update_shared("h", append_one("x"))


def test_working_copy_and_as_decoded_leave_the_original_alone(store: SessionStore) -> None:
    original = store.create("w", model="m1", tags=["a"])
    copy = working_copy(original)
    copy.messages.append(Message(role="user", content="x", model="m2"))
    copy.note_model("m2")
    copy.tags.append("b")
    copy.extra["k"] = 1
    assert original.messages == [] and original.models_used == ["m1"] and original.tags == ["a"] and original.extra == {}
    normal = as_decoded(original, copy)
    assert normal.messages[0] is not copy.messages[0] and normal.messages[0] == copy.messages[0]
    assert view_key(normal) == (f"{original.created_at:%Y-%m-%d}", "m1", ("m1", "m2"))


def test_read_regular_gives_none_for_what_is_not_a_readable_regular_file(tmp_path: Path) -> None:
    from store.session_store import _read_regular

    assert _read_regular(tmp_path / "missing.json") is None
    os.mkfifo(tmp_path / "pipe.json")
    assert _read_regular(tmp_path / "pipe.json") is None
    (tmp_path / "file.json").write_bytes(b"{}")
    assert _read_regular(tmp_path / "file.json") == b"{}"
