from __future__ import annotations

import pytest

from store import InvalidSessionId, Message, SessionNotFound, SessionStore


def test_create_append_load_round_trip(store: SessionStore) -> None:
    session = store.create("demo", title="Demo", model="kimi-k2")
    store.append_message("demo", Message(role="user", content="你好 🎉"))
    loaded = store.load(session.id)
    assert loaded.title == "Demo"
    assert loaded.messages[0].content == "你好 🎉"


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "x" * 500])
def test_bad_ids_refused(store: SessionStore, bad: str) -> None:
    with pytest.raises(InvalidSessionId):
        store.load(bad)


def test_missing_session(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound):
        store.load("nope")
