"""Session ids are file names: unsafe ones are refused at every entry point, nothing escapes the root."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import InvalidSessionId, Message, Session, SessionExists, SessionNotFound, SessionStore
from store.ids import MAX_ID_BYTES, MAX_ID_LENGTH, new_session_id, validate_session_id

BAD_IDS = [
    "../x",
    "a/b",
    "..",
    ".",
    "",
    "x" * 500,
    "a\0b",
    "a\nb",
    "tab\there",
    "\x1b[31m",
    "a\\b",
    "..\\x",
    "con",
    "CON",
    "nul.json",
    "com1",
    "lpt9.txt",
    "/etc/passwd",
    "a b",
    ".hidden",
    ".tmp-x.json.abc",
    "emoji🎉",
    "x" * (MAX_ID_LENGTH + 1),
    "中" * 67,  # 67 characters but 201 bytes in UTF-8: too long a file name
    "\u202eevil",  # right-to-left override (a format character)
    "١٢٣",  # Arabic-Indic digits are not ASCII digits
]

GOOD_IDS = [
    "中文会话_20250615_1010",
    "abc",
    "A.b-c_9",
    "a..b",
    "x" * MAX_ID_LENGTH,
    "中" * 66,
    "Ελληνικά",
    "हिन्दी",  # needs combining marks
    "ends.",
    "console",  # only exact device names are reserved
]

ENTRY_POINTS: dict[str, Callable[[SessionStore, str], Any]] = {
    "create": lambda store, sid: store.create(sid),
    "load": lambda store, sid: store.load(sid),
    "update": lambda store, sid: store.update(sid, lambda session: None),
    "delete": lambda store, sid: store.delete(sid),
    "append_message": lambda store, sid: store.append_message(sid, Message(role="user", content="x")),
    "append_messages": lambda store, sid: store.append_messages(sid, [Message(role="user", content="x")]),
    "set_title": lambda store, sid: store.set_title(sid, "t"),
    "set_tags": lambda store, sid: store.set_tags(sid, ["t"]),
    "record_model_switch": lambda store, sid: store.record_model_switch(sid, "m"),
    "save_new": lambda store, sid: store.save_new(Session(id=sid)),
    "save_new_replace": lambda store, sid: store.save_new(Session(id=sid), replace=True),
    "exists": lambda store, sid: store.exists(sid),
    "path_for": lambda store, sid: store.path_for(sid),
}


def _all_files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_bad_ids_are_refused_everywhere_and_create_nothing(tmp_path: Path, entry: str) -> None:
    root = tmp_path / "deep" / "root"
    store = SessionStore(root)
    store.create("existing")
    before_outside = _all_files(tmp_path)
    for bad in BAD_IDS:
        with pytest.raises(InvalidSessionId) as caught:
            ENTRY_POINTS[entry](store, bad)
        assert isinstance(caught.value, ValueError)  # callers may catch it as a ValueError
        assert "invalid session id" in str(caught.value)
    assert _all_files(tmp_path) == before_outside
    assert [p.name for p in store.layout.sessions.iterdir()] == ["existing.json"]


@pytest.mark.parametrize("good", GOOD_IDS)
def test_valid_ids_including_unicode_are_accepted(store: SessionStore, good: str) -> None:
    assert validate_session_id(good) == good
    store.create(good, title="t")
    store.append_message(good, Message(role="user", content="你好"))
    assert store.load(good).messages[0].content == "你好"
    assert store.path_for(good) == store.layout.sessions / f"{good}.json"
    assert store.exists(good)
    assert [s.id for s in store.list().sessions] == [good]
    trashed = store.delete(good)
    assert trashed.is_file()


def test_error_messages_say_why() -> None:
    cases = {
        "": "it is empty",
        "..": "'.' and '..' name directories",
        "a/b": "path separator",
        "a\\b": "path separator",
        "a\0b": "U+0000",
        "con": "reserved device name",
        ".x": "starts with '.'",
        "x" * 500: "500 characters long",
        "中" * 67: "201 bytes",
    }
    for bad, why in cases.items():
        with pytest.raises(InvalidSessionId) as caught:
            validate_session_id(bad)
        assert why in str(caught.value)
    with pytest.raises(InvalidSessionId, match="expected a string, got int"):
        validate_session_id(7)
    long_error = InvalidSessionId("y" * 300, "too long")
    assert "..." in str(long_error) and len(str(long_error)) < 400
    assert long_error.session_id == "y" * 300 and long_error.why == "too long"


def test_new_session_ids_are_valid_and_sortable() -> None:
    fixed = datetime(2026, 11, 25, 11, 36, 40, tzinfo=timezone.utc)
    generated = new_session_id(fixed)
    assert generated.startswith("20261125-113640-")
    assert validate_session_id(generated) == generated
    assert len(validate_session_id(new_session_id())) < MAX_ID_BYTES


def test_create_without_id_draws_a_fresh_one_and_retries_on_collision(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.create()
    assert store.exists(first.id)
    drawn = iter([first.id, first.id, "fresh-id"])
    monkeypatch.setattr("store.session_store.new_session_id", lambda: next(drawn))
    second = store.create(title="second")
    assert second.id == "fresh-id"
    assert store.load("fresh-id").title == "second"
    with pytest.raises(SessionExists):
        store.create("fresh-id")


def test_symlinked_root_is_used_as_is_and_ids_stay_inside(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    store = SessionStore(tmp_path / "link")
    store.create("inside")
    assert (real / "sessions" / "inside.json").is_file()
    with pytest.raises(SessionNotFound):
        store.load("outside")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(candidate=st.text(min_size=0, max_size=80) | st.text(alphabet="./\\\0\n中a", max_size=6))
def test_property_any_text_is_refused_cleanly_or_is_a_usable_file_name(tmp_path: Path, candidate: str) -> None:
    store = SessionStore(tmp_path / "prop")
    try:
        validate_session_id(candidate)
    except InvalidSessionId:
        with pytest.raises(InvalidSessionId):
            store.path_for(candidate)
        return
    path = store.path_for(candidate)
    assert path.parent == store.layout.sessions
    assert path.name == f"{candidate}.json"
    if not store.exists(candidate):
        store.create(candidate)
    assert store.load(candidate).id == candidate
