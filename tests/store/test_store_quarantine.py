"""Unreadable session files go to quarantine/ with a reason; newer schema versions are refused untouched."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from store import CorruptSession, Message, Session, SessionNotFound, SessionStore, UnsupportedSchemaVersion
from store import quarantine as quarantine_module
from store import session_store as session_store_module
from store import upgrade
from store.codec import UnreadableSessionFile, decode_session, encode_session
from store.quarantine import REASON_SUFFIX, quarantine_file
from store.upgrade import NotASessionDocument, upgrade_document


def _valid_bytes(session_id: str) -> bytes:
    return encode_session(Session(id=session_id, messages=[Message(role="user", content="hello")]))


def _write_truncated(sessions: Path) -> tuple[str, str]:
    data = _valid_bytes("truncated")
    (sessions / "truncated.json").write_bytes(data[: len(data) // 2])
    return "truncated", "invalid JSON"


def _write_bad_utf8(sessions: Path) -> tuple[str, str]:
    (sessions / "badutf8.json").write_bytes(b'{"schema_version": 1, "id": "badutf8", "title": "\xff\xfe"}')
    return "badutf8", "not valid UTF-8"


def _write_array(sessions: Path) -> tuple[str, str]:
    (sessions / "array.json").write_text("[1, 2, 3]")
    return "array", "expected a JSON object, found list"


def _write_wrong_schema(sessions: Path) -> tuple[str, str]:
    (sessions / "schema.json").write_text(json.dumps({"schema_version": 1, "id": "schema", "messages": "not a list"}))
    return "schema", "schema error at messages"


def _write_other_id(sessions: Path) -> tuple[str, str]:
    (sessions / "named.json").write_bytes(_valid_bytes("someone-else"))
    return "named", "the file name says id 'named' but the document says 'someone-else'"


def _write_outside_symlink(sessions: Path) -> tuple[str, str]:
    outside = sessions.parent.parent / "outside-secret.json"
    outside.write_bytes(_valid_bytes("link"))
    os.symlink(outside, sessions / "link.json")
    return "link", "symlink"


def _write_empty(sessions: Path) -> tuple[str, str]:
    (sessions / "empty.json").write_bytes(b"")
    return "empty", "the file is empty"


def _write_whitespace(sessions: Path) -> tuple[str, str]:
    (sessions / "blank.json").write_bytes(b"  \n")
    return "blank", "the file is empty"


def _write_folder(sessions: Path) -> tuple[str, str]:
    (sessions / "folder.json").mkdir()
    (sessions / "folder.json" / "inner.txt").write_text("kept")
    return "folder", "not a regular file"


def _write_fifo(sessions: Path) -> tuple[str, str]:
    os.mkfifo(sessions / "pipe.json")
    return "pipe", "not a regular file"


def _write_no_version(sessions: Path) -> tuple[str, str]:
    (sessions / "legacy.json").write_text(json.dumps({"id": "legacy", "messages": []}))
    return "legacy", "missing schema_version"


BROKEN: dict[str, Callable[[Path], tuple[str, str]]] = {
    "truncated": _write_truncated,
    "bad_utf8": _write_bad_utf8,
    "json_array": _write_array,
    "wrong_schema": _write_wrong_schema,
    "id_differs_from_name": _write_other_id,
    "symlink_outside_root": _write_outside_symlink,
    "empty": _write_empty,
    "whitespace_only": _write_whitespace,
    "folder": _write_folder,
    "fifo": _write_fifo,
    "no_schema_version": _write_no_version,
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_unreadable_files_are_quarantined_with_reason_and_listed(store: SessionStore, kind: str) -> None:
    store.create("good")
    session_id, reason_part = BROKEN[kind](store.layout.sessions)
    original = store.layout.sessions / f"{session_id}.json"
    was_symlink = original.is_symlink()
    link_target = os.readlink(original) if was_symlink else None

    listing = store.list()

    assert [s.id for s in listing.sessions] == ["good"]
    (record,) = listing.quarantined
    assert record.original_path == str(original)
    assert reason_part in record.reason
    moved = Path(record.quarantined_path)
    assert moved == store.layout.quarantine / f"{session_id}.json"
    assert not os.path.lexists(original)
    assert os.path.lexists(moved)
    reason_text = Path(str(moved) + REASON_SUFFIX).read_text(encoding="utf-8")
    assert reason_part in reason_text
    assert f"original: {original}" in reason_text
    if was_symlink:
        # Moved as a link (never followed): the file it pointed to is untouched.
        assert moved.is_symlink() and os.readlink(moved) == link_target
        assert decode_session(Path(link_target).read_bytes(), Path(link_target)).id == "link"
    # A second listing finds nothing new to quarantine.
    assert store.list().quarantined == []


def test_load_and_update_of_an_unreadable_file_raise_corrupt_session(store: SessionStore) -> None:
    _write_truncated(store.layout.sessions)
    with pytest.raises(CorruptSession) as caught:
        store.load("truncated")
    error = caught.value
    assert error.session_id == "truncated"
    assert "invalid JSON" in error.reason
    assert error.quarantined_to == store.layout.quarantine / "truncated.json"
    assert "Repair it and move it back" in str(error)
    # Gone from sessions/ now: a second load says so, an update too.
    with pytest.raises(SessionNotFound):
        store.load("truncated")
    _write_truncated(store.layout.sessions)
    with pytest.raises(CorruptSession):
        store.append_message("truncated", Message(role="user", content="x"))


def test_quarantine_never_overwrites(store: SessionStore) -> None:
    sessions = store.layout.sessions
    contents = [b"{broken one", b"{broken two", b"{broken three"]
    for content in contents:
        (sessions / "dup.json").write_bytes(content)
        (record,) = store.list().quarantined
        assert Path(record.quarantined_path).read_bytes() == content
    names = sorted(p.name for p in store.layout.quarantine.iterdir())
    assert names == [
        "dup.json",
        "dup.json.1",
        "dup.json.1.reason.txt",
        "dup.json.2",
        "dup.json.2.reason.txt",
        "dup.json.reason.txt",
    ]
    kept = {(store.layout.quarantine / name).read_bytes() for name in ("dup.json", "dup.json.1", "dup.json.2")}
    assert kept == set(contents)
    assert [p for p in store.layout.quarantine.iterdir() if p.name.startswith(".tmp-")] == []


def test_quarantine_skips_a_slot_taken_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "x.json"
    source.write_bytes(b"mine")
    folder = tmp_path / "q"
    real_claim = quarantine_module._claim_reason_file
    squatted: list[Path] = []

    def claim_then_squat(folder_: Path, name: str, note: bytes) -> Path:
        destination = real_claim(folder_, name, note)
        if not squatted:
            destination.write_bytes(b"squatter")  # appears between the claim and the move
            squatted.append(destination)
        return destination

    monkeypatch.setattr(quarantine_module, "_claim_reason_file", claim_then_squat)
    record = quarantine_file(source, folder, "bad")
    assert squatted[0].read_bytes() == b"squatter"
    assert not Path(str(squatted[0]) + REASON_SUFFIX).exists()  # its slot reason was withdrawn
    assert Path(record.quarantined_path) == folder / "x.json.1"
    assert Path(record.quarantined_path).read_bytes() == b"mine"


def test_reason_claim_retries_when_another_process_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    source = tmp_path / "y.json"
    source.write_bytes(b"data")
    real_free = quarantine_module._free_destination
    calls: list[int] = []

    def stale_answer(folder_: Path, name: str) -> Path:
        calls.append(1)
        if len(calls) == 1:
            (folder_ / (name + REASON_SUFFIX)).write_text("other process")  # it won the race
            return folder_ / name
        return real_free(folder_, name)

    monkeypatch.setattr(quarantine_module, "_free_destination", stale_answer)
    record = quarantine_file(source, folder, "why")
    assert (folder / ("y.json" + REASON_SUFFIX)).read_text() == "other process"
    assert Path(record.quarantined_path) == folder / "y.json.1"


def test_quarantine_copy_and_vanished_source(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    source = tmp_path / "keep.json"
    source.write_bytes(b"original")
    record = quarantine_file(source, folder, "copied for inspection", copy=True)
    assert source.read_bytes() == b"original"
    assert Path(record.quarantined_path).read_bytes() == b"original"
    second = quarantine_file(source, folder, "again", copy=True)
    assert Path(second.quarantined_path) == folder / "keep.json.1"

    with pytest.raises(FileNotFoundError):
        quarantine_file(tmp_path / "gone.json", folder, "vanished")
    assert not (folder / ("gone.json" + REASON_SUFFIX)).exists()


def test_quarantine_refuses_to_replace_an_existing_folder_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "d.json"
    source.mkdir()
    destination = tmp_path / "taken"
    destination.mkdir()
    with pytest.raises(FileExistsError):
        quarantine_module._move_no_replace(source, destination)
    assert source.is_dir()


def test_reader_losing_the_race_to_quarantine_gets_not_found(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_truncated(store.layout.sessions)

    def already_moved(path: Path, folder: Path, reason: str) -> Any:
        raise FileNotFoundError(errno.ENOENT, "moved by another process", str(path))

    monkeypatch.setattr(session_store_module, "quarantine_file", already_moved)
    with pytest.raises(SessionNotFound):
        store.load("truncated")
    assert store.list().quarantined == []


def test_symlink_swapped_in_after_the_check_is_still_not_followed(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_outside_symlink(store.layout.sessions)
    # Pretend the lstat saw a regular file: the open must still refuse to follow the link.
    monkeypatch.setattr(session_store_module.stat, "S_ISLNK", lambda mode: False)
    monkeypatch.setattr(session_store_module.stat, "S_ISREG", lambda mode: True)
    with pytest.raises(CorruptSession, match="symlink"):
        store.load("link")
    assert (store.layout.quarantine / "link.json").is_symlink()


def test_unopenable_file_is_refused_in_listings_not_fatal(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("fine")
    (store.layout.sessions / "locked.json").write_bytes(_valid_bytes("locked"))
    real_read = session_store_module.read_file_no_follow

    def deny(path: Path) -> bytes:
        if path.name == "locked.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(session_store_module, "read_file_no_follow", deny)
    listing = store.list()
    assert [s.id for s in listing.sessions] == ["fine"]
    assert [r.path for r in listing.refused] == [str(store.layout.sessions / "locked.json")]
    assert "Permission denied" in listing.refused[0].reason
    with pytest.raises(PermissionError):
        store.load("locked")
    assert (store.layout.sessions / "locked.json").exists()


# -- newer schema versions and the upgrade hook ------------------------------------------------


def _write_v2(store: SessionStore) -> bytes:
    data = json.dumps({"schema_version": 2, "id": "future", "messages": [], "new_field": True}).encode()
    (store.layout.sessions / "future.json").write_bytes(data)
    return data


def test_newer_schema_version_is_refused_and_left_untouched(store: SessionStore) -> None:
    data = _write_v2(store)
    path = store.layout.sessions / "future.json"
    stat_before = path.stat()

    with pytest.raises(UnsupportedSchemaVersion) as caught:
        store.load("future")
    assert (caught.value.found, caught.value.supported) == (2, 1)
    assert "schema_version 2" in str(caught.value) and "was not modified" in str(caught.value)
    with pytest.raises(UnsupportedSchemaVersion):
        store.append_message("future", Message(role="user", content="x"))
    with pytest.raises(UnsupportedSchemaVersion):
        store.save_new(Session(id="future"), replace=True)
    listing = store.list()
    assert listing.sessions == [] and listing.quarantined == []
    assert [r.path for r in listing.refused] == [str(path)]
    assert "schema_version 2" in listing.refused[0].reason
    rebuilt = store.rebuild_views()
    assert [r.path for r in rebuilt.refused] == [str(path)]

    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert list(store.layout.quarantine.iterdir()) == []


def test_upgrade_hook_applies_each_step_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_to_two(document: dict[str, Any]) -> dict[str, Any]:
        rest = {key: value for key, value in document.items() if key != "tags"}
        return {**rest, "schema_version": 2, "labels": document.get("tags", [])}

    def two_to_three(document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "schema_version": 3, "upgraded": document["labels"] + ["v3"]}

    monkeypatch.setattr(upgrade, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(upgrade, "UPGRADES", {1: one_to_two, 2: two_to_three})
    source = Path("old.json")
    assert upgrade_document({"schema_version": 1, "id": "a", "tags": ["t"]}, source) == {
        "schema_version": 3,
        "id": "a",
        "labels": ["t"],
        "upgraded": ["t", "v3"],
    }
    assert upgrade_document({"schema_version": 2, "id": "b", "labels": []}, source)["upgraded"] == ["v3"]
    current = {"schema_version": 3, "id": "c"}
    assert upgrade_document(current, source) is current
    with pytest.raises(UnsupportedSchemaVersion):
        upgrade_document({"schema_version": 4}, source)


def test_upgrade_hook_reached_through_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every read goes through the hook (schema.Session only knows v1, so the upgrade
    # steps themselves are exercised on documents above).
    seen: list[dict[str, Any]] = []
    real = upgrade.upgrade_document

    def spy(document: Any, source: Path) -> dict[str, Any]:
        seen.append(document)
        return real(document, source)

    monkeypatch.setattr("store.codec.upgrade_document", spy)
    session = decode_session(_valid_bytes("s"), Path("s.json"))
    assert session.id == "s" and seen and seen[0]["id"] == "s"


def test_broken_upgrade_tables_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrade, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(upgrade, "UPGRADES", {1: lambda document: {**document, "schema_version": 1}})
    with pytest.raises(RuntimeError, match="did not produce a newer version"):
        upgrade_document({"schema_version": 1}, Path("x.json"))
    with pytest.raises(NotASessionDocument, match="no upgrade is known from schema_version 2"):
        upgrade_document({"schema_version": 2}, Path("x.json"))
    with pytest.raises(UnreadableSessionFile, match="no upgrade is known"):
        decode_session(b'{"schema_version": 2, "id": "x"}', Path("x.json"))
