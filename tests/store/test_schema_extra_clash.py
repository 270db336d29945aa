from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from store import CorruptSession, Message, SessionStore


def test_an_unknown_key_that_clashes_with_extra_is_refused_not_merged() -> None:
    with pytest.raises(ValidationError, match="both at top level and in 'extra'"):
        Message.model_validate({"role": "user", "content": "x", "extra": {"a": 1}, "a": 2})


def test_the_same_value_in_both_places_is_fine() -> None:
    assert Message.model_validate({"role": "user", "content": "x", "extra": {"a": 1}, "a": 1}).extra == {"a": 1}


def test_a_file_with_a_clash_is_quarantined_byte_for_byte(store: SessionStore) -> None:
    store.create("clash")
    path = store.path_for("clash")
    document = json.loads(path.read_text())
    document["extra"] = {"pinned": True}
    document["pinned"] = False
    raw = json.dumps(document).encode()
    path.write_bytes(raw)
    with pytest.raises(CorruptSession) as caught:
        store.load("clash")
    assert Path(caught.value.quarantined_to).read_bytes() == raw
    assert "both at top level" in caught.value.reason
