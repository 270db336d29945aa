"""SessionStore basics, root resolution, locks, and the rare error paths of the helpers."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

import pytest
from filelock import FileLock, Timeout
from pydantic import ValidationError

from store import (
    InvalidSessionId,
    Layout,
    Message,
    Session,
    SessionExists,
    SessionNotFound,
    SessionStore,
    resolve_legacy_root,
    resolve_root,
)
from store import atomic, codec, quarantine as quarantine_module, views
from store.atomic import atomic_write_bytes
from store.errors import SessionBusy
from store.codec import UnreadableSessionFile, decode_session, encode_session
from store.locking import locked
from store.quarantine import REASON_SUFFIX, quarantine_file


def test_create_append_load_round_trip(store: SessionStore) -> None:
    session = store.create("demo", title="Demo", model="kimi-k2", tags=["a", "b"])
    assert (session.title, session.current_model, session.models_used, session.tags) == (
        "Demo",
        "kimi-k2",
        ["kimi-k2"],
        ["a", "b"],
    )
    returned = store.append_message("demo", Message(role="user", content="你好 🎉"))
    loaded = store.load(session.id)
    assert loaded.title == "Demo"
    assert loaded.messages == [returned]
    assert loaded.updated_at >= session.updated_at
    batch = store.append_messages(
        "demo", [Message(role="assistant", content="a", model="gpt-4o"), Message(role="user", content="b")]
    )
    assert [m.content for m in batch] == ["a", "b"]
    assert store.load("demo").models_used == ["kimi-k2", "gpt-4o"]


def test_title_and_tags(store: SessionStore) -> None:
    store.create("t")
    store.set_title("t", "标题")
    store.set_tags("t", ["x", "y", "x", "中"])
    loaded = store.load("t")
    assert loaded.title == "标题"
    assert loaded.tags == ["x", "y", "中"]  # duplicates dropped, order kept
    store.set_title("t", None)
    assert store.load("t").title is None


def test_missing_and_existing_sessions(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound) as caught:
        store.load("nope")
    assert "list_sessions" in str(caught.value) and caught.value.session_id == "nope"
    with pytest.raises(SessionNotFound):
        store.update("nope", lambda session: None)
    with pytest.raises(SessionNotFound):
        store.append_message("nope", Message(role="user"))
    store.create("here")
    with pytest.raises(SessionExists) as exists:
        store.create("here")
    assert exists.value.session_id == "here" and "already exists" in str(exists.value)
    with pytest.raises(SessionExists):
        store.save_new(Session(id="here", title="other"))
    store.save_new(Session(id="here", title="replaced"), replace=True)
    assert store.load("here").title == "replaced"
    with pytest.raises(InvalidSessionId):
        store.load("../here")


def test_update_returns_the_change_result(store: SessionStore) -> None:
    store.create("u")
    assert store.update("u", lambda session: len(session.messages) + 41) == 41


def test_store_layout_and_root(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    assert store.root == tmp_path / "root"
    layout = store.layout
    for folder in (layout.sessions, layout.by_model, layout.by_date, layout.quarantine, layout.trash, layout.locks):
        assert folder.is_dir()
    assert layout.index == tmp_path / "root" / "index.sqlite"
    assert layout.session_file("x") == tmp_path / "root" / "sessions" / "x.json"
    assert Layout(Path("r")).sessions == Path("r/sessions")


def test_resolve_root_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLM_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("KIMI_SESSIONS_DIR", raising=False)
    assert resolve_root() == Path(".llm_sessions")
    assert resolve_root("") == Path(".llm_sessions")
    assert resolve_legacy_root() == Path(".kimi_sessions")
    monkeypatch.setenv("LLM_SESSIONS_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("KIMI_SESSIONS_DIR", str(tmp_path / "kimi-env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_legacy_root() == tmp_path / "kimi-env"
    assert resolve_root(tmp_path / "cli") == tmp_path / "cli"
    assert resolve_legacy_root(str(tmp_path / "kimi-cli")) == tmp_path / "kimi-cli"
    monkeypatch.setenv("LLM_SESSIONS_DIR", "")
    assert resolve_root() == Path(".llm_sessions")
    # "~" is expanded (MCP clients set env values without a shell).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLM_SESSIONS_DIR", "~/sessions")
    monkeypatch.setenv("KIMI_SESSIONS_DIR", "~/kimi")
    assert resolve_root() == tmp_path / "home" / "sessions"
    assert resolve_legacy_root() == tmp_path / "home" / "kimi"
    assert resolve_root("~/cli") == tmp_path / "home" / "cli"


def test_default_root_is_relative_to_the_working_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    store = SessionStore()
    store.create("here")
    assert (tmp_path / ".llm_sessions" / "sessions" / "here.json").is_file()


def test_lock_timeout_in_threads(tmp_path: Path) -> None:
    lock_path = tmp_path / "x.lock"
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locked(lock_path):
            holding.set()
            release.wait(20)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(20)
        with pytest.raises(SessionBusy) as caught:
            with locked(lock_path, timeout=0.05):
                pass
        assert isinstance(caught.value, Timeout)  # what callers caught before SessionBusy existed
        assert "session 'x' is busy" in str(caught.value)
    finally:
        release.set()
        thread.join(20)
    with locked(lock_path, timeout=5):
        pass  # free again


def test_lock_held_by_another_process_times_out_as_session_busy(store: SessionStore) -> None:
    store.create("held")
    # Another open file description on the lock file: to flock, that is another process.
    other = FileLock(str(store.layout.locks / "held.lock"), is_singleton=False, thread_local=False)
    other.acquire()
    try:
        with pytest.raises(SessionBusy) as caught:
            with locked(store.layout.locks / "held.lock", timeout=0.05):
                pass
        assert caught.value.timeout == 0.05
    finally:
        other.release()
    store.append_message("held", Message(role="user", content="after"))
    assert len(store.load("held").messages) == 1


def test_nested_update_of_the_same_session_fails_fast(store: SessionStore) -> None:
    store.create("outer")
    store.create("other")

    def nested(session: Session) -> None:
        store.append_message("other", Message(role="user", content="fine"))  # another session: ok
        store.append_message("outer", Message(role="user", content="deadlock"))

    with pytest.raises(RuntimeError, match="already held by this thread"):
        store.update("outer", nested)
    assert store.load("outer").messages == []
    assert len(store.load("other").messages) == 1
    store.append_message("outer", Message(role="user", content="later"))  # the lock was released


def test_atomic_write_cleanup_tolerates_a_vanished_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def fail_after_removing_temp(fd: int) -> None:
        for leftover in tmp_path.glob(".tmp-*"):
            leftover.unlink()
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(atomic.os, "fsync", fail_after_removing_temp)
    with pytest.raises(OSError, match="I/O error"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"


def test_decode_reports_recursion_in_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    class TooDeep:
        @staticmethod
        def model_validate(document: object) -> Session:
            raise RecursionError

    monkeypatch.setattr(codec, "Session", TooDeep)
    with pytest.raises(UnreadableSessionFile, match="nested too deeply"):
        decode_session(b'{"schema_version": 1, "id": "x"}', Path("x.json"))


def test_schema_validators_pass_non_objects_to_pydantic() -> None:
    with pytest.raises(ValidationError):
        Message.model_validate("not an object")
    session = Session(id="s", messages=[Message(role="user", content="hi")])
    assert decode_session(encode_session(session), Path("s.json")) == session


def test_view_link_created_by_another_writer_meanwhile(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_symlink = os.symlink

    def racing_symlink(target: object, link: object) -> None:
        real_symlink(target, link)  # the other writer wins ...
        raise FileExistsError(errno.EEXIST, "exists", str(link))  # ... and we see EEXIST

    monkeypatch.setattr(views.os, "symlink", racing_symlink)
    store.create("race", model="m")
    monkeypatch.undo()
    assert (store.layout.by_model / "m" / "race.json").resolve() == store.path_for("race").resolve()


def test_delete_without_view_or_trash_folders(store: SessionStore) -> None:
    store.create("d", model="m")
    shutil.rmtree(store.layout.by_date)
    shutil.rmtree(store.layout.by_model)
    shutil.rmtree(store.layout.trash)
    assert store.delete("d").is_file()


def test_move_no_replace_fallback_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "s.json"
    source.write_bytes(b"s")
    destination = tmp_path / "d.json"
    destination.write_bytes(b"d")

    def no_hard_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(quarantine_module.os, "link", no_hard_links)
    with pytest.raises(FileExistsError):
        quarantine_module._move_no_replace(source, destination)
    assert destination.read_bytes() == b"d" and source.read_bytes() == b"s"
    quarantine_module._move_no_replace(source, tmp_path / "free.json")
    assert (tmp_path / "free.json").read_bytes() == b"s" and not source.exists()


def test_two_processes_moving_the_same_file_keep_both_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "both.json"
    source.write_bytes(b"payload")
    real_link = os.link

    def link_then_other_process_moves_source(src: object, dst: object, **kwargs: object) -> None:
        real_link(src, dst, **kwargs)  # type: ignore[arg-type]
        if Path(str(src)) == source:
            os.rename(source, tmp_path / "q" / "both.json.by-other")

    monkeypatch.setattr(quarantine_module.os, "link", link_then_other_process_moves_source)
    record = quarantine_file(source, tmp_path / "q", "bad")
    assert Path(record.quarantined_path).read_bytes() == b"payload"
    assert (tmp_path / "q" / "both.json.by-other").read_bytes() == b"payload"


def test_copy_into_a_slot_taken_meanwhile_goes_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "c.json"
    source.write_bytes(b"copy me")
    folder = tmp_path / "q"
    real_claim = quarantine_module._claim_reason_file
    squatted: list[Path] = []

    def claim_then_squat(folder_: Path, name: str, note: bytes) -> Path:
        destination = real_claim(folder_, name, note)
        if not squatted:
            destination.write_bytes(b"squatter")
            squatted.append(destination)
        return destination

    monkeypatch.setattr(quarantine_module, "_claim_reason_file", claim_then_squat)
    record = quarantine_file(source, folder, "bad", copy=True)
    assert Path(record.quarantined_path) == folder / "c.json.1"
    assert Path(record.quarantined_path).read_bytes() == b"copy me"
    assert squatted[0].read_bytes() == b"squatter"
    assert not Path(str(squatted[0]) + REASON_SUFFIX).exists()
    assert source.read_bytes() == b"copy me"
