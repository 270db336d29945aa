"""store/branches.py and SessionStore.create_new: branches copy without touching the source,
groups and origins read back (or not) from ``extra``, fresh ids are drawn again on collision."""

from __future__ import annotations

from pathlib import Path

import pytest

import store.session_store as session_store_module
from store import Message, SessionStore
from store.branches import FORK_KEY, GROUP_KEY, branch_of, forked_from, group_of, grouped_session, new_group_id


def test_a_branch_copies_the_conversation_and_shares_nothing_mutable(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    source = store.create("origin", title="plan", tags=["work"], model="gpt-4o")
    store.append_messages("origin", [Message(role="user", content="hi"), Message(role="assistant", content="hello", model="gpt-4o")])
    source = store.load("origin")
    source.extra["imported"] = {"kept": True}
    group = new_group_id()
    branch = branch_of(source, "branch-1", group)
    assert branch.id == "branch-1" and branch.created_at > source.created_at
    assert [m.id for m in branch.messages] == [m.id for m in source.messages]
    assert (branch.title, branch.tags, branch.current_model, branch.models_used) == ("plan", ["work"], "gpt-4o", ["gpt-4o"])
    assert branch.extra["imported"] == {"kept": True}
    assert forked_from(branch) == "origin" and branch.extra[FORK_KEY]["message_count"] == 2 and group_of(branch) == group
    branch.messages[0].content = "changed"
    branch.extra["imported"]["kept"] = False
    assert source.messages[0].content == "hi" and source.extra["imported"] == {"kept": True} and group_of(source) is None


def test_group_and_origin_ignore_values_of_the_wrong_shape() -> None:
    session = grouped_session("s", "gpt-4o", "grp_1")
    assert group_of(session) == "grp_1" and forked_from(session) is None and session.models_used == ["gpt-4o"]
    session.extra.update({GROUP_KEY: 7, FORK_KEY: "not an object"})
    assert group_of(session) is None and forked_from(session) is None
    session.extra[FORK_KEY] = {"session_id": 3}
    assert forked_from(session) is None


def test_create_new_draws_again_when_the_id_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("taken", model="m")
    drawn = iter(["taken", "free"])
    monkeypatch.setattr(session_store_module, "new_session_id", lambda: next(drawn))
    built: list[str] = []

    def build(new_id: str):  # type: ignore[no-untyped-def]
        built.append(new_id)
        return grouped_session(new_id, "m", "grp")

    assert store.create_new(build).id == "free" and built == ["taken", "free"]
    assert group_of(store.load("taken")) is None and group_of(store.load("free")) == "grp"
