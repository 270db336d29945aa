"""``encode_appended``: the bytes built from the previous file plus new messages equal a full encode."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from store import Message, SessionStore, ToolCall
from store.codec import decode_session, encode_appended, encode_session
from store.schema import Session

# Text that looks like the layout the splice relies on, plus quotes, escapes and non-ASCII.
TRICKY = st.sampled_from(['\n "messages": [', '\n  },\n  {', '\n ],\n "model_switches": ', '"', "\\", "\u2028", "索引", "\n"])
TEXT = st.lists(st.one_of(st.text(max_size=8), TRICKY), max_size=4).map("".join)
JSONISH = st.recursive(st.one_of(st.none(), st.integers(), TEXT), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    calls = draw(st.lists(st.builds(ToolCall, id=TEXT, name=TEXT, arguments=st.dictionaries(TEXT, JSONISH, max_size=2)), max_size=2))
    return Message(
        role=draw(st.sampled_from(["user", "assistant", "tool", "system"])),
        content=draw(TEXT),
        model=draw(st.one_of(st.none(), TEXT)),
        tool_calls=calls or None,
        extra=draw(st.dictionaries(TEXT, JSONISH, max_size=2)),
    )


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(messages(), max_size=3), min_size=1, max_size=4), title=TEXT)
def test_appending_batches_gives_the_same_bytes_as_a_full_encode(batches: list[list[Message]], title: str) -> None:
    session = Session(id="s")
    data = encode_session(session)
    for number, batch in enumerate(batches):
        session = session.model_copy(update={"messages": [*session.messages, *batch], "title": f"{title}{number}"})
        built = encode_appended(data, session, len(batch))
        assert built == encode_session(session)
        data = built
    assert decode_session(data, Path("s.json")).messages == [
        Message.model_validate(m.model_dump(mode="json")) for m in session.messages
    ]


def test_bytes_in_another_layout_are_refused() -> None:
    session = Session(id="s", messages=[Message(role="user", content="x")])
    compact = json.dumps(session.model_dump(mode="json")).encode()
    assert encode_appended(compact, session, 0) is None
    assert encode_appended(b"{}", session, 0) is None
    broken = encode_session(session).replace(b'\n  {', b'\n {', 1)
    assert encode_appended(broken, session, 0) is None


def test_the_store_falls_back_to_a_full_encode_for_files_it_did_not_encode(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("c")
    store.append_message("c", Message(role="user", content="one"))
    compact = json.dumps(json.loads(store.path_for("c").read_bytes())).encode()
    store.path_for("c").write_bytes(compact)  # another program's layout
    store.snapshot("c")
    store.append_message("c", Message(role="user", content="two"))
    store.append_message("c", Message(role="user", content="three"))  # spliced onto this store's bytes
    data = store.path_for("c").read_bytes()
    session = decode_session(data, store.path_for("c"))
    assert data == encode_session(session)
    assert [m.content for m in session.messages] == ["one", "two", "three"]

    def drop_first(session: Session) -> None:
        del session.messages[0]  # not an append: encoded in full

    store.update_shared("c", drop_first)
    data = store.path_for("c").read_bytes()
    assert data == encode_session(decode_session(data, store.path_for("c")))
    assert [m.content for m in store.load("c").messages] == ["two", "three"]
