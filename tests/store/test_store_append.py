"""append_messages reuses what it last wrote only while the file holds exactly those bytes."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from store import CorruptSession, Message, SessionStore


def test_an_edit_made_between_appends_is_kept_even_at_the_same_size(store: SessionStore) -> None:
    store.create("e", title="aaaa")
    store.append_message("e", Message(role="user", content="one"))
    path = store.path_for("e")
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"aaaa"', b'"bbbb"'))  # in place, same size, same second
    store.append_message("e", Message(role="user", content="two"))
    loaded = store.load("e")
    assert loaded.title == "bbbb"
    assert [m.content for m in loaded.messages] == ["one", "two"]


def test_changing_a_message_after_appending_it_does_not_change_the_session(store: SessionStore) -> None:
    store.create("m")
    message = Message(role="user", content="as sent")
    returned = store.append_message("m", message)
    assert returned is message
    message.content = "changed later"
    message.extra["late"] = True
    store.append_message("m", Message(role="user", content="next"))
    loaded = store.load("m")
    assert [m.content for m in loaded.messages] == ["as sent", "next"]
    assert loaded.messages[0].extra == {}
    assert loaded.messages[0].id == message.id


def test_appended_messages_are_stored_normalised(store: SessionStore) -> None:
    store.create("n")
    message = Message(role="user", content="x")
    message.created_at = datetime(2025, 1, 2, 3, 4, 5)  # assignment is not validated: naive
    store.append_message("n", message)
    store.append_message("n", Message(role="user", content="y"))
    first = store.load("n").messages[0]
    assert first.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert b'"2025-01-02T03:04:05Z"' in store.path_for("n").read_bytes()


def test_writes_from_other_paths_and_other_store_objects_are_seen(store: SessionStore) -> None:
    other = SessionStore(store.root)
    store.create("o")
    for index in range(6):
        writer = store if index % 2 == 0 else other
        writer.append_message("o", Message(role="user", content=f"m{index}", model=f"model-{index % 3}"))
        if index == 2:
            store.set_title("o", "titled")
        if index == 3:
            other.record_model_switch("o", "switched")
    loaded = store.load("o")
    assert [m.content for m in loaded.messages] == [f"m{i}" for i in range(6)]
    assert loaded.title == "titled"
    assert loaded.current_model == "switched"
    assert loaded.models_used == ["model-0", "model-1", "model-2", "switched"]


def test_what_is_kept_per_store_is_bounded(store: SessionStore) -> None:
    for index in range(7):
        store.create(f"s{index}")
        store.append_message(f"s{index}", Message(role="user", content="x"))
    assert len(store._last_written._entries) <= 4
    for index in range(7):
        store.append_message(f"s{index}", Message(role="user", content="y"))
        assert [m.content for m in store.load(f"s{index}").messages] == ["x", "y"]


def test_a_file_replaced_by_garbage_between_appends_is_quarantined(store: SessionStore) -> None:
    store.create("g")
    store.append_message("g", Message(role="user", content="x"))
    store.path_for("g").write_bytes(b"{garbage")
    with pytest.raises(CorruptSession) as garbage:
        store.append_message("g", Message(role="user", content="y"))
    assert garbage.value.quarantined_to.read_bytes() == b"{garbage"
    store.path_for("g").mkdir()  # cannot even be opened as a file
    with pytest.raises(CorruptSession, match="not a regular file"):
        store.append_message("g", Message(role="user", content="z"))


class TwoWritersAndAnEditor(RuleBasedStateMachine):
    """Appends from two store objects, metadata updates and hand edits, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="store-append-"))
        self.stores = [SessionStore(self.folder), SessionStore(self.folder)]
        self.stores[0].create("s", title="t0")
        self.contents: list[str] = []
        self.title = "t0"
        self.counter = 0

    @rule(which=st.integers(0, 1), count=st.integers(0, 2))
    def append(self, which: int, count: int) -> None:
        batch = []
        for _ in range(count):
            self.counter += 1
            batch.append(Message(role="user", content=f"c{self.counter}"))
        self.stores[which].append_messages("s", batch)
        self.contents += [str(m.content) for m in batch]

    @rule(which=st.integers(0, 1), title=st.sampled_from(["t1", "t2", "标题"]))
    def retitle(self, which: int, title: str) -> None:
        self.stores[which].set_title("s", title)
        self.title = title

    @rule(title=st.sampled_from(["e1", "e2"]))
    def edit_by_hand(self, title: str) -> None:
        path = self.stores[0].path_for("s")
        document = json.loads(path.read_bytes())
        document["title"] = title
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        self.title = title

    @invariant()
    def file_matches_the_model(self) -> None:
        loaded = SessionStore(self.folder).load("s")
        assert [str(m.content) for m in loaded.messages] == self.contents
        assert loaded.title == self.title

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


TwoWritersAndAnEditor.TestCase.settings = settings(max_examples=20, stateful_step_count=10, deadline=None)
test_interleaved_writers_never_lose_or_resurrect_data = TwoWritersAndAnEditor.TestCase
